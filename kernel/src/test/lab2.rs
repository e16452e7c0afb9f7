//! Lab 2: SYSENTER/SYSEXIT. Intel and AMD profiles get different lists:
//! on AMD, SYSENTER is #UD in 64-bit mode, so its round-trip tests are
//! replaced by tests of the fallback.

use super::Test;
use super::compat::{self, Path32};
use super::robust;
use super::user::{
    EXIT_IRETQ, EXIT_SYSEXIT, EXIT_SYSEXIT32, all_cpus, describe, exits, expect_status,
    flags_come_back, kernel_flags, on_each_cpu, report_of, report32_of, run_with_input,
};
use crate::frame::rflags;
use crate::gdt::{GDT_ENTRIES, KERNEL_CS, USER_CS, USER_CS32};
use crate::percpu::PerCpu;
use crate::rule_cases;
use crate::shared_user_data::{self, StubKind};
use crate::thread::ThreadExit;
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
const EXIT_RULES: Test = t!(
    "lab2.exit_rules",
    5,
    exit_rules,
    "choose_exit on crafted SYSENTER frames, each breaking one condition of sysexit_safe"
);
const BAD_HANDLES: Test = t!(
    "lab2.bad_handles",
    5,
    bad_handles,
    "forged, double-closed and stale handles through SharedUserData: STATUS_INVALID_HANDLE"
);
const BAD_POINTERS: Test = t!(
    "lab2.bad_pointers",
    5,
    bad_pointers,
    "every class of bad argument and out pointer through SharedUserData: refused, the kernel alive"
);
const NMI: Test = t!(
    "lab2.nmi",
    5,
    nmi,
    "NMIs from the other CPU while this one loops through SharedUserData's stub: GS right throughout"
);
const COMPAT_ARGUMENTS: Test = t!(
    "lab2.compat_arguments",
    5,
    compat_arguments,
    "a 32-bit caller's 4-byte arguments arrive widened with zeros; its HANDLE is 4 bytes"
);
const COMPAT_SMP: Test = t!(
    "lab2.compat_smp",
    10,
    compat_smp,
    "the article's CreateMutex loop in 32-bit code through SharedUserData's 32-bit stub, on both CPUs at once"
);
const COMPAT_EXIT_RULES: Test = t!(
    "lab2.compat_exit_rules",
    5,
    compat_exit_rules,
    "choose_exit on crafted 32-bit SYSENTER frames, each breaking one condition of sysexit32_safe"
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
        "RDX (the user stack) 0, non-canonical or a kernel address, garbage in RCX: only the thread dies, never through sysexitq"
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
        "TF set on entry: the kernel survives its #DB and the user sees its single-step, through iretq"
    ),
    t!(
        "lab2.single_step_exit",
        5,
        single_step_exit,
        "a thread single-steps into SYSENTER and ends inside the call: the next threads run untouched"
    ),
    t!(
        "lab2.compat_null_call",
        10,
        compat_null_call,
        "NtNull from 32-bit code through the article's stub (mov edx,esp; sysenter; ret) on every CPU, back through the 32-bit sysexit"
    ),
    COMPAT_ARGUMENTS,
    t!(
        "lab2.compat_preserved",
        5,
        compat_preserved,
        "SYSENTER from 32-bit code keeps EBX, ESI, EDI, EBP and ESP"
    ),
    COMPAT_SMP,
    t!(
        "lab2.compat_flags",
        5,
        compat_flags,
        "NT, AC and DF set before sysenter from 32-bit code: cleared in the kernel, and the caller gets them back"
    ),
    t!(
        "lab2.compat_single_step",
        5,
        compat_single_step,
        "TF set before sysenter from 32-bit code: the kernel survives its #DB, and the trap comes back in 32-bit code through iretq"
    ),
    t!(
        "lab2.compat_bad_return",
        5,
        compat_bad_return,
        "a kernel or non-canonical return EIP for a 32-bit caller takes the iretq fallback"
    ),
    t!(
        "lab2.mode_mismatch",
        5,
        mode_mismatch,
        "sysenter from code of the other mode (a far jump first): served and returned in the thread's own mode"
    ),
    EXIT_RULES,
    COMPAT_EXIT_RULES,
    t!(
        "lab2.selectors",
        5,
        selectors,
        "odd data selectors in DS, ES, FS and GS through SYSENTER: the call works, they come back"
    ),
    BAD_HANDLES,
    BAD_POINTERS,
    NMI,
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
    EXIT_RULES,
    t!(
        "lab2.compat_null_call",
        10,
        compat_null_call,
        "NtNull from 32-bit code through SharedUserData's 32-bit fallback stub (XP's int 0x2e) on every CPU"
    ),
    COMPAT_ARGUMENTS,
    COMPAT_SMP,
    COMPAT_EXIT_RULES,
    BAD_HANDLES,
    BAD_POINTERS,
    NMI,
];

/// Whether this CPU runs SYSENTER in 64-bit mode.
fn intel() -> bool {
    shared_user_data::cpu_features().intel
}

/// Runs a path-generic user test on `c` through SharedUserData, with inputs.
fn shared(c: &PerCpu, test: u64, input: &[u64]) -> Result<[u64; 32], String> {
    report_of(c, test, PATH_SHARED, input)
}

fn gdt_rule() -> Result<String, String> {
    let check = crate::student::student().lab2.check_sysenter_gdt;
    // The live GDT of every CPU.
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let live = &c.gdt.0[..GDT_ENTRIES];
        check(live, KERNEL_CS)
            .map_err(|e| format!("check_sysenter_gdt rejected this CPU's own GDT: {e}"))?;
        Ok("live GDT accepted".into())
    }))?;
    // Then one attribute at a time (kernel/src/rule_cases.rs).
    let cases = rule_cases::gdt_cases();
    let wrong = rule_cases::wrong_gdt_verdicts(&cases, check);
    rule_cases::judge("check_sysenter_gdt", cases.len(), wrong)?;
    Ok(format!(
        "every CPU's GDT accepted; {} layouts judged right, each breaking one attribute",
        cases.len()
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
                "CPU {cpu}: IA32_SYSENTER_CS = {cs:#x}, expected the kernel CS {KERNEL_CS:#x} \
                 (program_sysenter_msrs)"
            ));
        }
        if *eip != entry {
            return Err(format!(
                "CPU {cpu}: IA32_SYSENTER_EIP = {eip:#x}, expected KiFastCallEntry at {entry:#x} \
                 (program_sysenter_msrs)"
            ));
        }
        if !(stack.bottom < *esp && *esp <= stack.top) {
            return Err(format!(
                "CPU {cpu}: IA32_SYSENTER_ESP = {esp:#x} is not inside this CPU's kernel stack {:#x}-{:#x} \
                 (program_sysenter_msrs: use this CPU's kernel_stack_top)",
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
            "two CPUs share one IA32_SYSENTER_ESP: their frames would overwrite each other \
             (program_sysenter_msrs)"
                .into(),
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
                "only {sysexits} of {CALLS} calls left through SYSEXIT (KiSystemCallExit2){}",
                super::user::why_fallback(c)
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
            Err(format!(
                "changed: {} (KiFastCallEntry's pushes and pops must mirror the KTrapFrame)",
                changed.join(", ")
            ))
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
                 do both CPUs enter on the same stack (program_sysenter_msrs)?",
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
    before: [u64; 5],
    what: &str,
) -> Result<String, String> {
    let after = exits(c);
    let ThreadExit::Killed(f) = exit else {
        return Err(format!(
            "{what}: the thread {}, expected it to be killed",
            describe(&exit)
        ));
    };
    if after[EXIT_SYSEXIT] != before[EXIT_SYSEXIT]
        || after[EXIT_SYSEXIT32] != before[EXIT_SYSEXIT32]
    {
        return Err(format!(
            "{what}: the kernel returned with SYSEXIT; sysexit_safe (and sysexit32_safe) must \
             refuse this frame, and choose_exit send it to iretq"
        ));
    }
    if after[EXIT_IRETQ] == before[EXIT_IRETQ] {
        return Err(format!("{what}: no iretq fallback was recorded"));
    }
    Ok(format!("{what}: {}", super::user::describe_fault(&f)))
}
// ANCHOR_END: fallback_check

fn bad_registers() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let mut out = Vec::new();
        // A user RDX that is not a user address: the iretq fallback, then
        // SharedUserData's `ret` on that stack kills the thread.
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
    let stub = if intel() {
        "SYSENTER clears none of them; KiFastCallEntry must (push 2; popfq)"
    } else {
        "the int 0x2e gate clears NT only; KiSystemService must clear AC and DF"
    };
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let (kernel, saved) = kernel_flags(c, PATH_SHARED, set)?;
        if kernel & set != 0 {
            return Err(format!(
                "the service ran with RFLAGS {kernel:#x}: {:#x} of NT/AC/DF leaked into the \
                 kernel ({stub})",
                kernel & set
            ));
        }
        if saved & set != set {
            return Err(format!(
                "the frame's saved RFLAGS {saved:#x} lost the user's NT/AC/DF: KiFastCallEntry \
                 must push the live flags (pushfq) before clearing them"
            ));
        }
        let after = flags_come_back(
            c,
            PATH_SHARED,
            set,
            "KiFastCallEntry's exit (KiSystemCallExit2) must load the frame's RFLAGS before \
             sysexitq",
        )?;
        Ok(format!(
            "RFLAGS {after:#x} after the call, {kernel:#x} in the kernel"
        ))
    }))
}

fn single_step() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let before = exits(c);
        let exit = run_with_input(c, SINGLE_STEP_SYSENTER, PATH_SHARED, &[]);
        let expected = crate::process::report(c.cpu).words[0];
        let after = exits(c);
        if after[1] != before[1] {
            return Err(
                "the single-stepped call left through sysexitq: KiFastCallEntry's pushfq must \
                 record the user's TF in the frame, and sysexit_safe refuse a frame with TF, so \
                 that iretq gives the user its trap"
                    .into(),
            );
        }
        match exit {
            ThreadExit::Killed(f) if f.vector == 1 && f.cs & 3 == 3 && f.rip == expected => Ok(
                format!("#DB in ring 3 at {expected:#x}, after the return through iretq"),
            ),
            other => Err(format!(
                "expected the thread to die of #DB in ring 3 at {expected:#x} (its single-step after the return), but it {} \
                 (KiFastCallEntry's pushfq must record the user's TF in the frame)",
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

fn single_step_exit() -> Result<String, String> {
    crate::syscall::int2e::install(); // the next thread also tries int 0x2e
    all_cpus(on_each_cpu(|c: &PerCpu| {
        const STATUS: u64 = 0x5157;
        match run_with_input(c, SINGLE_STEP_TERMINATE, PATH_SHARED, &[STATUS]) {
            ThreadExit::Exited(STATUS) => {}
            other => {
                return Err(format!(
                    "a thread single-stepping into NtTerminateThread({STATUS:#x}) {}",
                    describe(&other)
                ));
            }
        }
        // The next threads on this CPU: nothing of that trap may follow them.
        let before = exits(c);
        let r = shared(c, P_NULL, &[10]).map_err(|e| {
            format!("after a single-stepped thread ended inside its call, the next one: {e}")
        })?;
        if r[2] != u64::MAX || exits(c)[1] - before[1] != 10 {
            return Err(format!(
                "after a single-stepped thread ended inside its call, the next thread's 10 \
                 calls: {} returned, {} through sysexitq{}",
                r[0],
                exits(c)[1] - before[1],
                super::user::why_fallback(c)
            ));
        }
        let r = report_of(c, P_NULL, PATH_INT2E, &[10])
            .map_err(|e| format!("after it, a thread using int 0x2e: {e}"))?;
        if r[2] != u64::MAX {
            return Err(format!(
                "after it, a thread's int 0x2e call {} returned {:#x}",
                r[2], r[1]
            ));
        }
        Ok("the thread ended inside the call; the next ones ran untouched".into())
    }))
}

/// The 32-bit path of this profile: the article's SYSENTER stub on Intel,
/// XP's `int 0x2e` stub on AMD (SYSENTER is #UD in compatibility mode too).
fn path32() -> Path32 {
    if intel() {
        Path32 {
            id: PATH_SHARED,
            stub: "KiFastCallEntry",
            fast: Some((EXIT_SYSEXIT32, "the 32-bit sysexit (KiSystemCallExit2)")),
        }
    } else {
        Path32 {
            id: PATH_SHARED,
            stub: "KiSystemService",
            fast: None,
        }
    }
}

fn compat_null_call() -> Result<String, String> {
    crate::syscall::int2e::install(); // AMD's stub, and 32-bit callers of both
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::null_call(c, &path32(), 1000)
    }))
}

fn compat_arguments() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::arguments(c, &path32())))
}

fn compat_preserved() -> Result<String, String> {
    // SYSEXIT loads ECX and EDX, and the stub sets EDX.
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::preserved(c, &path32(), &["ecx", "edx"])
    }))
}

fn compat_smp() -> Result<String, String> {
    compat::mutex_smp(&path32(), 1000)
}

fn compat_flags() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::flags(
            c,
            &path32(),
            "SYSENTER clears none of them; KiFastCallEntry must (push 2; popfq), and restore \
             them before the 32-bit sysexit",
        )
    }))
}

fn compat_single_step() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::single_step(c, &path32())))
}

fn compat_bad_return() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::bad_return(c, &path32())))
}

// ANCHOR: mode_mismatch
/// SYSENTER says nothing of the caller's mode, so the kernel serves a
/// SYSENTER in its thread's mode. A 64-bit thread that far-jumps to 32-bit
/// code and runs XP's stub is a 64-bit caller (64-bit numbers, `sysexitq`,
/// back in 64-bit code); a 32-bit thread that far-jumps to 64-bit code and
/// calls the 32-bit stub is a 32-bit caller (the 32-bit sysexit, back in
/// 32-bit code). Both come back and exit, and the kernel lives.
fn mode_mismatch() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let before = exits(c);
        let r = report_of(c, COMPAT_SYSENTER, PATH_SHARED, &[])
            .map_err(|e| format!("a 64-bit thread's sysenter from 32-bit code: {e}"))?;
        expect_status(
            "NtNull (64-bit number 0) by a 64-bit thread's sysenter from 32-bit code",
            r[0],
            syslab_abi::status::STATUS_SUCCESS,
        )?;
        let sysexits = exits(c)[EXIT_SYSEXIT] - before[EXIT_SYSEXIT];
        if r[1] != USER_CS as u64 || sysexits != 1 {
            return Err(format!(
                "a 64-bit thread's sysenter from 32-bit code came back with CS {:#x} after {sysexits} \
                 sysexitq: a 64-bit thread's SYSENTER frame has CS {USER_CS:#x} (KiFastCallEntry \
                 pushes the thread's gs:[PERCPU_SYSENTER_CS]) and leaves through sysexitq",
                r[1]
            ));
        }
        let before = exits(c);
        let r = report32_of(c, C_FROM_LONG_MODE, PATH_SHARED, &[])
            .map_err(|e| format!("a 32-bit thread's sysenter from 64-bit code: {e}"))?;
        expect_status(
            "NtNull (32-bit number 0x200) by a 32-bit thread's sysenter from 64-bit code",
            r[0],
            syslab_abi::status::STATUS_SUCCESS,
        )?;
        let sysexits32 = exits(c)[EXIT_SYSEXIT32] - before[EXIT_SYSEXIT32];
        if r[1] != USER_CS32 as u64 || sysexits32 != 1 {
            return Err(format!(
                "a 32-bit thread's sysenter from 64-bit code came back with CS {:#x} after \
                 {sysexits32} 32-bit sysexit: a 32-bit thread's SYSENTER frame has CS \
                 {USER_CS32:#x} and leaves through the 32-bit sysexit",
                r[1]
            ));
        }
        Ok("each served in its thread's mode and back in it".into())
    }))
}
// ANCHOR_END: mode_mismatch

fn compat_exit_rules() -> Result<String, String> {
    let cases = rule_cases::sysexit32_cases();
    let wrong = rule_cases::wrong_exits(&cases, crate::student::student().lab2.choose_exit);
    let n = rule_cases::judge("choose_exit (with sysexit32_safe)", cases.len(), wrong)?;
    Ok(format!(
        "{n} 32-bit frames, each breaking one condition, judged right"
    ))
}

fn exit_rules() -> Result<String, String> {
    let cases = rule_cases::sysexit_cases();
    let wrong = rule_cases::wrong_exits(&cases, crate::student::student().lab2.choose_exit);
    let n = rule_cases::judge("choose_exit (with sysexit_safe)", cases.len(), wrong)?;
    Ok(format!(
        "{n} frames, each breaking one condition, judged right"
    ))
}

const PATH: robust::Path = robust::Path {
    id: PATH_SHARED,
    stub: "KiFastCallEntry",
};

fn selectors() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| robust::selectors(c, &PATH)))
}

fn bad_handles() -> Result<String, String> {
    robust::bad_handles(crate::percpu::current(), &PATH)
}

fn bad_pointers() -> Result<String, String> {
    let sysenter = intel();
    robust::no_leak(|| {
        all_cpus(on_each_cpu(|c: &PerCpu| {
            let n = robust::pointer_classes(c, &PATH, &mut |what, ptr| {
                let before = exits(c);
                let exit = run_with_input(c, P_ARG_POINTER, PATH_SHARED, &[ptr]);
                if !sysenter {
                    // The int 0x2e stub: a status.
                    let r = crate::process::report(c.cpu).words;
                    if exit != ThreadExit::Exited(EXIT_OK_STATUS) {
                        return Err(format!(
                            "arguments at {what} ({ptr:#x}): the thread {}",
                            describe(&exit)
                        ));
                    }
                    return super::user::expect_status(
                        &format!("NtTestEcho with its arguments at {what} ({ptr:#x})"),
                        r[0],
                        STATUS_ACCESS_VIOLATION,
                    );
                }
                // SYSENTER returns on the stack RDX names: the thread cannot
                // come back, but it must die without a sysexitq to a bad RSP.
                let ThreadExit::Killed(_) = exit else {
                    return Err(format!(
                        "a raw sysenter with RDX at {what} ({ptr:#x}): the thread {}, expected it killed",
                        describe(&exit)
                    ));
                };
                if !crate::mm::paging::is_user_range(ptr, 1) && exits(c)[1] != before[1] {
                    return Err(format!(
                        "RDX at {what} ({ptr:#x}): the kernel returned with sysexitq; sysexit_safe \
                     must refuse an RSP that is not a user address"
                    ));
                }
                Ok(())
            })?;
            Ok(format!(
                "{n} bad pointers refused or their threads killed; no object leaked"
            ))
        }))
    })
}

fn nmi() -> Result<String, String> {
    robust::nmi(
        1 << PATH_SHARED,
        "SharedUserData's SystemCallStub",
        "KiFastCallEntry, or the int 0x2e fallback",
    )
}
