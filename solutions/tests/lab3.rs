//! Host tests of Lab 3's sysret-safety predicate and of `choose_exit` on
//! SYSCALL frames, one condition at a time (the cases are the kernel's
//! `syslab_kernel::rule_cases`, which the kernel's own tests run too).
//! `cargo grader lab3` runs this file for points.

use student::lab2::choose_exit;
use student::lab3::sysret_safe;
use syslab_kernel::rule_cases::sysret_cases;
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::trap::ENTRY_SYSCALL;

/// Panics with every failed case, if there are any.
fn all_pass(function: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{function} got {} case(s) wrong: {}",
        failures.len(),
        failures.join("; ")
    );
}

#[test]
fn sysret_safe_condition_by_condition() {
    let failures = sysret_cases()
        .into_iter()
        .filter(|c| c.frame.entry == ENTRY_SYSCALL)
        .filter_map(|c| {
            let want = c.exit == SystemCallExit::Sysret;
            let got = sysret_safe(&c.frame);
            (got != want).then(|| format!("{}: returned {got}, must be {want}", c.what))
        })
        .collect();
    all_pass("sysret_safe", failures);
}

#[test]
fn choose_exit_sends_only_safe_syscall_frames_to_sysret() {
    let failures = sysret_cases()
        .into_iter()
        .filter_map(|c| {
            let got = choose_exit(&c.frame);
            (got != c.exit).then(|| format!("{}: chose {got:?}, must be {:?}", c.what, c.exit))
        })
        .collect();
    all_pass("choose_exit", failures);
}
