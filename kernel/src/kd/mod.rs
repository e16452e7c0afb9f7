//! The `kd>` prompt: the article's WinDbg sessions, live, on the serial
//! console (`lab=kd`, `cargo grader kd`).
//!
//! The boot CPU reads COM1 and runs the session; a command aimed at
//! another CPU (after `~N`) runs on that CPU itself, through its mailbox
//! (smp.rs), because MSRs, the GDT and GS are per CPU. Nothing typed can
//! fault the kernel: memory is read through memory.rs, MSRs through
//! `msr::read_checked`, and every number is range-checked by the parser.
//!
//! The files:
//! - commands.rs: the command table and its parser; args.rs: numbers,
//!   addresses, counts; line.rs: line editing;
//! - one formatter per command family, pure and host-tested:
//!   descriptor.rs (`!descriptor`, `dg`), gate.rs (`!idt`), cpuinfo.rs
//!   (`!cpuinfo` and NT's KF_* word), disasm.rs (`u`), dump.rs (`db`,
//!   `dd`, `dq`), registers.rs (`r`), pcr.rs (`!pcr`), objects.rs
//!   (`!handle`, `!object`), bench.rs (`bench`);
//! - symbols.rs: the symbol tables; memory.rs: reading without faulting.
//!
//! The grader reads the protocol lines (grader/PROTOCOL.md, "The kd>
//! prompt"): `kd ready`, then `kd prompt cpu=N` before each prompt and
//! `kd result ok|error` after each command, `kd running` after `g`, and
//! `kd quit` before the run ends.

pub mod args;
pub mod bench;
pub mod commands;
pub mod cpuinfo;
pub mod descriptor;
pub mod disasm;
pub mod dump;
pub mod gate;
pub mod line;
pub mod memory;
#[cfg(target_os = "none")]
pub mod objects;
#[cfg(target_os = "none")]
pub mod pcr;
pub mod registers;
pub mod symbols;

#[cfg(target_os = "none")]
mod session;
#[cfg(target_os = "none")]
pub use session::run;
