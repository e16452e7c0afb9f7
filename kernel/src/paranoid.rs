//! Paranoid entry: NMI, #DB, #MC and #DF.
//!
//! `trap_common` decides `swapgs` from the saved CS: CS says ring 3, so GS
//! is the user's. That holds for everything that can only arrive between
//! whole instructions of ordinary kernel or user code. These four vectors
//! can arrive in the few instructions where CS already (or still) says
//! ring 0 but GS is the user's:
//!
//! - KiSystemCall64's first instruction, before its `swapgs` (and on the
//!   user's RSP: SYSCALL switches no stack);
//! - KiFastCallEntry before its `swapgs`: a single-step #DB arrives on its
//!   very first instruction when the user set TF (syscall/sysenter.rs);
//! - every exit between its `swapgs` and its `sysretq`, `sysexitq` or
//!   `iretq`.
//!
//! An NMI or #MC there with a CS-based entry would run the kernel on the
//! user's GS base (and swap it to the user on the way out). So, as Linux's
//! `paranoid_entry` does (arch/x86/entry/entry_64.S):
//!
//! 1. the CPU switches each of them to its own IST stack (idt::PARANOID), so
//!    no user RSP and no half-built frame is ever used;
//! 2. the entry finds its CPU's block without GS: [`PerCpu::new`] stores the
//!    block's address just above where the CPU pushes its frame on each IST
//!    stack, so it sits at a fixed offset from the finished `KTrapFrame`;
//! 3. it reads IA32_GS_BASE and swaps only if that is not the block;
//! 4. on the way out it swaps back exactly when it swapped on the way in,
//!    so whatever GS was live comes back, whichever window it hit.
//!
//! A user cannot forge the comparison: CR4.FSGSBASE is off, so a ring-3 GS
//! base is only ever what a selector load gives (0) or what the kernel set.
//!
//! [`PerCpu::new`]: crate::percpu::PerCpu::new

use crate::frame::KTrapFrame;
use crate::percpu::PerCpu;
use core::sync::atomic::Ordering;

#[cfg(target_os = "none")]
pub use imp::paranoid_common;

/// DR6.BS: the debug exception is a single-step trap (Intel SDM Vol. 3B
/// §18.2.3 "Debug Status Register").
pub const DR6_SINGLE_STEP: u64 = 1 << 14;
/// DR6's value with no condition recorded (its reserved bits read as 1).
const DR6_CLEAR: u64 = 0xFFFF_0FF0;

/// The hint for a single-step trap in kernel code outside KiFastCallEntry's
/// entry region: TF reached the kernel. It is not a GS problem, whatever GS
/// held: the paranoid entry has already made GS right.
pub const KERNEL_SINGLE_STEP_HINT: &str = "a single-step trap in ring 0: RFLAGS.TF was set in kernel code. \
     An exit restored a user RFLAGS with TF before sysexitq or sysretq (a frame with TF must leave \
     through iretq: sysexit_safe, sysret_safe), or an entry let the user's TF through (SFMASK for \
     SYSCALL; KiFastCallEntry's flag reset)";

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::frame::KTRAP_FRAME_SIZE;
    use crate::msr::IA32_GS_BASE;
    use crate::trap::{kernel_flags, restore_registers, save_registers};

    // ANCHOR: paranoid_common
    /// The common path of the paranoid vectors.
    ///
    /// On entry, on this vector's IST stack: `[rsp]` = vector, `[rsp+8]` =
    /// error code (0 if the CPU pushed none), then RIP, CS, RFLAGS, RSP, SS
    /// as the CPU pushed them, and above SS the address of this CPU's block
    /// (PerCpu::new put it there). IF is clear: every gate is an interrupt gate.
    ///
    /// # Safety
    /// Only the CPU enters it, through the stubs of trap.rs.
    #[unsafe(naked)]
    pub unsafe extern "C" fn paranoid_common() {
        core::arch::naked_asm!(
            save_registers!(),
            // Kernel flags, as in trap_common: no user DF or AC (an NMI in
            // ring 3, or in KiFastCallEntry before its popfq, has them live).
            kernel_flags!(),
            // Which GS is live? RDMSR IA32_GS_BASE (ECX) into EDX:EAX.
            "mov ecx, {gs_base}",
            "rdmsr",
            "shl rdx, 32",
            "or rax, rdx",
            // RBX: 1 if this entry swapped. Callee-saved, so it survives the call.
            "xor ebx, ebx",
            "mov rdx, [rsp + {block}]", // this CPU's block, above the frame
            "cmp rax, rdx",
            "je 2f",
            "swapgs", // the user's GS was live: in ring 3, or in an entry or exit window
            "mov ebx, 1",
            "2:",
            "mov rdi, rsp", // &mut KTrapFrame
            "mov rsi, rbx", // whether GS was swapped
            "call {dispatch}",
            "test ebx, ebx",
            "jz 3f",
            "swapgs", // exactly the GS that was live on entry
            "3:",
            restore_registers!(),
            "add rsp, 16", // vector and error code
            "iretq",
            gs_base = const IA32_GS_BASE,
            block = const KTRAP_FRAME_SIZE,
            dispatch = sym paranoid_dispatch,
        );
    }
    // ANCHOR_END: paranoid_common

    /// The Rust half: GS is the kernel's now (checked below).
    extern "C" fn paranoid_dispatch(frame: &mut KTrapFrame, swapped: u64, me: &'static PerCpu) {
        if crate::percpu::gs_base() != me.self_ptr as u64 {
            // Neither GS base held the block: an earlier swapgs too many.
            // Make GS usable to report it.
            let gs = crate::percpu::gs_base();
            // SAFETY: the block is this CPU's; the run ends below.
            unsafe { crate::msr::write(IA32_GS_BASE, me.self_ptr as u64) };
            crate::kprintln!(
                "   IA32_GS_BASE was {gs:#x} and IA32_KERNEL_GS_BASE was not this CPU's block either"
            );
            crate::trap::kernel_fault(
                frame,
                Some(
                    "neither GS base held the per-CPU block: some entry or exit path swaps GS once too often",
                ),
            );
        }
        let c = &me.counters;
        if swapped != 0 && !frame.from_user() {
            c.paranoid_user_gs_in_ring0.fetch_add(1, Ordering::Relaxed);
        }
        match frame.entry {
            // Counted, never printed: the interrupted code may hold the
            // console's lock.
            2 => {
                c.nmis.fetch_add(1, Ordering::Relaxed);
            }
            1 => debug(frame),
            18 => crate::trap::kernel_fault(
                frame,
                Some("a machine check: the CPU reported a hardware error"),
            ),
            _ => crate::trap::kernel_fault(frame, None),
        }
    }

    /// #DB: the user's single-step in ring 3 kills the thread (as any
    /// ring-3 fault); in ring 0 only SYSENTER's entry region may take one.
    fn debug(frame: &mut KTrapFrame) {
        let dr6: u64;
        // SAFETY: reading and resetting DR6 at CPL 0; the CPU never clears it.
        unsafe {
            core::arch::asm!("mov {}, dr6", out(reg) dr6, options(nomem, nostack));
            core::arch::asm!("mov dr6, {}", in(reg) DR6_CLEAR, options(nomem, nostack));
        }
        if frame.from_user() {
            crate::trap::kill_user(frame);
        }
        if dr6 & DR6_SINGLE_STEP != 0 {
            if crate::syscall::sysenter::in_single_step_region(frame.rip) {
                return; // TF stays set: the stub's pushfq records it
            }
            crate::trap::kernel_fault(frame, Some(KERNEL_SINGLE_STEP_HINT));
        }
        crate::trap::kernel_fault(frame, None)
    }
}
