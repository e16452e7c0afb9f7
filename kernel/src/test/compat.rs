//! The 32-bit caller's tests, shared by the labs as robust.rs is: each runs
//! a 32-bit thread (compatibility mode, kernel/user/src/compat.rs) on one
//! path and checks what came back, and which exit the kernel chose for it.

use super::user::{
    EXIT_IRETQ, EXIT_SYSEXIT, EXIT_SYSRET, describe, describe_fault, exits, expect_status,
    report32_of, run32, status_name, why_fallback,
};
use crate::frame::rflags;
use crate::gdt::{USER_CS, USER_CS32, USER_DS};
use crate::percpu::PerCpu;
use crate::thread::ThreadExit;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use syslab_abi::status::*;
use syslab_abi::user_test::*;

/// A 32-bit path as the messages name it.
pub struct Path32 {
    /// `PATH_INT2E` (Windows 2000's ntdll) or `PATH_SHARED` (XP's, through
    /// SharedUserData's 32-bit stub).
    pub id: u64,
    /// The student's entry stub on this path.
    pub stub: &'static str,
    /// The fast 32-bit exit a safe frame must take (an index of
    /// `user::exits`, and its name), or `None` where `iretq` is the exit.
    pub fast: Option<(usize, &'static str)>,
}

/// The 64-bit fast exits, which would return a 32-bit caller in 64-bit mode.
fn exits64(e: &[u64; 5]) -> u64 {
    e[EXIT_SYSEXIT] + e[EXIT_SYSRET]
}

/// Err when a 32-bit caller left through `sysexitq` or `sysretq`.
fn never_64_bit(before: &[u64; 5], after: &[u64; 5], p: &Path32) -> Result<(), String> {
    if exits64(after) != exits64(before) {
        return Err(format!(
            "a 32-bit caller left the kernel through sysexitq or sysretq, which return to \
             64-bit code (CS {USER_CS:#x}): {} must build its frame with the 32-bit CS \
             {USER_CS32:#x}, and choose_exit must send such a frame to the 32-bit exit",
            p.stub
        ));
    }
    Ok(())
}

/// `calls` null calls, each through the path's fast 32-bit exit if it has one.
pub fn null_call(c: &PerCpu, p: &Path32, calls: u64) -> Result<String, String> {
    let before = exits(c);
    let r = report32_of(c, C_NULL, p.id, &[calls])?;
    if r[2] != u64::MAX {
        return Err(format!(
            "32-bit call {} of {calls} returned {}, expected STATUS_SUCCESS (NtNull is {:#x} in \
             the 32-bit numbering: dispatch_system_service looks a 32-bit caller up in \
             ki_service_table32)",
            r[2],
            status_name(r[1]),
            syslab_abi::service::numbers32::OWN_BASE
        ));
    }
    if r[0] != calls {
        return Err(format!("only {} of {calls} 32-bit calls returned", r[0]));
    }
    let after = exits(c);
    never_64_bit(&before, &after, p)?;
    match p.fast {
        Some((i, name)) if after[i] - before[i] < calls => Err(format!(
            "only {} of {calls} 32-bit calls left through {name}{}",
            after[i] - before[i],
            why_fallback(c)
        )),
        Some((_, name)) => Ok(format!("{calls} 32-bit calls through {name}")),
        None => Ok(format!("{calls} 32-bit calls")),
    }
}

/// NtTestEcho's 4-byte arguments, each widened with zeros; and NtCreateMutant
/// writing a 4-byte handle that leaves the next 4 bytes alone.
pub fn arguments(c: &PerCpu, p: &Path32) -> Result<String, String> {
    let r = report32_of(c, C_ARGS, p.id, &[])?;
    if r[0] != 0 {
        return Err(format!(
            "NtTestEcho from 32-bit code with {} argument(s) returned {}; sent {:#x}, the kernel \
             saw {:#x} (a 32-bit caller's arguments are 4-byte slots at {}, which \
             dispatch_system_service's 32-bit half reads and widens with zeros)",
            r[1],
            status_name(r[2]),
            r[3],
            r[4],
            if p.id == PATH_SHARED {
                format!(
                    "EDX + 8, past the stub's two 4-byte return addresses, where {} must point RDX",
                    p.stub
                )
            } else {
                "EDX".into()
            }
        ));
    }
    let r = report32_of(c, C_OUT_POINTER, p.id, &[0])?;
    expect_status("NtCreateMutant from 32-bit code", r[0], STATUS_SUCCESS)?;
    if r[2] != 0xAAAA_AAAA || r[1] == 0xAAAA_AAAA || r[1] == 0 {
        return Err(format!(
            "NtCreateMutant from 32-bit code wrote {:#x} {:#x} over 0xaaaaaaaa 0xaaaaaaaa: a \
             32-bit HANDLE is 4 bytes (the kernel's 32-bit table has NtCreateMutant's 32-bit \
             routine: dispatch_system_service must use ki_service_table32 for a 32-bit caller)",
            r[1], r[2]
        ));
    }
    expect_status(
        "NtClose of that handle from 32-bit code",
        r[3],
        STATUS_SUCCESS,
    )?;
    Ok(format!(
        "7 echo calls widened right; a 4-byte handle {:#x}",
        r[1]
    ))
}

/// The registers a 32-bit caller keeps: all but EAX and those `changes`
/// (the entry instruction's: ECX and EDX for SYSEXIT, ECX for SYSCALL).
pub fn preserved(c: &PerCpu, p: &Path32, changes: &[&str]) -> Result<String, String> {
    let r = report32_of(c, C_PRESERVED, p.id, &[])?;
    expect_status("NtNull from 32-bit code", r[0], STATUS_SUCCESS)?;
    let names = ["ebx", "ecx", "edx", "esi", "edi", "ebp"];
    let mut changed = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let want = C_PATTERN + 1 + k as u64;
        if !changes.contains(name) && r[1 + k] != want {
            changed.push(format!("{name}: {want:#x} -> {:#x}", r[1 + k]));
        }
    }
    if r[7] != 0 {
        changed.push(format!("esp: moved by {:#x}", r[7] as u32 as i32));
    }
    if changed.is_empty() {
        Ok(format!("{} registers and ESP kept", 6 - changes.len()))
    } else {
        Err(format!(
            "changed by a 32-bit call: {} ({}'s pushes and pops must mirror the KTrapFrame, \
             for 32-bit callers too)",
            changed.join(", "),
            p.stub
        ))
    }
}

/// NT, AC and DF set in 32-bit code before the entry: none reaches the
/// service, and all come back.
pub fn flags(c: &PerCpu, p: &Path32, clears: &str) -> Result<String, String> {
    let set = rflags::NT | rflags::AC | rflags::DF;
    let r = report32_of(c, C_KERNEL_FLAGS, p.id, &[set])?;
    expect_status(
        &format!("NtTestKernelFlags from 32-bit code with EFLAGS {set:#x} set"),
        r[0],
        STATUS_SUCCESS,
    )?;
    let (kernel, saved) = (r[1], r[2]);
    if r[1] ^ r[2] ^ FLAGS_CHECK != r[3] {
        return Err(format!(
            "NtTestKernelFlags's copy to 32-bit user memory arrived corrupted ({:#x}, {:#x}, {:#x}): \
             with DF set in the kernel every rep movsb runs backwards ({clears})",
            r[1], r[2], r[3]
        ));
    }
    if kernel & set != 0 {
        return Err(format!(
            "the service ran with RFLAGS {kernel:#x}: {:#x} of NT/AC/DF from 32-bit code \
             reached the kernel ({clears})",
            kernel & set
        ));
    }
    if saved & set != set {
        return Err(format!(
            "the frame's saved RFLAGS {saved:#x} lost the 32-bit caller's NT/AC/DF"
        ));
    }
    let r = report32_of(c, C_FLAGS, p.id, &[set])?;
    expect_status(
        "NtNull from 32-bit code with NT/AC/DF set",
        r[0],
        STATUS_SUCCESS,
    )?;
    if r[1] & set != set {
        return Err(format!(
            "EFLAGS after the 32-bit call is {:#x}: the caller's NT/AC/DF were not restored",
            r[1]
        ));
    }
    Ok(format!(
        "EFLAGS {:#x} after the call, {kernel:#x} in the kernel",
        r[1]
    ))
}

/// The article's loop, CreateMutex(NULL, FALSE, NULL) + CloseHandle, in
/// 32-bit code on every CPU at once; every object freed.
pub fn mutex_smp(p: &Path32, pairs: u64) -> Result<String, String> {
    let before = crate::ob::live_objects();
    let r = super::user::all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let exits_before = exits(c);
        let r = report32_of(c, C_MUTEX_LOOP, p.id, &[pairs])?;
        if r[0] != pairs || r[1] != pairs {
            return Err(format!(
                "{} of {pairs} CreateMutex and {} CloseHandle calls from 32-bit code succeeded \
                 ({} creates failed): NtCreateMutant takes 4 four-byte arguments, NtClose 1",
                r[0], r[1], r[2]
            ));
        }
        let after = exits(c);
        never_64_bit(&exits_before, &after, p)?;
        match p.fast {
            Some((i, name)) if after[i] - exits_before[i] < 2 * pairs => Err(format!(
                "only {} of {} 32-bit calls left through {name}{}",
                after[i] - exits_before[i],
                2 * pairs,
                why_fallback(c)
            )),
            _ => Ok(format!("{pairs} pairs")),
        }
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

/// TF set right before the 32-bit entry instruction: the kernel survives
/// it and gives the trap back through `iretq`, in 32-bit code.
pub fn single_step(c: &PerCpu, p: &Path32) -> Result<String, String> {
    let before = exits(c);
    let exit = run32(c, C_SINGLE_STEP, p.id, &[]);
    let trap_at = crate::process::report(c.cpu).words[1];
    let after = exits(c);
    if let Some((i, name)) = p.fast
        && after[i] != before[i]
    {
        return Err(format!(
            "a 32-bit call with TF set left through {name}; a frame with TF must leave through \
             iretq, which gives the caller its single-step trap"
        ));
    }
    match exit {
        ThreadExit::Killed(f) if f.vector == 1 && f.cs == USER_CS32 as u64 && f.rip == trap_at => {
            Ok(format!(
                "#DB in 32-bit code at {trap_at:#x}, after the return through iretq"
            ))
        }
        other => Err(format!(
            "TF set before the 32-bit entry: expected the thread to die of #DB in 32-bit code \
             (CS {USER_CS32:#x}) at {trap_at:#x}, one instruction after the return, but it {} \
             ({}: the caller's TF must come back in the frame's RFLAGS)",
            describe(&other),
            p.stub
        )),
    }
}

/// A return EIP the 32-bit exits must refuse: a kernel address (below
/// 1 GiB, so a 32-bit caller can name it), and one with bit 63 set, which a
/// 32-bit SYSEXIT or SYSRET would silently drop.
pub fn bad_return(c: &PerCpu, p: &Path32) -> Result<String, String> {
    let mut out = Vec::new();
    let kernel = 0x0010_0000; // the kernel image, identity-mapped
    let high = crate::syscall::services::SET_RETURN_HIGH;
    for (what, eip, flags) in [
        ("a kernel EIP", kernel, 1),
        ("a non-canonical RIP (bit 63 set)", kernel, 1 | high),
    ] {
        let before = exits(c);
        let exit = run32(c, C_SET_RETURN, p.id, &[eip, flags]);
        let after = exits(c);
        let ThreadExit::Killed(f) = exit else {
            return Err(format!(
                "{what}: the 32-bit thread {}, expected it to be killed",
                describe(&exit)
            ));
        };
        if after[EXIT_IRETQ] == before[EXIT_IRETQ] {
            return Err(format!("{what}: no iretq fallback was recorded"));
        }
        if let Some((i, name)) = p.fast
            && after[i] != before[i]
        {
            return Err(format!(
                "{what}: the kernel returned through {name}; the 32-bit exit's check must refuse \
                 a RIP that is not a user address below 4 GiB"
            ));
        }
        never_64_bit(&before, &after, p)?;
        out.push(format!("{what}: iretq, then {}", describe_fault(&f)));
    }
    Ok(out.join("; "))
}

/// A 32-bit thread's start: CS, SS and DS of 32-bit code, a stack below 4 GiB.
pub fn whoami(c: &PerCpu) -> Result<String, String> {
    let r = report32_of(c, C_WHOAMI, PATH_INT2E, &[])?;
    let (cs, ss, ds, esp) = (r[0], r[1], r[2], r[3]);
    let top = syslab_abi::layout::user32_stack_top(c.cpu as u64);
    if (cs, ss, ds) != (USER_CS32 as u64, USER_DS as u64, USER_DS as u64) || esp != top {
        return Err(format!(
            "the 32-bit thread started with CS {cs:#x}, SS {ss:#x}, DS {ds:#x}, ESP {esp:#x}; \
             expected {USER_CS32:#x}, {USER_DS:#x}, {USER_DS:#x} and {top:#x}"
        ));
    }
    Ok(format!("CS {cs:#x}, SS {ss:#x}, DS {ds:#x}, ESP {esp:#x}"))
}
