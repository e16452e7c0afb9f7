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

use crate::frame::KTrapFrame;
use crate::percpu::{COUNT_EXITS, EXIT_SLOTS};
use crate::student::SystemCallExit;

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
    count_exit(exit);
    exit as u64
}

/// The iretq exit of a SYSENTER or SYSCALL frame, out of the fast path:
/// counts the exit and keeps a copy of the frame, which the tests'
/// messages explain.
#[cfg(target_os = "none")]
#[cold]
#[inline(never)]
fn fallback(frame: &KTrapFrame) -> u64 {
    count_exit(SystemCallExit::Iretq);
    // SAFETY: only this CPU touches its own copy, with interrupts off.
    unsafe { *crate::percpu::current().last_fallback.get() = *frame };
    SystemCallExit::Iretq as u64
}
// ANCHOR_END: service_exit

/// Adds one to the running CPU's counter of `exit` in a single
/// instruction, `inc qword ptr gs:[COUNT_EXITS + exit * 8]`, as Linux's
/// `this_cpu_inc` does: no load of the block's address, no branch on the
/// exit, and no locked read-modify-write, since only this CPU writes its
/// counters. The others read them with relaxed loads, and an aligned
/// 8-byte store is atomic (Intel SDM Vol. 3A §9.1.1, "Guaranteed Atomic
/// Operations"), so a reader sees the old or the new count. Kernel mode
/// only, like [`crate::percpu::current`].
#[cfg(target_os = "none")]
#[inline(always)]
fn count_exit(exit: SystemCallExit) {
    const { assert!((SystemCallExit::Sysret32 as usize) < EXIT_SLOTS) };
    // SAFETY: in kernel mode GS points at this CPU's block, and every
    // exit's slot lies inside `counters.exits` (checked above).
    unsafe {
        core::arch::asm!(
            "inc qword ptr gs:[{o} + {i} * 8]",
            o = const COUNT_EXITS,
            i = in(reg) exit as u64,
            options(nostack),
        )
    };
}

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
