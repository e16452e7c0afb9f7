//! `cargo grader bench --anatomy`: where the instructions of one system call
//! go, phase by phase, on each path.
//!
//! Two boots, on one CPU. The first is an ordinary `lab=bench` boot with
//! fewer operations: the 1-CPU rows in TCG cycles (left out with `--count
//! instructions`, which leaves an output that is the same on every run).
//! The second has
//! `lab=anatomy` and QEMU's gdb stub: the kernel runs the user program once
//! per path; it warms the path up, calls `syslab_anatomy_begin`, and makes
//! one NtNull, one CreateMutex and one CloseHandle call. The grader stops
//! at that marker, puts breakpoints on the three calls' user-side functions
//! (ntdll's `ZwNull`, kernel32's `create_mutex` and `close_handle`), and
//! single-steps each call from its first instruction to its `ret`,
//! recording RIP, RSP and the ring of every instruction. phases.rs cuts
//! each trace into phases by the symbols of the kernel and of the user
//! program.
//!
//! Stepping counts instructions exactly; it cannot time them. The cycles
//! come from their own boot because QEMU 7.2 checks its breakpoint list
//! before every translation block while any breakpoint is set, which made
//! every row of a boot with the marker's breakpoint 3 to 9 times slower.
//! They give the cost of the entry and exit instructions (`bare` row − the
//! call floor) beside the cost of everything around them (`null` row −
//! `bare` row), which is what the instruction counts cannot show.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use indicatif::ProgressBar;
use serde::Serialize;
use wait_timeout::ChildExt;

use super::phases::{self, Counts, Cut, Phase, Step};
use super::report::{self, Styles, write_failure};
use super::table::{BARE, Bits, CALL, INT2E, NULL, PATHS, Run, Unit};
use super::{BenchCmdline, boot, diagnose_boot, fresh_logs, machine_for};
use crate::builder::Images;
use crate::cli::Bench;
use crate::cmdline::Nonce;
use crate::gdb_remote::{Remote, Stop};
use crate::paths::{Workspace, show};
use crate::protocol::Event;
use crate::qemu::{self, BootSpec, Ending, Finished, Serial};
use crate::symbolize::Symbolizer;
use crate::{exit, gdb};

/// Operations per row of the cycles boot: 9 batches of 2000.
const ITERATIONS: u64 = 18_000;
const BATCHES: u64 = 9;
/// More steps than any call takes: a call that runs away stops here.
const MAX_STEPS: usize = 100_000;
/// The user program's marker (kernel/user/src/bench.rs).
const MARKER: &str = "syslab_anatomy_begin";

/// The measured services, by the user-side function a call starts in.
const SERVICES: [(&str, &str); 3] = [
    ("NtNull", "::ZwNull"),
    ("NtCreateMutant", "kernel32::create_mutex"),
    ("NtClose", "kernel32::close_handle"),
];

/// One stepped call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub service: &'static str,
    pub cut: Cut,
}

/// What the anatomy boot found.
#[derive(Clone, Debug, PartialEq)]
pub struct Anatomy {
    pub calls: Vec<Call>,
    /// The 1-CPU rows of the cycles boot.
    pub cycles: Option<Run>,
}

impl Anatomy {
    pub fn counts(&self, service: &str, path: &str) -> Option<&Counts> {
        self.calls
            .iter()
            .find(|c| c.service == service && c.cut.path == path)
            .map(|c| &c.cut.counts)
    }

    /// The paths that have calls, in the table's order.
    pub fn paths(&self) -> Vec<&'static str> {
        PATHS
            .into_iter()
            .filter(|p| self.calls.iter().any(|c| c.cut.path == *p))
            .collect()
    }

    pub fn services(&self) -> Vec<&'static str> {
        SERVICES
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| self.calls.iter().any(|c| c.service == *s))
            .collect()
    }
}

/// The user-side functions the grader breaks on.
struct Breakpoints {
    marker: u64,
    /// (address, service): every `ZwNull` family, CreateMutex, CloseHandle.
    calls: Vec<(u64, &'static str)>,
}

impl Breakpoints {
    fn find(user: &Symbolizer) -> Result<Breakpoints> {
        let Some(&(marker, _)) = user.functions_named(|n| n == MARKER).first() else {
            bail!(
                "the user program has no `{MARKER}` function: is kernel/user built from this \
                 checkout?"
            );
        };
        let mut calls = Vec::new();
        for (service, tail) in SERVICES {
            let found = user.functions_named(|n| n.ends_with(tail));
            if found.is_empty() {
                bail!("the user program has no function named `...{tail}` for {service}");
            }
            calls.extend(found.into_iter().map(|(at, _)| (at, service)));
        }
        Ok(Breakpoints { marker, calls })
    }
}

/// Names addresses from the kernel's symbols, then the user program's.
fn place(kernel: &Symbolizer, user: &Symbolizer, rip: u64) -> Option<phases::Place> {
    kernel.function_at(rip).or_else(|| user.function_at(rip))
}

/// Single-steps from a call's first instruction (the CPU stopped there,
/// RSP at its return address) until it has returned.
fn step_call(remote: &mut Remote) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let entry_rsp = remote.registers()?.rsp;
    loop {
        let r = remote.registers()?;
        if r.user() && r.rsp > entry_rsp {
            return Ok(steps);
        }
        steps.push(Step {
            rip: r.rip,
            rsp: r.rsp,
            user: r.user(),
        });
        if steps.len() > MAX_STEPS {
            bail!("a call ran more than {MAX_STEPS} instructions without returning");
        }
        if let Stop::Exited(_) = remote.step()? {
            bail!("the machine ended in the middle of a call");
        }
    }
}

/// Drives the paused machine to its end, stepping the calls after each
/// marker. Returns the cut calls.
fn drive(
    remote: &mut Remote,
    bps: &Breakpoints,
    kernel: &Symbolizer,
    user: &Symbolizer,
    timeout: Duration,
    spinner: &ProgressBar,
) -> Result<Vec<Call>> {
    let mut calls = Vec::new();
    remote.insert_breakpoint(bps.marker)?;
    loop {
        if let Stop::Exited(_) = remote.resume_until_stop(timeout)? {
            return Ok(calls);
        }
        let at = remote.registers()?.rip;
        if at != bps.marker {
            bail!("the machine stopped at {at:#x}, which is no breakpoint of the grader's");
        }
        remote.remove_breakpoint(bps.marker)?;
        let mut armed: Vec<(u64, &str)> = bps.calls.clone();
        for (address, _) in &armed {
            remote.insert_breakpoint(*address)?;
        }
        for _ in SERVICES {
            if let Stop::Exited(_) = remote.resume_until_stop(timeout)? {
                bail!("the machine ended before the user program made its three calls");
            }
            let at = remote.registers()?.rip;
            let Some(i) = armed.iter().position(|(address, _)| *address == at) else {
                bail!("the machine stopped at {at:#x}, which is no breakpoint of the grader's");
            };
            let (address, service) = armed.remove(i);
            remote.remove_breakpoint(address)?;
            let trace = step_call(remote)?;
            let cut = phases::cut(&trace, |rip| place(kernel, user, rip))
                .map_err(|e| anyhow::anyhow!("cannot cut the {service} call into phases: {e}"))?;
            spinner.set_message(format!(
                "stepping: {service} through {} took {} instructions",
                cut.path,
                cut.counts.total()
            ));
            calls.push(Call { service, cut });
        }
        for (address, _) in armed {
            remote.remove_breakpoint(address)?;
        }
        remote.insert_breakpoint(bps.marker)?;
    }
}

/// Waits for QEMU to end, killing it after `timeout`.
fn finish(child: &mut std::process::Child, timeout: Duration, stderr: &Path) -> Result<Finished> {
    let started = Instant::now();
    let ending = match child.wait_timeout(timeout).context("waiting for QEMU")? {
        Some(status) => qemu::ending_of(status),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Ending::TimedOut(started.elapsed())
        }
    };
    Ok(Finished {
        ending,
        stderr: crate::paths::read_lossy(stderr),
    })
}

pub fn run(b: &Bench, ws: &Workspace, images: &Images, kernel: Option<&Symbolizer>) -> Result<u8> {
    let Some(kernel) = kernel else {
        bail!("--anatomy needs the kernel's symbols to find the phases (see the warning above)");
    };
    let user = Symbolizer::load(&images.user, Some(&ws.root))?;
    let bps = Breakpoints::find(&user)?;
    let machine = machine_for(&b.target.machine, Unit::Instructions);
    let timed = if b.count.units().contains(&Unit::Cycles) {
        let mut timing = b.clone();
        timing.target.machine = machine.clone();
        timing.bits = Bits::B64; // the anatomy steps 64-bit calls

        (timing.iterations, timing.batches) = (ITERATIONS, BATCHES);
        Some(boot(&timing, ws, images, Some(kernel), Unit::Cycles)?)
    } else {
        None
    };
    let cycles = timed
        .as_ref()
        .and_then(|t| Run::from_transcript(&t.transcript, &machine, Unit::Cycles).ok());
    let (serial_log, qemu_log) = fresh_logs(ws, &machine, "-anatomy")?;
    let stderr_log = serial_log.with_extension("stderr.log");
    let port = gdb::free_port()?;
    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: BenchCmdline {
            nonce: &nonce,
            lab: "anatomy",
            machine: &machine,
            unit: Unit::Cycles,
            bits: Bits::B64,
            iterations: ITERATIONS,
            batches: BATCHES,
        }
        .to_string(),
        machine: &machine,
        serial: Serial::File(serial_log.clone()),
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: Some(port),
    };
    let args = spec.args();
    if b.verbose {
        eprintln!("bench: {}", qemu::display_command(&args));
    }
    let stderr = File::create(&stderr_log)
        .with_context(|| format!("cannot create {}", stderr_log.display()))?;
    let mut child = qemu::spawn(&args, Stdio::from(stderr))?;
    let spinner = if b.verbose {
        ProgressBar::hidden()
    } else {
        crate::report::spinner(format!("single-stepping ({machine})"))
    };
    let timeout = Duration::from_secs(b.timeout_secs);
    let driven = Remote::connect(port, Duration::from_secs(10))
        .and_then(|mut remote| drive(&mut remote, &bps, kernel, &user, timeout, &spinner));
    spinner.finish_and_clear();
    if driven.is_err() {
        let _ = child.kill();
    }
    let finished = finish(&mut child, timeout, &stderr_log)?;
    let (transcript, diagnostic) = diagnose_boot(b, ws, Some(kernel), &spec, &finished, &nonce);

    let styles = Styles::for_stdout();
    let mut out = std::io::stdout().lock();
    let write_failed = "cannot write the report";
    let calls = match (driven, &diagnostic) {
        (Ok(calls), _) if !calls.is_empty() => calls,
        (Ok(_), Some(diagnostic)) => {
            let text = format!("the anatomy did not run: {diagnostic}");
            write_failure(&mut out, &text, &styles).context(write_failed)?;
            return Ok(exit::NOT_FULL_MARKS);
        }
        (Ok(calls), None) => calls,
        (Err(err), _) => {
            let mut text = format!("the anatomy did not run: {err:#}");
            if let Some(diagnostic) = &diagnostic {
                text.push_str(&format!("\n{diagnostic}"));
            }
            write_failure(&mut out, &text, &styles).context(write_failed)?;
            return Ok(exit::NOT_FULL_MARKS);
        }
    };
    let anatomy = Anatomy { calls, cycles };
    write(&mut out, &anatomy, &machine, &styles).context(write_failed)?;
    let errors: Vec<String> = timed
        .iter()
        .map(|t| &t.transcript)
        .chain([&transcript])
        .flat_map(|t| t.events())
        .filter_map(|e| match e {
            Event::BenchError(e) => Some(format!("path={} kind={}: {}", e.path, e.kind, e.message)),
            _ => None,
        })
        .collect();
    for e in &errors {
        writeln!(out, "{} {e}", styles.bad_label()).context(write_failed)?;
    }
    if let Some(diagnostic) = &diagnostic {
        writeln!(out).context(write_failed)?;
        write_failure(
            &mut out,
            &format!("the anatomy boot did not finish: {diagnostic}"),
            &styles,
        )
        .context(write_failed)?;
        return Ok(exit::NOT_FULL_MARKS);
    }
    out.flush().context(write_failed)?;
    drop(out);
    if anatomy.calls.is_empty() {
        eprintln!("no files written: no call was stepped");
        return Ok(exit::NOT_FULL_MARKS);
    }
    if let Some(path) = &b.json {
        write_json(path, &anatomy, &machine)?;
        eprintln!("wrote the anatomy JSON to {}", show(path).display());
    }
    if let Some(path) = &b.svg {
        super::chart::write_anatomy(path, &anatomy, &machine)?;
        eprintln!("wrote the anatomy chart to {}", show(path).display());
    }
    Ok(if errors.is_empty() {
        exit::FULL_MARKS
    } else {
        exit::NOT_FULL_MARKS
    })
}

/// The terminal report: a table of phases per service, then the cycles.
pub fn write(
    out: &mut dyn Write,
    a: &Anatomy,
    machine: &crate::profile::Machine,
    st: &Styles,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        st.header(&format!("== bench --anatomy ({machine}) =="))
    )?;
    writeln!(
        out,
        "one call of each service on each path, single-stepped through QEMU's gdb stub: \
         instructions per phase"
    )?;
    let paths = a.paths();
    for service in a.services() {
        writeln!(out)?;
        let mut columns = vec![(service, report::Align::Left)];
        columns.extend(paths.iter().map(|p| (*p, report::Align::Right)));
        let mut rows: Vec<Option<Vec<report::Cell>>> = Vec::new();
        let cell = |path: &str, f: &dyn Fn(&Counts) -> u64| -> report::Cell {
            a.counts(service, path)
                .map_or_else(|| "—".to_owned(), |c| f(c).to_string())
                .into()
        };
        for phase in Phase::ALL {
            let mut cells: Vec<report::Cell> = vec![phase.label().to_owned().into()];
            cells.extend(paths.iter().map(|p| cell(p, &|c| c.get(phase))));
            rows.push(Some(cells));
        }
        let mut total: Vec<report::Cell> = vec!["total".to_owned().into()];
        total.extend(paths.iter().map(|p| cell(p, &|c| c.total())));
        rows.push(Some(total));
        report::write_grid(out, &columns, &rows, st)?;
    }
    if let Some(run) = &a.cycles {
        writeln!(out)?;
        write_cycles(out, run, &paths, st)?;
    }
    Ok(())
}

/// The TCG cycles of the same boot: the instructions against the rest.
fn write_cycles(
    out: &mut dyn Write,
    run: &Run,
    paths: &[&'static str],
    st: &Styles,
) -> std::io::Result<()> {
    let median = |path: &str, kind: &str| run.row(64, path, kind, 1).map(|r| r.measured.median);
    let floor = median(CALL, BARE);
    let pair = |path: &str| median(path, BARE).zip(floor).map(|(b, f)| b - f);
    let rest = |path: &str| {
        median(path, NULL)
            .zip(median(path, BARE))
            .map(|(n, b)| n - b)
    };
    let heading = format!(
        "TCG cycles (1 CPU, median of {} batches of {})",
        run.batches,
        run.iterations.checked_div(run.batches).unwrap_or_default()
    );
    let mut columns = vec![(heading.as_str(), report::Align::Left)];
    columns.extend(paths.iter().map(|p| (*p, report::Align::Right)));
    let figure = |v: Option<f64>| -> report::Cell {
        v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0}"))
            .into()
    };
    let line = |label: &str, f: &dyn Fn(&str) -> Option<f64>| {
        let mut cells: Vec<report::Cell> = vec![label.to_owned().into()];
        cells.extend(paths.iter().map(|p| figure(f(p))));
        Some(cells)
    };
    let rows = vec![
        line("entry + exit instructions (bare row − call floor)", &pair),
        line("the rest of NtNull (null row − bare row)", &rest),
        line("NtNull (null row)", &|p| median(p, NULL)),
    ];
    report::write_grid(out, &columns, &rows, st)?;
    let speedups: Vec<String> = paths
        .iter()
        .filter(|p| **p != INT2E)
        .filter_map(|p| {
            let bare = pair(INT2E)? / pair(p)?;
            let whole = median(INT2E, NULL)? / median(p, NULL)?;
            Some(format!(
                "{p} {bare:.1}× for the instructions, {whole:.2}× for NtNull"
            ))
        })
        .collect();
    let around: Vec<String> = paths
        .iter()
        .filter_map(|p| Some(format!("{:.0} ({p})", rest(p)?)))
        .collect();
    if !speedups.is_empty() {
        writeln!(
            out,
            "{} against int 0x2e: {}. The software around the instructions (the phases above) \
             adds {} cycles, so the whole call gains less than its instructions do",
            st.note_label(),
            speedups.join("; "),
            around.join(", ")
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonAnatomy {
    profile: String,
    accel: &'static str,
    calls: Vec<JsonCall>,
    /// The cycles rows of the same boot, as `bench --json` writes them.
    rows: Vec<report::JsonRow>,
}

#[derive(Serialize)]
struct JsonCall {
    service: &'static str,
    path: &'static str,
    /// Instructions per phase, keyed `user_stub` .. `exit_instruction`.
    phases: serde_json::Map<String, serde_json::Value>,
    total: u64,
    /// Instructions per function, in the order the call reached them.
    functions: Vec<(String, u64)>,
}

fn json(a: &Anatomy, machine: &crate::profile::Machine) -> JsonAnatomy {
    JsonAnatomy {
        profile: machine.profile.label(),
        accel: machine.accel.as_str(),
        calls: a
            .calls
            .iter()
            .map(|c| JsonCall {
                service: c.service,
                path: c.cut.path,
                phases: Phase::ALL
                    .iter()
                    .map(|p| (p.key().to_owned(), c.cut.counts.get(*p).into()))
                    .collect(),
                total: c.cut.counts.total(),
                functions: c.cut.by_function.clone(),
            })
            .collect(),
        rows: a
            .cycles
            .as_ref()
            .map(|run| report::json(std::slice::from_ref(run)).rows)
            .unwrap_or_default(),
    }
}

fn write_json(path: &Path, a: &Anatomy, machine: &crate::profile::Machine) -> Result<()> {
    let text = serde_json::to_string_pretty(&json(a, machine)).context("cannot encode the JSON")?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the anatomy JSON to {}", path.display()))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::bench::table::tests::{row, run_of};
    use crate::profile::{Accel, Machine, Profile};

    pub fn machine() -> Machine {
        Machine {
            profile: Profile::Intel,
            accel: Accel::Tcg,
            smp: 1,
        }
    }

    fn call(service: &'static str, path: &'static str, phases: [u64; 8]) -> Call {
        Call {
            service,
            cut: Cut {
                path,
                counts: Counts(phases),
                by_function: vec![("KiSystemCall64".into(), phases[2])],
            },
        }
    }

    /// Two paths, NtNull only, with the cycles of the same boot.
    pub fn anatomy() -> Anatomy {
        let measured = [
            row("call", "bare", 1, 50.0),
            row("int2e", "bare", 1, 1150.0),
            row("int2e", "null", 1, 1550.0),
            row("syscall", "bare", 1, 250.0),
            row("syscall", "null", 1, 1050.0),
        ];
        Anatomy {
            calls: vec![
                call("NtNull", "int2e", [4, 1, 21, 10, 2, 0, 19, 1]),
                call("NtNull", "syscall", [4, 1, 27, 10, 2, 8, 16, 1]),
            ],
            cycles: Some(run_of(Unit::Cycles, &measured, 2000.0)),
        }
    }

    #[test]
    fn the_table_has_a_row_per_phase_and_the_cycles() {
        let mut out = Vec::new();
        write(&mut out, &anatomy(), &machine(), &Styles::new(false)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |prefix: &str| {
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"))
        };
        assert!(text.starts_with("== bench --anatomy (intel, tcg, -smp 1) ==\n"));
        assert_eq!(line("NtNull"), "NtNull int2e syscall");
        assert_eq!(line("entry stub"), "entry stub 21 27");
        assert_eq!(line("exit decision"), "exit decision 0 8");
        assert_eq!(line("total"), "total 58 69");
        assert!(
            !text.contains("NtClose"),
            "no NtClose calls, no NtClose table"
        );
        // 1150 - 50 and 250 - 50 for the instructions; 400 and 800 around them.
        assert_eq!(
            line("entry + exit instructions"),
            "entry + exit instructions (bare row − call floor) 1100 200"
        );
        assert_eq!(
            line("the rest of NtNull"),
            "the rest of NtNull (null row − bare row) 400 800"
        );
        let note = line("note: against int 0x2e");
        assert!(
            note.contains("syscall 5.5× for the instructions, 1.48× for NtNull"),
            "{note}"
        );
        assert!(
            note.contains("adds 400 (int2e), 800 (syscall) cycles"),
            "{note}"
        );
    }

    #[test]
    fn json_has_the_phases_by_name() {
        let v = serde_json::to_value(json(&anatomy(), &machine())).unwrap();
        assert_eq!(v["profile"], "intel");
        let call = &v["calls"][1];
        assert_eq!(
            (&call["service"], &call["path"]),
            (&"NtNull".into(), &"syscall".into())
        );
        assert_eq!(call["phases"]["exit_decision"], 8);
        assert_eq!(call["phases"].as_object().unwrap().len(), 8);
        assert_eq!(call["total"], 69);
        assert_eq!(v["rows"].as_array().unwrap().len(), 5);
        assert_eq!(v["rows"][0]["unit"], "cycles");
    }
}
