//! syslab's grader: builds the kernel, boots it under QEMU once per lab,
//! reads the results the kernel prints on its serial port, and reports
//! them (PROTOCOL.md is the interface between the two).
//!
//! parse (cli) -> run (grade | demo | gdb | bench | doctor) -> report, by module:
//! - cli: the command line, into a `Mode`
//! - preflight: QEMU and the Rust target are there, or how to install them
//! - builder: `cargo build` of the user program and the kernel, with a spinner
//! - cmdline, profile, qemu: the kernel command line and the QEMU command line; one boot
//! - protocol: serial lines -> events, filtered by the boot's nonce
//! - runner: a lab's boot / reboot loop
//! - diagnose, symbolize: what went wrong, and where in the kernel
//! - score, report, reasons, gradescope: points, the terminal report (failures
//!   that share a reason grouped), results.json
//! - answers: the written questions of each lab (labs/answers-labN.md), noted, not scored
//! - bench/: the benchmark command; its rows and derived columns (table),
//!   its table, JSON and CSV (report) and its SVG chart (chart)
//! - doctor/: the tools the course needs, and how to install what is missing
//! - grade, demo, gdb, bench, doctor: the five commands

mod answers;
mod bench;
mod builder;
mod cli;
mod cmdline;
mod demo;
mod diagnose;
mod doctor;
mod exit;
mod gdb;
mod grade;
mod gradescope;
mod hosttests;
mod paths;
mod preflight;
mod profile;
mod protocol;
mod qemu;
mod reasons;
mod report;
mod runner;
mod score;
mod symbolize;

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
