//! The exception entry path and the fault reports.
//!
//! Exceptions and interrupts enter through the 256 stubs below and
//! `trap_common`, which builds a [`KTrapFrame`] (frame.rs) and calls
//! [`trap_dispatch`].
//! The three system-call entries of the labs (int 0x2e, SYSENTER, SYSCALL)
//! build the very same frame themselves, so one dispatcher and one exit
//! decision serve them all.

use crate::percpu;

// The frame's layout is in frame.rs, a leaf module; the labs import it from here.
pub use crate::frame::{
    ENTRY_SYSCALL, ENTRY_SYSCALL32, ENTRY_SYSENTER, KTRAP_FRAME_RIP, KTRAP_FRAME_SIZE, KTrapFrame,
    rflags,
};

/// Decodes a page-fault error code (Intel SDM Vol. 3A §5.7, Figure 5-12).
pub fn describe_pf_error(code: u64) -> (&'static str, &'static str, &'static str, &'static str) {
    (
        if code & 1 != 0 {
            "protection violation"
        } else {
            "page not present"
        },
        if code & 2 != 0 { "write" } else { "read" },
        if code & 4 != 0 {
            "from ring 3"
        } else {
            "from ring 0"
        },
        if code & 16 != 0 {
            ", instruction fetch"
        } else {
            ""
        },
    )
}

/// The general registers of a [`KTrapFrame`], pushed RAX first and R15 last
/// (the kernel's own entries; the students' stubs write theirs out).
#[cfg(target_os = "none")]
macro_rules! save_registers {
    () => {
        "push rax; push rbx; push rcx; push rdx; push rsi; push rdi; push rbp; push r8
         push r9; push r10; push r11; push r12; push r13; push r14; push r15"
    };
}

/// The same registers popped, R15 first.
#[cfg(target_os = "none")]
macro_rules! restore_registers {
    () => {
        "pop r15; pop r14; pop r13; pop r12; pop r11; pop r10; pop r9; pop r8
         pop rbp; pop rdi; pop rsi; pop rdx; pop rcx; pop rbx; pop rax"
    };
}

/// Known kernel flags on entry: the Rust ABI wants DF clear, and a user's AC
/// must not reach the kernel (it would switch SMAP off). An interrupt gate
/// clears IF, TF, NT and RF but neither of those two, and `clac` is #UD
/// without SMAP (qemu64), so load RFLAGS whole. IF stays clear: 2 is only
/// the always-one bit.
#[cfg(target_os = "none")]
macro_rules! kernel_flags {
    () => {
        "push 2; popfq"
    };
}

#[cfg(target_os = "none")]
pub(crate) use {kernel_flags, restore_registers, save_registers};

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::arch::{ExitCode, qemu_exit};
    use crate::frame::{vector_mnemonic, vector_name};
    use crate::{kprint, kprintln, proto};

    // The 256 entry stubs, 16 bytes apart so that idt.rs can compute each
    // one's address. Each pushes a zero where the CPU pushes no error code,
    // then the vector number, and jumps to the common path: the paranoid
    // one for #DB, NMI, #DF and #MC (idt::PARANOID, paranoid.rs).
    core::arch::global_asm!(
        ".pushsection .text.trap_stubs, \"ax\"",
        ".p2align 4",
        ".global trap_stubs",
        "trap_stubs:",
        ".set vec, 0",
        ".rept 256",
        ".p2align 4",
        ".if (vec == 8) | (vec == 10) | (vec == 11) | (vec == 12) | (vec == 13) | (vec == 14) | (vec == 17) | (vec == 21) | (vec == 29) | (vec == 30)",
        "    push offset vec",
        ".else",
        "    push 0",
        "    push offset vec",
        ".endif",
        ".if (vec == 1) | (vec == 2) | (vec == 8) | (vec == 18)",
        "    jmp {paranoid}",
        ".else",
        "    jmp {common}",
        ".endif",
        ".set vec, vec + 1",
        ".endr",
        ".popsection",
        common = sym trap_common,
        paranoid = sym crate::paranoid::paranoid_common,
    );

    // ANCHOR: trap_common
    /// Builds the frame and calls `trap_dispatch`: the model of every entry
    /// stub in the labs, annotated instruction by instruction.
    ///
    /// On entry (Intel SDM Vol. 3A §7.14.2, the 64-bit interrupt stack
    /// frame): the CPU has aligned RSP to 16, switched to TSS.RSP0 if it
    /// came from ring 3 (or to an IST stack), and pushed SS, RSP, RFLAGS,
    /// CS and RIP; the stub in `trap_stubs` then pushed the error code (a 0
    /// where the CPU pushes none) and the vector. So `[rsp]` = vector
    /// (`KTrapFrame::entry`), `[rsp+8]` = error code, `[rsp+16]` = RIP,
    /// `[rsp+24]` = CS. IF is clear (every kernel gate is an interrupt
    /// gate), GS is whatever the interrupted code had.
    #[unsafe(naked)]
    unsafe extern "C" fn trap_common() {
        core::arch::naked_asm!(
            // Where did the CPU come from? The RPL bits of the saved CS
            // (KTrapFrame::cs, 24 bytes up now) are the CPL it interrupted.
            // Test it before any push moves the offset.
            "test byte ptr [rsp + 24], 3",
            // From ring 0, GS already holds the kernel's base: swapping
            // would hand the kernel the user's.
            "jz 2f",
            // From ring 3, GS holds the user's base. SWAPGS exchanges it
            // with IA32_KERNEL_GS_BASE (SDM Vol. 2B, SWAPGS), the per-CPU
            // block. First, before anything could use gs:.
            "swapgs",
            "2:",
            // The general registers, in the reverse order of KTrapFrame's
            // fields: the stack grows down, so the last push (R15) is the
            // first field, at the lowest address. Nothing is touched before
            // it is saved (the `test` above changed only RFLAGS, which the
            // CPU has saved already).
            "push rax", // KTrapFrame::rax
            "push rbx", // KTrapFrame::rbx
            "push rcx", // KTrapFrame::rcx
            "push rdx", // KTrapFrame::rdx
            "push rsi", // KTrapFrame::rsi
            "push rdi", // KTrapFrame::rdi
            "push rbp", // KTrapFrame::rbp
            "push r8",  // KTrapFrame::r8
            "push r9",  // KTrapFrame::r9
            "push r10", // KTrapFrame::r10
            "push r11", // KTrapFrame::r11
            "push r12", // KTrapFrame::r12
            "push r13", // KTrapFrame::r13
            "push r14", // KTrapFrame::r14
            "push r15", // KTrapFrame::r15: RSP now points at the whole frame
            // The System V ABI's first argument: &mut KTrapFrame. 22 words
            // = 176 bytes above an aligned RSP, so RSP is 16-byte aligned at
            // the call, as the ABI requires.
            "mov rdi, rsp",
            // Known kernel flags: the ABI wants DF clear in Rust code, and
            // a user's AC must not reach ring 0 (with SMAP it would let the
            // kernel touch user pages unchecked). An interrupt gate clears
            // IF, TF, NT and RF, but neither DF nor AC (SDM Vol. 3A
            // §7.12.1.3), and `clac` is #UD on a CPU without SMAP (qemu64):
            // so load RFLAGS whole. 2 is just the always-one bit; IF stays 0.
            "push 2",
            "popfq",
            "call {dispatch}",
            // The way out mirrors the way in: pop in the reverse order of
            // the pushes, so every register gets back its frame field, with
            // whatever the dispatcher wrote there (a status in RAX).
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop r11",
            "pop r10",
            "pop r9",
            "pop r8",
            "pop rbp",
            "pop rdi",
            "pop rsi",
            "pop rdx",
            "pop rcx",
            "pop rbx",
            "pop rax",
            // Back to ring 3? Test the CS that iretq will load (24 bytes up
            // again), not the one the CPU came from: the dispatcher may have
            // changed the frame. Only then give the user its GS again.
            "test byte ptr [rsp + 24], 3",
            "jz 3f",
            "swapgs",
            "3:",
            // iretq pops RIP, CS, RFLAGS, RSP and SS (SDM Vol. 2A, IRET):
            // drop the vector and the error code first.
            "add rsp, 16",
            "iretq",
            dispatch = sym trap_dispatch,
        );
    }
    // ANCHOR_END: trap_common

    /// Every exception and interrupt that the kernel's own gates receive.
    extern "C" fn trap_dispatch(frame: &mut KTrapFrame) {
        let vector = frame.entry;
        // The wake-up IPI (smp.rs) needs only its EOI, in either ring; the
        // LAPIC's spurious vector needs nothing at all.
        if vector == crate::apic::VECTOR_WAKEUP as u64 {
            crate::apic::eoi();
            return;
        }
        if vector == crate::apic::VECTOR_SPURIOUS as u64 {
            return;
        }
        if vector == crate::apic::VECTOR_TIMER as u64 {
            crate::apic::eoi();
            if frame.from_user() {
                report(
                    frame,
                    0,
                    "the watchdog expired: the thread ran too long without leaving ring 3",
                );
                crate::thread::kill_current(crate::thread::Fault::from_frame(frame, 0));
            }
            return; // a stale expiry after the thread ended
        }
        if frame.from_user() {
            if vector == 3 && crate::thread::is_exit_trap(frame.rip) {
                crate::thread::exit_current(frame.rax);
            }
            if crate::selftest::is_probe(vector) {
                crate::selftest::probe_reached();
            }
            kill_user(frame);
        }
        if crate::usercopy::fixup(frame) || crate::msr::fixup(frame) {
            return;
        }
        if let Some(fault) = failed_return_to_user(frame) {
            // The stub had already given the user its GS back.
            if let Some(me) = percpu::by_cpuid_apic_id()
                && percpu::gs_base() != me.self_ptr as u64
            {
                // SAFETY: GS holds the user's base; swap the kernel's back in.
                unsafe { core::arch::asm!("swapgs", options(nomem, nostack)) };
            }
            kprintln!(
                "!! iretq back to ring 3 raised #GP in ring 0 on CPU {}: the return RIP {:#x} is not canonical",
                percpu::cpu_id(),
                fault.rip
            );
            crate::thread::kill_current(fault);
        }
        kernel_fault(frame, None);
    }

    /// A fault from ring 3: report it and kill the thread.
    pub(crate) fn kill_user(frame: &KTrapFrame) -> ! {
        let fault = crate::thread::Fault::from_frame(frame, read_cr2());
        // The fuzzer kills threads on purpose, by the thousand: no report.
        if crate::thread::REPORT_KILLS.load(core::sync::atomic::Ordering::Relaxed) {
            report(frame, fault.cr2, "user thread killed");
        }
        crate::thread::kill_current(fault)
    }

    /// A #GP in ring 0 on an `iretq` whose frame returns to ring 3: the
    /// kernel was sending a thread back to a non-canonical RIP (IRET checks
    /// it, SDM Vol. 2A IRET). That is the thread's fault, not the kernel's,
    /// like Linux's bad-IRET fixup. Returns the fault to kill it with.
    fn failed_return_to_user(frame: &KTrapFrame) -> Option<crate::thread::Fault> {
        const IRETQ: [u8; 2] = [0x48, 0xCF];
        if frame.entry != 13 || frame.from_user() {
            return None;
        }
        // SAFETY: a ring-0 fault's RIP is in kernel text, and its RSP on a
        // kernel stack holding the iretq frame (RIP, CS, RFLAGS, RSP, SS).
        let (insn, iret) = unsafe {
            (
                core::ptr::read_unaligned(frame.rip as *const [u8; 2]),
                *(frame.rsp as *const [u64; 5]),
            )
        };
        let [rip, cs, rflags, rsp, _ss] = iret;
        (insn == IRETQ && cs & 3 == 3).then_some(crate::thread::Fault {
            vector: 13,
            error_code: frame.error_code,
            rip,
            cs,
            rsp,
            rflags,
            cr2: 0,
            mode: crate::mode::UserMode::Long,
        })
    }

    fn read_cr2() -> u64 {
        let cr2: u64;
        // SAFETY: reading CR2 has no side effect.
        unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        cr2
    }

    /// Prints the human-readable report of a trap, in one piece so that
    /// another CPU's output cannot land in the middle of it.
    fn report(frame: &KTrapFrame, cr2: u64, what: &str) {
        let cpu = percpu::by_cpuid_apic_id()
            .map(|c| c.cpu as i64)
            .unwrap_or(-1);
        let f = frame;
        let pf = if f.entry == 14 {
            let (p, w, u, i) = describe_pf_error(f.error_code);
            alloc::format!(
                "   error code {:#x} ({p}, {w}, {u}{i}), CR2 {cr2:#018x}\n",
                f.error_code
            )
        } else if f.error_code != 0 {
            alloc::format!("   error code {:#x}\n", f.error_code)
        } else {
            alloc::string::String::new()
        };
        kprint!(
            "!! {} in ring {} on CPU {cpu}: {what}\n{pf}\
             \x20  RIP {:#018x}  CS {:#06x}  RFLAGS {:#018x}\n\
             \x20  RSP {:#018x}  SS {:#06x}\n\
             \x20  RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}\n\
             \x20  RSI {:#018x} RDI {:#018x} RBP {:#018x} R8  {:#018x}\n",
            vector_name(f.entry),
            f.cs & 3,
            f.rip,
            f.cs,
            f.rflags,
            f.rsp,
            f.ss,
            f.rax,
            f.rbx,
            f.rcx,
            f.rdx,
            f.rsi,
            f.rdi,
            f.rbp,
            f.r8
        );
    }

    /// A fault in ring 0: report it, tell the grader, end the run. `known`
    /// is the caller's hint, when it knows better than the table below.
    pub(crate) fn kernel_fault(frame: &KTrapFrame, known: Option<&str>) -> ! {
        crate::serial::hold();
        let cr2 = read_cr2();
        report(frame, cr2, "kernel fault");
        let me = percpu::by_cpuid_apic_id();
        let mut hint = known.unwrap_or("");
        let stub;
        if let (Some(me), None) = (me, known) {
            let gs = percpu::gs_base();
            if gs != me.self_ptr as u64 {
                kprintln!(
                    "   IA32_GS_BASE is {gs:#x}, but this CPU's block is at {:#x}",
                    me.self_ptr as u64
                );
                stub = alloc::format!(
                    "GS does not point at the per-CPU block: an entry or exit path is missing a swapgs, has one too many, or tests CS in the wrong frame slot{}",
                    entry_stub_of_call(me)
                );
                hint = &stub;
            }
            if frame.entry == 8
                || me.kernel_stack.bottom.saturating_sub(4096) <= frame.rsp
                    && frame.rsp < me.kernel_stack.bottom
            {
                hint = "the kernel stack overflowed into its guard page, or TSS.RSP0/IST points at a bad stack";
            }
        }
        let cpu = me.map(|c| c.cpu as i64).unwrap_or(-1);
        let test = me.map(crate::test::current_test_name).unwrap_or("-");
        let mut line = crate::test::LineBuf::new();
        use core::fmt::Write;
        let _ = write!(
            line,
            "fault {test} cpu={cpu} kind={} rip={:#x} ring={}",
            vector_mnemonic(frame.entry),
            frame.rip,
            frame.cs & 3
        );
        if frame.entry == 14 {
            let _ = write!(line, " cr2={cr2:#x}");
        }
        if !hint.is_empty() {
            let _ = write!(line, " hint={hint}");
        }
        proto!("{}", line.as_str());
        qemu_exit(ExitCode::KernelFault)
    }

    /// The stub whose system call this CPU is in, from the frame at the top
    /// of its kernel stack (where every entry from ring 3 builds it), for
    /// hints: "; the call came in through KiFastCallEntry (sysenter)".
    fn entry_stub_of_call(me: &percpu::PerCpu) -> &'static str {
        let top = me.kernel_stack.top;
        let frame = (top - KTRAP_FRAME_SIZE as u64) as *const KTrapFrame;
        // SAFETY: the kernel stack is mapped; the words may be stale, which
        // only makes the hint less precise.
        let (entry, cs) = unsafe { ((*frame).entry, (*frame).cs) };
        match (entry, cs & 3) {
            (0x2E, 3) => "; the call on this CPU came in through KiSystemService (int 0x2e)",
            (ENTRY_SYSENTER, 3) => {
                "; the call on this CPU came in through KiFastCallEntry (sysenter)"
            }
            (ENTRY_SYSCALL, 3) => "; the call on this CPU came in through KiSystemCall64 (syscall)",
            (ENTRY_SYSCALL32, 3) => {
                "; the call on this CPU came in through KiSystemCall32 (syscall from 32-bit code)"
            }
            _ => "",
        }
    }
}

#[cfg(target_os = "none")]
pub(crate) use imp::{kernel_fault, kill_user};
