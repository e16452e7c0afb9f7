//! Lab 1: system calls through `int 0x2e`. Every test first installs the
//! student's gate, so each one fails cleanly on the skeleton.

use super::Test;
use super::compat::{self, Path32};
use super::robust;
use super::user::{
    all_cpus, describe, expect_status, flags_come_back, kernel_flags, on_each_cpu, report_of,
    report32_of, run, status_name,
};
use crate::frame::rflags;
use crate::idt::{GateType, VECTOR_SYSTEM_SERVICE};
use crate::percpu::PerCpu;
use crate::thread::ThreadExit;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use syslab_abi::status::*;
use syslab_abi::user_test::*;
use syslab_abi::{service, user_test};

pub static TESTS: &[Test] = &[
    Test {
        name: "lab1.gate",
        points: 5,
        description: "gate 0x2E: interrupt gate, DPL 3, kernel CS, KiSystemService",
        run: gate,
    },
    Test {
        name: "lab1.int2d_refused",
        points: 5,
        description: "ring-3 int 0x2d (a DPL-0 gate) ends in a reported #GP",
        run: int2d_refused,
    },
    Test {
        name: "lab1.null_call",
        points: 10,
        description: "NtNull round trips through int 0x2e on every CPU",
        run: null_call,
    },
    Test {
        name: "lab1.arguments",
        points: 10,
        description: "0 to 6 arguments (of 8) arrive intact from the user stack",
        run: arguments,
    },
    Test {
        name: "lab1.status",
        points: 5,
        description: "the NTSTATUS comes back in RAX",
        run: status,
    },
    Test {
        name: "lab1.preserved",
        points: 10,
        description: "int 0x2e preserves every register but RAX",
        run: preserved,
    },
    Test {
        name: "lab1.invalid_service",
        points: 5,
        description: "numbers past the table return STATUS_INVALID_SYSTEM_SERVICE",
        run: invalid_service,
    },
    Test {
        name: "lab1.bad_pointers",
        points: 10,
        description: "kernel, unmapped, straddling and non-canonical argument pointers return STATUS_ACCESS_VIOLATION",
        run: bad_pointers,
    },
    Test {
        name: "lab1.which_cpu",
        points: 5,
        description: "NtGetCurrentProcessorNumber and NtTerminateThread work on every CPU",
        run: which_cpu,
    },
    Test {
        name: "lab1.mutex_smp",
        points: 10,
        description: "CreateMutex/CloseHandle on both CPUs at once; every object freed",
        run: mutex_smp,
    },
    Test {
        name: "lab1.bad_handles",
        points: 5,
        description: "double close and forged handles return STATUS_INVALID_HANDLE",
        run: bad_handles,
    },
    Test {
        name: "lab1.full_table",
        points: 5,
        description: "a full handle table returns STATUS_INSUFFICIENT_RESOURCES and recovers",
        run: full_table,
    },
    Test {
        name: "lab1.flags",
        points: 5,
        description: "NT, AC and DF set by the user: none reaches the service, and the user gets them back",
        run: flags,
    },
    Test {
        name: "lab1.ring0_caller",
        points: 5,
        description: "int 0x2e from ring 0 runs the service on the kernel's GS and leaves GS as it was",
        run: ring0_caller,
    },
    Test {
        name: "lab1.single_step",
        points: 5,
        description: "TF set right before int 0x2e: the call works, and the trap lands one instruction after the return",
        run: single_step,
    },
    Test {
        name: "lab1.bad_stack",
        points: 5,
        description: "RSP 0, non-canonical or a kernel address at int 0x2e: the kernel never uses the user's stack",
        run: bad_stack,
    },
    Test {
        name: "lab1.selectors",
        points: 5,
        description: "odd data selectors in DS, ES, FS and GS: the call works and they come back unchanged",
        run: selectors,
    },
    Test {
        name: "lab1.compat_null_call",
        points: 10,
        description: "NtNull from 32-bit code through Windows 2000's stub (lea edx,[esp+4]; int 0x2e) on every CPU",
        run: compat_null_call,
    },
    Test {
        name: "lab1.compat_arguments",
        points: 5,
        description: "a 32-bit caller's 4-byte arguments at EDX arrive widened with zeros; its HANDLE is 4 bytes",
        run: compat_arguments,
    },
    Test {
        name: "lab1.compat_numbers",
        points: 5,
        description: "each 32-bit system's numbers: NtCreateMutant is 0x25 for a Windows 2000 program, 0x2b for an XP one, and each refuses the other's",
        run: compat_numbers,
    },
    Test {
        name: "lab1.compat_pointers",
        points: 5,
        description: "32-bit arguments or a handle running past 4 GiB are refused; only EDX counts, never the upper half of RDX",
        run: compat_pointers,
    },
    Test {
        name: "lab1.compat_preserved",
        points: 5,
        description: "int 0x2e from 32-bit code keeps every register but EAX",
        run: compat_preserved,
    },
    Test {
        name: "lab1.nmi",
        points: 5,
        description: "NMIs from the other CPU while this one loops through int 0x2e: every service sees the kernel's GS",
        run: nmi,
    },
];

/// Lab 1's path, as the robustness tests name it.
const PATH: robust::Path = robust::Path {
    id: PATH_INT2E,
    stub: "KiSystemService",
};

/// Installs the student's gate (once per boot); every test starts here.
fn setup() {
    crate::syscall::int2e::install();
}

/// Runs a Lab 1 user test on `c`; its report, or why it failed.
fn user(c: &PerCpu, test: u64, arg: u64) -> Result<[u64; 32], String> {
    report_of(c, test, arg, &[])
}

fn gate() -> Result<String, String> {
    setup();
    let g = crate::idt::gate(VECTOR_SYSTEM_SERVICE);
    let stub = crate::student::student().lab1.ki_system_service as *const () as u64;
    let mut problems = Vec::new();
    if !g.is_present() {
        problems.push("not present".into());
    }
    if g.kind() != Some(GateType::Interrupt) {
        problems.push(format!(
            "type {:?}, expected an interrupt gate (0xE) so that IF is cleared",
            g.kind()
        ));
    }
    if g.dpl() != 3 {
        problems.push(format!(
            "DPL {}, expected 3 so that ring 3 may use int 0x2e",
            g.dpl()
        ));
    }
    if g.selector() != crate::gdt::KERNEL_CS {
        problems.push(format!(
            "selector {:#x}, expected the kernel CS {:#x}",
            g.selector(),
            crate::gdt::KERNEL_CS
        ));
    }
    if g.handler() != stub {
        problems.push(format!(
            "target {:#x}, expected KiSystemService at {stub:#x}",
            g.handler()
        ));
    }
    if g.ist() != 0 {
        problems.push(format!("IST {}, expected 0 (use TSS.RSP0)", g.ist()));
    }
    for v in (0..=255u8).filter(|&v| v != VECTOR_SYSTEM_SERVICE && v != 3) {
        let other = crate::idt::gate(v);
        if other.dpl() != 0 {
            problems.push(format!(
                "gate {v:#x} has DPL {}; only 0x2E (and #BP) may be reachable from ring 3",
                other.dpl()
            ));
        }
    }
    if problems.is_empty() {
        Ok(format!("gate 0x2E -> {stub:#x}, DPL 3, interrupt gate"))
    } else {
        Err(format!(
            "install_int2e_gate: gate 0x2E: {}",
            problems.join("; ")
        ))
    }
}

fn int2d_refused() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        // #GP with an error code naming the gate: IDT bit 1 set, bits 15:3
        // the vector (SDM Vol. 3A §7.13), so 0x16A. QEMU's TCG puts the
        // gate's byte offset there instead (0x2D * 16 + 2 = 0x2D2).
        let sdm = 0x2D * 8 + 2;
        let qemu = 0x2D * 16 + 2;
        match run(c, user_test::INT_2D, 0) {
            ThreadExit::Killed(f)
                if f.vector == 13 && (f.error_code == sdm || f.error_code == qemu) =>
            {
                Ok(format!("#GP, error code {:#x}", f.error_code))
            }
            other => Err(format!(
                "expected #GP with error code {sdm:#x}, but the thread {}",
                describe(&other)
            )),
        }
    }))
}

fn null_call() -> Result<String, String> {
    setup();
    const CALLS: u64 = 1000;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = report_of(c, P_NULL, PATH_INT2E, &[CALLS])?;
        if r[0] != CALLS {
            return Err(format!("only {} of {CALLS} calls returned", r[0]));
        }
        if r[2] != u64::MAX {
            return Err(format!(
                "call {} returned {}, expected STATUS_SUCCESS (dispatch_system_service)",
                r[2],
                status_name(r[1])
            ));
        }
        Ok(format!("{CALLS} calls"))
    }))
}

fn arguments() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = report_of(c, P_ARGS, PATH_INT2E, &[])?;
        if r[0] != 0 {
            return Err(format!(
                "NtTestEcho with {} argument(s) returned {}; first wrong argument: sent {:#x}, kernel saw {:#x} \
                 (does dispatch_system_service read them from [RDX + 8*i], after the check?)",
                r[1],
                status_name(r[2]),
                r[3],
                r[4]
            ));
        }
        Ok("7 calls, every argument intact".into())
    }))
}

fn status() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        for s in [
            STATUS_SUCCESS,
            0x4000_0000,
            STATUS_ACCESS_VIOLATION,
            0xC000_0022,
        ] {
            let r = user(c, INT2E_STATUS, s as u64)?;
            expect_status(
                &format!(
                    "NtTestStatus({s:#x}) (dispatch_system_service puts the service's status in the frame's RAX)"
                ),
                r[0],
                s,
            )?;
        }
        Ok("4 statuses".into())
    }))
}

fn preserved() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = report_of(c, P_PRESERVED, PATH_INT2E, &[])?;
        expect_status("NtNull", r[0], STATUS_SUCCESS)?;
        let mut changed = Vec::new();
        // RAX carries the status and the stub sets RDX; all else must stay.
        for (k, name) in REGISTER_NAMES.iter().enumerate() {
            if matches!(*name, "rax" | "rdx") {
                continue;
            }
            let want = PRESERVE_PATTERN + k as u64;
            if r[k] != want {
                changed.push(format!("{name}: {want:#x} -> {:#x}", r[k]));
            }
        }
        if changed.is_empty() {
            Ok("13 registers kept".into())
        } else {
            Err(format!(
                "changed by int 0x2e: {} (KiSystemService's pushes and KiSystemCallExit's pops \
                 must mirror the KTrapFrame)",
                changed.join(", ")
            ))
        }
    }))
}

fn invalid_service() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        for n in [
            service::COUNT as u64,
            0x1000,
            0xFFFF_FFFF,
            0xDEAD_0000_0000_1234 | service::COUNT as u64,
        ] {
            let r = user(c, INT2E_NUMBER, n)?;
            expect_status(
                &format!("service number {n:#x} (dispatch_system_service)"),
                r[0],
                STATUS_INVALID_SYSTEM_SERVICE,
            )?;
        }
        // EAX is the number: garbage in the upper half of RAX is ignored.
        let r = user(
            c,
            INT2E_NUMBER,
            0xFFFF_FFFF_0000_0000 | service::NT_NULL as u64,
        )?;
        expect_status(
            "NtNull with garbage in RAX[63:32] (dispatch_system_service: the number is EAX only)",
            r[0],
            STATUS_SUCCESS,
        )?;
        Ok("4 bad numbers refused".into())
    }))
}

fn bad_pointers() -> Result<String, String> {
    setup();
    robust::no_leak(|| {
        all_cpus(on_each_cpu(|c: &PerCpu| {
            let n = robust::pointer_classes(c, &PATH, &mut |what, ptr| {
                let r = report_of(c, P_ARG_POINTER, PATH_INT2E, &[ptr])?;
                expect_status(
                    &format!(
                        "NtTestEcho with its arguments at {what} ({ptr:#x}) (dispatch_system_service \
                     must check the whole range, 8 bytes per argument, then survive the copy)"
                    ),
                    r[0],
                    STATUS_ACCESS_VIOLATION,
                )
            })?;
            Ok(format!(
                "{n} bad pointers refused; the kernel did not fault or leak an object"
            ))
        }))
    })
}

fn which_cpu() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = report_of(c, P_WHICH_CPU, PATH_INT2E, &[])?;
        if r[0] != c.cpu as u64 {
            return Err(format!(
                "NtGetCurrentProcessorNumber returned {} on CPU {}",
                r[0], c.cpu
            ));
        }
        match run(c, INT2E_TERMINATE, 0x1234) {
            ThreadExit::Exited(0x1234) => Ok(format!(
                "CPU {}; NtTerminateThread(0x1234) ended the thread",
                r[0]
            )),
            other => Err(format!(
                "after NtTerminateThread(0x1234), the thread {}",
                describe(&other)
            )),
        }
    }))
}

fn mutex_smp() -> Result<String, String> {
    setup();
    const PAIRS: u64 = 2000;
    let before = crate::ob::live_objects();
    let r = all_cpus(on_each_cpu(|c: &PerCpu| {
        let r = report_of(c, P_MUTEX_LOOP, PATH_INT2E, &[PAIRS])?;
        if r[0] != PAIRS || r[1] != PAIRS {
            return Err(format!(
                "{} of {PAIRS} CreateMutex and {} CloseHandle calls succeeded (NtCreateMutant \
                 takes 4 arguments and NtClose 1: dispatch_system_service copies each \
                 service's own arg_count)",
                r[0], r[1]
            ));
        }
        Ok(format!("{PAIRS} pairs"))
    }))?;
    let after = crate::ob::live_objects();
    if after != before {
        return Err(format!(
            "{} mutant objects still alive after every handle was closed",
            after - before
        ));
    }
    Ok(format!("{r}; every object freed"))
}

fn bad_handles() -> Result<String, String> {
    setup();
    robust::bad_handles(crate::percpu::current(), &PATH)
}

fn full_table() -> Result<String, String> {
    setup();
    let c = crate::percpu::current();
    let capacity = crate::ob::HANDLE_TABLE_CAPACITY as u64;
    let r = user(c, INT2E_FILL_TABLE, capacity + 16)?;
    let live = crate::ob::process_handles().len() as u64;
    if r[0] + live != capacity {
        return Err(format!(
            "created {} handles in a table of {capacity} ({live} already in use)",
            r[0]
        ));
    }
    expect_status(
        "NtCreateMutant in a full table",
        r[1],
        STATUS_INSUFFICIENT_RESOURCES,
    )?;
    if r[3] != 0 {
        return Err(format!(
            "{} of the handles could not be closed afterwards",
            r[3]
        ));
    }
    expect_status("NtCreateMutant after closing them", r[2], STATUS_SUCCESS)?;
    Ok(format!("full at {capacity}; usable again after closing"))
}

fn flags() -> Result<String, String> {
    setup();
    let set = rflags::NT | rflags::AC | rflags::DF;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        let (kernel, saved) = kernel_flags(c, PATH_INT2E, set)?;
        if kernel & set != 0 {
            return Err(format!(
                "the service ran with RFLAGS {kernel:#x}: {:#x} of NT/AC/DF reached the kernel. \
                 The gate clears NT, not AC or DF: KiSystemService must clear them before the \
                 dispatcher runs (push 2; popfq)",
                kernel & set
            ));
        }
        if saved & set != set {
            return Err(format!(
                "the frame's saved RFLAGS {saved:#x} lost the user's NT/AC/DF"
            ));
        }
        let after = flags_come_back(c, PATH_INT2E, set, "KiSystemCallExit's iretq")?;
        Ok(format!(
            "RFLAGS {after:#x} after the call, {kernel:#x} in the kernel"
        ))
    }))
}

fn ring0_caller() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|_: &PerCpu| {
        use crate::msr::{IA32_GS_BASE, IA32_KERNEL_GS_BASE, read, write};
        let status: u64;
        // SAFETY: gate 0x2E is reachable from ring 0 too (DPL 3 >= CPL 0);
        // the call comes back with every register but RAX. Nothing here
        // uses GS until it has been checked and put right.
        let (gs, kernel_gs, gs_after, kernel_gs_after) = unsafe {
            let before = (read(IA32_GS_BASE), read(IA32_KERNEL_GS_BASE));
            core::arch::asm!("int 0x2e", inout("rax") service::NT_TEST_CHECK_GS as u64 => status, in("rdx") 0);
            let after = (read(IA32_GS_BASE), read(IA32_KERNEL_GS_BASE));
            if after != before {
                write(IA32_GS_BASE, before.0);
                write(IA32_KERNEL_GS_BASE, before.1);
            }
            (before.0, before.1, after.0, after.1)
        };
        if (gs_after, kernel_gs_after) != (gs, kernel_gs) {
            return Err(format!(
                "after int 0x2e from ring 0, IA32_GS_BASE is {gs_after:#x} and IA32_KERNEL_GS_BASE \
                 {kernel_gs_after:#x}, not {gs:#x} and {kernel_gs:#x}: KiSystemService or \
                 KiSystemCallExit swapped GS for a caller already in ring 0 (swap only when the \
                 frame's CS has RPL 3)"
            ));
        }
        if status != STATUS_SUCCESS as u64 {
            return Err(format!(
                "NtTestCheckGs from ring 0 returned {}: the service ran on the wrong GS. \
                 KiSystemService swapped GS although the caller was in ring 0 (swap only when \
                 the frame's CS has RPL 3)",
                status_name(status)
            ));
        }
        Ok("the service saw the kernel's GS; GS unchanged after".into())
    }))
}

fn single_step() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| robust::single_step(c, &PATH)))
}

fn bad_stack() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| robust::bad_stack(c, &PATH)))
}

fn selectors() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| robust::selectors(c, &PATH)))
}

fn nmi() -> Result<String, String> {
    setup();
    robust::nmi(
        1 << PATH_INT2E,
        "int 0x2e",
        "KiSystemService, KiSystemCallExit",
    )
}

/// Lab 1's 32-bit path: Windows 2000's ntdll, `int 0x2e` from the stub.
const PATH32: Path32 = Path32 {
    id: PATH_INT2E,
    stub: "KiSystemService",
    fast: None,
};

fn compat_null_call() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::null_call(c, &PATH32, 1000)
    }))
}

fn compat_arguments() -> Result<String, String> {
    setup();
    all_cpus(on_each_cpu(|c: &PerCpu| compat::arguments(c, &PATH32)))
}

fn compat_preserved() -> Result<String, String> {
    setup();
    // The stub itself sets EDX (lea edx, [esp+4]).
    all_cpus(on_each_cpu(|c: &PerCpu| {
        compat::preserved(c, &PATH32, &["edx"])
    }))
}

// ANCHOR: compat_numbers
/// A raw `int 0x2e` from 32-bit code with each number: a Windows 2000
/// program's 0x25 and an XP program's 0x2B create a mutant; the other
/// system's number, and syslab's 64-bit number, are no service for them.
fn compat_numbers() -> Result<String, String> {
    use syslab_abi::service::{NT_CREATE_MUTANT, numbers32};
    setup();
    let native = NT_CREATE_MUTANT as u64;
    all_cpus(on_each_cpu(|c: &PerCpu| {
        for (path, system, own, other) in [
            (PATH_INT2E, "Windows 2000", 0x25, 0x2B),
            (PATH_SHARED, "Windows XP", 0x2B, 0x25),
        ] {
            let numbers = match path {
                PATH_INT2E => &numbers32::WINDOWS_2000,
                _ => &numbers32::WINDOWS_XP,
            };
            assert_eq!(numbers[NT_CREATE_MUTANT as usize] as u64, own);
            let r = report32_of(c, C_NUMBER, path, &[own])?;
            expect_status(
                &format!(
                    "NtCreateMutant as {own:#x} from a 32-bit {system} program \
                     (dispatch_system_service looks a 32-bit caller up in ki_service_table32)"
                ),
                r[0],
                STATUS_SUCCESS,
            )?;
            expect_status(
                &format!("NtClose of its handle {:#x}", r[1]),
                r[2],
                STATUS_SUCCESS,
            )?;
            for (n, whose) in [(other, "the other system's"), (native, "the 64-bit")] {
                let r = report32_of(c, C_NUMBER, path, &[n])?;
                expect_status(
                    &format!(
                        "{whose} number {n:#x} for NtCreateMutant, from a 32-bit {system} program"
                    ),
                    r[0],
                    STATUS_INVALID_SYSTEM_SERVICE,
                )?;
            }
        }
        Ok("0x25 on Windows 2000, 0x2b on XP; each refuses the other's".into())
    }))
}
// ANCHOR_END: compat_numbers

// ANCHOR: compat_pointers
/// What a 32-bit caller cannot mean: arguments or a handle that run past
/// 4 GiB (the pages on both sides of it are mapped, so only the 4 GiB
/// limit refuses them), and a stale upper half of RDX, left over from
/// 64-bit code: EDX is the whole pointer.
fn compat_pointers() -> Result<String, String> {
    use syslab_abi::layout::FOUR_GIB;
    setup();
    // The arguments that run past 4 GiB are a good NtTestEcho call in
    // themselves (Buffer in the page below, Count 0), so only the 4 GiB
    // limit can refuse them.
    let past = FOUR_GIB - 8;
    let slots: [u32; 8] = [(FOUR_GIB - 0x800) as u32, 0, 0, 0, 0, 0, 0, 0];
    let bytes: alloc::vec::Vec<u8> = slots.iter().flat_map(|s| s.to_le_bytes()).collect();
    crate::usercopy::copy_to_user(past, &bytes)
        .map_err(|_| String::from("the pages on both sides of 4 GiB are not mapped"))?;
    robust::no_leak(|| {
        all_cpus(on_each_cpu(|c: &PerCpu| {
            for (what, at) in [
                ("running past 4 GiB (8 of its 32 bytes below)", past),
                ("a kernel address", 0x0010_0000),
                ("address 0", 0),
                ("an unmapped user page", 0x5000_0000),
            ] {
                let r = report32_of(c, C_ARG_POINTER, PATH_INT2E, &[at])?;
                expect_status(
                    &format!(
                        "NtTestEcho from 32-bit code with its arguments at {what} ({at:#x}) \
                         (dispatch_system_service must check a 32-bit caller's whole range \
                         below 4 GiB, 4 bytes per argument)"
                    ),
                    r[0],
                    STATUS_ACCESS_VIOLATION,
                )?;
            }
            let r = report32_of(c, C_OUT_POINTER, PATH_INT2E, &[FOUR_GIB - 2])?;
            expect_status(
                "NtCreateMutant from 32-bit code with its 4-byte handle running past 4 GiB",
                r[0],
                STATUS_ACCESS_VIOLATION,
            )?;
            let r = report32_of(c, C_STALE_UPPER, PATH_INT2E, &[1])?;
            expect_status(
                "NtTestEcho from 32-bit code with 1 in the upper half of RDX (a 32-bit caller's \
                 pointer is EDX: dispatch_system_service must drop RDX's upper half)",
                r[0],
                STATUS_SUCCESS,
            )?;
            if r[1..3] != [0x1234_5678, 0x9ABC_DEF0] {
                return Err(format!(
                    "NtTestEcho from 32-bit code with a stale upper half of RDX echoed {:#x}, \
                     {:#x}, not 0x12345678, 0x9abcdef0",
                    r[1], r[2]
                ));
            }
            Ok("past 4 GiB refused, EDX alone used".into())
        }))
    })
}
// ANCHOR_END: compat_pointers
