//! The system services themselves (the Nt* routines).
//!
//! Arguments arrive already copied into the kernel by the dispatcher, but
//! any pointer among them is still a user pointer: services write through
//! `usercopy::copy_to_user` (or `put_user` for one word), which check and
//! survive faults.
//!
//! A 32-bit caller's arguments arrive zero-extended to 64 bits, so most
//! services serve both kinds of caller as they are. The few whose ABI
//! differs for 32-bit code (a pointer-sized value written back, a buffer
//! that must lie below 4 GiB) have a `*32` twin in `KI_SERVICE_TABLE32`,
//! as Linux has `compat_sys_*` routines in its 32-bit table: the 64-bit
//! path never tests the caller's mode.

use crate::frame::KTrapFrame;
use crate::usercopy::{UserFault, copy_to_user, copy_to_user32, put_user};
use syslab_abi::service::{NT_CURRENT_THREAD, STATUS_UNSUCCESSFUL};
use syslab_abi::status::*;

/// NtNull(): nothing at all. What a system call costs with no work in it.
pub fn nt_null(_frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    STATUS_SUCCESS
}

// ANCHOR: nt_create_mutant
/// NtCreateMutant(OUT PHANDLE MutantHandle, ACCESS_MASK, POBJECT_ATTRIBUTES, BOOLEAN InitialOwner).
pub fn nt_create_mutant(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    create_mutant(args, put_user)
}

/// NtCreateMutant for a 32-bit caller: its HANDLE is 4 bytes (handles fit
/// in 32 bits, ob/handles.rs), somewhere below 4 GiB.
pub fn nt_create_mutant32(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    create_mutant(args, |at, handle| {
        copy_to_user32(at, &(handle as u32).to_le_bytes())
    })
}

/// NtCreateMutant's body; `write_handle(at, handle)` stores the handle
/// where the caller asked, in the caller's HANDLE size.
#[inline(always)]
fn create_mutant(
    args: &[u64],
    write_handle: impl FnOnce(u64, u64) -> Result<(), UserFault>,
) -> NtStatus {
    let [handle_out, _access, attributes, initial_owner] = args else {
        return STATUS_INVALID_PARAMETER;
    };
    // Named objects are not supported: the object directory is not part of the labs.
    if *attributes != 0 {
        return STATUS_INVALID_PARAMETER;
    }
    let cpu = cpu();
    let mutant = match crate::ob::create_mutant(cpu, *initial_owner & 0xff != 0, cpu as u32) {
        Ok(m) => m,
        Err(status) => return status,
    };
    let handle = match crate::ob::process_handles().insert(cpu, mutant) {
        Ok(h) => h,
        Err(status) => return status,
    };
    if write_handle(*handle_out, handle).is_err() {
        return handle_lost(cpu, handle);
    }
    STATUS_SUCCESS
}

/// The caller of NtCreateMutant cannot learn its handle: take it back.
/// Out of line, so that the common path does not carry a second close.
#[cold]
#[inline(never)]
fn handle_lost(cpu: usize, handle: u64) -> NtStatus {
    let _ = crate::ob::process_handles().close(cpu, handle);
    STATUS_ACCESS_VIOLATION
}
// ANCHOR_END: nt_create_mutant

/// NtClose(HANDLE).
pub fn nt_close(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    let [handle] = args else {
        return STATUS_INVALID_PARAMETER;
    };
    match crate::ob::process_handles().close(cpu(), *handle) {
        Ok(()) => STATUS_SUCCESS,
        Err(status) => status,
    }
}

/// NtGetCurrentProcessorNumber(): the CPU number, in RAX.
pub fn nt_get_current_processor_number(_frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    cpu() as NtStatus
}

/// NtTerminateThread(HANDLE, NTSTATUS): only the calling thread
/// (NtCurrentThread()) can be ended; this never returns then.
pub fn nt_terminate_thread(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    if args[0] != NT_CURRENT_THREAD {
        return STATUS_INVALID_HANDLE;
    }
    #[cfg(target_os = "none")]
    crate::thread::exit_current(args[1] & 0xffff_ffff);
    #[cfg(not(target_os = "none"))]
    STATUS_NOT_IMPLEMENTED
}

/// NtTestEcho(OUT PULONG64 Buffer, ULONG64 Count, a1..a6): copies the first
/// Count of a1..a6 to Buffer, so a test can see every argument arrive. The
/// words are 64 bits for every caller: a 32-bit caller sees how its 4-byte
/// arguments were widened.
pub fn nt_test_echo(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    echo(args, copy_to_user)
}

/// NtTestEcho for a 32-bit caller: the buffer must lie below 4 GiB.
pub fn nt_test_echo32(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    echo(args, copy_to_user32)
}

fn echo(args: &[u64], copy: fn(u64, &[u8]) -> Result<(), UserFault>) -> NtStatus {
    let (buffer, count) = (args[0], args[1]);
    if count > 6 {
        return STATUS_INVALID_PARAMETER;
    }
    let mut bytes = [0u8; 48];
    for (i, a) in args[2..2 + count as usize].iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&a.to_le_bytes());
    }
    match copy(buffer, &bytes[..count as usize * 8]) {
        Ok(()) => STATUS_SUCCESS,
        Err(e) => e.into(),
    }
}

/// NtTestStatus(NTSTATUS): returns its argument, to test the status path.
pub fn nt_test_status(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    args[0] as NtStatus
}

/// NtTestSetReturn(PVOID Rip, BOOLEAN AlsoRcx): changes where the caller
/// returns to, the way NtContinue loads a whole context. The exit path must
/// notice that the frame no longer says what the entry instruction saved.
/// With AlsoRcx, RCX gets the same value, as a context that sets every
/// register would: then only the address check keeps SYSRET away from it
/// (the CVE-2012-0217 case).
pub fn nt_test_set_return(frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    frame.rip = args[0];
    if args[1] & 0xff != 0 {
        frame.rcx = args[0];
    }
    STATUS_SUCCESS
}

/// NtTestSetReturn for a 32-bit caller, whose 4-byte Rip cannot name a
/// non-canonical address: bit 1 of the second argument (`SET_RETURN_HIGH`)
/// also sets bit 63 of the new RIP (and RCX), as a 64-bit value written
/// into a 32-bit thread's context by mistake would. The exit must not let
/// the 32-bit SYSEXIT or SYSRET drop those bits.
pub fn nt_test_set_return32(frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    let high = if args[1] & SET_RETURN_HIGH != 0 {
        1 << 63
    } else {
        0
    };
    nt_test_set_return(frame, &[args[0] | high, args[1] & 1])
}

/// NtTestSetReturn32's flag: the new RIP gets bit 63 as well.
pub const SET_RETURN_HIGH: u64 = 2;

/// NtTestCheckFrame(ULONG64 Pattern, ULONG64 Spins): waits, then checks the
/// caller's R12..R15 in its frame and that the frame is on this CPU's stack.
pub fn nt_test_check_frame(frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    let (pattern, spins) = (args[0], args[1].min(1 << 20));
    for _ in 0..spins {
        core::hint::spin_loop();
    }
    let regs = [frame.r12, frame.r13, frame.r14, frame.r15];
    let intact = regs
        .iter()
        .enumerate()
        .all(|(k, &r)| r == pattern ^ k as u64);
    #[cfg(target_os = "none")]
    let own_stack = crate::percpu::current()
        .kernel_stack
        .contains(frame as *const KTrapFrame as u64);
    #[cfg(not(target_os = "none"))]
    let own_stack = true;
    if intact && own_stack {
        STATUS_SUCCESS
    } else {
        STATUS_UNSUCCESSFUL
    }
}

/// NtTestKernelFlags(OUT PULONG64 Flags[3]): [RFLAGS now, user RFLAGS in
/// the frame, the two XORed with FLAGS_CHECK].
pub fn nt_test_kernel_flags(frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    kernel_flags(frame, args[0], copy_to_user)
}

/// NtTestKernelFlags for a 32-bit caller: the buffer must lie below 4 GiB.
pub fn nt_test_kernel_flags32(frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    kernel_flags(frame, args[0], copy_to_user32)
}

fn kernel_flags(
    frame: &KTrapFrame,
    out: u64,
    copy: fn(u64, &[u8]) -> Result<(), UserFault>,
) -> NtStatus {
    let now: u64;
    // SAFETY: reads RFLAGS only.
    unsafe { core::arch::asm!("pushfq", "pop {}", out(reg) now) };
    let check = now ^ frame.rflags ^ syslab_abi::user_test::FLAGS_CHECK;
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&now.to_le_bytes());
    bytes[8..16].copy_from_slice(&frame.rflags.to_le_bytes());
    bytes[16..].copy_from_slice(&check.to_le_bytes());
    match copy(out, &bytes) {
        Ok(()) => STATUS_SUCCESS,
        Err(e) => e.into(),
    }
}

/// NtTestKernelFault(): a ring-0 page fault inside a system call (a user
/// copy from an unmapped page, fixed up), then a check that GS still points
/// at this CPU's block: the fault's entry and exit kept swapgs balanced.
pub fn nt_test_kernel_fault(_frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    let mut byte = [0u8; 1];
    let faulted = crate::usercopy::copy_from_user(&mut byte, 0x5000_0000).is_err();
    if faulted && gs_is_this_cpus() {
        STATUS_SUCCESS
    } else {
        STATUS_UNSUCCESSFUL
    }
}

/// NtTestCheckGs(): whether GS is the kernel's while a service runs. From
/// ring 0 (`int 0x2e` in the kernel) it catches an entry that swaps GS
/// without looking where the call came from.
pub fn nt_test_check_gs(_frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    if gs_is_this_cpus() {
        STATUS_SUCCESS
    } else {
        STATUS_UNSUCCESSFUL
    }
}

/// NtTestScratch(): whether a SYSCALL entry parked the user RSP in this
/// CPU's own slot, `gs:[PERCPU_USER_RSP]`. A shared global would also work
/// most of the time, until two CPUs enter at once; this check fails at once.
pub fn nt_test_scratch(frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    if frame.entry != crate::frame::ENTRY_SYSCALL && frame.entry != crate::frame::ENTRY_SYSCALL32 {
        return STATUS_INVALID_PARAMETER;
    }
    #[cfg(target_os = "none")]
    // SAFETY: only this CPU writes its slot, and it is in this system call.
    let parked = unsafe { *crate::percpu::current().user_rsp_scratch.get() };
    #[cfg(not(target_os = "none"))]
    let parked = frame.rsp;
    if parked == frame.rsp {
        STATUS_SUCCESS
    } else {
        STATUS_UNSUCCESSFUL
    }
}

/// Whether IA32_GS_BASE holds this CPU's block, found through CPUID.
fn gs_is_this_cpus() -> bool {
    #[cfg(target_os = "none")]
    return crate::percpu::by_cpuid_apic_id().map(|c| c.self_ptr as u64)
        == Some(crate::percpu::gs_base());
    #[cfg(not(target_os = "none"))]
    true
}

fn cpu() -> usize {
    #[cfg(target_os = "none")]
    return crate::percpu::cpu_id() as usize;
    #[cfg(not(target_os = "none"))]
    0
}
