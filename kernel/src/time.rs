//! Time: the TSC, calibrated against the PIT at boot.
//!
//! CPUID leaves 0x15/0x16 are absent under QEMU, so the TSC frequency is
//! measured: PIT channel 2 counts a known interval with its gate on port
//! 0x61 while the TSC runs. The first measurement after boot reads high
//! (FACTS.md), so it is thrown away.

use core::sync::atomic::{AtomicU64, Ordering};

/// The PIT's input clock, Hz.
const PIT_HZ: u64 = 1_193_182;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is unprivileged by default (CR4.TSD clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per millisecond, once calibrated (0 before).
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// Busy-waits for `us` microseconds.
pub fn udelay(us: u64) {
    let khz = tsc_khz().max(1_000_000); // assume 1 GHz before calibration
    let end = rdtsc() + us * khz / 1000;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}

/// Measures TSC ticks during `ms` milliseconds of PIT channel 2.
#[cfg(target_os = "none")]
fn measure(ms: u64) -> u64 {
    use crate::arch::{inb, outb};
    let count = PIT_HZ * ms / 1000;
    // SAFETY: ports 0x42, 0x43 and 0x61 drive PIT channel 2 and its gate,
    // which nothing else uses.
    unsafe {
        let gate = inb(0x61);
        outb(0x61, (gate & !0x02) | 0x01); // speaker off, gate on
        outb(0x43, 0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        outb(0x42, count as u8);
        outb(0x42, (count >> 8) as u8);
        // Restart the count by toggling the gate.
        let g = inb(0x61);
        outb(0x61, g & !0x01);
        outb(0x61, g | 0x01);
        let start = rdtsc();
        while inb(0x61) & 0x20 == 0 {} // OUT2 goes high at terminal count
        let end = rdtsc();
        outb(0x61, gate);
        end - start
    }
}

/// Calibrates the TSC: discards one measurement, keeps the next.
#[cfg(target_os = "none")]
pub fn calibrate() {
    let _ = measure(10);
    let ticks = measure(20);
    TSC_KHZ.store(ticks / 20, Ordering::Relaxed);
}
