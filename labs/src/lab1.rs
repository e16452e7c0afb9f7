//! Lab 1: system calls through `int 0x2e`, the Windows NT way.
//!
//! Read the book's Lab 1 chapter first (`mdbook serve book`). You write
//! three pieces; `cargo grader lab1` tells you which of them work.
//! 1. [`install_int2e_gate`]: IDT gate 0x2E, reachable from ring 3;
//! 2. [`KiSystemService`]: the entry stub that builds the trap frame and
//!    returns through `KiSystemCallExit` with `iretq`;
//! 3. [`dispatch_system_service`]: the dispatcher every entry path calls.
#![allow(unused_imports)] // the imports are the tools you will need

use syslab_kernel::abi::status::{STATUS_ACCESS_VIOLATION, STATUS_INVALID_SYSTEM_SERVICE};
use syslab_kernel::gdt::{KERNEL_CS, USER_CS32};
use syslab_kernel::idt::{Gate, GateType, Idt, VECTOR_SYSTEM_SERVICE};
use syslab_kernel::mm::paging::{is_user_range, is_user_range32};
use syslab_kernel::not_implemented;
use syslab_kernel::syscall::table::{KI_SERVICE_TABLE, MAX_ARGS, ServiceEntry, ki_service_table32};
use syslab_kernel::trap::KTrapFrame;
use syslab_kernel::usercopy::copy_from_user_unchecked;

/// Installs IDT gate 0x2E so that `int 0x2e` in ring 3 reaches
/// [`KiSystemService`].
///
/// TODO (book: Lab 1, "The gate"): choose the gate's type, DPL, code
/// segment and IST, and store it with `idt[VECTOR_SYSTEM_SERVICE] = ...`.
pub fn install_int2e_gate(idt: &mut Idt) {
    let _ = idt;
    not_implemented!("install_int2e_gate")
}

/// KiSystemService: the target of gate 0x2E.
///
/// TODO (book: Lab 1, "The entry stub"): replace the body with the stub.
/// It must build a `KTrapFrame` on the kernel stack (the field order is in
/// kernel/src/frame.rs), keep swapgs balanced, clear the user's DF and AC
/// before any Rust runs (the gate does not; `clac` is #UD on qemu64, so
/// load RFLAGS with `popfq`), call [`dispatch_system_service`] with a
/// pointer to the frame, and leave through a `KiSystemCallExit` label that
/// restores the registers and returns with `iretq`.
///
/// # Safety
/// Only the CPU enters it, through gate 0x2E; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemService() {
    core::arch::naked_asm!("call {todo}", todo = sym ki_system_service_todo);
}

extern "C" fn ki_system_service_todo() -> ! {
    not_implemented!("KiSystemService")
}

/// The system-service dispatcher: every entry stub calls it with the frame
/// it built.
///
/// TODO (book: Lab 1, "The dispatcher"): look the number in EAX up in
/// `KI_SERVICE_TABLE` (STATUS_INVALID_SYSTEM_SERVICE past its end), copy
/// the service's arguments from the user stack at RDX into the kernel
/// (STATUS_ACCESS_VIOLATION if the range is not user memory or the copy
/// faults), call the service and put its status in the frame's RAX. A
/// service without arguments needs no check and no copy: call it at once.
///
/// TODO (book: Lab 2, "The 32-bit caller"): a caller in 32-bit code (the
/// frame's CS is `USER_CS32`) has its own ABI: look its number up in
/// `ki_service_table32()`, and copy 4-byte slots from EDX, widened with
/// zeros, all of them below 4 GiB (`is_user_range32`). Decide that once,
/// at the top, and leave the 64-bit path as it is.
pub extern "C" fn dispatch_system_service(frame: &mut KTrapFrame) {
    let _ = frame;
    not_implemented!("dispatch_system_service")
}
