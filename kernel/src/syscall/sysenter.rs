//! The SYSENTER/SYSEXIT path, Windows XP's fast system call.
//!
//! SYSENTER (Intel SDM Vol. 2B, SYSENTER) reads no descriptor from memory:
//! it loads CS from IA32_SYSENTER_CS with a fixed flat ring-0 shape, SS from
//! the next GDT slot (CS + 8), RSP from IA32_SYSENTER_ESP and RIP from
//! IA32_SYSENTER_EIP, and clears IF (and VM, RF). It saves nothing: not the
//! user RIP, RSP or RFLAGS. 64-bit SYSEXIT loads CS = SYSENTER_CS + 32 and
//! SS = SYSENTER_CS + 40 (ring 3), RIP from RDX and RSP from RCX.
//!
//! So the user side must tell the kernel where its stack is (XP's stub does
//! `mov edx, esp` first), the kernel returns to a fixed address (the `ret`
//! in SharedUserData's stub), and each CPU needs its own kernel stack in its
//! own IA32_SYSENTER_ESP: MSRs are per CPU, and two CPUs entering on one
//! stack would overwrite each other's frames.
//!
//! The student writes `program_sysenter_msrs`, `KiFastCallEntry`, the GDT
//! rule check and the exit choice; this file has the kernel's side.

use crate::msr;
use crate::percpu::PerCpu;
use crate::trap::{KTrapFrame, rflags};
use core::sync::atomic::Ordering;

/// IA32_SYSENTER_CS, IA32_SYSENTER_ESP and IA32_SYSENTER_EIP of the running CPU.
pub fn read_msrs() -> [u64; 3] {
    // SAFETY: the three MSRs exist on every x86_64 CPU (AMD included).
    unsafe {
        [
            msr::read(msr::IA32_SYSENTER_CS),
            msr::read(msr::IA32_SYSENTER_ESP),
            msr::read(msr::IA32_SYSENTER_EIP),
        ]
    }
}

// ANCHOR: debug_trap_fixup
/// SYSENTER does not clear TF. A user that single-steps into it takes a
/// debug trap in ring 0 on the first instruction of KiFastCallEntry, still
/// with the user's GS (Linux handles the same case in its #DB handler).
/// If this #DB is that one, clear TF in the interrupted context so the
/// kernel does not single-step itself, note that the user is owed its
/// trap, and return true. Uses no GS: the stub has not swapped yet.
pub fn debug_trap_fixup(frame: &mut KTrapFrame) -> bool {
    if frame.entry != 1 || frame.from_user() {
        return false;
    }
    #[cfg(target_os = "none")]
    {
        let entry = crate::student::student().lab2.ki_fast_call_entry as *const () as u64;
        // The trap lands on the stub's first instruction; allow a few more
        // in case a stub saves RFLAGS before it clears TF.
        if !(entry..entry + 64).contains(&frame.rip) {
            return false;
        }
        let Some(me) = crate::percpu::by_cpuid_apic_id() else {
            return false;
        };
        frame.rflags &= !rflags::TF;
        me.sysenter_single_step.store(true, Ordering::Relaxed);
        return true;
    }
    #[allow(unreachable_code)]
    false
}
// ANCHOR_END: debug_trap_fixup

/// Takes the "user owed a single-step trap" note of this CPU.
#[inline]
pub fn take_pending_single_step(me: &PerCpu) -> bool {
    // Almost always clear: look before the (locked) swap.
    me.sysenter_single_step.load(Ordering::Relaxed)
        && me.sysenter_single_step.swap(false, Ordering::Relaxed)
}
