//! Lab 2: SYSENTER/SYSEXIT, the Windows XP way.
//!
//! Read the book's Lab 2 chapter first. You write:
//! 1. [`check_sysenter_gdt`]: the selector rule SYSENTER and SYSEXIT impose on the GDT;
//! 2. [`program_sysenter_msrs`]: IA32_SYSENTER_CS/ESP/EIP, on every CPU;
//! 3. [`KiFastCallEntry`]: the entry stub, for 64-bit and 32-bit callers,
//!    leaving through `KiSystemCallExit2` (`sysexitq`, or the 32-bit
//!    `sysexit`) or the iretq fallback;
//! 4. [`choose_exit`], [`sysexit_safe`] and [`sysexit32_safe`]: KiSystemServiceExit's decision.
#![allow(unused_imports)] // the imports are the tools you will need

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS, USER_SS};
use syslab_kernel::msr;
use syslab_kernel::not_implemented;
use syslab_kernel::percpu::{
    PERCPU_SYSENTER_ARGS, PERCPU_SYSENTER_CS, PERCPU_SYSENTER_RIP, PERCPU_SYSENTER_SS, PerCpu,
};
use syslab_kernel::student::{GdtRuleError, SystemCallExit};
use syslab_kernel::syscall::exit::{is_user_address, is_user_address32};
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSCALL32, ENTRY_SYSENTER, KTrapFrame, rflags};

/// Checks that `gdt` has, at the selectors SYSENTER and SYSEXIT compute
/// from `sysenter_cs`, the descriptors they assume.
///
/// TODO (book: Lab 2, "The selector rule"): return `Ok(())` for a good
/// layout and a `GdtRuleError` saying which selector is wrong otherwise.
/// `SegmentDescriptor` decodes a descriptor's fields.
pub fn check_sysenter_gdt(gdt: &[u64], sysenter_cs: u16) -> Result<(), GdtRuleError> {
    let _ = (gdt, sysenter_cs);
    not_implemented!("check_sysenter_gdt")
}

/// Programs IA32_SYSENTER_CS, IA32_SYSENTER_ESP and IA32_SYSENTER_EIP on
/// the CPU that runs it (`cpu` is its per-CPU block). The kernel calls it
/// on every CPU as the CPU comes up.
///
/// TODO (book: Lab 2, "The MSRs on every CPU").
pub fn program_sysenter_msrs(cpu: &PerCpu) {
    let _ = cpu;
    not_implemented!("program_sysenter_msrs")
}

/// KiFastCallEntry: the target of IA32_SYSENTER_EIP.
///
/// TODO (book: Lab 2, "KiFastCallEntry"): build the same `KTrapFrame` as
/// `KiSystemService` (entry = `ENTRY_SYSENTER`), call the Lab 1 dispatcher,
/// then `KiSystemServiceExit`, and leave through `sysexitq` or jump to
/// `KiSystemCallExit` (your Lab 1 iretq exit) as it says.
///
/// TODO (book: Lab 2, "The 32-bit caller"): SYSENTER does not say which
/// mode the caller ran in; this CPU's block does, for its thread. Take the
/// frame's SS, CS and RIP, and how far above RDX the arguments start, from
/// `gs:[PERCPU_SYSENTER_SS]` and its neighbours, and leave a frame that
/// `choose_exit` sends to `SystemCallExit::Sysexit32` through the 32-bit
/// `sysexit`.
///
/// # Safety
/// Only the CPU enters it, through SYSENTER; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiFastCallEntry() {
    core::arch::naked_asm!("call {todo}", todo = sym ki_fast_call_entry_todo);
}

extern "C" fn ki_fast_call_entry_todo() -> ! {
    not_implemented!("KiFastCallEntry")
}

/// KiSystemServiceExit's choice: which exit this frame takes back to ring 3.
///
/// TODO (book: Lab 2, "Choosing the exit"): the fast exit of the path the
/// frame came in by when it is safe (`sysexit_safe`, and in Lab 3
/// `crate::lab3::sysret_safe`), else `SystemCallExit::Iretq`. With the
/// 32-bit caller ("The 32-bit caller"), the 32-bit exits too:
/// `sysexit32_safe`, and in Lab 3 `crate::lab3::sysret32_safe` for
/// `ENTRY_SYSCALL32`.
pub fn choose_exit(frame: &KTrapFrame) -> SystemCallExit {
    let _ = frame;
    not_implemented!("choose_exit")
}

/// Whether `sysexitq` can return this frame to ring 3.
///
/// TODO (book: Lab 2, "Choosing the exit").
pub fn sysexit_safe(frame: &KTrapFrame) -> bool {
    let _ = frame;
    not_implemented!("sysexit_safe")
}

/// Whether the 32-bit `sysexit` can return this frame to 32-bit code.
///
/// TODO (book: Lab 2, "The 32-bit caller").
pub fn sysexit32_safe(frame: &KTrapFrame) -> bool {
    let _ = frame;
    not_implemented!("sysexit32_safe")
}
