//! Lab 3: SYSCALL/SYSRET. Every test runs on both CPUs, through direct
//! `syscall` stubs (an Intel boot keeps SYSENTER in SharedUserData, as XP
//! did, so the SYSCALL tests call it directly). The 32-bit caller's tests
//! (CSTAR, `sysretl`) run on AMD only: Intel CPUs raise #UD for SYSCALL in
//! compatibility mode, and there 32-bit code uses SYSENTER (Lab 2).

use super::Test;
use super::compat::{self, Path32};
use super::robust;
use super::user::{
    EXIT_SYSRET32, all_cpus, describe, describe_fault, exits, expect_status, flags_come_back,
    kernel_flags, on_each_cpu, report_of, run_with_input, status_name,
};
use crate::frame::rflags;
use crate::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS};
use crate::msr;
use crate::percpu::PerCpu;
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

const MSRS: Test = t!(
    "lab3.msrs",
    10,
    msrs,
    "EFER.SCE, STAR, LSTAR, CSTAR and SFMASK on each CPU; the SYSRET rule holds in the GDT"
);
const NULL_CALL: Test = t!(
    "lab3.null_call",
    10,
    null_call,
    "NtNull round trips through SYSCALL/SYSRET on every CPU"
);
const ARGUMENTS: Test = t!(
    "lab3.arguments",
    5,
    arguments,
    "arguments and status through SYSCALL"
);
const REGISTERS: Test = t!(
    "lab3.registers",
    10,
    registers,
    "preserved registers kept; RCX and R11 hold the return RIP and RFLAGS"
);
const SFMASK: Test = t!(
    "lab3.sfmask",
    5,
    sfmask,
    "IF, TF, DF, AC and NT are clear in the kernel; the user's come back"
);
const BAD_RETURN: Test = t!(
    "lab3.bad_return",
    10,
    bad_return,
    "a changed, non-canonical or kernel return RIP takes the iretq fallback"
);
const KERNEL_FAULT: Test = t!(
    "lab3.kernel_fault",
    5,
    kernel_fault,
    "an exception inside a system call leaves swapgs balanced"
);
const SMP_STRESS: Test = t!(
    "lab3.smp_stress",
    10,
    smp_stress,
    "both CPUs hammer SYSCALL at once, each on its own stack"
);
const FAULT_AFTER: Test = t!(
    "lab3.fault_after",
    5,
    fault_after,
    "a ring-3 page fault right after a syscall finds GS correct"
);
const COMPAT: Test = t!(
    "lab3.compat",
    5,
    compat,
    "SYSCALL from 32-bit code by a 64-bit thread: #UD on Intel; on AMD through CSTAR as a 32-bit call, back through sysretl"
);
const EXIT_RULES: Test = t!(
    "lab3.exit_rules",
    5,
    exit_rules,
    "choose_exit on crafted SYSCALL frames, each breaking one condition of sysret_safe"
);
const SCRATCH: Test = t!(
    "lab3.scratch",
    5,
    scratch,
    "KiSystemCall64 parks the user RSP in this CPU's own gs: slot, not in a shared global"
);
const SINGLE_STEP: Test = t!(
    "lab3.single_step",
    5,
    single_step,
    "TF set right before syscall: the call works, and the trap comes back through iretq"
);
const BAD_STACK: Test = t!(
    "lab3.bad_stack",
    5,
    bad_stack,
    "RSP 0, non-canonical or a kernel address at syscall: the entry never touches that stack"
);
const SELECTORS: Test = t!(
    "lab3.selectors",
    5,
    selectors,
    "odd data selectors in DS, ES, FS and GS through SYSCALL: the call works, they come back"
);
const BAD_HANDLES: Test = t!(
    "lab3.bad_handles",
    5,
    bad_handles,
    "forged, double-closed and stale handles through SYSCALL: STATUS_INVALID_HANDLE"
);
const BAD_POINTERS: Test = t!(
    "lab3.bad_pointers",
    5,
    bad_pointers,
    "every class of bad argument and out pointer through SYSCALL: STATUS_ACCESS_VIOLATION"
);
const NMI: Test = t!(
    "lab3.nmi",
    5,
    nmi,
    "NMIs from the other CPU while this one loops through int 0x2e, SharedUserData and SYSCALL"
);
const COMPAT_EXIT_RULES: Test = t!(
    "lab3.compat_exit_rules",
    5,
    compat_exit_rules,
    "choose_exit on crafted 32-bit SYSCALL frames, each breaking one condition of sysret32_safe"
);

/// The tests of both profiles, in the order they run, then the 32-bit
/// caller's through CSTAR, which only AMD CPUs have.
macro_rules! lab3_tests {
    ($($extra:expr),* $(,)?) => {
        &[
            MSRS, NULL_CALL, ARGUMENTS, REGISTERS, SFMASK, BAD_RETURN, KERNEL_FAULT,
            SMP_STRESS, FAULT_AFTER, COMPAT, EXIT_RULES, COMPAT_EXIT_RULES, SCRATCH,
            SINGLE_STEP, BAD_STACK, SELECTORS, BAD_HANDLES, BAD_POINTERS, NMI, $($extra),*
        ]
    };
}

pub static INTEL: &[Test] = lab3_tests!();

pub static AMD: &[Test] = lab3_tests!(
    t!(
        "lab3.compat_null_call",
        10,
        compat_null_call,
        "NtNull from 32-bit code through SharedUserData's mov edx,esp; syscall; ret on every CPU: CSTAR, KiSystemCall32 and sysretl"
    ),
    t!(
        "lab3.compat_arguments",
        5,
        compat_arguments,
        "a 32-bit SYSCALL caller's 4-byte arguments, at EDX + 8, arrive widened with zeros"
    ),
    t!(
        "lab3.compat_preserved",
        5,
        compat_preserved,
        "SYSCALL from 32-bit code keeps EBX, ESI, EDI, EBP and ESP"
    ),
    t!(
        "lab3.compat_smp",
        10,
        compat_smp,
        "the article's CreateMutex loop in 32-bit code through CSTAR on both CPUs at once, every call back through sysretl"
    ),
    t!(
        "lab3.compat_flags",
        5,
        compat_flags,
        "NT, AC and DF set before syscall from 32-bit code: SFMASK clears them, and the caller gets them back"
    ),
    t!(
        "lab3.compat_single_step",
        5,
        compat_single_step,
        "TF set before syscall from 32-bit code: the trap comes back in 32-bit code through iretq, never sysretl"
    ),
    t!(
        "lab3.compat_bad_return",
        5,
        compat_bad_return,
        "a kernel or non-canonical return EIP for a 32-bit SYSCALL caller takes the iretq fallback"
    ),
);

fn syscall(c: &PerCpu, test: u64, input: &[u64]) -> Result<[u64; 32], String> {
    report_of(c, test, PATH_SYSCALL, input)
}

// ANCHOR: must_mask
/// The RFLAGS bits that SFMASK must clear.
const MUST_MASK: u64 = rflags::IF | rflags::TF | rflags::DF | rflags::AC | rflags::NT;
// ANCHOR_END: must_mask

fn msrs() -> Result<String, String> {
    let lstar_want = crate::student::student().lab3.ki_system_call64 as *const () as u64;
    let cstar_want = crate::student::student().lab3.ki_system_call32 as *const () as u64;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        // SAFETY: these MSRs exist on every x86_64 CPU.
        let (efer, star, lstar, cstar, fmask) = unsafe {
            (
                msr::read(msr::IA32_EFER),
                msr::read(msr::IA32_STAR),
                msr::read(msr::IA32_LSTAR),
                msr::read(msr::IA32_CSTAR),
                msr::read(msr::IA32_FMASK),
            )
        };
        if efer & msr::efer::SCE == 0 {
            return Err(format!(
                "EFER {efer:#x}: SCE is clear, so SYSCALL is #UD (program_syscall_msrs)"
            ));
        }
        let (kbase, ubase) = (
            ((star >> 32) & 0xffff) as u16,
            ((star >> 48) & 0xffff) as u16,
        );
        if kbase & !3 != KERNEL_CS {
            return Err(format!(
                "STAR[47:32] = {kbase:#x}: SYSCALL would load CS {kbase:#x}, not {KERNEL_CS:#x} \
                 (program_syscall_msrs)"
            ));
        }
        let at = |sel: u16| c.gdt.descriptor(sel).unwrap_or(SegmentDescriptor(0));
        let (ss, cs) = (at((ubase & !3) + 8), at((ubase & !3) + 16));
        if !(ss.is_data() && ss.dpl() == 3 && cs.is_code() && cs.is_long_mode() && cs.dpl() == 3) {
            return Err(format!(
                "STAR[63:48] = {ubase:#x}: SYSRET would load SS {:#x} and CS {:#x}, which are not ring-3 data \
                 and 64-bit code (program_syscall_msrs: use {USER_CS32:#x}: SS {USER_DS:#x}, CS {USER_CS:#x})",
                (ubase + 8) | 3,
                (ubase + 16) | 3
            ));
        }
        if lstar != lstar_want {
            return Err(format!(
                "LSTAR = {lstar:#x}, expected KiSystemCall64 at {lstar_want:#x} (program_syscall_msrs)"
            ));
        }
        if cstar != cstar_want {
            return Err(format!(
                "CSTAR = {cstar:#x}, expected KiSystemCall32 at {cstar_want:#x} \
                 (program_syscall_msrs)"
            ));
        }
        if fmask & MUST_MASK != MUST_MASK {
            return Err(format!(
                "SFMASK = {fmask:#x} leaves some of IF, TF, DF, AC, NT ({MUST_MASK:#x}) set \
                 (program_syscall_msrs)"
            ));
        }
        Ok(format!("STAR {star:#x}, SFMASK {fmask:#x}"))
    }))
}

fn null_call() -> Result<String, String> {
    const CALLS: u64 = 1000;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let before = exits(c);
        let r = syscall(c, P_NULL, &[CALLS])?;
        if r[2] != u64::MAX {
            return Err(format!(
                "call {} of {CALLS} returned {:#x}, expected STATUS_SUCCESS",
                r[2], r[1]
            ));
        }
        if r[0] != CALLS {
            return Err(format!("only {} of {CALLS} calls returned", r[0]));
        }
        let sysrets = exits(c)[2] - before[2];
        if sysrets < CALLS {
            return Err(format!(
                "only {sysrets} of {CALLS} calls left through SYSRET (KiSystemCallExit3){}",
                super::user::why_fallback(c)
            ));
        }
        Ok(format!("{CALLS} calls through sysret"))
    }))
}

fn arguments() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = syscall(c, P_ARGS, &[])?;
        if r[0] != 0 {
            return Err(format!(
                "NtTestEcho with {} argument(s) returned {:#x}; sent {:#x}, kernel saw {:#x} \
                 (KiSystemCall64 must save RDX, the argument pointer, in the frame)",
                r[1], r[2], r[3], r[4]
            ));
        }
        let r = syscall(c, P_WHICH_CPU, &[])?;
        if r[0] != c.cpu as u64 {
            return Err(format!(
                "NtGetCurrentProcessorNumber returned {} on CPU {}",
                r[0], c.cpu
            ));
        }
        Ok("arguments intact; status in RAX".into())
    }))
}

fn registers() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = syscall(c, P_PRESERVED, &[])?;
        if r[0] != STATUS_SUCCESS as u64 {
            return Err(format!("NtNull returned {:#x}", r[0]));
        }
        let mut changed = Vec::new();
        for (k, name) in REGISTER_NAMES.iter().enumerate() {
            if matches!(*name, "rax" | "rcx" | "rdx" | "r11") {
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
        if !changed.is_empty() {
            return Err(format!(
                "changed: {} (KiSystemCall64's pushes and pops must mirror the KTrapFrame)",
                changed.join(", ")
            ));
        }
        // SYSRET: RCX = RIP, R11 = RFLAGS of the return (AMD APM Vol. 3 SYSRET).
        let (rcx, r11) = (r[2], r[10]);
        if !crate::mm::paging::is_user_range(rcx, 1) {
            return Err(format!(
                "RCX after the call is {rcx:#x}, not the user return address"
            ));
        }
        if r11 & rflags::IF == 0 || r11 & rflags::RESERVED1 == 0 {
            return Err(format!(
                "R11 after the call is {r11:#x}, not the user's RFLAGS"
            ));
        }
        Ok(format!("12 registers kept; RCX = {rcx:#x}, R11 = {r11:#x}"))
    }))
}

fn sfmask() -> Result<String, String> {
    let set = rflags::NT | rflags::AC | rflags::DF;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let (kernel, user) = kernel_flags(c, PATH_SYSCALL, set)?;
        if kernel & MUST_MASK != 0 {
            return Err(format!(
                "the service ran with RFLAGS {kernel:#x}: {:#x} should be clear (SFMASK, set by \
                 program_syscall_msrs)",
                kernel & MUST_MASK
            ));
        }
        if user & set != set {
            return Err(format!(
                "the frame's user RFLAGS {user:#x} lost NT/AC/DF (KiSystemCall64 saves R11)"
            ));
        }
        flags_come_back(c, PATH_SYSCALL, set, "sysretq loads RFLAGS from R11")?;
        Ok(format!("kernel RFLAGS {kernel:#x}"))
    }))
}

fn bad_return() -> Result<String, String> {
    let landing = crate::process::image().map(|i| i.landing).unwrap_or(0);
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let mut out = Vec::new();
        // A valid user RIP, but not the one SYSCALL saved in RCX: only the
        // RCX == RIP rule sends the thread there instead of back to RCX.
        let before = exits(c);
        match run_with_input(c, P_SET_RETURN, PATH_SYSCALL, &[landing]) {
            ThreadExit::Exited(LANDED_STATUS) => {}
            other => {
                return Err(format!(
                    "after NtTestSetReturn({landing:#x}) the thread {} instead of landing there: \
                     a frame the kernel changed must not go back through SYSRET (sysret_safe: RCX != RIP)",
                    describe(&other)
                ));
            }
        }
        if exits(c)[0] == before[0] {
            return Err("a changed frame returned without the iretq fallback".into());
        }
        out.push("changed RIP: iretq to the new RIP".into());
        // RIP and RCX both set: the frame looks untouched, and only the
        // address check stands between it and SYSRET.
        for (what, rip) in [
            ("non-canonical RIP", 0x8000_0000_0000_0000u64),
            ("kernel RIP", c.self_ptr as u64),
        ] {
            let before = exits(c);
            let exit = run_with_input(c, P_SET_RETURN, PATH_SYSCALL, &[rip, 1]);
            let after = exits(c);
            let ThreadExit::Killed(f) = exit else {
                return Err(format!(
                    "{what}: the thread {}, expected it to be killed",
                    describe(&exit)
                ));
            };
            if after[2] != before[2] {
                return Err(format!(
                    "{what}: the kernel returned with SYSRET to {rip:#x}; sysret_safe must refuse it: on \
                     Intel a non-canonical RCX raises #GP in ring 0 on the user's stack (CVE-2012-0217). \
                     QEMU survives it, real CPUs do not"
                ));
            }
            if after[0] == before[0] {
                return Err(format!("{what}: no iretq fallback was recorded"));
            }
            out.push(format!("{what}: iretq, then {}", describe_fault(&f)));
        }
        Ok(out.join("; "))
    }))
}

fn kernel_fault() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = syscall(c, P_KERNEL_FAULT, &[])?;
        if r[0] != STATUS_SUCCESS as u64 {
            return Err(format!(
                "NtTestKernelFault returned {:#x}: GS was not the kernel's after the fault",
                r[0]
            ));
        }
        let r = syscall(c, P_NULL, &[10])?;
        if r[2] != u64::MAX {
            return Err("null calls failed after the fault".into());
        }
        // After the thread, GS must be the kernel's and the parked one 0.
        // SAFETY: reading MSRs.
        let kernel_gs = unsafe { msr::read(msr::IA32_KERNEL_GS_BASE) };
        if crate::percpu::gs_base() != c.self_ptr as u64 || kernel_gs != 0 {
            return Err(format!(
                "after the thread: GS base {:#x}, KERNEL_GS_BASE {kernel_gs:#x}",
                crate::percpu::gs_base()
            ));
        }
        Ok("fault fixed up with GS intact".into())
    }))
}

fn smp_stress() -> Result<String, String> {
    const ITERATIONS: u64 = 500;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = syscall(c, P_CHECK_FRAME, &[ITERATIONS, 200])?;
        if r[0] != ITERATIONS {
            return Err(format!(
                "call {} found its frame changed or off this CPU's stack (status {:#x}): does \
                 KiSystemCall64 load each CPU's own stack from GS?",
                r[2], r[1]
            ));
        }
        if r[3] != 0 {
            return Err(format!(
                "{} of R12..R15 came back changed over {ITERATIONS} calls (KiSystemCall64 must \
                 restore every register it saved)",
                r[3]
            ));
        }
        let r = syscall(c, P_MUTEX_LOOP, &[1000])?;
        if r[0] != 1000 || r[1] != 1000 {
            return Err(format!(
                "{} of 1000 CreateMutex and {} CloseHandle calls succeeded",
                r[0], r[1]
            ));
        }
        Ok(format!("{ITERATIONS} frames intact, 1000 mutex pairs"))
    }))
}

fn fault_after() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let target = 0x5000_0000; // unmapped user address
        match run_with_input(c, P_FAULT_AFTER, PATH_SYSCALL, &[target]) {
            ThreadExit::Killed(f) if f.vector == 14 && f.cr2 == target && f.cs & 3 == 3 => {
                Ok(format!("#PF at {target:#x} reported on the right CPU"))
            }
            other => Err(format!(
                "expected a ring-3 #PF at {target:#x}, but the thread {}",
                describe(&other)
            )),
        }
    }))
}

fn compat() -> Result<String, String> {
    let intel = crate::shared_user_data::cpu_features().intel;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let before = exits(c);
        let exit = run_with_input(c, COMPAT_SYSCALL, PATH_SYSCALL, &[]);
        let sysrets32 = exits(c)[EXIT_SYSRET32] - before[EXIT_SYSRET32];
        match exit {
            // Intel CPUs raise #UD for SYSCALL outside 64-bit mode.
            ThreadExit::Killed(f) if intel && f.vector == 6 => {
                Ok("#UD (Intel has no SYSCALL in compatibility mode)".into())
            }
            // AMD: CSTAR's KiSystemCall32, then sysretl back to the `ud2`
            // after the syscall, in 32-bit code.
            ThreadExit::Killed(f)
                if !intel
                    && f.vector == 6
                    && f.cs == crate::gdt::USER_CS32 as u64
                    && sysrets32 == 1 =>
            {
                Ok("through CSTAR as a 32-bit call, back through sysretl to 32-bit code".into())
            }
            other => Err(format!(
                "SYSCALL from 32-bit code by a 64-bit thread: expected {}, but the thread {} after \
                 {sysrets32} sysretl (program_syscall_msrs points CSTAR at KiSystemCall32, which \
                 builds a 32-bit frame and returns through sysretl)",
                if intel {
                    "#UD"
                } else {
                    "the call through CSTAR and #UD at the ud2 after it, in 32-bit code"
                },
                describe(&other)
            )),
        }
    }))
}

/// The 32-bit path of Lab 3: SharedUserData's `mov edx, esp; syscall; ret`.
const PATH32: Path32 = Path32 {
    id: PATH_SHARED,
    stub: "KiSystemCall32",
    fast: Some((EXIT_SYSRET32, "sysretl (KiSystemCall32's exit)")),
};

fn compat_null_call() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::null_call(c, &PATH32, 1000)
    }))
}

fn compat_arguments() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::arguments(c, &PATH32)))
}

fn compat_preserved() -> Result<String, String> {
    // SYSCALL loads ECX (and R11), and the stub sets EDX.
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::preserved(c, &PATH32, &["ecx", "edx"])
    }))
}

fn compat_smp() -> Result<String, String> {
    compat::mutex_smp(&PATH32, 1000)
}

fn compat_flags() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::flags(
            c,
            &PATH32,
            "SFMASK, set by program_syscall_msrs, clears them for CSTAR's entry too",
        )
    }))
}

fn compat_single_step() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::single_step(c, &PATH32)))
}

fn compat_bad_return() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| compat::bad_return(c, &PATH32)))
}

fn compat_exit_rules() -> Result<String, String> {
    use crate::rule_cases;
    let cases = rule_cases::sysret32_cases();
    let wrong = rule_cases::wrong_exits(&cases, crate::student::student().lab2.choose_exit);
    let n = rule_cases::judge("choose_exit (with sysret32_safe)", cases.len(), wrong)?;
    Ok(format!(
        "{n} 32-bit frames, each breaking one condition, judged right"
    ))
}

fn exit_rules() -> Result<String, String> {
    use crate::rule_cases;
    let cases = rule_cases::sysret_cases();
    let wrong = rule_cases::wrong_exits(&cases, crate::student::student().lab2.choose_exit);
    let n = rule_cases::judge("choose_exit (with sysret_safe)", cases.len(), wrong)?;
    Ok(format!(
        "{n} frames, each breaking one condition, judged right"
    ))
}

fn scratch() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| {
        // A value no RSP has, so that only this call's own store can pass.
        let poison = 0xBAD0_0000_0000_0000 | c.cpu as u64;
        // SAFETY: this CPU's own slot, between two threads.
        unsafe { *c.user_rsp_scratch.get() = poison };
        let r = syscall(c, P_SCRATCH, &[])?;
        if r[0] != STATUS_SUCCESS as u64 {
            // SAFETY: as above.
            let slot = unsafe { *c.user_rsp_scratch.get() };
            return Err(format!(
                "NtTestScratch returned {}: this CPU's gs:[PERCPU_USER_RSP] slot holds {slot:#x}, \
                 not the user RSP in the frame. KiSystemCall64 must park the user RSP in the \
                 per-CPU slot: a shared global works until two CPUs enter at once",
                status_name(r[0])
            ));
        }
        Ok("the user RSP was parked in this CPU's own slot".into())
    }))
}

const PATH: robust::Path = robust::Path {
    id: PATH_SYSCALL,
    stub: "KiSystemCall64",
};

fn single_step() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| robust::single_step(c, &PATH)))
}

fn bad_stack() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| robust::bad_stack(c, &PATH)))
}

fn selectors() -> Result<String, String> {
    all_cpus(on_each_cpu(|c: &PerCpu| robust::selectors(c, &PATH)))
}

fn bad_handles() -> Result<String, String> {
    robust::bad_handles(crate::percpu::current(), &PATH)
}

fn bad_pointers() -> Result<String, String> {
    robust::no_leak(|| {
        all_cpus(on_each_cpu(|c: &PerCpu| {
            let n = robust::pointer_classes(c, &PATH, &mut |what, ptr| {
                let r = syscall(c, P_ARG_POINTER, &[ptr])?;
                expect_status(
                    &format!("NtTestEcho with its arguments at {what} ({ptr:#x})"),
                    r[0],
                    STATUS_ACCESS_VIOLATION,
                )
            })?;
            Ok(format!("{n} bad pointers refused; no object leaked"))
        }))
    })
}

fn nmi() -> Result<String, String> {
    crate::syscall::int2e::install();
    robust::nmi(
        (1 << PATH_INT2E) | (1 << PATH_SHARED) | (1 << PATH_SYSCALL),
        "int 0x2e, SharedUserData's stub and syscall",
        "KiSystemService, KiFastCallEntry or KiSystemCall64",
    )
}
