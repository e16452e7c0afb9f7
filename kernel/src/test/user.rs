//! Helpers for tests that run a user thread.

use crate::percpu::PerCpu;
use crate::thread::{Fault, ThreadExit};
use alloc::format;
use alloc::string::String;
use syslab_abi::layout;

/// User RFLAGS: IF set (interrupts would be allowed), bit 1 always set.
pub const USER_RFLAGS: u64 = crate::trap::rflags::IF | crate::trap::rflags::RESERVED1;

/// Runs user test `test` with `arg` on the calling CPU, with a clean report page.
#[cfg(target_os = "none")]
pub fn run(cpu: &PerCpu, test: u64, arg: u64) -> ThreadExit {
    run_with_input(cpu, test, arg, &[])
}

/// Like [`run`], with `input` in the first words of the report page.
#[cfg(target_os = "none")]
pub fn run_with_input(cpu: &PerCpu, test: u64, arg: u64, input: &[u64]) -> ThreadExit {
    let watchdog = crate::thread::WATCHDOG_MS.load(core::sync::atomic::Ordering::Relaxed);
    run_limited(cpu, test, arg, input, watchdog)
}

/// Like [`run_with_input`], with the watchdog set to `watchdog_ms` (0: none).
#[cfg(target_os = "none")]
pub fn run_limited(
    cpu: &PerCpu,
    test: u64,
    arg: u64,
    input: &[u64],
    watchdog_ms: u64,
) -> ThreadExit {
    let image = crate::process::image().expect("the user program is loaded before tests run");
    let report = crate::process::report(cpu.cpu);
    *report = syslab_abi::Report::default();
    report.words[..input.len()].copy_from_slice(input);
    let start = crate::thread::UserStart {
        rip: image.entry,
        rsp: layout::user_stack_top(cpu.cpu as u64),
        rflags: USER_RFLAGS,
        args: [test, cpu.cpu as u64, arg],
        watchdog_ms,
    };
    crate::thread::run_user(&start)
}

/// Runs user test `test` on `c` with `arg` and `input`; returns its report
/// page if the thread exited normally, or why it did not.
#[cfg(target_os = "none")]
pub fn report_of(c: &PerCpu, test: u64, arg: u64, input: &[u64]) -> Result<[u64; 32], String> {
    match run_with_input(c, test, arg, input) {
        ThreadExit::Exited(syslab_abi::user_test::EXIT_OK_STATUS) => {
            Ok(crate::process::report(c.cpu).words)
        }
        other => Err(format!("the user thread {}", describe(&other))),
    }
}

/// The CPU's exit counters: how many returns took iretq, sysexit and sysret.
pub fn exits(c: &PerCpu) -> [u64; 3] {
    use core::sync::atomic::Ordering::Relaxed;
    let k = &c.counters;
    [
        k.exit_iretq.load(Relaxed),
        k.exit_sysexit.load(Relaxed),
        k.exit_sysret.load(Relaxed),
    ]
}

/// Describes an exit for a failure message.
pub fn describe(exit: &ThreadExit) -> String {
    match exit {
        ThreadExit::Exited(s) => format!("exited with status {s:#x}"),
        ThreadExit::Killed(f) => describe_fault(f),
    }
}

pub fn describe_fault(f: &Fault) -> String {
    let mut s = format!(
        "killed by {} at RIP {:#x}, error code {:#x}",
        crate::trap::vector_name(f.vector),
        f.rip,
        f.error_code
    );
    if f.vector == 14 {
        s += &format!(", CR2 {:#x}", f.cr2);
    }
    s
}

/// Collects one result per CPU from a closure run on all CPUs at once.
#[cfg(target_os = "none")]
pub fn on_each_cpu<T: Send>(f: impl Fn(&PerCpu) -> T + Sync) -> alloc::vec::Vec<(u32, T)> {
    let slots: alloc::vec::Vec<spin::Mutex<Option<T>>> = (0..crate::percpu::MAX_CPUS)
        .map(|_| spin::Mutex::new(None))
        .collect();
    crate::smp::run_on_all(&|c: &PerCpu| {
        let r = f(c);
        *slots[c.cpu as usize].lock() = Some(r);
    });
    slots
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.into_inner().map(|r| (i as u32, r)))
        .collect()
}

/// Joins per-CPU results: Ok only if every CPU passed.
pub fn all_cpus(results: alloc::vec::Vec<(u32, Result<String, String>)>) -> Result<String, String> {
    let mut ok = alloc::vec::Vec::new();
    let mut bad = alloc::vec::Vec::new();
    for (cpu, r) in results {
        match r {
            Ok(m) => ok.push(format!("CPU {cpu}: {m}")),
            Err(m) => bad.push(format!("CPU {cpu}: {m}")),
        }
    }
    if bad.is_empty() {
        Ok(ok.join("; "))
    } else {
        Err(bad.join("; "))
    }
}
