//! Host tests of Lab 2's pure functions: the GDT selector rule and the
//! SYSEXIT safety checks (64-bit and 32-bit), one condition at a time. The cases are the
//! kernel's (`syslab_kernel::rule_cases`), which the kernel's own tests run
//! too. `cargo grader lab2` runs this file for points.

use student::lab2::{check_sysenter_gdt, choose_exit, sysexit_safe, sysexit32_safe};
use syslab_kernel::rule_cases::*;
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::trap::ENTRY_SYSENTER;

#[test]
fn the_gdt_rule_attribute_by_attribute() {
    let cases = gdt_cases();
    let wrong = wrong_gdt_verdicts(&cases, check_sysenter_gdt);
    judge("check_sysenter_gdt", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sysexit_safe_condition_by_condition() {
    let cases = sysexit_cases();
    let wrong = wrong_verdicts(
        &cases,
        ENTRY_SYSENTER,
        SystemCallExit::Sysexit,
        sysexit_safe,
    );
    judge("sysexit_safe", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn choose_exit_sends_only_safe_sysenter_frames_to_sysexit() {
    let cases = sysexit_cases();
    let wrong = wrong_exits(&cases, choose_exit);
    judge("choose_exit", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sysexit32_safe_condition_by_condition() {
    let cases = sysexit32_cases();
    let wrong = wrong_verdicts(
        &cases,
        ENTRY_SYSENTER,
        SystemCallExit::Sysexit32,
        sysexit32_safe,
    );
    judge("sysexit32_safe", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn choose_exit_sends_only_safe_32_bit_sysenter_frames_to_the_32_bit_sysexit() {
    let cases = sysexit32_cases();
    let wrong = wrong_exits(&cases, choose_exit);
    judge("choose_exit", cases.len(), wrong).unwrap_or_else(|e| panic!("{e}"));
}
