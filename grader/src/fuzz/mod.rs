//! `cargo grader fuzz`: build as grading does, boot `lab=fuzz`, show the
//! calls as they go, and report every mismatch with the seed that replays
//! it (PROTOCOL.md, "Fuzzing").
//!
//! parse (cli) -> run (this module: one boot, or one more for each path
//! whose lab is not done yet, diagnosed as grading does) -> report
//! (protocol.rs: the lines; describe.rs: what a case's calls were;
//! report.rs: the report and the verdict).

use std::hash::{BuildHasher, RandomState};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use syslab_abi::fuzz::{Path, Paths};

use crate::builder::Images;
use crate::cli::{Fuzz, FuzzPath};
use crate::cmdline::{KernelCmdline, Nonce, Program, Selection};
use crate::diagnose::BootEnd;
use crate::paths::Workspace;
use crate::profile::Profile;
use crate::report::Styles;
use crate::runner::{self, Boot, OneBoot};
use crate::symbolize::Symbolizer;
use crate::{builder, exit, grade, preflight};
use protocol::{Progress, Run};

mod describe;
mod protocol;
mod report;

/// Seconds a boot may take beyond the fuzzing itself (boot, the last
/// slice, the report) before it counts as hung.
const SLACK_SECS: u64 = 60;
/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_PROGRESS: Duration = Duration::from_secs(5);

fn asked(path: FuzzPath) -> Paths {
    match path {
        FuzzPath::Int2e => Paths(Path::Int2e.bit()),
        FuzzPath::Sysenter => Paths(Path::Sysenter.bit()),
        FuzzPath::Syscall => Paths(Path::Syscall.bit()),
        FuzzPath::All => Paths::ALL,
    }
}

/// The paths that need lab `n`'s code: every path runs Lab 1's
/// dispatcher, and SYSCALL's exit goes through Lab 2's choice.
fn needing_lab(n: u32) -> Paths {
    match n {
        1 => Paths::ALL,
        2 => Paths(Path::Sysenter.bit() | Path::Syscall.bit()),
        3 => Paths(Path::Syscall.bit()),
        _ => Paths(0),
    }
}

/// The lab of an unfinished function the boot stopped at, and the
/// kernel's message (`not implemented: lab3::program_syscall_msrs (...)`).
fn unimplemented(end: &BootEnd) -> Option<(u32, String)> {
    let BootEnd::Fault { fault, .. } = end else {
        return None;
    };
    let hint = fault.hint.as_deref().filter(|_| fault.kind == "panic")?;
    let rest = hint.strip_prefix("not implemented: lab")?;
    let lab = rest.split("::").next()?.parse().ok()?;
    Some((lab, hint.to_owned()))
}

/// The progress line while the boot runs: a spinner on a terminal, else a
/// plain line every few seconds.
struct Progression {
    spinner: Option<indicatif::ProgressBar>,
    label: String,
    nonce: String,
    last: Option<Progress>,
    printed: Instant,
}

impl Progression {
    fn new(label: String, nonce: &Nonce, verbose: bool) -> Progression {
        let terminal = std::io::stderr().is_terminal() && !verbose;
        Progression {
            spinner: terminal.then(|| crate::report::spinner(label.clone())),
            label,
            nonce: nonce.as_str().to_owned(),
            last: None,
            printed: Instant::now(),
        }
    }

    fn watch(&mut self, serial: &str) {
        let Some(p) = protocol::last_progress(serial, &self.nonce) else {
            return;
        };
        if self.last == Some(p) {
            return;
        }
        self.last = Some(p);
        let rate = p.calls * 1000 / p.ms.max(1);
        let text = format!(
            "{}: {} calls, {} calls/s, {} mismatches",
            self.label,
            report::thousands(p.calls),
            report::thousands(rate),
            p.mismatches
        );
        match &self.spinner {
            Some(spinner) => spinner.set_message(text),
            None if self.printed.elapsed() >= PLAIN_PROGRESS => {
                self.printed = Instant::now();
                eprintln!("{text} ({} s)", p.ms / 1000);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

/// One fuzz boot on `paths` (boot `number` of the run).
fn boot(
    f: &Fuzz,
    ws: &Workspace,
    images: &Images,
    symbols: Option<&Symbolizer>,
    paths: Paths,
    number: u32,
) -> Result<Boot> {
    let machine = &f.target.machine;
    let nonce = Nonce::fresh();
    let mut cmdline = KernelCmdline {
        nonce: &nonce,
        program: Program::Fuzz,
        tests: &Selection::All,
        machine,
        inject: f.target.inject,
        verbose: false,
    }
    .to_string();
    let (seed, replay) = match f.seed {
        Some(seed) => (seed, 1),
        // The run's seed only spreads the cases: which case meets which
        // kernel state is up to timing, so it is not worth printing.
        None => (RandomState::new().hash_one(std::process::id()) | 1, 0),
    };
    cmdline.push_str(&format!(
        " paths={paths} seconds={} seed={seed:#x} replay={replay}",
        f.seconds
    ));
    let label = format!(
        "fuzzing {} ({machine})",
        paths.to_string().replace(',', ", ")
    );
    let mut progress = Progression::new(label, &nonce, f.verbose);
    let timeout_secs = if replay == 1 {
        SLACK_SECS
    } else {
        f.seconds + SLACK_SECS
    };
    let boot = runner::boot_once(
        &OneBoot {
            ws,
            images,
            machine,
            nonce: &nonce,
            cmdline,
            name: format!(
                "fuzz-{}-{}-boot{number}",
                machine.profile.file_label(),
                machine.accel.as_str()
            ),
            label: format!("fuzz boot {number}"),
            timeout_secs,
            deadline: None,
            verbose: f.verbose,
            symbolizer: symbols,
        },
        Some(&mut |serial: &str| progress.watch(serial)),
    );
    progress.finish();
    boot
}

pub fn run(f: Fuzz) -> Result<u8> {
    let machine = &f.target.machine;
    if f.path == FuzzPath::Sysenter && machine.profile == Profile::Amd {
        bail!(
            "--path sysenter cannot run on --cpu amd: AMD CPUs raise #UD for SYSENTER in 64-bit \
             mode; fuzz it with --cpu intel, or fuzz --path syscall here"
        );
    }
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, f.target.variant)?;
    let symbols = grade::load_symbols(&images.kernel, &ws);
    let user = Symbolizer::load(&images.user, Some(&ws.root)).ok();

    // Boot; a path whose lab is not done yet is dropped and the rest fuzzed.
    let mut paths = asked(f.path);
    let mut notes = Vec::new();
    let mut number = 0;
    let boot = loop {
        number += 1;
        let boot = boot(&f, &ws, &images, symbols.as_ref(), paths, number)?;
        let Some((lab, message)) = unimplemented(&boot.end) else {
            break boot;
        };
        let lost = Paths(needing_lab(lab).0 & paths.0);
        notes.push(format!(
            "{} not fuzzed: {message}",
            lost.to_string().replace(',', ", ")
        ));
        paths = Paths(paths.0 & !lost.0);
        if paths.is_empty() || f.path != FuzzPath::All {
            break boot;
        }
    };
    let run = Run::from_transcript(&boot.transcript);
    for u in &run.unavailable {
        notes.push(format!("{} not fuzzed: {}", u.path, u.why));
    }
    let ran = run.start.as_ref().map_or(paths, |s| s.paths);
    let unimplemented_only = unimplemented(&boot.end).is_some();
    let ctx = report::Context {
        fuzz: &f,
        paths: ran,
        notes: &notes,
        diagnostic: boot.diagnostic.as_deref().filter(|_| !unimplemented_only),
        user: user.as_ref(),
        machine: machine.to_string(),
    };
    let mut out = std::io::stdout().lock();
    let verdict = report::write(&mut out, &run, &ctx, &Styles::for_stdout())?;
    out.flush()?;
    Ok(match verdict {
        report::Verdict::Clean => exit::FULL_MARKS,
        // The CPU has none of the paths asked for: nothing was tested.
        _ if ran.is_empty() && !run.unavailable.is_empty() => exit::NOT_GRADED,
        _ => exit::NOT_FULL_MARKS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Fault;

    fn panic_with(hint: &str) -> BootEnd {
        BootEnd::Fault {
            fault: Fault {
                test: Some("fuzz".into()),
                cpu: Some(0),
                kind: "panic".into(),
                rip: Some(0),
                ring: Some(0),
                cr2: None,
                hint: Some(hint.into()),
            },
            report: vec![],
        }
    }

    #[test]
    fn unfinished_labs_drop_the_paths_that_need_them() {
        let end = panic_with("not implemented: lab3::program_syscall_msrs (labs/src/lab3.rs:40)");
        let (lab, message) = unimplemented(&end).unwrap();
        assert_eq!(lab, 3);
        assert!(message.ends_with("(labs/src/lab3.rs:40)"));
        assert_eq!(needing_lab(3), Paths(Path::Syscall.bit()));
        assert!(
            needing_lab(2).contains(Path::Syscall),
            "SYSCALL's exit is Lab 2's choice"
        );
        assert_eq!(needing_lab(1), Paths::ALL);
        assert_eq!(unimplemented(&panic_with("index out of bounds")), None);
        assert_eq!(unimplemented(&BootEnd::Timeout), None);
    }

    #[test]
    fn paths_asked_for() {
        assert_eq!(asked(FuzzPath::All), Paths::ALL);
        assert_eq!(asked(FuzzPath::Syscall).to_string(), "syscall");
    }
}
