//! The system services themselves (the Nt* routines).
//!
//! Arguments arrive already copied into the kernel by the dispatcher, but
//! any pointer among them is still a user pointer: services write through
//! `usercopy::copy_to_user`, which checks and survives faults.

use crate::trap::KTrapFrame;
use crate::usercopy::copy_to_user;
use syslab_abi::service::NT_CURRENT_THREAD;
use syslab_abi::status::*;

/// NtNull(): nothing at all. What a system call costs with no work in it.
pub fn nt_null(_frame: &mut KTrapFrame, _args: &[u64]) -> NtStatus {
    STATUS_SUCCESS
}

/// NtCreateMutant(OUT PHANDLE MutantHandle, ACCESS_MASK, POBJECT_ATTRIBUTES, BOOLEAN InitialOwner).
pub fn nt_create_mutant(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
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
    if copy_to_user(*handle_out, &handle.to_le_bytes()).is_err() {
        // The caller cannot learn the handle: take it back.
        let _ = crate::ob::process_handles().close(cpu, handle);
        return STATUS_ACCESS_VIOLATION;
    }
    STATUS_SUCCESS
}

/// NtClose(HANDLE).
pub fn nt_close(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    match crate::ob::process_handles().close(cpu(), args[0]) {
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
/// Count of a1..a6 to Buffer, so a test can see every argument arrive.
pub fn nt_test_echo(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    let (buffer, count) = (args[0], args[1]);
    if count > 6 {
        return STATUS_INVALID_PARAMETER;
    }
    let mut bytes = [0u8; 48];
    for (i, a) in args[2..2 + count as usize].iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&a.to_le_bytes());
    }
    match copy_to_user(buffer, &bytes[..count as usize * 8]) {
        Ok(()) => STATUS_SUCCESS,
        Err(e) => e.into(),
    }
}

/// NtTestStatus(NTSTATUS): returns its argument, to test the status path.
pub fn nt_test_status(_frame: &mut KTrapFrame, args: &[u64]) -> NtStatus {
    args[0] as NtStatus
}

fn cpu() -> usize {
    #[cfg(target_os = "none")]
    return crate::percpu::cpu_id() as usize;
    #[cfg(not(target_os = "none"))]
    0
}
