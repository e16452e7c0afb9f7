//! The benchmark's user side: the article's CreateMutex loop, and the rows
//! that split its cost (bare instruction, null call, call floor); and for
//! `lab=anatomy`, one call of each service for the grader to single-step.

use crate::kernel32::{self, Stubs};
use crate::ntdll::{self, call};
use crate::rt::report;
use crate::wow32::{self, Job32, call32};
use syslab_abi::user_test::*;

/// Times `n` operations; returns TSC ticks and the count of failed ones.
pub fn run(cpu: u64, path: u64) -> u64 {
    let r = &mut report(cpu).words;
    let (kind, n) = (r[0], r[1]);
    r.fill(0);
    let mut failures = 0;
    let start = rdtsc();
    match (path, kind) {
        (BENCH_PATH_CALL, _) => {
            for _ in 0..n {
                floor();
            }
        }
        (_, BENCH_BARE) => {
            for _ in 0..n {
                bare(path);
            }
        }
        (_, BENCH_NULL) => {
            let t = stubs(path);
            for _ in 0..n {
                failures += (call(t.null, &[]) != 0) as u64;
            }
        }
        (_, BENCH_CREATE_CLOSE) => {
            let s = Stubs::of(stubs(path));
            for _ in 0..n {
                // The article's loop: CreateMutex(NULL, FALSE, NULL), then CloseHandle.
                let h = kernel32::create_mutex(&s, 0, false, 0);
                failures += (h == 0 || !kernel32::close_handle(&s, h)) as u64;
            }
        }
        (_, BENCH_ANATOMY) => {
            let t = stubs(path);
            let s = Stubs::of(t);
            // Twice round first, so that the calls the grader steps find
            // the handle table's and the object pool's caches warm.
            for round in 0..3 {
                if round == 2 {
                    syslab_anatomy_begin(path);
                }
                failures += (call(t.null, &[]) != 0) as u64;
                let h = kernel32::create_mutex(&s, 0, false, 0);
                failures += (h == 0 || !kernel32::close_handle(&s, h)) as u64;
            }
        }
        _ => return 0xBAD_7E57,
    }
    r[0] = rdtsc() - start;
    r[1] = failures;
    EXIT_OK_STATUS
}

// ANCHOR: run32
/// The benchmark in a 32-bit thread: the same kinds through the 32-bit
/// stubs, timed in 32-bit code (wow32.rs `wow32.bench`). `PATH_INT2E` is
/// Windows 2000's ntdll; the fast paths are XP's, through SharedUserData's
/// 32-bit stub (SYSENTER on Intel, SYSCALL on AMD).
pub fn run32(cpu: u64, path: u64) -> u64 {
    let r = &mut report(cpu).words;
    let (kind, n) = (r[0], r[1]);
    r.fill(0);
    let t = crate::ntdll32::table32(path);
    let mut job = Job32 {
        n: n as u32,
        ..Default::default()
    };
    job.args[1] = if path == BENCH_PATH_CALL {
        BENCH_PATH_CALL as u32
    } else {
        kind as u32
    };
    match kind {
        BENCH_NULL => job.stub = t.null,
        BENCH_CREATE_CLOSE => {
            job.stub = t.create_mutex;
            job.args[0] = t.close_handle;
        }
        BENCH_BARE => {
            job.args[2] = match path {
                BENCH_PATH_SYSENTER => 1,
                PATH_SYSCALL => 2,
                _ => 0,
            }
        }
        _ => return 0xBAD_7E57,
    }
    call32(wow32::bench(), &mut job, 0, 0);
    let tsc = |lo: u32, hi: u32| (hi as u64) << 32 | lo as u64;
    r[0] = tsc(job.out[2], job.out[3]) - tsc(job.out[0], job.out[1]);
    r[1] = job.out[4] as u64;
    EXIT_OK_STATUS
}
// ANCHOR_END: run32

fn stubs(path: u64) -> &'static ntdll::Table {
    match path {
        BENCH_PATH_SYSENTER => ntdll::table(PATH_SHARED),
        p => ntdll::table(p),
    }
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed in ring 3 (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The grader's breakpoint for `lab=anatomy`: the three calls after it are
/// the ones it single-steps (ZwNull, then kernel32's CreateMutex and
/// CloseHandle). Its name is looked up in this program's symbols.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn syslab_anatomy_begin(path: u64) {
    // SAFETY: an empty asm block that reads `path` keeps the call.
    unsafe { core::arch::asm!("/* {0} */", in(reg) path, options(nomem, nostack)) };
}

/// The floor: a call to a function that only returns.
#[inline(never)]
fn floor() {
    // SAFETY: an empty asm block keeps the call from being optimised away.
    unsafe { core::arch::asm!("", options(nomem, nostack)) };
}

/// One bare round trip: the kernel has pointed the entry at a stub that
/// returns at once (see kernel/src/bench.rs).
fn bare(path: u64) {
    // SAFETY: the bare kernel stubs return straight here, changing only
    // the registers each instruction defines.
    unsafe {
        match path {
            PATH_INT2E => core::arch::asm!("int 0x2e"),
            PATH_SYSCALL => core::arch::asm!("syscall", out("rcx") _, out("r11") _),
            BENCH_PATH_SYSENTER => core::arch::asm!(
                "mov rcx, rsp",       // SYSEXIT's RSP
                "lea rdx, [rip + 2f]", // SYSEXIT's RIP
                "sysenter",
                "2:",
                out("rcx") _, out("rdx") _,
            ),
            _ => {}
        }
    }
}
