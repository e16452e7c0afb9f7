//! `cargo grader bench`: build as grading does, boot once with `lab=bench`,
//! and report the kernel's `bench` rows (PROTOCOL.md, "Benchmark") as a
//! table, and as JSON, CSV and an SVG chart when asked.
//!
//! parse (cli) -> run (this module: one boot, diagnosed like a graded one)
//! -> report (table.rs: the numbers; report.rs: table, JSON, CSV;
//! chart.rs: SVG).

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
use table::Run;

mod chart;
mod report;
pub mod table;

/// The kernel command line of a benchmark boot (PROTOCOL.md, "Kernel
/// command line"): `lab=bench` and the benchmark's two numbers.
struct BenchCmdline<'a> {
    nonce: &'a Nonce,
    machine: &'a Machine,
    iterations: u64,
    batches: u64,
}

impl fmt::Display for BenchCmdline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nonce={} lab=bench tests=all profile={} accel={} iterations={} batches={}",
            self.nonce.as_str(),
            self.machine.profile.cmdline_name(),
            self.machine.accel.as_str(),
            self.iterations,
            self.batches
        )
    }
}

/// The benchmark boot, parsed and diagnosed.
struct Boot {
    transcript: Transcript,
    /// `None` when the boot ended with `done`.
    diagnostic: Option<String>,
}

pub fn run(b: Bench) -> Result<u8> {
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_accel(b.target.machine.accel)?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, b.target.variant)?;
    let symbolizer = grade::load_symbols(&images.kernel, &ws);
    let boot = boot(&b, &ws, &images, symbolizer.as_ref())?;
    report(&b, &boot)
}

fn log_path(ws: &Workspace, machine: &Machine, suffix: &str, kind: &str) -> PathBuf {
    ws.logs_dir().join(format!(
        "bench-{}-{}{suffix}.{kind}.log",
        machine.profile.file_label(),
        machine.accel.as_str()
    ))
}

fn boot(b: &Bench, ws: &Workspace, images: &Images, symbols: Option<&Symbolizer>) -> Result<Boot> {
    let machine = &b.target.machine;
    let logs = ws.logs_dir();
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("cannot create the log directory {}", logs.display()))?;
    let serial_log = log_path(ws, machine, "", "serial");
    let qemu_log = log_path(ws, machine, "", "qemu");
    fresh_file(&serial_log)?;
    fresh_file(&qemu_log)?;

    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: BenchCmdline {
            nonce: &nonce,
            machine,
            iterations: b.iterations,
            batches: b.batches,
        }
        .to_string(),
        machine,
        serial: Serial::File(serial_log.clone()),
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: None,
    };
    let args = spec.args();
    if b.verbose {
        eprintln!("bench: {}", qemu::display_command(&args));
    }

    let spinner = if b.verbose {
        ProgressBar::hidden()
    } else {
        crate::report::spinner(format!("benchmarking ({machine})"))
    };
    // The spinner counts the rows as the kernel prints them.
    let row_tag = format!("{TAG} {} bench ", nonce.as_str());
    let mut rows_seen = 0;
    let mut progress = || {
        let rows = read_lossy(&serial_log).matches(&row_tag).count();
        if rows != rows_seen {
            rows_seen = rows;
            spinner.set_message(format!("benchmarking ({machine}): {rows} rows"));
        }
        false
    };
    let timeout = Duration::from_secs(b.timeout_secs);
    let finished = qemu::run_captured(&args, timeout, Some(&mut progress));
    spinner.finish_and_clear();
    let finished = finished?;

    let serial = std::fs::read(&serial_log).unwrap_or_default();
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
    let end = diagnose::classify(&finished, &transcript, &read_lossy(&qemu_log));
    let triple_fault_dump =
        (end == BootEnd::TripleFault).then(|| record_triple_fault(&spec, ws, b));
    let mut diagnostic = diagnose::describe(
        &end,
        &Context {
            transcript: &transcript,
            symbolizer: symbols,
            serial_log: &show(&serial_log),
            qemu_log: &show(&qemu_log),
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
    Ok(Boot {
        transcript,
        diagnostic,
    })
}

/// As grading does: boot again without `-no-reboot` for the registers.
fn record_triple_fault(
    first: &BootSpec<'_>,
    ws: &Workspace,
    b: &Bench,
) -> Result<Vec<diagnose::CpuAtReset>, String> {
    let machine = &b.target.machine;
    let logs = (
        log_path(ws, machine, "-reset", "qemu"),
        log_path(ws, machine, "-reset", "serial"),
    );
    let verbose = b.verbose.then_some("bench");
    crate::runner::record_triple_fault(first, logs, machine.smp, b.timeout_secs, verbose)
}

/// Remarks on a benchmark boot: malformed lines, missing CPUs, fewer
/// iterations than asked for, a failed ring-3 self-test under TCG.
fn notes(transcript: &Transcript, run: &Run, b: &Bench) -> Vec<String> {
    let mut notes = Vec::new();
    for line in &transcript.lines {
        match line {
            Line::Malformed { text, reason } => notes.push(format!(
                "ignored a malformed protocol line ({reason}): {text}"
            )),
            Line::Event(Event::Hello {
                cpus: Some(cpus), ..
            }) if *cpus < b.target.machine.smp => notes.push(format!(
                "only {cpus} of {} CPUs came online (hello cpus={cpus})",
                b.target.machine.smp
            )),
            Line::Event(Event::Info(fields)) => {
                if let Some(message) = diagnose::ring3_selftest(fields, b.target.machine.accel) {
                    notes.push(message);
                }
            }
            _ => {}
        }
    }
    if b.target.machine.smp >= 2 && !run.rows.iter().any(|r| r.measured.cpus == 2) {
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

fn report(b: &Bench, boot: &Boot) -> Result<u8> {
    if let Some(message) = kvm_refusal(&boot.transcript, b.target.machine.accel) {
        bail!("not measured: {message}");
    }
    let styles = Styles::for_stdout();
    let mut out = std::io::stdout().lock();
    let write_failed = "cannot write the report";
    let mut run = match Run::from_transcript(&boot.transcript, &b.target.machine) {
        Ok(run) => run,
        Err(why) => {
            let text = match &boot.diagnostic {
                Some(diagnostic) => format!("the benchmark did not run: {diagnostic}"),
                None => format!("the benchmark did not run: {why}"),
            };
            report::write_failure(&mut out, &text, &styles).context(write_failed)?;
            return Ok(exit::NOT_FULL_MARKS);
        }
    };
    if run.iterations == 0 {
        run.iterations = b.iterations;
    }
    if run.batches == 0 {
        run.batches = b.batches;
    }
    let notes = notes(&boot.transcript, &run, b);
    run.notes.extend(notes);
    report::write(&mut out, &run, &styles).context(write_failed)?;

    if let Some(diagnostic) = &boot.diagnostic {
        writeln!(out).context(write_failed)?;
        let text = format!("the benchmark did not finish: {diagnostic}");
        report::write_failure(&mut out, &text, &styles).context(write_failed)?;
        if b.json.is_some() || b.csv.is_some() || b.svg.is_some() {
            eprintln!("no files written: the run did not finish");
        }
        return Ok(exit::NOT_FULL_MARKS);
    }
    out.flush().context(write_failed)?;
    drop(out);

    if run.rows.is_empty() {
        eprintln!("no files written: the kernel measured no rows");
    } else {
        if let Some(path) = &b.json {
            report::write_json(path, &run)?;
            eprintln!("wrote the benchmark JSON to {}", show(path).display());
        }
        if let Some(path) = &b.csv {
            report::write_csv(path, &run)?;
            eprintln!("wrote the benchmark CSV to {}", show(path).display());
        }
        if let Some(path) = &b.svg {
            chart::write(path, &run)?;
            eprintln!("wrote the benchmark chart to {}", show(path).display());
        }
    }
    Ok(if run.errors.is_empty() && !run.rows.is_empty() {
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
            machine: &b.target.machine,
            iterations: 0xFF_FFFF,
            batches: 9,
        }
        .to_string();
        assert_eq!(
            line,
            "nonce=0123456789abcdef lab=bench tests=all profile=amd accel=tcg \
             iterations=16777215 batches=9"
        );
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
        let run = Run::from_transcript(&t, &b.target.machine).unwrap();
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
