//! KiSystemServiceExit: the way back to ring 3, decided in Rust.
//!
//! The SYSENTER and SYSCALL entry stubs call `KiSystemServiceExit` after
//! the dispatcher. It asks the student's `choose_exit` (Lab 2) which of the
//! three exits this frame may take, records the choice in the per-CPU
//! counters (the tests read them: QEMU does not fault where real CPUs do,
//! so only the record tells a safe fallback from a lucky return), and
//! returns it in RAX for the stub to branch on.
//!
//! The kernel image defines the symbol (`labs/src/lib.rs`), with
//! [`service_exit`] below as its body and the student's `choose_exit` as
//! its argument: a direct call, which the compiler inlines, where a call
//! through the `Student` table would be an indirect call on every return.

use crate::student::SystemCallExit;
use crate::trap::KTrapFrame;

// ANCHOR: service_exit
/// The body of `KiSystemServiceExit`: returns the exit `choose_exit`
/// picks for `frame`, as a [`SystemCallExit`] number, and counts it.
#[cfg(target_os = "none")]
#[inline(always)]
pub fn service_exit(
    frame: &mut KTrapFrame,
    choose_exit: impl FnOnce(&KTrapFrame) -> SystemCallExit,
) -> u64 {
    let exit = choose_exit(frame);
    if exit == SystemCallExit::Iretq {
        return fallback(frame);
    }
    // A fast exit costs one increment.
    crate::percpu::count_exit(exit);
    exit as u64
}

/// The iretq exit of a SYSENTER or SYSCALL frame, out of the fast path:
/// counts the exit and keeps a copy of the frame, which the tests'
/// messages explain.
#[cfg(target_os = "none")]
#[cold]
#[inline(never)]
fn fallback(frame: &KTrapFrame) -> u64 {
    crate::percpu::count_exit(SystemCallExit::Iretq);
    // SAFETY: only this CPU touches its own copy, with interrupts off.
    unsafe { *crate::percpu::current().last_fallback.get() = *frame };
    SystemCallExit::Iretq as u64
}
// ANCHOR_END: service_exit

// ANCHOR: is_user_address
/// Whether `addr` is a canonical address in user space, as a return RIP or
/// RSP for SYSEXIT/SYSRET must be.
#[inline]
pub fn is_user_address(addr: u64) -> bool {
    use crate::mm::paging::{USER_BASE, USER_TOP};
    (USER_BASE..USER_TOP).contains(&addr)
}

/// Whether `addr` is a user address that 32-bit code can hold: below 4 GiB.
/// The 32-bit SYSEXIT and SYSRET load only EIP and ESP and zero the upper
/// halves, so a frame's RIP or RSP above that would come back as another
/// address than the frame says.
#[inline]
pub fn is_user_address32(addr: u64) -> bool {
    use crate::mm::paging::USER_BASE;
    (USER_BASE..syslab_abi::layout::FOUR_GIB).contains(&addr)
}
// ANCHOR_END: is_user_address

/// The address of `KiSystemServiceExit`, which the kernel image defines
/// (labs/src/lib.rs) around [`service_exit`].
#[cfg(target_os = "none")]
pub fn ki_system_service_exit() -> u64 {
    unsafe extern "C" {
        fn KiSystemServiceExit();
    }
    KiSystemServiceExit as *const () as u64
}
