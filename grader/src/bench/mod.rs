//! `cargo grader bench`: build as grading does, boot with `lab=bench` (once
//! per unit that `--count` asks for), and report the kernel's `bench` rows
//! (PROTOCOL.md, "Benchmark") as a table beside the article's Table 4, and
//! as JSON, CSV and an SVG chart when asked. `--anatomy` instead steps
//! through one call of each service (anatomy.rs).
//!
//! parse (cli) -> run (this module: a boot per unit, diagnosed like a graded
//! one) -> report (table.rs: the numbers; article.rs: Table 4; report.rs:
//! table, JSON, CSV; chart.rs: SVG).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use indicatif::ProgressBar;

use crate::builder::Images;
use crate::cli::Bench;
use crate::cmdline::Nonce;
use crate::diagnose::{self, BootEnd, Context};
use crate::paths::{Workspace, fresh_file, read_lossy, show};
use crate::profile::{Accel, Machine};
use crate::protocol::{Event, Line, TAG, Transcript};
use crate::qemu::{self, BootSpec, Serial};
use crate::symbolize::Symbolizer;
use crate::{builder, exit, grade, preflight};
use report::Styles;
use table::{Bits, Run, Unit};

mod anatomy;
mod article;
mod chart;
mod phases;
mod report;
pub mod table;

/// The kernel command line of a benchmark boot (PROTOCOL.md, "Kernel
/// command line"): `lab=bench` and the benchmark's two numbers.
struct BenchCmdline<'a> {
    nonce: &'a Nonce,
    /// `bench`, or `anatomy` for `--anatomy`.
    lab: &'a str,
    machine: &'a Machine,
    unit: Unit,
    iterations: u64,
    batches: u64,
    bits: Bits,
}

impl fmt::Display for BenchCmdline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nonce={} lab={} tests=all profile={} accel={} count={} iterations={} batches={} bits={}",
            self.nonce.as_str(),
            self.lab,
            self.machine.profile.cmdline_name(),
            self.machine.accel.as_str(),
            self.unit.as_str(),
            self.iterations,
            self.batches,
            self.bits.as_str()
        )
    }
}

/// The machine a unit is counted on. Instructions are counted on one CPU:
/// under `-icount` QEMU runs every CPU in one host thread, in turn, and a
/// CPU's TSC would also count what the other CPU ran in its turn.
fn machine_for(machine: &Machine, unit: Unit) -> Machine {
    let mut m = machine.clone();
    if unit == Unit::Instructions {
        m.smp = 1;
    }
    m
}

/// The QEMU arguments a unit adds to the boot's.
fn unit_args(unit: Unit) -> Vec<std::ffi::OsString> {
    match unit {
        Unit::Cycles => vec![],
        Unit::Instructions => vec!["-icount".into(), report::ICOUNT.into()],
    }
}

/// The benchmark boot, parsed and diagnosed.
struct Boot {
    unit: Unit,
    machine: Machine,
    transcript: Transcript,
    /// `None` when the boot ended with `done`.
    diagnostic: Option<String>,
}

pub fn run(b: Bench) -> Result<u8> {
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_accel(b.target.machine.accel)?;
    preflight::check_target(&ws.root)?;
    if b.count.units().contains(&Unit::Instructions) && b.target.machine.accel != Accel::Tcg {
        bail!(
            "--count {} needs QEMU's -icount, which only TCG has: drop --accel {}, or count \
             cycles",
            if b.count == table::Count::Both {
                "both"
            } else {
                "instructions"
            },
            b.target.machine.accel.as_str()
        );
    }
    if b.anatomy && b.target.machine.accel != Accel::Tcg {
        bail!(
            "--anatomy single-steps the guest under TCG, where every step is one instruction; \
             drop --accel {}",
            b.target.machine.accel.as_str()
        );
    }
    let images = builder::build(&ws, b.target.variant)?;
    let symbolizer = grade::load_symbols(&images.kernel, &ws);
    if b.anatomy {
        return anatomy::run(&b, &ws, &images, symbolizer.as_ref());
    }
    let mut boots = Vec::new();
    for &unit in b.count.units() {
        boots.push(boot(&b, &ws, &images, symbolizer.as_ref(), unit)?);
    }
    report(&b, &boots)
}

/// `target/syslab/logs/bench-<profile>-<accel><suffix>.<kind>.log`.
fn log_path(ws: &Workspace, machine: &Machine, suffix: &str, kind: &str) -> PathBuf {
    ws.logs_dir().join(format!(
        "bench-{}-{}{suffix}.{kind}.log",
        machine.profile.file_label(),
        machine.accel.as_str()
    ))
}

fn boot(
    b: &Bench,
    ws: &Workspace,
    images: &Images,
    symbols: Option<&Symbolizer>,
    unit: Unit,
) -> Result<Boot> {
    let machine = &machine_for(&b.target.machine, unit);
    let suffix = match unit {
        Unit::Cycles => "",
        Unit::Instructions => "-instructions",
    };
    let (serial_log, qemu_log) = fresh_logs(ws, machine, suffix)?;

    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: BenchCmdline {
            nonce: &nonce,
            lab: "bench",
            machine,
            unit,
            iterations: b.iterations,
            batches: b.batches,
            bits: b.bits,
        }
        .to_string(),
        machine,
        serial: Serial::File(serial_log.clone()),
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: None,
    };
    let mut args = spec.args();
    args.extend(unit_args(unit));
    if b.verbose {
        eprintln!("bench: {}", qemu::display_command(&args));
    }

    let spinner = if b.verbose {
        ProgressBar::hidden()
    } else {
        crate::report::spinner(format!("benchmarking ({machine}, {})", unit.as_str()))
    };
    // The spinner counts the rows as the kernel prints them.
    let row_tag = format!("{TAG} {} bench ", nonce.as_str());
    let mut rows_seen = 0;
    let mut progress = || {
        let rows = read_lossy(&serial_log).matches(&row_tag).count();
        if rows != rows_seen {
            rows_seen = rows;
            spinner.set_message(format!(
                "benchmarking ({machine}, {}): {rows} rows",
                unit.as_str()
            ));
        }
        false
    };
    let timeout = Duration::from_secs(b.timeout_secs);
    let finished = qemu::run_captured(&args, timeout, Some(&mut progress));
    spinner.finish_and_clear();
    let finished = finished?;

    let (transcript, diagnostic) = diagnose_boot(b, ws, symbols, &spec, &finished, &nonce);
    Ok(Boot {
        unit,
        machine: machine.clone(),
        transcript,
        diagnostic,
    })
}

/// Fresh serial and QEMU logs for a boot of `machine`.
fn fresh_logs(ws: &Workspace, machine: &Machine, suffix: &str) -> Result<(PathBuf, PathBuf)> {
    let logs = ws.logs_dir();
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("cannot create the log directory {}", logs.display()))?;
    let serial_log = log_path(ws, machine, suffix, "serial");
    let qemu_log = log_path(ws, machine, suffix, "qemu");
    fresh_file(&serial_log)?;
    fresh_file(&qemu_log)?;
    Ok((serial_log, qemu_log))
}

/// The boot's transcript, and what went wrong with it as grading would
/// say it (`None` when it ended with `done`).
fn diagnose_boot(
    b: &Bench,
    ws: &Workspace,
    symbols: Option<&Symbolizer>,
    spec: &BootSpec<'_>,
    finished: &qemu::Finished,
    nonce: &Nonce,
) -> (Transcript, Option<String>) {
    let Serial::File(serial_log) = &spec.serial else {
        unreachable!("benchmark boots log their serial port to a file")
    };
    let serial = std::fs::read(serial_log).unwrap_or_default();
    if b.verbose {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "--- bench: serial output ---");
        let _ = err.write_all(&serial);
        if !serial.ends_with(b"\n") && !serial.is_empty() {
            let _ = writeln!(err);
        }
        let _ = writeln!(err, "--- end of bench ---");
    }
    let transcript = Transcript::parse(&serial, nonce.as_str());
    let end = diagnose::classify(finished, &transcript, &read_lossy(spec.qemu_log));
    let triple_fault_dump = (end == BootEnd::TripleFault).then(|| record_triple_fault(spec, ws, b));
    let mut diagnostic = diagnose::describe(
        &end,
        &Context {
            transcript: &transcript,
            symbolizer: symbols,
            serial_log: &show(serial_log),
            qemu_log: &show(spec.qemu_log),
            timeout_secs: b.timeout_secs,
            triple_fault_dump,
        },
    );
    if end == BootEnd::Timeout
        && let Some(text) = diagnostic.as_mut()
    {
        text.push_str(&format!(
            "\nhint: the benchmark may just be slow here: the default timeout is 60 s + 0.5 ms \
             per iteration; give a larger --timeout or fewer --iterations (this run: {} \
             iterations)",
            b.iterations
        ));
    }
    (transcript, diagnostic)
}

/// As grading does: boot again without `-no-reboot` for the registers.
fn record_triple_fault(
    first: &BootSpec<'_>,
    ws: &Workspace,
    b: &Bench,
) -> Result<Vec<diagnose::CpuAtReset>, String> {
    let machine = first.machine;
    let logs = (
        log_path(ws, machine, "-reset", "qemu"),
        log_path(ws, machine, "-reset", "serial"),
    );
    let verbose = b.verbose.then_some("bench");
    crate::runner::record_triple_fault(first, logs, machine.smp, b.timeout_secs, verbose)
}

/// Remarks on a benchmark boot: malformed lines, missing CPUs, fewer
/// iterations than asked for, a failed ring-3 self-test under TCG, a row of
/// an instructions run that is not exact.
fn notes(transcript: &Transcript, run: &Run, b: &Bench) -> Vec<String> {
    let machine = &run.machine;
    let mut notes = Vec::new();
    for line in &transcript.lines {
        match line {
            Line::Malformed { text, reason } => notes.push(format!(
                "ignored a malformed protocol line ({reason}): {text}"
            )),
            Line::Event(Event::Hello {
                cpus: Some(cpus), ..
            }) if *cpus < machine.smp => notes.push(format!(
                "only {cpus} of {} CPUs came online (hello cpus={cpus})",
                machine.smp
            )),
            Line::Event(Event::Info(fields)) => {
                if let Some(message) = diagnose::ring3_selftest(fields, machine.accel) {
                    notes.push(message);
                }
            }
            _ => {}
        }
    }
    if machine.smp >= 2 && !run.rows.iter().any(|r| r.measured.cpus == 2) {
        notes.push("no 2-CPU rows: the kernel measured on 1 CPU only".into());
    }
    if run.iterations != b.iterations {
        notes.push(format!(
            "asked for {} iterations per row; the kernel ran {} ({} batches of {}, a whole \
             number per batch)",
            b.iterations,
            run.iterations,
            run.batches,
            run.iterations.checked_div(run.batches).unwrap_or_default()
        ));
    }
    if run.unit == Unit::Instructions {
        for r in run.rows.iter().filter(|r| r.measured.min != r.measured.max) {
            let m = &r.measured;
            notes.push(format!(
                "path={} kind={} is not exact ({:.1} to {:.1} instructions per operation over \
                 the batches): something else ran on the CPU during a batch",
                m.path, m.kind, m.min, m.max
            ));
        }
    }
    notes
}

/// Under KVM, numbers from a machine whose ring-3 system calls do not
/// reach the kernel would mislead: refuse them (as grading does).
fn kvm_refusal(transcript: &Transcript, accel: Accel) -> Option<String> {
    if accel != Accel::Kvm {
        return None;
    }
    transcript.events().find_map(|event| match event {
        Event::Info(fields) => diagnose::ring3_selftest(fields, accel),
        _ => None,
    })
}

fn report(b: &Bench, boots: &[Boot]) -> Result<u8> {
    for boot in boots {
        if let Some(message) = kvm_refusal(&boot.transcript, boot.machine.accel) {
            bail!("not measured: {message}");
        }
    }
    let styles = Styles::for_stdout();
    let mut out = std::io::stdout().lock();
    let write_failed = "cannot write the report";
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for boot in boots {
        match Run::from_transcript(&boot.transcript, &boot.machine, boot.unit) {
            Ok(mut run) => {
                if run.iterations == 0 {
                    run.iterations = b.iterations;
                }
                if run.batches == 0 {
                    run.batches = b.batches;
                }
                let notes = notes(&boot.transcript, &run, b);
                run.notes.extend(notes);
                runs.push(run);
                if let Some(diagnostic) = &boot.diagnostic {
                    failures.push(format!(
                        "the {} benchmark did not finish: {diagnostic}",
                        boot.unit.as_str()
                    ));
                }
            }
            Err(why) => failures.push(format!(
                "the {} benchmark did not run: {}",
                boot.unit.as_str(),
                boot.diagnostic.as_deref().unwrap_or(&why)
            )),
        }
    }
    if !runs.is_empty() {
        report::write(&mut out, &runs, &styles).context(write_failed)?;
    }
    if !failures.is_empty() {
        for text in &failures {
            if !runs.is_empty() {
                writeln!(out).context(write_failed)?;
            }
            report::write_failure(&mut out, text, &styles).context(write_failed)?;
        }
        if b.json.is_some() || b.csv.is_some() || b.svg.is_some() {
            eprintln!("no files written: the run did not finish");
        }
        return Ok(exit::NOT_FULL_MARKS);
    }
    out.flush().context(write_failed)?;
    drop(out);

    if runs.iter().all(|r| r.rows.is_empty()) {
        eprintln!("no files written: the kernel measured no rows");
    } else {
        if let Some(path) = &b.json {
            report::write_json(path, &runs)?;
            eprintln!("wrote the benchmark JSON to {}", show(path).display());
        }
        if let Some(path) = &b.csv {
            report::write_csv(path, &runs)?;
            eprintln!("wrote the benchmark CSV to {}", show(path).display());
        }
        if let Some(path) = &b.svg {
            // The chart shows one unit: cycles when there are both.
            chart::write(path, &runs[0])?;
            eprintln!("wrote the benchmark chart to {}", show(path).display());
        }
    }
    let complete = runs
        .iter()
        .all(|r| r.errors.is_empty() && !r.rows.is_empty());
    Ok(if complete {
        exit::FULL_MARKS
    } else {
        exit::NOT_FULL_MARKS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::Variant;
    use crate::cli::Target;
    use crate::profile::Profile;

    const N: &str = "0123456789abcdef";

    fn bench(accel: Accel) -> Bench {
        Bench {
            target: Target {
                variant: Variant::Solutions,
                machine: Machine {
                    profile: Profile::Amd,
                    accel,
                    smp: 2,
                },
                inject: None,
            },
            count: table::Count::Cycles,
            bits: Bits::Both,
            anatomy: false,
            iterations: 100_000,
            batches: 9,
            timeout_secs: 110,
            json: None,
            csv: None,
            svg: None,
            verbose: false,
        }
    }

    #[test]
    fn cmdline_follows_the_protocol() {
        let b = bench(Accel::Tcg);
        let nonce = Nonce::fixed(N);
        let line = BenchCmdline {
            nonce: &nonce,
            lab: "bench",
            machine: &b.target.machine,
            unit: Unit::Instructions,
            iterations: 0xFF_FFFF,
            batches: 9,
            bits: Bits::B32,
        }
        .to_string();
        assert_eq!(
            line,
            "nonce=0123456789abcdef lab=bench tests=all profile=amd accel=tcg count=instructions \
             iterations=16777215 batches=9 bits=32"
        );
        assert_eq!(machine_for(&b.target.machine, Unit::Instructions).smp, 1);
        assert_eq!(machine_for(&b.target.machine, Unit::Cycles).smp, 2);
        assert_eq!(
            unit_args(Unit::Instructions),
            ["-icount", "shift=0,align=off,sleep=off"]
        );
        assert!(unit_args(Unit::Cycles).is_empty());
    }

    #[test]
    fn notes_and_refusals() {
        let log = format!(
            "@@syslab {N} info selftest ring3=broken int2e=#UD\n\
             @@syslab {N} hello lab=bench cpus=1\n\
             @@syslab {N} info bench tsc_khz=2000000 iterations=99999 batches=9 sysenter=0\n\
             @@syslab {N} bench path=call kind=bare cpus=1 median=nope\n\
             @@syslab {N} done\n"
        );
        let t = Transcript::parse(log.as_bytes(), N);
        let b = bench(Accel::Tcg);
        let run = Run::from_transcript(&t, &b.target.machine, Unit::Cycles).unwrap();
        let notes = notes(&t, &run, &b);
        assert_eq!(notes.len(), 5, "{notes:?}");
        assert!(notes[0].contains("self-test failed under TCG"));
        assert!(notes[1].contains("only 1 of 2 CPUs"));
        assert!(notes[2].contains("malformed"));
        assert!(notes[3].contains("no 2-CPU rows"));
        assert!(notes[4].contains("the kernel ran 99999"));
        assert_eq!(kvm_refusal(&t, Accel::Tcg), None);
        assert!(
            kvm_refusal(&t, Accel::Kvm)
                .unwrap()
                .contains("use --accel tcg")
        );
    }
}
