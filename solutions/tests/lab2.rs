//! Host tests of Lab 2's pure functions: the GDT selector rule and the
//! SYSEXIT safety check, one condition at a time. The cases are the
//! kernel's (`syslab_kernel::rule_cases`), which the kernel's own tests run
//! too. `cargo grader lab2` runs this file for points.

use student::lab2::{check_sysenter_gdt, choose_exit, sysexit_safe};
use syslab_kernel::rule_cases::{GdtExpect, gdt_cases, sysexit_cases};
use syslab_kernel::student::{GdtRuleError, SystemCallExit};
use syslab_kernel::trap::ENTRY_SYSENTER;

/// What `check_sysenter_gdt` returned, in the cases' terms.
fn verdict(r: Result<(), GdtRuleError>) -> GdtExpect {
    match r {
        Ok(()) => GdtExpect::Ok,
        Err(GdtRuleError::BadSelector(_)) => GdtExpect::BadSelector,
        Err(GdtRuleError::Missing { selector, .. }) => GdtExpect::Missing(selector),
        Err(GdtRuleError::Wrong { selector, .. }) => GdtExpect::Wrong(selector),
    }
}

/// Panics with every failed case, one per line, if there are any.
fn all_pass(function: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{function} got {} case(s) wrong: {}",
        failures.len(),
        failures.join("; ")
    );
}

#[test]
fn the_gdt_rule_attribute_by_attribute() {
    let failures = gdt_cases()
        .into_iter()
        .filter_map(|c| {
            let got = verdict(check_sysenter_gdt(&c.gdt, c.sysenter_cs));
            (got != c.expect).then(|| format!("{}: expected {:?}, got {got:?}", c.what, c.expect))
        })
        .collect();
    all_pass("check_sysenter_gdt", failures);
}

#[test]
fn sysexit_safe_condition_by_condition() {
    let failures = sysexit_cases()
        .into_iter()
        .filter(|c| c.frame.entry == ENTRY_SYSENTER)
        .filter_map(|c| {
            let want = c.exit == SystemCallExit::Sysexit;
            let got = sysexit_safe(&c.frame);
            (got != want).then(|| format!("{}: returned {got}, must be {want}", c.what))
        })
        .collect();
    all_pass("sysexit_safe", failures);
}

#[test]
fn choose_exit_sends_only_safe_sysenter_frames_to_sysexit() {
    let failures = sysexit_cases()
        .into_iter()
        .filter_map(|c| {
            let got = choose_exit(&c.frame);
            (got != c.exit).then(|| format!("{}: chose {got:?}, must be {:?}", c.what, c.exit))
        })
        .collect();
    all_pass("choose_exit", failures);
}
