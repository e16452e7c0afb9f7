//! The kernel image with your code in it: the kernel calls your functions
//! through the table below. You do not need to change this file.
#![cfg_attr(target_os = "none", no_std, no_main)]

use student::{lab1, lab2, lab3};
use syslab_kernel::student::{Lab1, Lab2, Lab3, Student};

/// Your code, as the kernel sees it.
#[unsafe(no_mangle)]
pub static SYSLAB_STUDENT: Student = Student {
    lab1: Lab1 {
        install_int2e_gate: lab1::install_int2e_gate,
        ki_system_service: lab1::KiSystemService,
    },
    lab2: Lab2 {
        check_sysenter_gdt: lab2::check_sysenter_gdt,
        program_sysenter_msrs: lab2::program_sysenter_msrs,
        ki_fast_call_entry: lab2::KiFastCallEntry,
        choose_exit: lab2::choose_exit,
    },
    lab3: Lab3 {
        program_syscall_msrs: lab3::program_syscall_msrs,
        ki_system_call64: lab3::KiSystemCall64,
        ki_system_call32: lab3::KiSystemCall32,
    },
};

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the syslab kernel runs under QEMU: use `cargo grader`");
}
