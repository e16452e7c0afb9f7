//! The ring-3 side of syslab: the user halves of the tests.
//!
//! The kernel loads this program once into the address space all CPUs
//! share and starts a thread in it with RDI = test id, RSI = CPU number,
//! RDX = argument (`syslab_abi::user_test`); a 32-bit thread starts at
//! `syslab_start32` in compatibility mode (wow32.rs). A thread ends with a status
//! through the exit trap, [`exit`]; anything else it does wrong (a fault)
//! kills it, which is what several tests are after.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("this is the syslab user program: the kernel loads it");
}

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod compat;
#[cfg(target_os = "none")]
mod fuzz;
#[cfg(target_os = "none")]
mod kernel32;
#[cfg(target_os = "none")]
mod lab1;
#[cfg(target_os = "none")]
mod ntdll;
#[cfg(target_os = "none")]
mod ntdll32;
#[cfg(target_os = "none")]
mod paths;
#[cfg(target_os = "none")]
mod rt;
#[cfg(target_os = "none")]
mod tests;
#[cfg(target_os = "none")]
mod wow32;
