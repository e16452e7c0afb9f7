//! The local APIC, through the `x2apic` crate: x2APIC mode when CPUID
//! advertises it, xAPIC MMIO otherwise (QEMU 7.2 under TCG has no x2APIC).

use crate::mm::paging::LAPIC_VIRT;
use x2apic::lapic::{LocalApic, LocalApicBuilder};

/// Vectors the LAPIC may raise. The timer stays off; the others are
/// reported like any unexpected interrupt.
pub const VECTOR_TIMER: usize = 0xF0;
/// The IPI that wakes an idle AP from `hlt` when work is posted (smp.rs).
pub const VECTOR_WAKEUP: u8 = 0xF1;
pub const VECTOR_ERROR: usize = 0xFE;
pub const VECTOR_SPURIOUS: usize = 0xFF;

/// A handle on the running CPU's local APIC.
pub fn local() -> LocalApic {
    LocalApicBuilder::new()
        .timer_vector(VECTOR_TIMER)
        .error_vector(VECTOR_ERROR)
        .spurious_vector(VECTOR_SPURIOUS)
        .set_xapic_base(LAPIC_VIRT)
        .build()
        .expect("the LAPIC builder has every field it needs")
}

/// Software-enables this CPU's LAPIC with its timer off. Once per CPU.
#[cfg(target_os = "none")]
pub fn init() {
    let mut lapic = local();
    // SAFETY: LAPIC_VIRT maps this CPU's LAPIC registers (uncached).
    unsafe {
        lapic.enable();
        lapic.disable_timer();
    }
}

/// This CPU's APIC id as the LAPIC reports it.
pub fn id() -> u32 {
    // SAFETY: reading the ID register has no side effect.
    unsafe { local().id() }
}

/// Whether the LAPIC runs in x2APIC mode (CPUID.01H:ECX[21]), as the
/// `x2apic` crate decides when it builds a handle.
pub fn is_x2apic() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0
}

/// The `dest` argument for the crate's `send_*` calls.
///
/// The crate writes `dest` into ICR bits 63:32 in both modes. That is the
/// x2APIC layout; in xAPIC mode the destination field is ICR bits 63:56
/// (Intel SDM Vol. 3A §11.6.1, Figure 11-12), so APIC id 1 written as-is
/// lands in the ignored low bits and the IPI goes to APIC id 0: the boot
/// CPU sends INIT to itself. Shifting the id into bits 31:24 of the high
/// dword fixes it.
pub fn ipi_destination(apic_id: u32) -> u32 {
    if is_x2apic() { apic_id } else { apic_id << 24 }
}

/// Wakes the CPU with `apic_id` from `hlt`.
#[cfg(target_os = "none")]
pub fn send_wakeup(apic_id: u32) {
    // SAFETY: a fixed IPI to a vector whose handler only acknowledges it.
    unsafe { local().send_ipi(VECTOR_WAKEUP, ipi_destination(apic_id)) };
}

/// Acknowledges the interrupt being handled (end of interrupt).
#[cfg(target_os = "none")]
pub fn eoi() {
    // SAFETY: writing EOI only retires the in-service interrupt.
    unsafe { local().end_of_interrupt() };
}
