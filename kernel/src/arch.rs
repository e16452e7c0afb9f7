//! Small CPU helpers that need no state: CPUID, halting, port I/O and the
//! QEMU exit device.

/// The initial APIC id, from CPUID.01H:EBX[31:24]. Works before per-CPU
/// data exists and whatever GS holds, which is why fault reports use it.
pub fn apic_id_from_cpuid() -> u32 {
    let r = core::arch::x86_64::__cpuid(1);
    r.ebx >> 24
}

/// The 12-byte vendor string of CPUID leaf 0 ("GenuineIntel", "AuthenticAMD").
pub fn cpu_vendor() -> [u8; 12] {
    let r = core::arch::x86_64::__cpuid(0);
    let mut v = [0u8; 12];
    v[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    v[4..8].copy_from_slice(&r.edx.to_le_bytes());
    v[8..12].copy_from_slice(&r.ecx.to_le_bytes());
    v
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The port write must not break memory safety (no DMA set-up, etc.).
#[cfg(target_os = "none")]
pub unsafe fn outb(port: u16, value: u8) {
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack))
    };
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// Reading the port must have no side effect that breaks memory safety.
#[cfg(target_os = "none")]
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    unsafe { core::arch::asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack)) };
    v
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli; hlt only stops this CPU.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// How a run ends, as the value written to QEMU's isa-debug-exit device
/// (iobase 0xf4). QEMU exits with status `(value << 1) | 1`, so a kernel can
/// never produce status 0; PROTOCOL.md maps these to the grader's verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Every selected test ran (QEMU status 33).
    Done = 0x10,
    /// A fault or panic in ring 0 stopped the kernel (QEMU status 35).
    KernelFault = 0x11,
}

/// Ends the QEMU run. Without the exit device (a real machine) it halts.
pub fn qemu_exit(code: ExitCode) -> ! {
    #[cfg(target_os = "none")]
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit; writing it ends the VM.
    unsafe {
        core::arch::asm!("out dx, eax", in("dx") 0xf4u16, in("eax") code as u32, options(nomem, nostack));
    }
    let _ = code;
    halt_forever()
}

/// Masks every line of both legacy 8259 PICs (ports 0x21 and 0xA1).
/// SeaBIOS leaves IRQ0 unmasked, and a pending timer interrupt would slow
/// and disturb every measurement (FACTS.md). The kernel uses the LAPIC only.
#[cfg(target_os = "none")]
pub fn mask_legacy_pic() {
    // SAFETY: writing the PICs' interrupt-mask registers only masks lines.
    unsafe {
        outb(0x21, 0xFF);
        outb(0xA1, 0xFF);
    }
}
