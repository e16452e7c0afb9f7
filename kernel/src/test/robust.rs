//! The robustness tests each lab runs on the path it builds: what a hostile
//! ring-3 caller can put in front of the entry instruction (a trap flag, a
//! bad stack, odd selectors, bad handles, bad pointers) and NMIs from the
//! other CPU. Each expects a correct status, or the thread killed with a
//! reason, and the kernel alive.

use super::user::{describe, expect_status, report_of, run_with_input, status_name};
use crate::percpu::PerCpu;
use crate::thread::ThreadExit;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use syslab_abi::status::*;
use syslab_abi::user_test::*;

/// A path as the messages name it.
pub struct Path {
    /// `PATH_INT2E`, `PATH_SHARED` or `PATH_SYSCALL`.
    pub id: u64,
    /// The student's entry stub on this path ("KiSystemService").
    pub stub: &'static str,
}

/// TF set right before the entry instruction (`int 0x2e` or `syscall`):
/// the call must work, and the kernel must give TF back through `iretq`,
/// so the trap lands after the first user instruction past the return.
pub fn single_step(c: &PerCpu, p: &Path) -> Result<String, String> {
    let before = super::user::exits(c);
    let exit = run_with_input(c, P_SINGLE_STEP, p.id, &[]);
    let [status, trap_at] = [0, 1].map(|i| crate::process::report(c.cpu).words[i]);
    match exit {
        ThreadExit::Killed(f) if f.vector == 1 && f.cs & 3 == 3 && f.rip == trap_at => {}
        other => {
            return Err(format!(
                "TF set before the entry: expected the thread to die of #DB in ring 3 at \
                 {trap_at:#x}, one instruction after the return, but it {} ({}: the user's TF \
                 must come back in the frame's RFLAGS)",
                describe(&other),
                p.stub
            ));
        }
    }
    expect_status("NtNull with TF set", status, STATUS_SUCCESS)?;
    let after = super::user::exits(c);
    if after[2] != before[2] {
        return Err(
            "a frame with TF left through sysretq; sysret_safe must send it to iretq: \
                    SYSRET cannot restore TF the way iretq does (on Intel the trap then lands \
                    before the first user instruction)"
                .into(),
        );
    }
    Ok(format!("#DB in ring 3 at {trap_at:#x}, after the return"))
}

/// The entry instruction with RSP = 0, non-canonical or a kernel address:
/// `int 0x2e` and `syscall` never need the user's stack, so the null call
/// must work and leave kernel memory alone (a kernel buffer stands in for
/// the stack, and must be unchanged afterwards).
pub fn bad_stack(c: &PerCpu, p: &Path) -> Result<String, String> {
    let canary = &CANARIES[c.cpu as usize];
    let rsp_in_kernel = canary.0.as_ptr() as u64 + 8 * CANARY_WORDS as u64 / 2;
    let mut out = Vec::new();
    for (what, rsp) in [
        ("RSP = 0", 0u64),
        ("a non-canonical RSP", 0x8000_0000_0000_0000),
        ("RSP a kernel address", rsp_in_kernel),
    ] {
        let r = report_of(c, P_BAD_STACK, p.id, &[rsp])?;
        let changed = canary.0.iter().any(|w| w.load(Relaxed) != CANARY);
        canary.0.iter().for_each(|w| w.store(CANARY, Relaxed));
        if changed {
            return Err(format!(
                "NtNull with {what} ({rsp:#x}) wrote to kernel memory there: {} used the \
                 user's stack before switching to the kernel's",
                p.stub
            ));
        }
        expect_status(
            &format!("NtNull with {what} ({rsp:#x})"),
            r[0],
            STATUS_SUCCESS,
        )?;
        out.push(what);
    }
    Ok(format!(
        "{}: the call worked, no kernel memory touched",
        out.join(", ")
    ))
}

const CANARY: u64 = 0xCA4A_2700_0000_C0DE;
const CANARY_WORDS: usize = 32;

/// Kernel words that a stub pushing onto a user RSP pointing at them would
/// overwrite, one set per CPU.
struct Canary([AtomicU64; CANARY_WORDS]);

static CANARIES: [Canary; crate::percpu::MAX_CPUS] =
    [const { Canary([const { AtomicU64::new(CANARY) }; CANARY_WORDS]) }; crate::percpu::MAX_CPUS];

/// Null, RPL-0, code and other odd but loadable selectors in DS, ES, FS and
/// GS: the call must work and every one come back as it was.
pub fn selectors(c: &PerCpu, p: &Path) -> Result<String, String> {
    // null; the user data with RPL 0; the 32-bit and the 64-bit user code
    // (readable code segments load into data registers).
    let sel = [0u64, 0x20, 0x1B, 0x2B];
    let r = report_of(c, P_SELECTORS, p.id, &sel)?;
    expect_status("NtNull with odd data selectors", r[0], STATUS_SUCCESS)?;
    let names = ["DS", "ES", "FS", "GS"];
    let changed: Vec<String> = (0..4)
        .filter(|&i| r[1 + i] != sel[i])
        .map(|i| format!("{} {:#x} -> {:#x}", names[i], sel[i], r[1 + i]))
        .collect();
    if !changed.is_empty() {
        return Err(format!("changed by the call: {}", changed.join(", ")));
    }
    Ok("DS 0, ES 0x20, FS 0x1b, GS 0x2b kept".into())
}

/// Forged, double-closed and stale handles through the path: each
/// STATUS_INVALID_HANDLE, and the slot's new owner unharmed.
pub fn bad_handles(c: &PerCpu, p: &Path) -> Result<String, String> {
    let table = crate::ob::process_handles();
    let h = table
        .insert(c.cpu as usize, crate::ob::mutant::create(false, c.cpu))
        .map_err(|s| status_name(s as u64))?;
    table
        .close(c.cpu as usize, h)
        .map_err(|s| format!("closing a fresh handle: {}", status_name(s as u64)))?;
    let forged = [
        h,
        0,
        1,
        3,
        4,
        h ^ 0x1_0000,
        0x7FFF_FFF0,
        u64::MAX,
        0xFFFF_8000_0000_0000,
        syslab_abi::service::NT_CURRENT_THREAD,
    ];
    let mut input = alloc::vec![forged.len() as u64];
    input.extend_from_slice(&forged);
    let exit = run_with_input(c, P_CLOSE_LIST, p.id, &input);
    if exit != ThreadExit::Exited(EXIT_OK_STATUS) {
        return Err(format!("the user thread {}", describe(&exit)));
    }
    let r = crate::process::report(c.cpu).words;
    for (i, &f) in forged.iter().enumerate() {
        let what = if i == 0 {
            format!("a second NtClose of {f:#x}")
        } else {
            format!("NtClose({f:#x})")
        };
        expect_status(&what, r[i + 1], STATUS_INVALID_HANDLE)?;
    }
    // A stale handle: its slot now holds another object.
    let r = report_of(c, P_STALE_HANDLE, p.id, &[])?;
    let (h1, h2) = (r[4], r[5]);
    expect_status("NtCreateMutant", r[6], STATUS_SUCCESS)?;
    expect_status("NtCreateMutant (the second)", r[7], STATUS_SUCCESS)?;
    expect_status(&format!("NtClose({h1:#x})"), r[0], STATUS_SUCCESS)?;
    expect_status(
        &format!("NtClose({h1:#x}) again, its slot reused by {h2:#x}"),
        r[1],
        STATUS_INVALID_HANDLE,
    )?;
    expect_status(
        &format!("NtClose({h2:#x}) after the stale close"),
        r[2],
        STATUS_SUCCESS,
    )?;
    expect_status(
        &format!("a second NtClose({h2:#x})"),
        r[3],
        STATUS_INVALID_HANDLE,
    )?;
    Ok(format!(
        "{} forged or closed handles refused; stale {h1:#x} refused, {h2:#x} in its slot unharmed",
        forged.len()
    ))
}

/// Each class of bad argument pointer through `args` (a closure that
/// checks one), then NtCreateMutant through the path with each class of
/// bad out pointer: every one must return STATUS_ACCESS_VIOLATION (the
/// caller checks with [`no_leak`] that nothing stayed alive). Returns how
/// many pointers were tried.
pub fn pointer_classes(
    c: &PerCpu,
    p: &Path,
    args: &mut dyn FnMut(&str, u64) -> Result<(), String>,
) -> Result<usize, String> {
    let kernel = c.self_ptr as u64; // mapped kernel memory: only the range check stops this
    let unmapped = 0x5000_0000; // user space, nothing mapped
    let top = crate::mm::paging::USER_TOP;
    let read_only = crate::process::image().map_or(0, |i| i.entry); // the user program's text
    let arg_classes = [
        ("a kernel address", kernel),
        ("address 0", 0),
        ("an unmapped user page", unmapped),
        ("a range straddling the top of user space", top - 16), // 8 arguments run past it
        ("a non-canonical address", 0x8000_0000_0000_0000),
    ];
    for (what, ptr) in arg_classes {
        args(what, ptr)?;
    }
    let out_classes = [
        ("a kernel address", kernel),
        ("address 0", 0),
        ("an unmapped user page", unmapped),
        ("a handle straddling the top of user space", top - 4),
        ("a read-only user page (the program's code)", read_only),
    ];
    for (what, ptr) in out_classes {
        let r = report_of(c, P_OUT_POINTER, p.id, &[ptr])?;
        expect_status(
            &format!("NtCreateMutant writing its handle to {what} ({ptr:#x})"),
            r[0],
            STATUS_ACCESS_VIOLATION,
        )?;
    }
    Ok(arg_classes.len() + out_classes.len())
}

/// Runs `test` (on all CPUs) and checks that it left no object or handle
/// alive: every call of the pointer tests fails, so none may stay. (Not
/// checked per CPU: a refused NtCreateMutant holds its handle for a moment.)
pub fn no_leak(test: impl FnOnce() -> Result<String, String>) -> Result<String, String> {
    let before = (
        crate::ob::live_objects(),
        crate::ob::process_handles().len(),
    );
    let r = test()?;
    let after = (
        crate::ob::live_objects(),
        crate::ob::process_handles().len(),
    );
    if after != before {
        return Err(format!(
            "after the refused calls, {} objects and {} handles are alive, against {} and {} \
             before: a refused NtCreateMutant must take its handle back",
            after.0, after.1, before.0, before.1
        ));
    }
    Ok(r)
}

/// NMIs from the other CPUs while this one makes NtTestCheckGs calls through
/// every path in `paths` (bits `1 << PATH_*`): each call must find the
/// kernel's GS, every NMI be counted, and GS be right afterwards.
pub fn nmi(paths: u64, what: &str, stubs: &str) -> Result<String, String> {
    const CALLS: u64 = 200;
    let c = crate::percpu::current();
    let storm = super::nmi::storm(200, |c: &PerCpu| {
        let r = report_of(c, P_GS_LOOP, 0, &[CALLS, paths])?;
        if r[2] != u64::MAX {
            return Err(format!(
                "call {} returned {}: NtTestCheckGs found a GS base that is not this CPU's \
                 block while NMIs arrived ({stubs})",
                r[2],
                status_name(r[1])
            ));
        }
        Ok(())
    });
    storm.check(c)?;
    let rounds = storm.result.clone()?;
    Ok(format!(
        "CPU {}: {} calls through {what}; {}",
        c.cpu,
        rounds * CALLS,
        storm.summary()
    ))
}
