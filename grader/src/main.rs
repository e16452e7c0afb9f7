//! syslab's grader: builds the kernel, boots it under QEMU once per lab,
//! reads the results the kernel prints on its serial port, and reports
//! them (PROTOCOL.md is the interface between the two).
//!
//! parse (cli) -> run (grade | demo | gdb | bench) -> report, by module:
//! - cli: the command line, into a `Mode`
//! - preflight: QEMU and the Rust target are there, or how to install them
//! - builder: `cargo build` of the user program and the kernel, with a spinner
//! - cmdline, profile, qemu: the kernel command line and the QEMU command line; one boot
//! - protocol: serial lines -> events, filtered by the boot's nonce
//! - runner: a lab's boot / reboot loop
//! - diagnose, symbolize: what went wrong, and where in the kernel
//! - gdb_remote: a client of QEMU's gdb stub (breakpoints, single steps)
//! - score, report, gradescope: points, the terminal report, results.json
//! - bench/: the benchmark command; its rows and derived columns (table),
//!   the article's Table 4 (article), its table, JSON and CSV (report), its
//!   SVG charts (chart), and `--anatomy` (anatomy, phases)
//! - grade, demo, gdb, bench: the four commands

mod bench;
mod builder;
mod cli;
mod cmdline;
mod demo;
mod diagnose;
mod exit;
mod gdb;
mod gdb_remote;
mod grade;
mod gradescope;
mod hosttests;
mod paths;
mod preflight;
mod profile;
mod protocol;
mod qemu;
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
