//! The labs: one module per lab. The kernel image (main.rs) hands these
//! functions to the kernel; tests/ checks the pure ones on the host. You do
//! not need to change this file.
#![cfg_attr(target_os = "none", no_std)]
#![allow(non_snake_case)] // the NT names: KiSystemService, KiFastCallEntry, ...

pub mod lab1;
pub mod lab2;
pub mod lab3;

// ANCHOR: service_exit
/// KiSystemServiceExit, which the SYSENTER and SYSCALL stubs call after the
/// dispatcher: the kernel's body (kernel/src/syscall/exit.rs) around your
/// `choose_exit`. It is defined here, in the crate of `choose_exit`, so
/// that the call is direct and the compiler can inline it.
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
pub extern "C" fn KiSystemServiceExit(frame: &mut syslab_kernel::trap::KTrapFrame) -> u64 {
    syslab_kernel::syscall::exit::service_exit(frame, lab2::choose_exit)
}
// ANCHOR_END: service_exit
