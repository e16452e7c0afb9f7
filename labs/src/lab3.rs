//! Lab 3: SYSCALL/SYSRET, AMD's fast system call.
//!
//! Read the book's Lab 3 chapter first. You write:
//! 1. [`program_syscall_msrs`]: EFER.SCE, STAR, LSTAR, CSTAR and SFMASK, on every CPU;
//! 2. [`KiSystemCall64`]: swapgs, this CPU's kernel stack, the trap frame,
//!    and `KiSystemCallExit3` (`sysretq`) or the iretq fallback;
//! 3. [`sysret_safe`]: when `sysretq` may return a frame;
//! 4. [`KiSystemCall32`] and [`sysret32_safe`]: SYSCALL from 32-bit code
//!    (CSTAR) and its `sysretl`.
#![allow(unused_imports)] // the imports are the tools you will need

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS};
use syslab_kernel::msr::{self, efer};
use syslab_kernel::not_implemented;
use syslab_kernel::percpu::{PERCPU_KERNEL_STACK, PERCPU_USER_RSP, PerCpu};
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::syscall::exit::{is_user_address, is_user_address32};
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSCALL32, KTrapFrame, rflags};

/// Programs this CPU's SYSCALL MSRs; the kernel calls it on every CPU.
///
/// TODO (book: Lab 3, "The MSRs"): set EFER.SCE; STAR with the kernel
/// selector base in 47:32 and the user base in 63:48 (check the SYSRET rule
/// against `cpu.gdt`); LSTAR = `KiSystemCall64`; CSTAR = `KiSystemCall32`
/// (below); SFMASK clearing at least IF, TF, DF, AC and NT.
pub fn program_syscall_msrs(cpu: &PerCpu) {
    let _ = cpu;
    not_implemented!("program_syscall_msrs")
}

/// KiSystemCall64: the target of LSTAR.
///
/// TODO (book: Lab 3, "KiSystemCall64"): swapgs, park the user RSP at
/// `gs:[PERCPU_USER_RSP]`, load `gs:[PERCPU_KERNEL_STACK]`, build the
/// `KTrapFrame` (entry = `ENTRY_SYSCALL`), call the dispatcher and
/// `KiSystemServiceExit`, then `sysretq` or jump to `KiSystemCallExit`.
///
/// # Safety
/// Only the CPU enters it, through SYSCALL; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemCall64() {
    core::arch::naked_asm!("call {todo}", todo = sym ki_system_call64_todo);
}

extern "C" fn ki_system_call64_todo() -> ! {
    not_implemented!("KiSystemCall64")
}

/// Whether `sysretq` can return this frame to ring 3.
///
/// TODO (book: Lab 3, "A safe sysret").
pub fn sysret_safe(frame: &KTrapFrame) -> bool {
    let _ = frame;
    not_implemented!("sysret_safe")
}

/// KiSystemCall32: the target of CSTAR, SYSCALL from 32-bit code.
///
/// TODO (book: Lab 3, "SYSCALL from 32-bit code"): as `KiSystemCall64`,
/// with the 32-bit frame (CS `USER_CS32`, entry `ENTRY_SYSCALL32`, the
/// arguments 8 bytes above the ESP that SharedUserData's stub put in EDX),
/// and `sysretl` (`sysret` without REX.W) when `KiSystemServiceExit` says
/// `SystemCallExit::Sysret32`, else `KiSystemCallExit`.
///
/// # Safety
/// Only the CPU enters it, through SYSCALL from 32-bit code; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemCall32() {
    core::arch::naked_asm!("call {todo}", todo = sym ki_system_call32_todo);
}

extern "C" fn ki_system_call32_todo() -> ! {
    not_implemented!("KiSystemCall32")
}

/// Whether `sysretl` can return this frame to 32-bit code.
///
/// TODO (book: Lab 3, "SYSCALL from 32-bit code").
pub fn sysret32_safe(frame: &KTrapFrame) -> bool {
    let _ = frame;
    not_implemented!("sysret32_safe")
}
