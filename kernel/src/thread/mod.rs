//! User threads: one per CPU at a time, started by the test runner.
//!
//! The runner calls [`run_user`] on its own stack (the CPU's idle stack).
//! `enter_user` saves the runner's callee-saved registers and stack pointer
//! in the per-CPU block, then `iretq`s to ring 3. Entries from ring 3 land
//! on the CPU's kernel stack (TSS.RSP0, IA32_SYSENTER_ESP, the SYSCALL
//! stack), never on the runner's. When the thread ends, by the exit trap, a
//! system call or a fault, [`end_current`] restores the runner's stack and
//! registers, and `run_user` returns what happened.

use crate::mode::{ThreadMode, UserMode};
use crate::os::Os;
use crate::percpu::{self, PERCPU_SYSENTER_CS, PERCPU_SYSENTER_SS};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub mod record;
pub use record::{Fault, Thread, ThreadExit};

/// Where a user thread starts and what it gets in RDI, RSI, RDX.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UserStart {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub args: [u64; 3],
    /// The watchdog: how long the thread may run before the LAPIC timer
    /// kills it, in milliseconds (0: no limit, for the benchmark).
    pub watchdog_ms: u64,
    /// 64-bit or 32-bit code, for the thread's whole life (mode.rs).
    pub mode: UserMode,
    /// A 32-bit thread's system: whose service numbers it uses.
    pub system: Os,
}

/// The watchdog for user threads, in milliseconds: far above any test's
/// running time, far below the grader's per-boot timeout, so a thread that
/// loops in ring 3 costs one test, not the boot. The benchmark sets 0
/// (none): its batches may run as long as the user asks.
pub static WATCHDOG_MS: AtomicU64 = AtomicU64::new(8_000);

/// Whether the kernel prints a report for each user thread a fault kills.
/// The fuzzer turns it off: it kills threads by the thousand, judges each
/// end itself, and the reports would flood the serial port.
pub static REPORT_KILLS: AtomicBool = AtomicBool::new(true);

/// Address of the user program's exit trap (`int3` in `syslab_exit`), + 1:
/// the RIP that #BP reports. Set when the user program is loaded.
static EXIT_TRAP_RIP: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records where the user program's `int3` exit trap is.
pub fn set_exit_trap(int3_address: u64) {
    EXIT_TRAP_RIP.store(int3_address + 1, Ordering::Relaxed);
}

/// Whether a #BP at `rip` is the user program's exit trap.
pub fn is_exit_trap(rip: u64) -> bool {
    rip == EXIT_TRAP_RIP.load(Ordering::Relaxed)
}

/// Runs a user thread on this CPU until it ends.
#[cfg(target_os = "none")]
pub fn run_user(start: &UserStart) -> ThreadExit {
    let me = percpu::current();
    // SAFETY: only this CPU touches its thread slot and its thread's mode,
    // and no thread runs on it now.
    unsafe {
        *me.thread.get() = Some(Thread { exit: None });
        *me.thread_mode.get() = ThreadMode::new(start.mode, start.system);
        load_data_selectors(start.mode);
    }
    if start.watchdog_ms != 0 {
        crate::apic::arm_watchdog(start.watchdog_ms);
    }
    // SAFETY: the frame holds user selectors, and the user program is mapped.
    unsafe { enter_user(me.runner_rsp.get(), start) };
    crate::apic::disarm_watchdog();
    // SAFETY: as above; end_current stored the outcome before resuming us.
    let t = unsafe { (*me.thread.get()).take() };
    t.and_then(|t| t.exit)
        .expect("a user thread ended without an exit record")
}

/// Ends the user thread of this CPU with `exit` and returns to the runner.
/// Called from trap and system-call handlers on the kernel stack.
#[cfg(target_os = "none")]
pub fn end_current(exit: ThreadExit) -> ! {
    let me = percpu::current();
    // SAFETY: only this CPU touches its thread slot and runner_rsp.
    unsafe {
        match (*me.thread.get()).as_mut() {
            Some(t) => t.exit = Some(exit),
            None => panic!("no user thread to end on CPU {}", me.cpu),
        }
        resume_runner(*me.runner_rsp.get())
    }
}

/// The exit trap: `int3` at the agreed address, status in RAX.
#[cfg(target_os = "none")]
pub fn exit_current(status: u64) -> ! {
    end_current(ThreadExit::Exited(status))
}

/// A fault from ring 3 kills the thread.
#[cfg(target_os = "none")]
pub fn kill_current(mut fault: Fault) -> ! {
    let me = percpu::current();
    me.counters.user_faults.fetch_add(1, Ordering::Relaxed);
    // SAFETY: only this CPU touches its thread's mode.
    fault.mode = unsafe { (*me.thread_mode.get()).mode };
    end_current(ThreadExit::Killed(fault))
}

/// DS and ES for a thread of `mode`. In 64-bit mode the CPU ignores them,
/// and the `iretq` into ring 3 nulls the kernel's (a DPL-0 selector), so a
/// 64-bit thread starts with 0. In compatibility mode every data access
/// goes through DS or ES, and a null one faults: a 32-bit thread gets the
/// user data selector, as Linux's `start_thread_compat` loads `__USER_DS`.
///
/// # Safety
/// Only on the way into a new user thread (the kernel itself never uses DS
/// or ES in 64-bit mode).
#[cfg(target_os = "none")]
unsafe fn load_data_selectors(mode: UserMode) {
    let selector: u16 = match mode {
        UserMode::Long => 0,
        UserMode::Compat => crate::gdt::USER_DS,
    };
    // SAFETY: a null or DPL-3 data selector is always loadable in ring 0.
    unsafe {
        core::arch::asm!("mov ds, {0:x}", "mov es, {0:x}", in(reg) selector, options(nostack, preserves_flags))
    };
}

/// Saves the runner's context at `*runner_rsp` and enters ring 3.
/// "Returns" when `resume_runner` switches back.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn enter_user(runner_rsp: *mut u64, start: *const UserStart) {
    core::arch::naked_asm!(
        // ANCHOR: enter_user
        // Callee-saved registers of the System V ABI: resume_runner pops them.
        "push rbx",
        "push rbp",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        // The iretq frame: SS, RSP, RFLAGS, CS, RIP; the selectors of the
        // thread's mode, which run_user has just written to this CPU's block.
        "push qword ptr gs:[{user_ss}]",
        "push qword ptr [rsi + {rsp}]",
        "push qword ptr [rsi + {rflags}]",
        "push qword ptr gs:[{user_cs}]",
        "push qword ptr [rsi + {rip}]",
        "mov rdi, [rsi + {arg0}]",
        "mov rdx, [rsi + {arg2}]",
        "mov rsi, [rsi + {arg1}]",
        // Leave nothing of the kernel's in the other registers.
        "xor eax, eax",
        "xor ebx, ebx",
        "xor ecx, ecx",
        "xor ebp, ebp",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        "xor r12d, r12d",
        "xor r13d, r13d",
        "xor r14d, r14d",
        "xor r15d, r15d",
        // Park the kernel GS base in IA32_KERNEL_GS_BASE for the next entry.
        "swapgs",
        "iretq",
        // ANCHOR_END: enter_user
        user_ss = const PERCPU_SYSENTER_SS,
        user_cs = const PERCPU_SYSENTER_CS,
        rip = const core::mem::offset_of!(UserStart, rip),
        rsp = const core::mem::offset_of!(UserStart, rsp),
        rflags = const core::mem::offset_of!(UserStart, rflags),
        arg0 = const core::mem::offset_of!(UserStart, args),
        arg1 = const core::mem::offset_of!(UserStart, args) + 8,
        arg2 = const core::mem::offset_of!(UserStart, args) + 16,
    );
}

// ANCHOR: resume_runner
/// Switches back to the runner's stack saved by `enter_user` and returns
/// from that call. The kernel-stack frames of the ended thread are dropped.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn resume_runner(runner_rsp: u64) -> ! {
    core::arch::naked_asm!(
        "mov rsp, rdi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbp",
        "pop rbx",
        "ret",
    );
}
// ANCHOR_END: resume_runner
