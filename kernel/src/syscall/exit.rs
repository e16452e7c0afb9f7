//! KiSystemServiceExit: the way back to ring 3, decided in Rust.
//!
//! The SYSENTER and SYSCALL entry stubs call [`KiSystemServiceExit`] after
//! the dispatcher. It asks the student's `choose_exit` (Lab 2) which of the
//! three exits this frame may take, records the choice in the per-CPU
//! counters (the tests read them: QEMU does not fault where real CPUs do,
//! so only the record tells a safe fallback from a lucky return), and
//! returns it in RAX for the stub to branch on.

use crate::student::SystemCallExit;
use crate::trap::{ENTRY_SYSENTER, KTrapFrame};
use core::sync::atomic::Ordering;

// ANCHOR: service_exit
/// Called by the entry stubs with the frame they built; returns a
/// [`SystemCallExit`] as a number.
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
pub extern "C" fn KiSystemServiceExit(frame: &mut KTrapFrame) -> u64 {
    // A SYSENTER from 32-bit code must not go back in 64-bit mode.
    if frame.entry == ENTRY_SYSENTER && super::sysenter::from_compatibility_mode(frame) {
        super::sysenter::kill_compat_caller(frame);
    }
    let me = crate::percpu::current();
    let exit = (crate::student::student().lab2.choose_exit)(frame);
    record(me, exit, frame);
    exit as u64
}

/// Counts the exit in the CPU's counters; keeps a copy of a frame sent to
/// the fallback, which the tests' messages explain. Only this CPU writes
/// them, so a load and a store do: no locked read-modify-write on the fast
/// path.
pub fn record(cpu: &crate::percpu::PerCpu, exit: SystemCallExit, frame: &KTrapFrame) {
    let c = &cpu.counters;
    let counter = match exit {
        SystemCallExit::Iretq => {
            // SAFETY: only this CPU touches its own copy.
            unsafe { *cpu.last_fallback.get() = *frame };
            &c.exit_iretq
        }
        SystemCallExit::Sysexit => &c.exit_sysexit,
        SystemCallExit::Sysret => &c.exit_sysret,
    };
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}
// ANCHOR_END: service_exit

// ANCHOR: is_user_address
/// Whether `addr` is a canonical address in user space, as a return RIP or
/// RSP for SYSEXIT/SYSRET must be.
pub fn is_user_address(addr: u64) -> bool {
    crate::mm::paging::is_user_range(addr, 1)
}
// ANCHOR_END: is_user_address
