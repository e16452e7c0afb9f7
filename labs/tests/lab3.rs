//! Host tests of Lab 3's sysret-safety predicates (64-bit and 32-bit) and
//! of `choose_exit` on SYSCALL frames, one condition at a time (the cases are the kernel's
//! `syslab_kernel::rule_cases`, which the kernel's own tests run too).
//! `cargo grader lab3` runs this file for points.

use student::lab2::choose_exit;
use student::lab3::{sysret_safe, sysret32_safe};
use syslab_kernel::rule_cases::*;
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSCALL32};

#[test]
fn sysret_safe_condition_by_condition() {
    let cases = sysret_cases();
    let wrong = wrong_verdicts(&cases, ENTRY_SYSCALL, SystemCallExit::Sysret, sysret_safe);
    judge("sysret_safe", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn choose_exit_sends_only_safe_syscall_frames_to_sysret() {
    let cases = sysret_cases();
    let wrong = wrong_exits(&cases, choose_exit);
    judge("choose_exit", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sysret32_safe_condition_by_condition() {
    let cases = sysret32_cases();
    let wrong = wrong_verdicts(
        &cases,
        ENTRY_SYSCALL32,
        SystemCallExit::Sysret32,
        sysret32_safe,
    );
    judge("sysret32_safe", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn choose_exit_sends_only_safe_32_bit_syscall_frames_to_sysretl() {
    let cases = sysret32_cases();
    let wrong = wrong_exits(&cases, choose_exit);
    judge("choose_exit", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}
