//! Model-specific registers, by their manual names (Intel SDM Vol. 4
//! "Model-Specific Registers"; AMD APM Vol. 2 Appendix A).
//!
//! MSRs are per CPU: writing one on the boot CPU leaves the APs' copies
//! untouched, which is why every CPU programs its own.

/// IA32_SYSENTER_CS: the kernel CS that SYSENTER loads (SS = CS + 8).
pub const IA32_SYSENTER_CS: u32 = 0x174;
/// IA32_SYSENTER_ESP: the kernel stack pointer that SYSENTER loads (all 64 bits in long mode).
pub const IA32_SYSENTER_ESP: u32 = 0x175;
/// IA32_SYSENTER_EIP: the kernel entry point that SYSENTER jumps to.
pub const IA32_SYSENTER_EIP: u32 = 0x176;
/// IA32_EFER: SCE (bit 0), LME (8), LMA (10), NXE (11).
pub const IA32_EFER: u32 = 0xC000_0080;
/// STAR: SYSRET's user selector base in 63:48, SYSCALL's kernel base in 47:32.
pub const IA32_STAR: u32 = 0xC000_0081;
/// LSTAR: the 64-bit SYSCALL entry point.
pub const IA32_LSTAR: u32 = 0xC000_0082;
/// CSTAR: the compatibility-mode SYSCALL entry point.
pub const IA32_CSTAR: u32 = 0xC000_0083;
/// SFMASK (IA32_FMASK): RFLAGS bits that SYSCALL clears.
pub const IA32_FMASK: u32 = 0xC000_0084;
/// IA32_FS_BASE.
pub const IA32_FS_BASE: u32 = 0xC000_0100;
/// IA32_GS_BASE: the GS base in use now.
pub const IA32_GS_BASE: u32 = 0xC000_0101;
/// IA32_KERNEL_GS_BASE: the value that `swapgs` exchanges with IA32_GS_BASE.
pub const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// IA32_EFER bits.
pub mod efer {
    /// System-call extensions: SYSCALL/SYSRET are enabled.
    pub const SCE: u64 = 1 << 0;
    /// Long mode enable.
    pub const LME: u64 = 1 << 8;
    /// Long mode active (read-only).
    pub const LMA: u64 = 1 << 10;
    /// No-execute enable: page-table bit 63 is honoured.
    pub const NXE: u64 = 1 << 11;
}

/// Reads an MSR.
///
/// # Safety
/// `msr` must exist on this CPU, or RDMSR raises #GP.
pub unsafe fn read(msr: u32) -> u64 {
    unsafe { x86::msr::rdmsr(msr) }
}

/// Writes an MSR.
///
/// # Safety
/// `msr` must exist and the value must not break the kernel's invariants
/// (e.g. a wrong GS base or entry point).
pub unsafe fn write(msr: u32, value: u64) {
    unsafe { x86::msr::wrmsr(msr, value) }
}

/// IA32_BIOS_SIGN_ID: the microcode update signature in bits 63:32.
pub const IA32_BIOS_SIGN_ID: u32 = 0x8B;

#[cfg(target_os = "none")]
mod checked {
    // ANCHOR: read_checked
    /// RDMSR of `msr` into `*out`; returns 0, or 1 if RDMSR raised #GP
    /// (no such MSR on this CPU). Only the `rdmsr` at `msr_read_insn` may
    /// fault: trap.rs resumes a #GP there at `msr_read_fixup`.
    #[unsafe(naked)]
    pub unsafe extern "C" fn read(msr: u32, out: *mut u64) -> u64 {
        core::arch::naked_asm!(
            "mov ecx, edi", // RDMSR takes the MSR number in ECX
            ".global msr_read_insn",
            "msr_read_insn:",
            "rdmsr", // EDX:EAX = the MSR
            "shl rdx, 32",
            "or rax, rdx",
            "mov [rsi], rax",
            "xor eax, eax",
            "ret",
            ".global msr_read_fixup",
            "msr_read_fixup:",
            "mov eax, 1",
            "ret",
        );
    }
    // ANCHOR_END: read_checked

    unsafe extern "C" {
        pub static msr_read_insn: u8;
        pub static msr_read_fixup: u8;
    }
}

/// Reads an MSR that may not exist: `None` where RDMSR raises #GP. The
/// `kd>` prompt's `rdmsr N` reads whatever number the user types this way.
pub fn read_checked(msr: u32) -> Option<u64> {
    #[cfg(target_os = "none")]
    {
        let mut value = 0;
        // SAFETY: a #GP at the one RDMSR is fixed up into the error return.
        let failed = unsafe { checked::read(msr, &mut value) };
        (failed == 0).then_some(value)
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = msr;
        None
    }
}

/// If a ring-0 #GP happened at [`read_checked`]'s RDMSR, resume at its
/// error exit and return true. Called by the trap handler.
pub fn fixup(frame: &mut crate::frame::KTrapFrame) -> bool {
    #[cfg(target_os = "none")]
    {
        let insn = &raw const checked::msr_read_insn as u64;
        if frame.entry == 13 && frame.rip == insn {
            frame.rip = &raw const checked::msr_read_fixup as u64;
            return true;
        }
    }
    let _ = frame;
    false
}
