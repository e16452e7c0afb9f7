//! The ring-transition self-test, run once at boot on the boot CPU.
//!
//! Some virtual machines cannot run the labs at all: on this course's
//! machines /dev/kvm is a paravirtual KVM under which `int n` from ring 3
//! raises #UD, `syscall` jumps to LSTAR but stays at CPL 3, and `sysenter`
//! raises #UD (FACTS.md). Rather than failing every lab test in puzzling
//! ways, the kernel tries each instruction once with a throwaway entry
//! point and reports what happened in an `info selftest` line.

use crate::gdt::KERNEL_CS;
use crate::idt::{Gate, GateType};
use crate::msr;
use crate::thread::ThreadExit;
use syslab_abi::user_test;

/// A DPL-3 gate lent to the probe and taken back afterwards.
pub const PROBE_VECTOR: u8 = 0x81;
/// Exit statuses of threads that reached ring 0 through each instruction.
const REACHED_INT: u64 = 0x1_0081;
const REACHED_SYSCALL: u64 = 0x1_5CA1;
const REACHED_SYSENTER: u64 = 0x1_5E7E;

/// Whether a trap from ring 3 is the probe gate (trap.rs asks).
pub fn is_probe(vector: u64) -> bool {
    vector == PROBE_VECTOR as u64 && crate::idt::gate(PROBE_VECTOR).dpl() == 3
}

/// The probe gate's thread reached ring 0: end it with the proof.
#[cfg(target_os = "none")]
pub fn probe_reached() -> ! {
    crate::thread::exit_current(REACHED_INT)
}

#[cfg(target_os = "none")]
extern "C" fn syscall_reached() -> ! {
    crate::thread::exit_current(REACHED_SYSCALL)
}

#[cfg(target_os = "none")]
extern "C" fn sysenter_reached() -> ! {
    crate::thread::exit_current(REACHED_SYSENTER)
}

/// LSTAR during the probe. SYSCALL leaves the user RSP, so switch stacks
/// first; CPL 0 is proven by `swapgs` not faulting.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn probe_syscall_entry() {
    core::arch::naked_asm!(
        "swapgs",
        "mov rsp, gs:[{stack}]",
        "call {reached}",
        stack = const crate::percpu::PERCPU_KERNEL_STACK,
        reached = sym syscall_reached,
    );
}

/// IA32_SYSENTER_EIP during the probe; the stack comes from the MSR.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn probe_sysenter_entry() {
    core::arch::naked_asm!("swapgs", "call {reached}", reached = sym sysenter_reached);
}

/// One probe's verdict for the report line: `ok`, `ud` (the instruction
/// raised #UD in ring 3), `cpl3` (it reached `entry`, but still at CPL 3,
/// so the first kernel instruction faulted), or `#XX@rip` for anything else.
#[cfg(target_os = "none")]
fn verdict(exit: ThreadExit, reached: u64, entry: u64) -> alloc::string::String {
    match exit {
        ThreadExit::Exited(s) if s == reached => "ok".into(),
        ThreadExit::Killed(f) if f.vector == 6 => "ud".into(),
        ThreadExit::Killed(f) if f.rip == entry => "cpl3".into(),
        ThreadExit::Killed(f) => {
            alloc::format!("{}@{:#x}", crate::frame::vector_mnemonic(f.vector), f.rip)
        }
        ThreadExit::Exited(s) => alloc::format!("exit-{s:#x}"),
    }
}

/// Runs the probes and prints `info selftest int=.. syscall=.. sysenter=.. ring3=ok|broken`.
#[cfg(target_os = "none")]
pub fn run() {
    let me = crate::percpu::current();
    let intel = &crate::arch::cpu_vendor() == b"GenuineIntel";
    let stub = crate::idt::stub_address(PROBE_VECTOR);
    crate::idt::with_idt(|idt| {
        idt[PROBE_VECTOR] = Gate::new(stub, KERNEL_CS, GateType::Interrupt, 3, 0)
    });
    let int = verdict(
        crate::test::user::run(me, user_test::PROBE_INT, 0),
        REACHED_INT,
        stub,
    );
    crate::idt::with_idt(|idt| idt[PROBE_VECTOR] = crate::idt::default_gate(PROBE_VECTOR));

    // SAFETY: the MSRs point at the probe entries only while the probes
    // run, and are cleared afterwards.
    let syscall = unsafe {
        let efer = msr::read(msr::IA32_EFER);
        msr::write(msr::IA32_EFER, efer | msr::efer::SCE);
        msr::write(msr::IA32_STAR, (KERNEL_CS as u64) << 32);
        msr::write(msr::IA32_LSTAR, probe_syscall_entry as *const () as u64);
        msr::write(
            msr::IA32_FMASK,
            crate::frame::rflags::IF | crate::frame::rflags::TF,
        );
        let v = verdict(
            crate::test::user::run(me, user_test::PROBE_SYSCALL, 0),
            REACHED_SYSCALL,
            probe_syscall_entry as *const () as u64,
        );
        msr::write(msr::IA32_LSTAR, 0);
        msr::write(msr::IA32_STAR, 0);
        msr::write(msr::IA32_EFER, efer);
        v
    };
    let sysenter = if intel {
        // SAFETY: as above.
        unsafe {
            msr::write(msr::IA32_SYSENTER_CS, KERNEL_CS as u64);
            msr::write(msr::IA32_SYSENTER_ESP, me.kernel_stack_top);
            msr::write(
                msr::IA32_SYSENTER_EIP,
                probe_sysenter_entry as *const () as u64,
            );
            let v = verdict(
                crate::test::user::run(me, user_test::PROBE_SYSENTER, 0),
                REACHED_SYSENTER,
                probe_sysenter_entry as *const () as u64,
            );
            for m in [
                msr::IA32_SYSENTER_CS,
                msr::IA32_SYSENTER_ESP,
                msr::IA32_SYSENTER_EIP,
            ] {
                msr::write(m, 0);
            }
            v
        }
    } else {
        "skipped".into() // #UD on AMD in 64-bit mode, by design
    };
    let broken = int != "ok" || syscall != "ok" || (intel && sysenter != "ok");
    crate::proto!(
        "info selftest int={int} syscall={syscall} sysenter={sysenter} ring3={}",
        if broken { "broken" } else { "ok" }
    );
}
