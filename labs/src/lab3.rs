//! Lab 3: SYSCALL/SYSRET, AMD's fast system call.
//!
//! Read the book's Lab 3 chapter first. You write:
//! 1. [`program_syscall_msrs`]: EFER.SCE, STAR, LSTAR, CSTAR and SFMASK, on every CPU;
//! 2. [`KiSystemCall64`]: swapgs, this CPU's kernel stack, the trap frame,
//!    and `KiSystemCallExit3` (`sysretq`) or the iretq fallback;
//! 3. [`sysret_safe`]: when `sysretq` may return a frame.
#![allow(unused_imports)] // the imports are the tools you will need

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS};
use syslab_kernel::msr::{self, efer};
use syslab_kernel::not_implemented;
use syslab_kernel::percpu::{PERCPU_KERNEL_STACK, PERCPU_USER_RSP, PerCpu};
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::syscall::exit::is_user_address;
use syslab_kernel::syscall::syscall::KiSystemCallCompat;
use syslab_kernel::trap::{ENTRY_SYSCALL, KTrapFrame, rflags};

/// Programs this CPU's SYSCALL MSRs; the kernel calls it on every CPU.
///
/// TODO (book: Lab 3, "The MSRs"): set EFER.SCE; STAR with the kernel
/// selector base in 47:32 and the user base in 63:48 (check the SYSRET rule
/// against `cpu.gdt`); LSTAR = `KiSystemCall64`; CSTAR = the kernel's
/// `KiSystemCallCompat`; SFMASK clearing at least IF, TF, DF, AC and NT.
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
