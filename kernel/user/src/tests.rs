//! The user halves of the kernel's tests.

use crate::rt::report;
use syslab_abi::user_test::*;

/// Dispatches on the test id the kernel passed in RDI.
pub extern "C" fn user_main(test: u64, cpu: u64, arg: u64) -> u64 {
    match test {
        EXIT_OK => EXIT_OK_STATUS,
        READ => {
            // SAFETY: deliberately unsafe: the test wants the fault.
            unsafe { core::ptr::read_volatile(arg as *const u8) };
            EXIT_OK_STATUS
        }
        WRITE => {
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(arg as *mut u8, 0xCC) };
            EXIT_OK_STATUS
        }
        PRIVILEGED => {
            privileged(arg);
            EXIT_OK_STATUS
        }
        JUMP => {
            // SAFETY: as above: the target is not meant to run.
            let f: extern "C" fn() = unsafe { core::mem::transmute(arg as usize) };
            f();
            EXIT_OK_STATUS
        }
        INT_2D => {
            // SAFETY: the gate's DPL is 0: the CPU raises #GP instead.
            unsafe { core::arch::asm!("int 0x2d") };
            EXIT_OK_STATUS
        }
        DESCRIPTOR_TABLES => {
            // sgdt/sidt store a 2-byte limit and an 8-byte base.
            let (mut gdt, mut idt) = ([0u8; 10], [0u8; 10]);
            // SAFETY: with CR4.UMIP both raise #GP, which the kernel reports.
            unsafe {
                core::arch::asm!("sgdt [{}]", "sidt [{}]", in(reg) gdt.as_mut_ptr(), in(reg) idt.as_mut_ptr())
            };
            let r = report(cpu);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            r.words[0] = word(&gdt[2..10]);
            r.words[1] = word(&idt[2..10]);
            r.words[2] = u16::from_le_bytes([gdt[0], gdt[1]]) as u64;
            r.words[3] = u16::from_le_bytes([idt[0], idt[1]]) as u64;
            EXIT_OK_STATUS
        }
        WHOAMI => {
            let (cs, rsp): (u64, u64);
            // SAFETY: reads registers only.
            unsafe { core::arch::asm!("mov {:r}, cs", "mov {}, rsp", out(reg) cs, out(reg) rsp) };
            let r = report(cpu);
            r.words[0] = cs;
            r.words[1] = rsp;
            r.words[2] = cpu;
            EXIT_OK_STATUS
        }
        // SAFETY (all three): the kernel's probe entries end the thread.
        PROBE_INT => {
            unsafe { core::arch::asm!("int 0x81") };
            0xBAD_0081
        }
        PROBE_SYSCALL => {
            unsafe { core::arch::asm!("syscall", out("rcx") _, out("r11") _) };
            0xBAD_5CA1
        }
        PROBE_SYSENTER => {
            unsafe { core::arch::asm!("mov rcx, rsp", "sysenter", out("rcx") _, out("rdx") _) };
            0xBAD_5E7E
        }
        t if (INT2E_STATUS..=INT2E_TERMINATE).contains(&t) => crate::lab1::run(t, cpu, arg),
        BENCH => crate::bench::run(cpu, arg),
        syslab_abi::fuzz::FUZZ_TEST => crate::fuzz::run(cpu),
        t if (P_NULL..=P_GS_LOOP).contains(&t) => crate::paths::run(t, cpu, arg),
        SPIN => loop {
            core::hint::spin_loop();
        },
        _ => 0xBAD_7E57,
    }
}

/// Tries privileged instruction number `which` (PRIVILEGED_NAMES).
fn privileged(which: u64) {
    // SAFETY: every one of these raises #GP at CPL 3.
    unsafe {
        match which {
            0 => core::arch::asm!("hlt"),
            1 => core::arch::asm!("cli"),
            2 => core::arch::asm!("mov rax, cr3", out("rax") _),
            3 => core::arch::asm!("wrmsr", in("ecx") 0xC000_0101u32, in("eax") 0, in("edx") 0),
            _ => core::arch::asm!("in al, dx", in("dx") 0x3f8u16, out("al") _),
        }
    }
}
