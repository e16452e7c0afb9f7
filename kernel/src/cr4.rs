//! CR4 features the kernel turns on where the CPU has them.
//!
//! UMIP (User-Mode Instruction Prevention, CR4 bit 11; Intel SDM Vol. 3A
//! §2.5 "Control Registers"): with it set, `sgdt`, `sidt`, `sldt`, `smsw`
//! and `str` raise #GP at CPL > 0, so ring 3 can no longer read the GDT's
//! and IDT's addresses, which give away where the kernel lives. CPUID
//! leaf 7 (subleaf 0) reports it in ECX bit 2. QEMU's `qemu64` model does
//! not have it (its CR4 reads 0x20); `-cpu max` does. Where it is missing
//! the kernel says so at boot instead of pretending.

/// CR4.UMIP.
pub const UMIP: u64 = 1 << 11;

/// Whether the CPU reports UMIP (CPUID.(EAX=7,ECX=0):ECX[2]).
pub fn cpu_has_umip() -> bool {
    let max_leaf = core::arch::x86_64::__cpuid(0).eax;
    max_leaf >= 7 && core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 2) != 0
}

/// CR4 of the running CPU.
#[cfg(target_os = "none")]
pub fn read() -> u64 {
    let cr4: u64;
    // SAFETY: reading CR4 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack)) };
    cr4
}

/// Turns on, on the running CPU, what it has of the features above, and
/// says what for the boot line: "UMIP on" or why not.
#[cfg(target_os = "none")]
pub fn enable() -> &'static str {
    if !cpu_has_umip() {
        return "UMIP absent (CPUID.7:ECX[2] = 0): ring 3 can read the GDT and IDT bases with sgdt/sidt";
    }
    // SAFETY: UMIP only makes five instructions fault in ring 3; the kernel
    // runs none of them in ring 3.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) read() | UMIP, options(nomem, nostack)) };
    "UMIP on"
}
