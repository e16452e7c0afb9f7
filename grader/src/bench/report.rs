//! The benchmark's reports: for each boot its header, table and legend,
//! then the article's Table 4 beside the run, then `--json` and `--csv`.
//! (The chart is chart.rs.)
//!
//! ```text
//! == bench (intel, tcg, -smp 2): cycles ==
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

use crate::bench::article::{Comparison, MACHINE, TCG_NOTE, way_in};
use crate::bench::table::{ARTICLE_COUNT, CALL, INT2E, Row, Run, SYSCALL, SYSENTER, Unit};
use crate::profile::Accel;

/// Colours, or none when the output is not a terminal.
pub struct Styles {
    header: Style,
    bad: Style,
    note: Style,
}

impl Styles {
    pub fn new(colour: bool) -> Styles {
        let s = |style: Style| style.force_styling(colour);
        Styles {
            header: s(Style::new().bold()),
            bad: s(Style::new().red()),
            note: s(Style::new().yellow()),
        }
    }

    pub fn for_stdout() -> Styles {
        Styles::new(console::colors_enabled())
    }

    /// `text` as a heading.
    pub fn header(&self, text: &str) -> String {
        self.header.apply_to(text).to_string()
    }

    /// `note:`, coloured.
    pub fn note_label(&self) -> String {
        self.note.apply_to("note:").to_string()
    }

    /// `error:`, coloured.
    pub fn bad_label(&self) -> String {
        self.bad.apply_to("error:").to_string()
    }
}

/// The whole terminal report: each boot's header, table and legend, the
/// article's Table 4 beside them, then the rows that failed and any notes.
pub fn write(out: &mut dyn Write, runs: &[Run], st: &Styles) -> io::Result<()> {
    for run in runs {
        write_header(out, run, st)?;
        writeln!(out)?;
        write_table(out, run, st)?;
        writeln!(out)?;
        write_legend(out, run)?;
        writeln!(out)?;
    }
    if let Some(comparison) = Comparison::of(runs) {
        write_table_4(out, &comparison, st)?;
    }
    let errors: Vec<_> = runs.iter().flat_map(|r| &r.errors).collect();
    if !errors.is_empty() {
        writeln!(out)?;
    }
    for e in errors {
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
    for note in runs.iter().flat_map(|r| &r.notes) {
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

/// The QEMU option that makes the TSC count instructions (FACTS: with
/// `shift=0` every guest instruction advances it by one).
pub const ICOUNT: &str = "shift=0,align=off,sleep=off";

pub fn write_header(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    let m = &run.machine;
    let title = format!("== bench ({m}): {} ==", run.unit.as_str());
    writeln!(out, "{}", st.header.apply_to(title))?;
    let per_batch = run.iterations.checked_div(run.batches).unwrap_or_default();
    match run.unit {
        Unit::Cycles => {
            writeln!(
                out,
                "accelerator {}, CPU profile {} (-cpu {}), TSC {:.1} MHz",
                m.accel.as_str(),
                m.profile.label(),
                m.profile.cpu_arg(m.accel),
                run.tsc_mhz()
            )?;
            writeln!(
                out,
                "{} operations per row in {} batches of {per_batch}: median [min–max] over the \
                 batches (and over both CPUs for cpus=2)",
                run.iterations, run.batches
            )?;
            if m.accel == Accel::Tcg {
                writeln!(
                    out,
                    "{} under TCG these are the emulator's cycles on this host, not the CPU's: \
                     compare rows of one run, not with hardware",
                    st.note.apply_to("note:")
                )?;
            }
        }
        Unit::Instructions => {
            writeln!(
                out,
                "accelerator {} with -icount {ICOUNT}, CPU profile {} (-cpu {}), one CPU",
                m.accel.as_str(),
                m.profile.label(),
                m.profile.cpu_arg(m.accel),
            )?;
            writeln!(
                out,
                "{} operations per row in {} batches of {per_batch}; the TSC counts guest \
                 instructions, so every row is exact (min = median = max)",
                run.iterations, run.batches
            )?;
            writeln!(
                out,
                "{} int, sysenter, syscall and their returns count as one instruction each: these \
                 rows are the software of each path, not the instructions' own cost",
                st.note.apply_to("note:")
            )?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Cell {
    text: String,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text }
    }
}

/// Columns padded to their widest cell; `None` rows are blank lines.
pub fn write_grid(
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
            .map(|(i, cell)| pad(&cell.text, i))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// One row per path × kind × CPU count, the 1-CPU rows first.
pub fn write_table(out: &mut dyn Write, run: &Run, st: &Styles) -> io::Result<()> {
    let article = format!("{ARTICLE_COUNT:#X} calls");
    let mut columns = vec![
        ("path", Align::Left),
        ("kind", Align::Left),
        ("cpus", Align::Right),
        ("bits", Align::Right),
        (run.unit.per_call(), Align::Right),
        ("[min–max]", Align::Left),
    ];
    let timed = run.unit == Unit::Cycles;
    if timed {
        columns.extend([
            ("ns/call", Align::Right),
            (article.as_str(), Align::Right),
            ("calls/s", Align::Right),
        ]);
    }
    columns.push(("vs int 2e", Align::Right));
    if timed {
        columns.push(("2-CPU scaling", Align::Right));
    }
    let mut rows: Vec<Option<Vec<Cell>>> = Vec::new();
    let mut last_group = None;
    for row in &run.rows {
        let m = &row.measured;
        // A blank line between the CPU counts, and between 64-bit and 32-bit callers.
        if last_group.is_some_and(|g| g != (m.cpus, m.bits)) {
            rows.push(None);
        }
        last_group = Some((m.cpus, m.bits));
        let mut cells: Vec<Cell> = vec![
            m.path.clone().into(),
            m.kind.clone().into(),
            m.cpus.to_string().into(),
            m.bits.to_string().into(),
            format!("{:.1}", m.median).into(),
            format!("[{:.1}–{:.1}]", m.min, m.max).into(),
        ];
        if timed {
            cells.extend([
                format!("{:.1}", row.ns_per_call).into(),
                format_duration(row.article_count_secs).into(),
                format_rate(row.calls_per_sec).into(),
            ]);
        }
        cells.push(speedup_cell(row));
        if timed {
            cells.push(scaling_cell(row, run.machine.accel));
        }
        rows.push(Some(cells));
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

/// Under TCG, `int 0x2e`'s scaling is QEMU's global lock (see the legend).
fn scaling_cell(row: &Row, accel: Accel) -> Cell {
    match row.scaling {
        Some(s) if row.measured.path == INT2E && accel == Accel::Tcg => {
            format!("{} {LOCK_MARK}", ratio(s)).into()
        }
        Some(s) => ratio(s).into(),
        None => String::new().into(),
    }
}

/// The mark on `int2e`'s 2-CPU scaling under TCG.
const LOCK_MARK: &str = "(QEMU lock)";

pub fn write_legend(out: &mut dyn Write, run: &Run) -> io::Result<()> {
    let pair = "one create_close operation is a CreateMutex + CloseHandle pair (two system calls)";
    if run.has_bits(32) {
        writeln!(
            out,
            "bits: the caller's code; 32-bit rows run the article's instructions in 32-bit code \
             (Windows 2000's int 0x2e stub, XP's SharedUserData stub)"
        )?;
    }
    match run.unit {
        Unit::Cycles => {
            writeln!(
                out,
                "cycles/call: TSC cycles per operation, per CPU; {pair}"
            )?;
            writeln!(
                out,
                "0x{ARTICLE_COUNT:X} calls: the article's Table 4 column, the time for that many \
                 operations at the row's calls/s (both CPUs sharing them for cpus=2)"
            )?;
            writeln!(
                out,
                "vs int 2e: int 2e's cycles/call ÷ this row's, same kind and CPUs; 2-CPU scaling: \
                 calls/s on 2 CPUs ÷ calls/s on 1"
            )?;
            if run.machine.accel == Accel::Tcg && run.rows.iter().any(|r| r.measured.cpus == 2) {
                writeln!(
                    out,
                    "{LOCK_MARK}: QEMU's TCG delivers every int n holding its global lock, so two \
                     CPUs in int 0x2e take turns; that is the emulator's limit, not the kernel's"
                )?;
            }
        }
        Unit::Instructions => {
            writeln!(
                out,
                "instructions/call: guest instructions per operation, the loop included; {pair}"
            )?;
            writeln!(
                out,
                "vs int 2e: int 2e's instructions/call ÷ this row's, same kind: how much less \
                 software the path runs"
            )?;
        }
    }
    Ok(())
}

/// The article's two rows beside this run's `create_close` rows.
pub fn write_table_4(out: &mut dyn Write, c: &Comparison, st: &Styles) -> io::Result<()> {
    let code = match c.bits {
        32 => "in 32-bit code, the article's instructions",
        _ => "in 64-bit code",
    };
    writeln!(
        out,
        "{}",
        st.header.apply_to(format!(
            "The article's Table 4 beside this run: CreateMutex + CloseHandle, {ARTICLE_COUNT:#X} \
             times, 1 CPU, {code}"
        ))
    )?;
    let article = format!("the article ({MACHINE})");
    let time = if c.tcg {
        "this run: time under TCG"
    } else {
        "this run: time"
    };
    let mut columns = vec![("way in", Align::Left), (article.as_str(), Align::Left)];
    if c.has_secs {
        columns.push((time, Align::Right));
    }
    if c.has_instructions {
        columns.push(("this run: instructions per pair", Align::Right));
    }
    let dash = || Cell::from("—".to_owned());
    let mut rows: Vec<Option<Vec<Cell>>> = Vec::new();
    for line in &c.lines {
        let mut cells = vec![
            way_in(line.path).to_owned().into(),
            line.article.map_or_else(dash, |a| {
                format!("{}: {}", a.system, format_duration(a.secs)).into()
            }),
        ];
        if c.has_secs {
            cells.push(line.secs.map_or_else(dash, |s| format_duration(s).into()));
        }
        if c.has_instructions {
            cells.push(
                line.instructions
                    .map_or_else(dash, |i| format!("{i:.0}").into()),
            );
        }
        rows.push(Some(cells));
    }
    for path in [SYSENTER, SYSCALL] {
        if !c.lines.iter().any(|l| l.path == path) {
            continue;
        }
        let s = c.speedup(path);
        let cell = |v: Option<f64>| v.map_or_else(dash, |v| ratio(v).into());
        let mut cells = vec![format!("int 2e ÷ {}", way_in(path)).into(), cell(s.article)];
        if c.has_secs {
            cells.push(cell(s.secs));
        }
        if c.has_instructions {
            cells.push(cell(s.instructions));
        }
        rows.push(Some(cells));
    }
    write_grid(out, &columns, &rows, st)?;
    // Without TCG only the last remark applies.
    let note = if c.tcg { &TCG_NOTE[..] } else { &TCG_NOTE[2..] };
    let mut lines = note.iter();
    if let Some(first) = lines.next() {
        writeln!(out, "{} {first}", st.note.apply_to("note:"))?;
    }
    for line in lines {
        writeln!(out, "      {line}")?;
    }
    Ok(())
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
        return match whole % 60 {
            0 => format!("{} min", whole / 60),
            s => format!("{} min {s} s", whole / 60),
        };
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

/// `--json`: `{"accel", "profile", "iterations", "tsc_mhz", "rows": [...]}`,
/// the rows of every boot, each with its unit. `tsc_mhz` is the cycles
/// boot's (null when only instructions were counted).
#[derive(Debug, Serialize)]
pub struct JsonRun {
    pub accel: String,
    pub profile: String,
    pub iterations: u64,
    pub tsc_mhz: Option<f64>,
    pub rows: Vec<JsonRow>,
}

#[derive(Debug, Serialize)]
pub struct JsonRow {
    pub path: String,
    pub kind: String,
    pub cpus: u32,
    /// 32 or 64: the caller's code.
    pub bits: u32,
    /// `"cycles"` or `"instructions"`: what `per_call` counts.
    pub unit: &'static str,
    pub per_call: JsonPerCall,
    /// Null for instructions, which are not a time.
    pub ns_per_call: Option<f64>,
    pub calls_per_sec: Option<f64>,
    pub speedup_vs_int2e: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct JsonPerCall {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn json(runs: &[Run]) -> JsonRun {
    let first = runs.first();
    let cycles = runs.iter().find(|r| r.unit == Unit::Cycles);
    JsonRun {
        accel: first.map_or("", |r| r.machine.accel.as_str()).into(),
        profile: first.map(|r| r.machine.profile.label()).unwrap_or_default(),
        iterations: first.map_or(0, |r| r.iterations),
        tsc_mhz: cycles.map(|r| round(r.tsc_mhz(), 3)),
        rows: runs
            .iter()
            .flat_map(|run| {
                let timed = run.unit == Unit::Cycles;
                run.rows.iter().map(move |r| JsonRow {
                    path: r.measured.path.clone(),
                    kind: r.measured.kind.clone(),
                    cpus: r.measured.cpus,
                    bits: r.measured.bits,
                    unit: run.unit.as_str(),
                    per_call: JsonPerCall {
                        median: r.measured.median,
                        min: r.measured.min,
                        max: r.measured.max,
                    },
                    ns_per_call: timed.then(|| round(r.ns_per_call, 2)),
                    calls_per_sec: timed.then(|| round(r.calls_per_sec, 0)),
                    speedup_vs_int2e: r.speedup_vs_int2e.map(|s| round(s, 3)),
                })
            })
            .collect(),
    }
}

pub fn write_json(path: &Path, runs: &[Run]) -> Result<()> {
    let text = serde_json::to_string_pretty(&json(runs)).context("cannot encode the JSON")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the benchmark JSON to {}", path.display()))
}

/// The CSV header: the JSON row's fields, flattened, after the accelerator
/// and profile (so that every figure carries them, and the files of two
/// profiles can be concatenated).
pub const CSV_HEADER: &str = "accel,profile,tsc_mhz,path,kind,cpus,bits,unit,median,min,max,\
                              ns_per_call,calls_per_sec,speedup_vs_int2e";

/// `--csv`: one header line, then one line per row; an empty field for a
/// figure the row does not have.
pub fn csv(runs: &[Run]) -> String {
    let j = json(runs);
    let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut text = format!("{CSV_HEADER}\n");
    for r in &j.rows {
        let fields = [
            csv_field(&j.accel),
            csv_field(&j.profile),
            optional(j.tsc_mhz),
            csv_field(&r.path),
            csv_field(&r.kind),
            r.cpus.to_string(),
            r.bits.to_string(),
            r.unit.to_owned(),
            r.per_call.median.to_string(),
            r.per_call.min.to_string(),
            r.per_call.max.to_string(),
            optional(r.ns_per_call),
            optional(r.calls_per_sec),
            optional(r.speedup_vs_int2e),
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

pub fn write_csv(path: &Path, runs: &[Run]) -> Result<()> {
    std::fs::write(path, csv(runs))
        .with_context(|| format!("cannot write the benchmark CSV to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::{row, run, run_of};
    use crate::profile::Profile;
    use serde_json::Value;

    #[test]
    fn durations() {
        assert_eq!(format_duration(90.0), "1 min 30 s");
        assert_eq!(format_duration(240.0), "4 min");
        assert_eq!(format_duration(42.14), "42.1 s");
        assert_eq!(format_duration(4.214), "4.21 s");
        assert_eq!(format_duration(0.4123), "412 ms");
        assert_eq!(format_duration(0.0083), "8.30 ms");
        assert_eq!(format_duration(59.7), "1 min");
        assert_eq!(format_duration(121.4), "2 min 1 s");
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

    /// The report of `runs`, without colour.
    fn text(runs: &[Run]) -> String {
        let mut out = Vec::new();
        write(&mut out, runs, &Styles::new(false)).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The line that starts with `prefix` once runs of spaces are one space.
    fn line(text: &str, prefix: &str) -> String {
        text.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in\n{text}"))
    }

    /// A crafted instructions run: exact rows, as under -icount.
    fn instructions() -> Run {
        let exact = |path: &str, kind: &str, median: f64| {
            let mut r = row(path, kind, 1, median);
            (r.min, r.max) = (median, median);
            r
        };
        let measured = [
            exact("call", "bare", 4.0),
            exact("int2e", "null", 80.0),
            exact("int2e", "create_close", 400.0),
            exact("syscall", "null", 88.0),
            exact("syscall", "create_close", 440.0),
        ];
        let mut run = run_of(Unit::Instructions, &measured, 999.972);
        run.machine.smp = 1;
        run
    }

    #[test]
    fn cycles_table_rows_and_columns() {
        let text = text(&[run()]);
        assert!(
            text.starts_with("== bench (intel, tcg, -smp 2): cycles ==\n"),
            "{text}"
        );
        assert!(text.contains("(-cpu qemu64,vendor=GenuineIntel), TSC 2000.0 MHz"));
        assert!(text.contains("not the CPU's"));
        assert!(
            line(
                &text,
                "path kind cpus bits cycles/call [min–max] ns/call 0xFFFFFF calls calls/s"
            )
            .ends_with("vs int 2e 2-CPU scaling")
        );
        // 20 cycles at 2000 MHz: 10 ns, 100 M calls/s, 0xFFFFFF of them in 168 ms.
        assert_eq!(
            line(&text, "call bare 1"),
            "call bare 1 64 20.0 [18.0–24.0] 10.0 168 ms 100 M —"
        );
        assert_eq!(
            line(&text, "syscall null 1"),
            "syscall null 1 64 120.0 [108.0–144.0] 60.0 1.01 s 16.7 M 10.00×"
        );
        assert_eq!(
            line(&text, "syscall create_close 2"),
            "syscall create_close 2 64 500.0 [450.0–600.0] 250.0 2.10 s 8.00 M 6.00× 1.60×"
        );
        // Under TCG int 0x2e's scaling is marked as QEMU's lock, and the legend says why.
        assert_eq!(
            line(&text, "int2e create_close 2"),
            "int2e create_close 2 64 3000.0 [2700.0–3600.0] 1500.0 12.6 s 1.33 M — 2.00× (QEMU lock)"
        );
        assert!(line(&text, "(QEMU lock):").contains("global lock"));
        assert!(line(&text, "0xFFFFFF calls:").contains("the article's Table 4 column"));
        for word in ["issue", "seed", "Targets", "ticket"] {
            assert!(!text.contains(word), "`{word}` in\n{text}");
        }
    }

    #[test]
    fn instructions_table_is_not_a_time() {
        let text = text(&[instructions()]);
        assert!(
            text.starts_with("== bench (intel, tcg, -smp 1): instructions ==\n"),
            "{text}"
        );
        assert!(text.contains("with -icount shift=0,align=off,sleep=off"));
        assert!(text.contains("every row is exact (min = median = max)"));
        assert_eq!(
            line(&text, "path kind"),
            "path kind cpus bits instructions/call [min–max] vs int 2e"
        );
        assert_eq!(
            line(&text, "syscall null 1"),
            "syscall null 1 64 88.0 [88.0–88.0] 0.91×"
        );
        assert!(!text.contains(" ns/call") && !text.contains("calls/s"));
        assert!(!text.contains("QEMU lock"));
    }

    #[test]
    fn table_4_beside_both_units() {
        let text = text(&[run(), instructions()]);
        let cycles_at = text.find(": cycles ==").unwrap();
        let instructions_at = text.find(": instructions ==").unwrap();
        let table_4 = text.find("The article's Table 4 beside this run").unwrap();
        assert!(cycles_at < instructions_at && instructions_at < table_4);
        assert_eq!(
            line(&text, "way in"),
            "way in the article (dual Pentium III, 800 MHz) this run: time under TCG \
             this run: instructions per pair"
        );
        // int2e create_close at 3000 cycles and 2000 MHz: 1.5 µs, 25.2 s for 0xFFFFFF.
        assert_eq!(
            line(&text, "int 2e Windows"),
            "int 2e Windows 2000 SP4: 4 min 25.2 s 400"
        );
        assert_eq!(
            line(&text, "SYSENTER"),
            "SYSENTER Windows XP SP0: 1 min 30 s — —"
        );
        assert_eq!(line(&text, "SYSCALL"), "SYSCALL — 3.36 s 440");
        assert_eq!(
            line(&text, "int 2e ÷ SYSENTER"),
            "int 2e ÷ SYSENTER 2.67× — —"
        );
        assert_eq!(
            line(&text, "int 2e ÷ SYSCALL"),
            "int 2e ÷ SYSCALL — 7.50× 0.91×"
        );
        assert!(line(&text, "note: under TCG, compare the order").contains("instructions"));
        assert!(text.contains("global lock"));
    }

    #[test]
    fn errors_and_notes_come_last() {
        let mut r = run();
        r.errors.push(crate::protocol::BenchError {
            path: "sysenter".into(),
            kind: "null".into(),
            cpus: 2,
            bits: 64,
            message: "CPU 1: 3 of 10000 operations failed".into(),
        });
        r.notes.push("something odd".into());
        let text = text(&[r]);
        assert!(text.ends_with(
            "error: path=sysenter kind=null cpus=2 was not measured: CPU 1: 3 of 10000 \
             operations failed\nnote: something odd\n"
        ));
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn json_rows_carry_their_unit() {
        let text = serde_json::to_string(&json(&[run(), instructions()])).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            keys(&v),
            ["accel", "iterations", "profile", "rows", "tsc_mhz"]
        );
        assert_eq!(v["accel"], "tcg");
        assert_eq!(v["profile"], "intel");
        assert_eq!(v["tsc_mhz"].as_f64(), Some(2000.0));
        assert_eq!(v["iterations"].as_u64(), Some(90_000));
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10 + 5);
        for row in rows {
            assert_eq!(
                keys(row),
                [
                    "bits",
                    "calls_per_sec",
                    "cpus",
                    "kind",
                    "ns_per_call",
                    "path",
                    "per_call",
                    "speedup_vs_int2e",
                    "unit"
                ]
            );
            assert_eq!(keys(&row["per_call"]), ["max", "median", "min"]);
            assert!(row["per_call"]["median"].is_f64());
        }
        assert_eq!(rows[0]["unit"], "cycles");
        assert_eq!(
            (&rows[0]["path"], &rows[0]["kind"]),
            (&"call".into(), &"bare".into())
        );
        assert!(rows[1]["speedup_vs_int2e"].is_null(), "int2e itself");
        assert_eq!(rows[5]["speedup_vs_int2e"].as_f64(), Some(10.0));
        assert_eq!(rows[5]["ns_per_call"].as_f64(), Some(60.0));
        assert_eq!(rows[5]["calls_per_sec"].as_f64(), Some(16_666_667.0));
        let exact = &rows[13];
        assert_eq!(exact["unit"], "instructions");
        assert_eq!(exact["path"], "syscall");
        assert_eq!(exact["per_call"]["min"], exact["per_call"]["max"]);
        assert!(exact["ns_per_call"].is_null() && exact["calls_per_sec"].is_null());
        // Instructions alone: no TSC frequency to speak of.
        assert_eq!(json(&[instructions()]).tsc_mhz, None);
    }

    #[test]
    fn csv_header_and_rows() {
        let mut r = run();
        r.machine.profile = Profile::Model("qemu64,+sep".into());
        let text = csv(&[r, instructions()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 10 + 5);
        assert_eq!(
            lines[0],
            "accel,profile,tsc_mhz,path,kind,cpus,bits,unit,median,min,max,ns_per_call,\
             calls_per_sec,speedup_vs_int2e"
        );
        assert_eq!(
            lines[1],
            "tcg,\"qemu64,+sep\",2000,call,bare,1,64,cycles,20,18,24,10,100000000,"
        );
        assert_eq!(
            lines[6],
            "tcg,\"qemu64,+sep\",2000,syscall,null,1,64,cycles,120,108,144,60,16666667,10"
        );
        assert_eq!(
            lines[14],
            "tcg,\"qemu64,+sep\",2000,syscall,null,1,64,instructions,88,88,88,,,0.909"
        );
    }
}
