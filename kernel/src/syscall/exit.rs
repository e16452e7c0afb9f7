//! KiSystemServiceExit: the way back to ring 3, decided in Rust.
//!
//! The SYSENTER and SYSCALL entry stubs call `KiSystemServiceExit` after
//! the dispatcher. It asks the student's `choose_exit` (Lab 2) which of the
//! three exits this frame may take, records the choice in the per-CPU
//! counters (the tests read them: QEMU does not fault where real CPUs do,
//! so only the record tells a safe fallback from a lucky return), and
//! returns it in RAX for the stub to branch on.
//!
//! The kernel image defines the symbol (`labs/src/main.rs`), with
//! [`service_exit`] below as its body and the student's `choose_exit` as
//! its argument: a direct call, which the compiler inlines, where a call
//! through the `Student` table would be an indirect call on every return.

use crate::student::SystemCallExit;
use crate::trap::{KTrapFrame, rflags};
use core::sync::atomic::Ordering;

// ANCHOR: service_exit
/// The body of `KiSystemServiceExit`: returns the exit `choose_exit`
/// picks for `frame`, as a [`SystemCallExit`] number, and counts it.
#[cfg(target_os = "none")]
#[inline(always)]
pub fn service_exit(
    frame: &mut KTrapFrame,
    choose_exit: impl FnOnce(&KTrapFrame) -> SystemCallExit,
) -> u64 {
    let me = crate::percpu::current();
    // A single-step trap taken on the first instruction of KiFastCallEntry
    // had its TF cleared so the kernel would not single-step itself; give
    // it back to the user, who must still see the trap.
    if super::sysenter::take_pending_single_step(me) {
        frame.rflags |= rflags::TF;
    }
    let exit = choose_exit(frame);
    record(me, exit);
    exit as u64
}

/// Counts the exit in the CPU's counters. Only this CPU writes them, so a
/// load and a store do: no locked read-modify-write on the fast path.
#[inline]
pub fn record(cpu: &crate::percpu::PerCpu, exit: SystemCallExit) {
    let c = &cpu.counters;
    let counter = match exit {
        SystemCallExit::Iretq => &c.exit_iretq,
        SystemCallExit::Sysexit => &c.exit_sysexit,
        SystemCallExit::Sysret => &c.exit_sysret,
    };
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
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
// ANCHOR_END: is_user_address
