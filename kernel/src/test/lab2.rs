//! Lab 2: SYSENTER/SYSEXIT. Intel and AMD profiles get different lists:
//! on AMD, SYSENTER is #UD in 64-bit mode, so its round-trip tests are
//! replaced by tests of the fallback.

use super::Test;
use super::user::{all_cpus, describe, exits, on_each_cpu, report_of, run_with_input};
use crate::gdt::{GDT_ENTRIES, KERNEL_CS, SegmentDescriptor, standard_gdt};
use crate::percpu::PerCpu;
use crate::shared_user_data::{self, StubKind};
use crate::thread::ThreadExit;
use crate::trap::rflags;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use syslab_abi::status::*;
use syslab_abi::user_test::*;

macro_rules! t {
    ($name:literal, $points:literal, $run:ident, $desc:literal) => {
        Test {
            name: $name,
            points: $points,
            description: $desc,
            run: $run,
        }
    };
}

// Tests that both profiles run.
const GDT_RULE: Test = t!(
    "lab2.gdt_rule",
    5,
    gdt_rule,
    "the student's GDT rule check accepts the kernel's GDT and rejects broken ones"
);
const MSRS: Test = t!(
    "lab2.msrs",
    10,
    msrs,
    "rdmsr 174/175/176 on each CPU: same CS and EIP, each ESP in that CPU's own stack"
);
const FLAGS: Test = t!(
    "lab2.flags",
    5,
    flags,
    "NT, AC and DF set on entry: cleared in the kernel, and the user gets them back"
);

pub static INTEL: &[Test] = &[
    GDT_RULE,
    MSRS,
    t!(
        "lab2.stub_choice",
        5,
        stub_choice,
        "SharedUserData's SystemCallStub is SYSENTER on an Intel CPU with SEP"
    ),
    t!(
        "lab2.null_call",
        10,
        null_call,
        "NtNull round trips through SYSENTER/SYSEXIT on every CPU"
    ),
    t!(
        "lab2.arguments",
        5,
        arguments,
        "arguments and status through the new path"
    ),
    t!(
        "lab2.preserved",
        10,
        preserved,
        "SYSENTER preserves every register but RAX, RCX and RDX"
    ),
    t!(
        "lab2.smp_stress",
        10,
        smp_stress,
        "both CPUs at once, each frame on its own CPU's stack"
    ),
    t!(
        "lab2.bad_registers",
        5,
        bad_registers,
        "garbage in RDX/RCX kills only the thread, through the iretq fallback"
    ),
    t!(
        "lab2.bad_return",
        5,
        bad_return,
        "a non-canonical or kernel return address takes the iretq fallback"
    ),
    FLAGS,
    t!(
        "lab2.single_step",
        5,
        single_step,
        "TF set on entry: the kernel survives its #DB and the user sees its single-step"
    ),
];

pub static AMD: &[Test] = &[
    GDT_RULE,
    MSRS,
    t!(
        "lab2.stub_choice",
        5,
        stub_choice,
        "SharedUserData's SystemCallStub is not SYSENTER on an AMD CPU, though SEP is set"
    ),
    t!(
        "lab2.sysenter_ud",
        10,
        sysenter_ud,
        "SYSENTER from ring 3 is #UD on AMD in 64-bit mode: the thread dies, the kernel lives"
    ),
    t!(
        "lab2.null_call",
        10,
        null_call,
        "NtNull round trips through the fallback stub on every CPU"
    ),
    t!(
        "lab2.arguments",
        5,
        arguments,
        "arguments and status through the fallback stub"
    ),
    t!(
        "lab2.smp_stress",
        10,
        smp_stress,
        "both CPUs at once through the fallback stub"
    ),
    FLAGS,
];

/// Whether this CPU runs SYSENTER in 64-bit mode.
fn intel() -> bool {
    shared_user_data::cpu_features().intel
}

/// Runs a path-generic user test on `c` through SharedUserData, with inputs.
fn shared(c: &PerCpu, test: u64, input: &[u64]) -> Result<[u64; 32], String> {
    report_of(c, test, PATH_SHARED, input)
}

// ANCHOR: gdt_cases
/// Layouts the rule must reject, built from the kernel's own GDT.
fn broken_layouts() -> Vec<(&'static str, Vec<u64>, u16)> {
    let good = standard_gdt();
    let mut swapped = good;
    swapped.swap(5, 6); // user code 64 <-> user data: SYSEXIT's CS would be data
    let mut kdata_ring3 = good;
    kdata_ring3[2] = SegmentDescriptor::data(3).0; // SS = CS + 8 must be ring 0
    let mut code32_for_64 = good;
    code32_for_64[5] = SegmentDescriptor::code32(3).0; // CS + 32 must be 64-bit code
    alloc::vec![
        (
            "user code and data swapped at +32/+40",
            swapped.to_vec(),
            KERNEL_CS
        ),
        (
            "kernel data (CS + 8) at DPL 3",
            kdata_ring3.to_vec(),
            KERNEL_CS
        ),
        (
            "32-bit code where 64-bit SYSEXIT loads CS",
            code32_for_64.to_vec(),
            KERNEL_CS
        ),
        ("table too short for CS + 40", good[..5].to_vec(), KERNEL_CS),
        ("SYSENTER_CS with RPL 3", good.to_vec(), KERNEL_CS | 3),
        ("SYSENTER_CS pointing at the user code", good.to_vec(), 0x28),
    ]
}
// ANCHOR_END: gdt_cases

fn gdt_rule() -> Result<String, String> {
    let check = crate::student::student().lab2.check_sysenter_gdt;
    // The live GDT of every CPU.
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let live = &c.gdt.0[..GDT_ENTRIES];
        check(live, KERNEL_CS).map_err(|e| format!("rejected this CPU's own GDT: {e}"))?;
        Ok("live GDT accepted".into())
    }))?;
    // The same rule holds for a layout shifted by one slot.
    let mut shifted = alloc::vec![0u64];
    shifted.extend_from_slice(&standard_gdt()[..7]);
    check(&shifted, KERNEL_CS + 8)
        .map_err(|e| format!("rejected a good layout based at 0x10: {e}"))?;
    for (what, table, cs) in broken_layouts() {
        if check(&table, cs).is_ok() {
            return Err(format!("accepted a broken layout: {what}"));
        }
    }
    Ok(format!(
        "accepted 2 good layouts, rejected {} broken ones",
        broken_layouts().len()
    ))
}

fn msrs() -> Result<String, String> {
    let values =
        on_each_cpu(|c: &PerCpu| (c.cpu, crate::syscall::sysenter::read_msrs(), c.kernel_stack));
    let mut lines = Vec::new();
    for (_, (cpu, [cs, esp, eip], stack)) in &values {
        crate::kprintln!(
            "{cpu}: kd> rdmsr 174 = {:08x}:{:08x}  rdmsr 175 = {:08x}:{:08x}  rdmsr 176 = {:08x}:{:08x}",
            cs >> 32,
            cs & 0xffff_ffff,
            esp >> 32,
            esp & 0xffff_ffff,
            eip >> 32,
            eip & 0xffff_ffff
        );
        let entry = crate::student::student().lab2.ki_fast_call_entry as *const () as u64;
        if *cs != KERNEL_CS as u64 {
            return Err(format!(
                "CPU {cpu}: IA32_SYSENTER_CS = {cs:#x}, expected the kernel CS {KERNEL_CS:#x}"
            ));
        }
        if *eip != entry {
            return Err(format!(
                "CPU {cpu}: IA32_SYSENTER_EIP = {eip:#x}, expected KiFastCallEntry at {entry:#x}"
            ));
        }
        if !(stack.bottom < *esp && *esp <= stack.top) {
            return Err(format!(
                "CPU {cpu}: IA32_SYSENTER_ESP = {esp:#x} is not inside this CPU's kernel stack {:#x}-{:#x}",
                stack.bottom, stack.top
            ));
        }
        lines.push(format!("CPU {cpu}: ESP {esp:#x}"));
    }
    let mut esps: Vec<u64> = values.iter().map(|(_, (_, m, _))| m[1]).collect();
    esps.sort_unstable();
    esps.dedup();
    if esps.len() != values.len() {
        return Err(
            "two CPUs share one IA32_SYSENTER_ESP: their frames would overwrite each other".into(),
        );
    }
    Ok(lines.join("; "))
}

fn stub_choice() -> Result<String, String> {
    let chosen = shared_user_data::chosen().ok_or("SharedUserData was not installed")?;
    let f = shared_user_data::cpu_features();
    match (f.intel, chosen) {
        (true, StubKind::Sysenter) => Ok("sysenter on an Intel CPU".into()),
        (false, StubKind::Sysenter) => {
            Err("chose SYSENTER on a non-Intel CPU, where it is #UD in 64-bit mode".into())
        }
        (true, other) => Err(format!("chose {} on an Intel CPU with SEP", other.name())),
        (false, other) => Ok(format!(
            "{} on a non-Intel CPU (SEP = {})",
            other.name(),
            f.sep as u8
        )),
    }
}

fn null_call() -> Result<String, String> {
    const CALLS: u64 = 1000;
    let sysenter = intel();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let before = exits(c);
        let r = shared(c, P_NULL, &[CALLS])?;
        if r[2] != u64::MAX {
            return Err(format!(
                "call {} of {CALLS} returned {:#x}, expected STATUS_SUCCESS",
                r[2], r[1]
            ));
        }
        if r[0] != CALLS {
            return Err(format!("only {} of {CALLS} calls returned", r[0]));
        }
        let sysexits = exits(c)[1] - before[1];
        if sysenter && sysexits < CALLS {
            return Err(format!(
                "only {sysexits} of {CALLS} calls left through SYSEXIT (KiSystemCallExit2)"
            ));
        }
        if !sysenter && sysexits != 0 {
            return Err(format!("{sysexits} SYSEXITs on a CPU without SYSENTER"));
        }
        Ok(format!("{CALLS} calls, {sysexits} through sysexit"))
    }))
}

fn arguments() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = shared(c, P_ARGS, &[])?;
        if r[0] != 0 {
            return Err(format!(
                "NtTestEcho with {} argument(s) returned {:#x}; sent {:#x}, kernel saw {:#x} \
                 (KiFastCallEntry: the arguments start 16 bytes above the user RSP)",
                r[1], r[2], r[3], r[4]
            ));
        }
        Ok("every argument intact".into())
    }))
}

fn preserved() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = shared(c, P_PRESERVED, &[])?;
        if r[0] != STATUS_SUCCESS as u64 {
            return Err(format!("NtNull returned {:#x}", r[0]));
        }
        // RAX: status; RCX and RDX: loaded by SYSEXIT (and RDX by the stub).
        let mut changed = Vec::new();
        for (k, name) in REGISTER_NAMES.iter().enumerate() {
            if matches!(*name, "rax" | "rcx" | "rdx") {
                continue;
            }
            if r[k] != PRESERVE_PATTERN + k as u64 {
                changed.push(format!(
                    "{name}: {:#x} -> {:#x}",
                    PRESERVE_PATTERN + k as u64,
                    r[k]
                ));
            }
        }
        if changed.is_empty() {
            Ok("12 registers kept".into())
        } else {
            Err(format!("changed: {}", changed.join(", ")))
        }
    }))
}

fn smp_stress() -> Result<String, String> {
    const ITERATIONS: u64 = 500;
    const SPINS: u64 = 200;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = shared(c, P_CHECK_FRAME, &[ITERATIONS, SPINS])?;
        if r[0] != ITERATIONS {
            return Err(format!(
                "call {} found its frame changed or off this CPU's stack (status {:#x}): \
                 do both CPUs enter on the same stack?",
                r[2], r[1]
            ));
        }
        if r[3] != 0 {
            return Err(format!("{} callee registers came back changed", r[3]));
        }
        Ok(format!("{ITERATIONS} frames intact"))
    }))
}

// ANCHOR: fallback_check
/// Expects the thread to have been killed (not exited) and the kernel to
/// have chosen iretq for the return in between.
fn expect_killed_after_fallback(
    c: &PerCpu,
    exit: ThreadExit,
    before: [u64; 3],
    what: &str,
) -> Result<String, String> {
    let after = exits(c);
    let ThreadExit::Killed(f) = exit else {
        return Err(format!(
            "{what}: the thread {}, expected it to be killed",
            describe(&exit)
        ));
    };
    if after[1] != before[1] {
        return Err(format!(
            "{what}: the kernel returned with SYSEXIT; it must fall back to iretq"
        ));
    }
    if after[0] == before[0] {
        return Err(format!("{what}: no iretq fallback was recorded"));
    }
    Ok(format!("{what}: {}", super::user::describe_fault(&f)))
}
// ANCHOR_END: fallback_check

fn bad_registers() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let mut out = Vec::new();
        for (what, rdx, rcx) in [
            (
                "non-canonical RDX",
                0x4141_4141_4141_4141,
                0x4242_4242_4242_4242,
            ),
            ("kernel RDX", c.kernel_stack.top - 8, 0),
            ("RDX = 0", 0, u64::MAX),
        ] {
            let before = exits(c);
            let exit = run_with_input(c, RAW_SYSENTER, PATH_SHARED, &[rdx, rcx]);
            out.push(expect_killed_after_fallback(c, exit, before, what)?);
        }
        Ok(out.join("; "))
    }))
}

fn bad_return() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let mut out = Vec::new();
        for (what, rip) in [
            ("non-canonical RIP", 0x8000_0000_0000_0000u64),
            ("kernel RIP", c.self_ptr as u64),
        ] {
            let before = exits(c);
            let exit = run_with_input(c, P_SET_RETURN, PATH_SHARED, &[rip]);
            out.push(expect_killed_after_fallback(c, exit, before, what)?);
        }
        Ok(out.join("; "))
    }))
}

fn flags() -> Result<String, String> {
    let set = rflags::NT | rflags::AC | rflags::DF;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = shared(c, P_FLAGS, &[set])?;
        if r[0] != STATUS_SUCCESS as u64 {
            return Err(format!(
                "NtNull with NT, AC and DF set returned {:#x}",
                r[0]
            ));
        }
        if r[1] & set != set {
            return Err(format!(
                "RFLAGS after the call is {:#x}: the user's NT/AC/DF were not restored",
                r[1]
            ));
        }
        // Inside the kernel they must be gone: SYSENTER clears none of them
        // (on the int 0x2e fallback the gate clears NT and the stub's cld DF).
        let must_clear = if intel() {
            set
        } else {
            rflags::NT | rflags::DF
        };
        let k = shared(c, P_KERNEL_FLAGS, &[set])?;
        if k[1] & must_clear != 0 {
            return Err(format!(
                "the service ran with RFLAGS {:#x}: {:#x} of NT/AC/DF leaked into the kernel \
                 (SYSENTER does not clear them; KiFastCallEntry must)",
                k[1],
                k[1] & must_clear
            ));
        }
        Ok(format!(
            "RFLAGS {:#x} after the call, {:#x} in the kernel",
            r[1], k[1]
        ))
    }))
}

fn single_step() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let exit = run_with_input(c, SINGLE_STEP_SYSENTER, PATH_SHARED, &[]);
        let expected = crate::process::report(c.cpu).words[0];
        match exit {
            ThreadExit::Killed(f) if f.vector == 1 && f.cs & 3 == 3 && f.rip == expected => {
                Ok(format!("#DB in ring 3 at {expected:#x}, after the return"))
            }
            other => Err(format!(
                "expected the thread to die of #DB in ring 3 at {expected:#x} (its single-step after the return), but it {}",
                describe(&other)
            )),
        }
    }))
}

fn sysenter_ud() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        match run_with_input(c, RAW_SYSENTER, PATH_SHARED, &[0, 0]) {
            ThreadExit::Killed(f) if f.vector == 6 => {}
            other => {
                return Err(format!(
                    "expected #UD from sysenter, but the thread {}",
                    describe(&other)
                ));
            }
        }
        let r = shared(c, P_NULL, &[10])?;
        if r[2] != u64::MAX {
            return Err("null calls through the fallback stub failed after the #UD".into());
        }
        Ok("#UD reported; the kernel lives on".into())
    }))
}
