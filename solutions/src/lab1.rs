//! Lab 1: system calls through `int 0x2e`, the Windows NT way.
//!
//! Three pieces, read in the book's Lab 1 chapter:
//! 1. [`install_int2e_gate`]: IDT gate 0x2E, reachable from ring 3;
//! 2. [`KiSystemService`]: the entry stub that builds the trap frame and
//!    returns through `KiSystemCallExit` with `iretq`;
//! 3. [`dispatch_system_service`]: the dispatcher every entry path calls,
//!    for 64-bit callers and for 32-bit ones.

use core::mem::MaybeUninit;
use syslab_kernel::abi::status::{
    NtStatus, STATUS_ACCESS_VIOLATION, STATUS_INVALID_SYSTEM_SERVICE,
};
use syslab_kernel::gdt::{KERNEL_CS, USER_CS32};
use syslab_kernel::idt::{Gate, GateType, Idt, VECTOR_SYSTEM_SERVICE};
use syslab_kernel::mm::paging::{is_user_range, is_user_range32};
use syslab_kernel::syscall::table::{KI_SERVICE_TABLE, MAX_ARGS, ServiceEntry, ki_service_table32};
use syslab_kernel::trap::KTrapFrame;
use syslab_kernel::usercopy::copy_from_user_unchecked;

// ANCHOR: gate
/// Installs gate 0x2E: an interrupt gate (the CPU clears IF, so nothing
/// interrupts the stub before it has saved the user's state), DPL 3 (so
/// `int 0x2e` is allowed at CPL 3), through the kernel code segment, with
/// no IST (the CPU switches to TSS.RSP0 because the privilege changes).
pub fn install_int2e_gate(idt: &mut Idt) {
    idt[VECTOR_SYSTEM_SERVICE] = Gate::new(
        KiSystemService as *const () as u64,
        KERNEL_CS,
        GateType::Interrupt,
        3,
        0,
    );
}
// ANCHOR_END: gate

// ANCHOR: stub
/// KiSystemService: the target of gate 0x2E.
///
/// On entry (Intel SDM Vol. 3A §7.12.1): RSP = TSS.RSP0 of this CPU, with
/// SS, RSP, RFLAGS, CS and RIP of ring 3 pushed by the CPU; IF = 0; GS still
/// holds the user's base. EAX = service number, RDX = user pointer to the
/// arguments. Every other register is the user's and must come back intact.
/// RFLAGS: the user's DF and AC are still set if the user set them.
///
/// # Safety
/// Only the CPU enters it, through gate 0x2E; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemService() {
    core::arch::naked_asm!(
        "push 0",    // KTrapFrame::error_code: int n pushes none
        "push 0x2E", // KTrapFrame::entry: entered through gate 0x2E
        // The gate is reachable from ring 3 only, but check anyway: swapgs
        // must run exactly when the CPU came from user mode.
        "test byte ptr [rsp + 24], 3", // KTrapFrame::cs
        "jz 2f",
        "swapgs",
        "2:",
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rdi, rsp", // &mut KTrapFrame: 22 words, so RSP is 16-byte aligned
        // The kernel's flags: the gate cleared IF, TF, NT and RF, but the
        // user's DF (Rust assumes it clear) and AC (it would switch SMAP
        // off) are live. `clac` is #UD on CPUs without SMAP (qemu64), so
        // load a known RFLAGS: 2 is the always-one bit, all else clear.
        "push 2",
        "popfq",
        "call {dispatch}",
        // KiSystemCallExit: the iretq return. The dispatcher left the
        // status in the frame's RAX slot.
        ".global KiSystemCallExit",
        "KiSystemCallExit:",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        "test byte ptr [rsp + 24], 3",
        "jz 3f",
        "swapgs",
        "3:",
        "add rsp, 16", // entry and error_code
        "iretq",
        dispatch = sym dispatch_system_service,
    );
}
// ANCHOR_END: stub

// ANCHOR: dispatch
/// The system-service dispatcher: NT's KiSystemService after the frame is built.
pub extern "C" fn dispatch_system_service(frame: &mut KTrapFrame) {
    // A 32-bit caller has an ABI of its own: decide that once, here, and
    // leave the 64-bit path below as it was.
    if frame.cs == USER_CS32 as u64 {
        return dispatch_system_service32(frame);
    }
    // The number is EAX; the upper half of RAX is not part of it.
    let number = frame.rax as u32 as usize;
    let Some(service) = KI_SERVICE_TABLE.get(number) else {
        return invalid_service(frame);
    };
    match service.arg_count {
        // Nothing to check or copy: NtNull goes straight to its routine.
        0 => frame.rax = (service.routine)(frame, &[]) as u64,
        _ => call_with_arguments(frame, service),
    }
}

/// A number past the end of the table. Out of line and cold, so that
/// the valid calls do not even load its status.
#[cold]
fn invalid_service(frame: &mut KTrapFrame) {
    frame.rax = STATUS_INVALID_SYSTEM_SERVICE as u64;
}

/// Calls `service` with its arguments, copied from the user stack at RDX,
/// and stores its status. Out of line, so that a call without arguments
/// does not pay for the buffer and the registers this needs.
#[inline(never)]
fn call_with_arguments(frame: &mut KTrapFrame, service: &ServiceEntry) {
    // Only the first `arg_count` words are copied and used: no need to zero all.
    let mut buffer = [MaybeUninit::<u64>::uninit(); MAX_ARGS];
    let Some(args) = copy_arguments(frame.rdx, &mut buffer[..service.arg_count]) else {
        return bad_arguments(frame);
    };
    frame.rax = (service.routine)(frame, args) as u64;
}

/// The arguments were not user memory, or the copy faulted. Cold, as
/// [`invalid_service`] is.
#[cold]
fn bad_arguments(frame: &mut KTrapFrame) {
    frame.rax = STATUS_ACCESS_VIOLATION as u64;
}

/// Fills `args` from the user stack at `rdx`; `None` if the range is not
/// user memory or the copy faulted.
#[inline(always)]
fn copy_arguments(rdx: u64, args: &mut [MaybeUninit<u64>]) -> Option<&[u64]> {
    let len = args.len() * 8;
    // Check the whole range first: a user must not make the kernel read
    // kernel memory for it. Then copy; a fault on an unmapped user page is
    // fixed up into an error instead of a kernel fault.
    if !is_user_range(rdx, len as u64) {
        return None;
    }
    // SAFETY: `args` is kernel memory; any byte pattern is a valid u64.
    let bytes = unsafe { core::slice::from_raw_parts_mut(args.as_mut_ptr().cast::<u8>(), len) };
    // SAFETY: the range check above passed.
    unsafe { copy_from_user_unchecked(bytes, rdx) }.ok()?;
    // SAFETY: the copy wrote every word of `args`.
    Some(unsafe { &*(args as *const [MaybeUninit<u64>] as *const [u64]) })
}
// ANCHOR_END: dispatch

// ANCHOR: dispatch32
/// The dispatcher for a caller in 32-bit code (the frame's CS is the 32-bit
/// user code): its system's service numbers, and 4-byte argument slots.
#[inline(never)]
fn dispatch_system_service32(frame: &mut KTrapFrame) {
    // The number is EAX, in the numbering of the thread's system.
    let Some(service) = ki_service_table32().get(frame.rax as u32) else {
        frame.rax = STATUS_INVALID_SYSTEM_SERVICE as u64;
        return;
    };
    let status = if service.arg_count == 0 {
        (service.routine)(frame, &[])
    } else {
        call_with_arguments32(frame, service)
    };
    frame.rax = status as u64;
}

/// Copies a 32-bit caller's arguments: `arg_count` 4-byte slots at EDX.
fn call_with_arguments32(frame: &mut KTrapFrame, service: &ServiceEntry) -> NtStatus {
    let count = service.arg_count;
    // EDX: 32-bit code has no upper half of RDX, whatever the register holds.
    let at = frame.rdx as u32 as u64;
    // All of it below 4 GiB, which is all that 32-bit code can address.
    if !is_user_range32(at, (count * 4) as u64) {
        return STATUS_ACCESS_VIOLATION;
    }
    let mut slots = [0u32; MAX_ARGS];
    // SAFETY: the first `count` slots, as bytes; any bytes make a u32.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(slots.as_mut_ptr().cast::<u8>(), count * 4) };
    // SAFETY: the range check above passed.
    if unsafe { copy_from_user_unchecked(bytes, at) }.is_err() {
        return STATUS_ACCESS_VIOLATION;
    }
    // Zero-extended: a 32-bit pointer, handle or count is never negative.
    let mut args = [0u64; MAX_ARGS];
    for (arg, &slot) in args.iter_mut().zip(&slots[..count]) {
        *arg = slot as u64;
    }
    (service.routine)(frame, &args[..count])
}
// ANCHOR_END: dispatch32
