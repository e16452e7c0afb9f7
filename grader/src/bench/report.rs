//! The benchmark's reports: the terminal table with its header and the
//! targets, `--json` and `--csv`. (The chart is chart.rs.)
//!
//! ```text
//! == bench (intel, tcg, -smp 2) ==
//! accelerator tcg, CPU profile intel (-cpu qemu64,vendor=GenuineIntel), TSC 2455.8 MHz
//! 90000 operations per row in 9 batches of 10000: median [min–max] over the batches
//! note: under TCG these are the emulator's cycles on this host, not the CPU's ...
//!
//! path      kind          cpus  cycles/call  [min–max]  ns/call  0xFFFFFF calls ...
//! call      bare             1         73.5  [66.3–76.6]   29.9          502 ms ...
//! ```

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use console::Style;
use serde::Serialize;

use crate::bench::table::{CALL, Goal, INT2E, Row, Run, SEED_COUNT, measured_paths};
use crate::profile::Accel;

/// Colours, or none when the output is not a terminal.
pub struct Styles {
    header: Style,
    good: Style,
    bad: Style,
    note: Style,
}

impl Styles {
    pub fn new(colour: bool) -> Styles {
        let s = |style: Style| style.force_styling(colour);
        Styles {
            header: s(Style::new().bold()),
            good: s(Style::new().green()),
            bad: s(Style::new().red()),
            note: s(Style::new().yellow()),
        }
    }

    pub fn for_stdout() -> Styles {
        Styles::new(console::colors_enabled())
    }
}

/// The whole terminal report: header, table, legend, targets, then the
/// rows that failed and any notes.
pub fn write(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    write_header(out, run, st)?;
    writeln!(out)?;
    write_table(out, run, st)?;
    writeln!(out)?;
    write_legend(out)?;
    writeln!(out)?;
    write_targets(out, run, st)?;
    if !run.errors.is_empty() {
        writeln!(out)?;
        for e in &run.errors {
            let what = format!("path={} kind={} cpus={}", e.path, e.kind, e.cpus);
            let message = if e.message.is_empty() {
                "(the kernel gave no reason)"
            } else {
                &e.message
            };
            writeln!(
                out,
                "{} {what} was not measured: {message}",
                st.bad.apply_to("error:")
            )?;
        }
    }
    for note in &run.notes {
        writeln!(out, "{} {note}", st.note.apply_to("note:"))?;
    }
    Ok(())
}

/// `error: <first line>`, then the other lines indented, as in the
/// grading report.
pub fn write_failure(out: &mut dyn Write, text: &str, st: &Styles) -> io::Result<()> {
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        writeln!(out, "{} {first}", st.bad.apply_to("error:"))?;
    }
    for line in lines {
        if line.is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

pub fn write_header(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    let m = &run.machine;
    let title = format!("== bench ({m}) ==");
    writeln!(out, "{}", st.header.apply_to(title))?;
    writeln!(
        out,
        "accelerator {}, CPU profile {} (-cpu {}), TSC {:.1} MHz",
        m.accel.as_str(),
        m.profile.label(),
        m.profile.cpu_arg(m.accel),
        run.tsc_mhz()
    )?;
    let per_batch = run.iterations.checked_div(run.batches).unwrap_or_default();
    writeln!(
        out,
        "{} operations per row in {} batches of {per_batch}: median [min–max] over the batches \
         (and over both CPUs for cpus=2)",
        run.iterations, run.batches
    )?;
    if m.accel == Accel::Tcg {
        writeln!(
            out,
            "{} under TCG these are the emulator's cycles on this host, not the CPU's: compare \
             rows of one run, not with hardware",
            st.note.apply_to("note:")
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Good,
    Bad,
}

struct Cell {
    text: String,
    tone: Tone,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            tone: Tone::Plain,
        }
    }
}

/// Columns padded to their widest cell; `None` rows are blank lines.
fn write_grid(
    out: &mut dyn Write,
    columns: &[(&str, Align)],
    rows: &[Option<Vec<Cell>>],
    st: &Styles,
) -> io::Result<()> {
    let mut widths: Vec<usize> = columns.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows.iter().flatten() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.text.chars().count());
        }
    }
    let pad = |text: &str, i: usize| match columns[i].1 {
        Align::Left => format!("{text:<w$}", w = widths[i]),
        Align::Right => format!("{text:>w$}", w = widths[i]),
    };
    let header: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| pad(h, i))
        .collect();
    writeln!(
        out,
        "{}",
        st.header.apply_to(header.join("  ").trim_end().to_owned())
    )?;
    for row in rows {
        let Some(row) = row else {
            writeln!(out)?;
            continue;
        };
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let text = pad(&cell.text, i);
                match cell.tone {
                    Tone::Plain => text,
                    Tone::Good => st.good.apply_to(text).to_string(),
                    Tone::Bad => st.bad.apply_to(text).to_string(),
                }
            })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// One row per path × kind × CPU count, the 1-CPU rows first.
pub fn write_table(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    let seed = format!("{SEED_COUNT:#X} calls");
    let columns = [
        ("path", Align::Left),
        ("kind", Align::Left),
        ("cpus", Align::Right),
        ("cycles/call", Align::Right),
        ("[min–max]", Align::Left),
        ("ns/call", Align::Right),
        (seed.as_str(), Align::Right),
        ("calls/s", Align::Right),
        ("vs int 2e", Align::Right),
        ("2-CPU scaling", Align::Right),
    ];
    let mut rows: Vec<Option<Vec<Cell>>> = Vec::new();
    let mut last_cpus = None;
    for row in &run.rows {
        let m = &row.measured;
        if last_cpus.is_some_and(|c| c != m.cpus) {
            rows.push(None);
        }
        last_cpus = Some(m.cpus);
        rows.push(Some(vec![
            m.path.clone().into(),
            m.kind.clone().into(),
            m.cpus.to_string().into(),
            format!("{:.1}", m.median).into(),
            format!("[{:.1}–{:.1}]", m.min, m.max).into(),
            format!("{:.1}", row.ns_per_call).into(),
            format_duration(row.seed_count_secs).into(),
            format_rate(row.calls_per_sec).into(),
            speedup_cell(row),
            row.scaling.map_or_else(String::new, ratio).into(),
        ]));
    }
    write_grid(out, &columns, &rows, st)
}

fn speedup_cell(row: &Row) -> Cell {
    let m = &row.measured;
    match row.speedup_vs_int2e {
        Some(s) => ratio(s).into(),
        None if m.path == INT2E || m.path == CALL => "—".to_owned().into(),
        None => "?".to_owned().into(),
    }
}

pub fn write_legend(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "cycles/call: TSC cycles per operation, per CPU; one create_close operation is a \
         CreateMutex + CloseHandle pair (two system calls)"
    )?;
    writeln!(
        out,
        "0x{SEED_COUNT:X} calls: the seed's Table 4 column, the time for that many operations at \
         the row's calls/s (both CPUs sharing them for cpus=2)"
    )?;
    writeln!(
        out,
        "vs int 2e: int 2e's cycles/call ÷ this row's, same kind and CPUs; 2-CPU scaling: calls/s \
         on 2 CPUs ÷ calls/s on 1"
    )
}

/// Issue 6's targets per path, as measured figures.
pub fn write_targets(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    let paths = measured_paths(run);
    writeln!(
        out,
        "{}",
        st.header
            .apply_to("Targets (issue 6; measured on 1 CPU except scaling, not asserted)")
    )?;
    let mut columns = vec![("target", Align::Left)];
    columns.extend(paths.iter().map(|p| (*p, Align::Left)));
    let rows: Vec<Option<Vec<Cell>>> = Goal::ALL
        .iter()
        .map(|goal| {
            let mut cells: Vec<Cell> = vec![goal.label().to_owned().into()];
            for path in &paths {
                let target = goal.measure(run, path);
                cells.push(match (target.value, target.met()) {
                    (Some(v), Some(true)) => Cell {
                        text: format!("{v:.2} met"),
                        tone: Tone::Good,
                    },
                    (Some(v), _) => Cell {
                        text: format!("{v:.2} not met"),
                        tone: Tone::Bad,
                    },
                    (None, _) => "— (no rows)".to_owned().into(),
                });
            }
            Some(cells)
        })
        .collect();
    write_grid(out, &columns, &rows, st)
}

/// `1.87×`
fn ratio(value: f64) -> String {
    format!("{value:.2}×")
}

/// A duration as a person reads it: `1 h 02 min`, `1 min 30 s`, `42.1 s`,
/// `4.21 s`, `412 ms`, `8.3 ms`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    if secs >= 3600.0 {
        let minutes = (secs / 60.0).round() as u64;
        return format!("{} h {:02} min", minutes / 60, minutes % 60);
    }
    if secs >= 59.5 {
        let whole = secs.round() as u64;
        return format!("{} min {} s", whole / 60, whole % 60);
    }
    if secs >= 10.0 {
        format!("{secs:.1} s")
    } else if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 0.1 {
        format!("{:.0} ms", secs * 1e3)
    } else if secs >= 0.01 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.2} ms", secs * 1e3)
    }
}

/// A rate with an SI prefix and 3 significant digits: `41.8 M`, `2.93 M`, `418 k`.
pub fn format_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        return "?".into();
    }
    let (value, unit) = [(1e9, " G"), (1e6, " M"), (1e3, " k")]
        .into_iter()
        .find(|(scale, _)| per_sec >= *scale)
        .map_or((per_sec, ""), |(scale, unit)| (per_sec / scale, unit));
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$}{unit}")
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// `--json`: `{"accel", "profile", "tsc_mhz", "iterations", "rows": [...]}`.
#[derive(Debug, Serialize)]
pub struct JsonRun {
    pub accel: String,
    pub profile: String,
    pub tsc_mhz: f64,
    pub iterations: u64,
    pub rows: Vec<JsonRow>,
}

#[derive(Debug, Serialize)]
pub struct JsonRow {
    pub path: String,
    pub kind: String,
    pub cpus: u32,
    pub cycles_per_call: JsonCycles,
    pub ns_per_call: f64,
    pub calls_per_sec: f64,
    pub speedup_vs_int2e: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct JsonCycles {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn json(run: &Run) -> JsonRun {
    JsonRun {
        accel: run.machine.accel.as_str().into(),
        profile: run.machine.profile.label(),
        tsc_mhz: round(run.tsc_mhz(), 3),
        iterations: run.iterations,
        rows: run
            .rows
            .iter()
            .map(|r| JsonRow {
                path: r.measured.path.clone(),
                kind: r.measured.kind.clone(),
                cpus: r.measured.cpus,
                cycles_per_call: JsonCycles {
                    median: r.measured.median,
                    min: r.measured.min,
                    max: r.measured.max,
                },
                ns_per_call: round(r.ns_per_call, 2),
                calls_per_sec: round(r.calls_per_sec, 0),
                speedup_vs_int2e: r.speedup_vs_int2e.map(|s| round(s, 3)),
            })
            .collect(),
    }
}

pub fn write_json(path: &Path, run: &Run) -> Result<()> {
    let text = serde_json::to_string_pretty(&json(run)).context("cannot encode the JSON")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the benchmark JSON to {}", path.display()))
}

/// The CSV header: the JSON row's fields, flattened, after the accelerator
/// and profile (so that every figure carries them, and the files of two
/// profiles can be concatenated).
pub const CSV_HEADER: &str = "accel,profile,tsc_mhz,path,kind,cpus,cycles_median,cycles_min,\
                              cycles_max,ns_per_call,calls_per_sec,speedup_vs_int2e";

/// `--csv`: one header line, then one line per row; an empty field for no speedup.
pub fn csv(run: &Run) -> String {
    let j = json(run);
    let mut text = format!("{CSV_HEADER}\n");
    for r in &j.rows {
        let fields = [
            csv_field(&j.accel),
            csv_field(&j.profile),
            j.tsc_mhz.to_string(),
            csv_field(&r.path),
            csv_field(&r.kind),
            r.cpus.to_string(),
            r.cycles_per_call.median.to_string(),
            r.cycles_per_call.min.to_string(),
            r.cycles_per_call.max.to_string(),
            r.ns_per_call.to_string(),
            r.calls_per_sec.to_string(),
            r.speedup_vs_int2e
                .map(|s| s.to_string())
                .unwrap_or_default(),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

/// RFC 4180 quoting, for a profile such as `qemu64,+sep`.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub fn write_csv(path: &Path, run: &Run) -> Result<()> {
    std::fs::write(path, csv(run))
        .with_context(|| format!("cannot write the benchmark CSV to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::run;
    use crate::profile::Profile;
    use serde_json::Value;

    #[test]
    fn durations() {
        assert_eq!(format_duration(90.0), "1 min 30 s");
        assert_eq!(format_duration(42.14), "42.1 s");
        assert_eq!(format_duration(4.214), "4.21 s");
        assert_eq!(format_duration(0.4123), "412 ms");
        assert_eq!(format_duration(0.0083), "8.30 ms");
        assert_eq!(format_duration(59.7), "1 min 0 s");
        assert_eq!(format_duration(119.6), "2 min 0 s");
        assert_eq!(format_duration(3725.0), "1 h 02 min");
        assert_eq!(format_duration(f64::INFINITY), "?");
    }

    #[test]
    fn rates() {
        assert_eq!(format_rate(41_800_000.0), "41.8 M");
        assert_eq!(format_rate(2_934_000.0), "2.93 M");
        assert_eq!(format_rate(418_400.0), "418 k");
        assert_eq!(format_rate(1.5e9), "1.50 G");
        assert_eq!(format_rate(12.0), "12.0");
    }

    #[test]
    fn table_rows_and_columns() {
        let mut out = Vec::new();
        write(&mut out, &run(), &Styles::new(false)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("== bench (intel, tcg, -smp 2) ==\n"),
            "{text}"
        );
        assert!(text.contains("(-cpu qemu64,vendor=GenuineIntel), TSC 2000.0 MHz"));
        assert!(text.contains("not the CPU's"));
        let line = |prefix: &str| {
            text.lines()
                .find(|l| {
                    l.split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .starts_with(prefix)
                })
                .unwrap_or_else(|| panic!("no `{prefix}` line in\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert!(
            line("path kind cpus cycles/call [min–max] ns/call 0xFFFFFF calls calls/s")
                .ends_with("vs int 2e 2-CPU scaling")
        );
        // 20 cycles at 2000 MHz: 10 ns, 100 M calls/s, 0xFFFFFF of them in 168 ms.
        assert_eq!(
            line("call bare 1"),
            "call bare 1 20.0 [18.0–24.0] 10.0 168 ms 100 M —"
        );
        assert_eq!(
            line("syscall null 1"),
            "syscall null 1 120.0 [108.0–144.0] 60.0 1.01 s 16.7 M 10.00×"
        );
        assert_eq!(
            line("syscall create_close 2"),
            "syscall create_close 2 500.0 [450.0–600.0] 250.0 2.10 s 8.00 M 6.00× 1.60×"
        );
        assert_eq!(
            line("null / bare ≤ 1.3"),
            "null / bare ≤ 1.3 2.00 not met 1.20 met"
        );
        assert_eq!(
            line("2-CPU create_close scaling ≥ 1.9"),
            "2-CPU create_close scaling ≥ 1.9 2.00 met 1.60 not met"
        );
    }

    #[test]
    fn errors_and_notes_follow_the_targets() {
        let mut r = run();
        r.errors.push(crate::protocol::BenchError {
            path: "sysenter".into(),
            kind: "null".into(),
            cpus: 2,
            message: "CPU 1: 3 of 10000 operations failed".into(),
        });
        r.notes.push("something odd".into());
        let mut out = Vec::new();
        write(&mut out, &r, &Styles::new(false)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            "error: path=sysenter kind=null cpus=2 was not measured: CPU 1: 3 of 10000 \
             operations failed\nnote: something odd\n"
        ));
    }

    #[test]
    fn json_has_the_documented_keys_and_no_others() {
        let text = serde_json::to_string(&json(&run())).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&v),
            ["accel", "iterations", "profile", "rows", "tsc_mhz"]
        );
        assert_eq!(v["accel"], "tcg");
        assert_eq!(v["profile"], "intel");
        assert_eq!(v["tsc_mhz"].as_f64(), Some(2000.0));
        assert_eq!(v["iterations"].as_u64(), Some(90_000));
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10);
        for row in rows {
            assert_eq!(
                keys(row),
                [
                    "calls_per_sec",
                    "cpus",
                    "cycles_per_call",
                    "kind",
                    "ns_per_call",
                    "path",
                    "speedup_vs_int2e"
                ]
            );
            assert_eq!(keys(&row["cycles_per_call"]), ["max", "median", "min"]);
            assert!(row["path"].is_string() && row["kind"].is_string());
            assert!(row["cpus"].is_u64());
            assert!(row["ns_per_call"].is_f64() && row["calls_per_sec"].is_f64());
            assert!(row["cycles_per_call"]["median"].is_f64());
        }
        assert_eq!(rows[0]["path"], "call");
        assert_eq!(rows[0]["kind"], "bare");
        assert!(rows[0]["speedup_vs_int2e"].is_null());
        assert!(rows[1]["speedup_vs_int2e"].is_null(), "int2e itself");
        assert_eq!(rows[5]["speedup_vs_int2e"].as_f64(), Some(10.0));
        assert_eq!(rows[5]["ns_per_call"].as_f64(), Some(60.0));
        assert_eq!(rows[5]["calls_per_sec"].as_f64(), Some(16_666_667.0));
    }

    #[test]
    fn csv_header_and_rows() {
        let mut r = run();
        r.machine.profile = Profile::Model("qemu64,+sep".into());
        let text = csv(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 10);
        assert_eq!(
            lines[0],
            "accel,profile,tsc_mhz,path,kind,cpus,cycles_median,cycles_min,cycles_max,\
             ns_per_call,calls_per_sec,speedup_vs_int2e"
        );
        assert_eq!(
            lines[1],
            "tcg,\"qemu64,+sep\",2000,call,bare,1,20,18,24,10,100000000,"
        );
        assert_eq!(
            lines[6],
            "tcg,\"qemu64,+sep\",2000,syscall,null,1,120,108,144,60,16666667,10"
        );
    }
}
