//! The kernel image with your code in it: the kernel calls your functions
//! through the table below. You do not need to change this file.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![allow(non_snake_case)] // the NT names: KiSystemService, ...

pub mod lab1;

use syslab_kernel::student::{Lab1, Student};

/// Your code, as the kernel sees it.
#[unsafe(no_mangle)]
pub static SYSLAB_STUDENT: Student = Student {
    lab1: Lab1 {
        install_int2e_gate: lab1::install_int2e_gate,
        ki_system_service: lab1::KiSystemService,
        dispatch: lab1::dispatch_system_service,
    },
};

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the syslab kernel runs under QEMU: use `cargo grader`");
}
