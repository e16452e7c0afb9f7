//! The SYSCALL/SYSRET path, AMD's fast system call (AMD APM Vol. 2 §6.1.1,
//! Vol. 3 SYSCALL/SYSRET), and the one every 64-bit kernel uses today.
//!
//! SYSCALL saves RIP in RCX and RFLAGS in R11, clears the RFLAGS bits set in
//! SFMASK, and loads CS and SS from STAR[47:32] (CS) and STAR[47:32] + 8
//! (SS) with fixed ring-0 shapes. Unlike `int` and SYSENTER it switches no
//! stack: the entry runs on the user's RSP until it finds its own, which it
//! can only do through GS after `swapgs`. SYSRET returns with RIP = RCX,
//! RFLAGS = R11, CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8.
//!
//! The student writes the MSRs, `KiSystemCall64` and the sysret-safety
//! check; the kernel provides the compatibility-mode entry below.

use crate::percpu::PERCPU_KERNEL_STACK;

/// What a thread killed at the compatibility-mode entry reports as its
/// fault vector: the SYSCALL entry marker (not an exception).
pub const COMPAT_SYSCALL_FAULT: u64 = crate::trap::ENTRY_SYSCALL;

// ANCHOR: compat
/// The target of CSTAR: SYSCALL from 32-bit (compatibility) mode. There is
/// no 32-bit user mode here, so the thread is killed with a clear message.
/// Interrupts are off (SFMASK); switch to the kernel stack first.
///
/// # Safety
/// Only the CPU enters it, through CSTAR; never call it from Rust.
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemCallCompat() {
    core::arch::naked_asm!(
        "swapgs",
        "mov rsp, gs:[{kernel_stack}]",
        "mov rdi, rcx", // the 32-bit caller's return address
        "call {kill}",
        "ud2",
        kernel_stack = const PERCPU_KERNEL_STACK,
        kill = sym compat_syscall,
    );
}

#[cfg(target_os = "none")]
extern "C" fn compat_syscall(rip: u64) -> ! {
    crate::kprintln!(
        "!! SYSCALL from 32-bit compatibility mode at RIP {rip:#x} on CPU {}: \
         this kernel has no 32-bit system calls (CSTAR); user thread killed",
        crate::percpu::cpu_id()
    );
    crate::thread::kill_current(crate::thread::Fault {
        vector: COMPAT_SYSCALL_FAULT,
        error_code: 0,
        rip,
        cs: crate::gdt::USER_CS32 as u64,
        rsp: 0,
        rflags: 0,
        cr2: 0,
    })
}
// ANCHOR_END: compat

/// A stand-in on the host, so that code naming the entry compiles there.
///
/// # Safety
/// Never called: only its address is taken.
#[cfg(not(target_os = "none"))]
#[allow(non_snake_case)]
pub unsafe extern "C" fn KiSystemCallCompat() {}
