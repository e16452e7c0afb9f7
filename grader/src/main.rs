//! syslab's grader: builds the kernel, boots it under QEMU once per lab,
//! reads the results the kernel prints on its serial port, and reports
//! them (PROTOCOL.md is the interface between the two).
//!
//! parse (cli) -> run (grade | demo | gdb | bench | doctor) -> report, by module:
//! - cli: the command line, into a `Mode`
//! - preflight: QEMU and the Rust target are there, or how to install them
//! - builder: `cargo build` of the user program and the kernel, with a spinner
//! - cmdline, profile, qemu: the kernel command line and the QEMU command line; one boot
//! - plan, select: every lab's tests from the kernel image, before booting;
//!   the tests the command line names
//! - protocol: serial lines -> events, filtered by the boot's nonce
//! - runner: a lab's boot / reboot loop
//! - diagnose, symbolize: what went wrong, and where in the kernel
//! - gdb_remote: a client of QEMU's gdb stub (breakpoints, single steps)
//! - score, report, reasons, gradescope: points, the terminal report (failures
//!   that share a reason grouped), results.json
//! - answers: the written questions of each lab (labs/answers-labN.md), noted, not scored
//! - bench/: the benchmark command; its rows and derived columns (table),
//!   the article's Table 4 (article), its table, JSON and CSV (report), its
//!   SVG charts (chart), and `--anatomy` (anatomy, phases)
//! - kd/: the `kd>` prompt's session, interactive or from a script; demo
//!   runs the book's two scripts through it
//! - scratch/: the scratch tree, one pristine copy of the course in which
//!   changed copies are built as the student's labs/ (compile): batch's
//!   submissions and the mutants
//! - batch/: grading a class; a submission's files (submission), the class's
//!   CSV, JSON and summary (results, summary)
//! - package/: the grader packed for Gradescope and GitHub Classroom
//! - fuzz/: the fuzzer command; its protocol lines (protocol), what a
//!   mismatching call was (describe) and its report (report)
//! - mutants/: the mutation suite: typical mistakes, each one patch of
//!   solutions/ (patch), built as labs/ in the scratch tree (tree) and
//!   judged; one mutant's report (report)
//! - doctor/: the tools the course needs, and how to install what is missing
//! - grade, demo, gdb, bench, kd, fuzz, batch, package, handin, mutants, doctor:
//!   the commands

mod answers;
mod batch;
mod bench;
mod builder;
mod cli;
mod cmdline;
mod demo;
mod diagnose;
mod doctor;
mod exit;
mod fuzz;
mod gdb;
mod gdb_remote;
mod grade;
mod gradescope;
mod handin;
mod hosttests;
mod kd;
mod mutants;
mod package;
mod paths;
mod plan;
mod preflight;
mod profile;
mod protocol;
mod qemu;
mod reasons;
mod report;
mod runner;
mod score;
mod scratch;
mod select;
mod symbolize;
mod zipfile;

use std::io::IsTerminal;
use std::process::ExitCode;

use cli::Mode;

fn main() -> ExitCode {
    run(cli::parse())
}

fn run(mode: Mode) -> ExitCode {
    let result = match mode {
        Mode::Grade(grade) => grade::run(grade),
        Mode::Demo(target) => demo::run(target),
        Mode::Gdb(target, lab) => gdb::run(target, lab),
        Mode::Bench(b) => bench::run(b),
        Mode::Kd(k) => kd::run(k),
        Mode::Batch(b) => batch::run(b),
        Mode::Package(p) => package::run(p),
        Mode::Handin(out) => handin::run(out),
        Mode::Fuzz(f) => fuzz::run(f),
        Mode::Mutants(m) => mutants::run(m),
        Mode::Doctor => doctor::run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let colour = std::io::stderr().is_terminal();
            let _ = report::write_error(&mut std::io::stderr().lock(), &err, colour);
            ExitCode::from(exit::NOT_GRADED)
        }
    }
}
