//! The local APIC, through the `x2apic` crate: x2APIC mode when CPUID
//! advertises it, xAPIC MMIO otherwise (QEMU 7.2 under TCG has no x2APIC).

use crate::mm::paging::LAPIC_VIRT;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use x2apic::lapic::{LocalApic, LocalApicBuilder, TimerDivide, TimerMode};

/// Vectors the LAPIC may raise. The timer is the user-thread watchdog
/// (thread.rs); the error vector is reported like any unexpected interrupt.
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

/// One CPU's handle, built once by [`init`]: building one reads CPUID,
/// which under KVM is a VM exit, and the watchdog is armed and disarmed
/// around every user thread.
struct OwnHandle(UnsafeCell<Option<LocalApic>>);

// SAFETY: CPU n touches only entry n of HANDLES (through `with_own`, which
// indexes by the running CPU), never from an interrupt handler.
unsafe impl Sync for OwnHandle {}

static HANDLES: [OwnHandle; crate::percpu::MAX_CPUS] =
    [const { OwnHandle(UnsafeCell::new(None)) }; crate::percpu::MAX_CPUS];

/// Runs `f` on the running CPU's own handle (after [`init`]; before it,
/// on a fresh one).
#[cfg(target_os = "none")]
fn with_own<R>(f: impl FnOnce(&mut LocalApic) -> R) -> R {
    let slot = &HANDLES[crate::percpu::cpu_id() as usize % crate::percpu::MAX_CPUS];
    // SAFETY: only this CPU reaches its slot, and not re-entrantly (see
    // `OwnHandle`).
    let own = unsafe { &mut *slot.0.get() };
    f(own.get_or_insert_with(local))
}

/// Software-enables this CPU's LAPIC with its timer off, and keeps its
/// handle. Once per CPU, after its per-CPU block is installed.
#[cfg(target_os = "none")]
pub fn init() {
    with_own(|lapic| {
        // SAFETY: LAPIC_VIRT maps this CPU's LAPIC registers (uncached).
        unsafe {
            lapic.enable();
            lapic.disable_timer();
        }
    });
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

/// LAPIC timer ticks per millisecond at divide-by-16, measured at boot.
static TIMER_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

/// Measures the LAPIC timer's rate against the (calibrated) TSC. The timer
/// runs at the bus or core-crystal clock, which CPUID does not give under
/// QEMU. Boot CPU, once; every CPU's timer runs at the same rate.
#[cfg(target_os = "none")]
pub fn calibrate_timer() {
    let mut lapic = local();
    // SAFETY: the timer is masked throughout; this only counts.
    let ticks = unsafe {
        lapic.disable_timer();
        lapic.set_timer_mode(TimerMode::OneShot);
        lapic.set_timer_divide(TimerDivide::Div16);
        lapic.set_timer_initial(u32::MAX);
        crate::time::udelay(10_000);
        let left = lapic.timer_current();
        lapic.set_timer_initial(0);
        u32::MAX - left
    };
    TIMER_TICKS_PER_MS.store((ticks / 10).max(1) as u64, Ordering::Relaxed);
}

/// Arms this CPU's watchdog: one timer interrupt after `ms` milliseconds.
#[cfg(target_os = "none")]
pub fn arm_watchdog(ms: u64) {
    let ticks = (ms * TIMER_TICKS_PER_MS.load(Ordering::Relaxed)).clamp(1, u32::MAX as u64) as u32;
    // SAFETY: a one-shot timer to the watchdog vector, which trap.rs handles.
    with_own(|lapic| unsafe {
        lapic.set_timer_mode(TimerMode::OneShot);
        lapic.set_timer_divide(TimerDivide::Div16);
        lapic.enable_timer();
        lapic.set_timer_initial(ticks);
    });
}

/// Stops this CPU's watchdog.
#[cfg(target_os = "none")]
pub fn disarm_watchdog() {
    // SAFETY: stopping and masking the timer.
    with_own(|lapic| unsafe {
        lapic.set_timer_initial(0);
        lapic.disable_timer();
    });
}
