//! NMIs at the worst instructions: the other CPUs send NMIs to this one, at
//! irregular intervals, for as long as it runs a piece of work. Under TCG
//! an interrupt is taken between translation blocks, and every `syscall`,
//! `sysenter`, `iretq`, `sysretq`, `sysexitq` and `popfq` ends one, so
//! NMIs land on the first instructions of the entry stubs and right before
//! the returns: the windows where CS and GS disagree (paranoid.rs).

use crate::percpu::PerCpu;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};

/// The longest pause between two NMIs, in spin-loop iterations.
const MAX_GAP: u64 = 400;

/// NMIs the work should see taken before the storm ends ...
pub const ENOUGH_NMIS: u64 = 100;

/// What the NMIs did while the work ran.
pub struct Storm<T> {
    /// The first failed round, or how many rounds ran.
    pub result: Result<u64, T>,
    /// NMIs this CPU counted (several sent close together count once: a
    /// CPU holds at most one pending NMI).
    pub nmis: u64,
    /// Of the paranoid entries meanwhile, those that found the user's GS in
    /// ring 0: in an entry or exit window.
    pub in_windows: u64,
    /// NMIs sent.
    pub sent: u64,
}

impl<T> Storm<T> {
    /// "2345 NMIs sent, 1201 taken, 17 in ring 0 with the user's GS".
    pub fn summary(&self) -> String {
        format!(
            "{} NMIs sent, {} taken, {} in ring 0 with the user's GS",
            self.sent, self.nmis, self.in_windows
        )
    }

    /// Err unless the NMIs were counted as NMIs and left GS as it was.
    pub fn check(&self, c: &PerCpu) -> Result<(), String> {
        if self.sent > 0 && self.nmis == 0 {
            return Err(format!(
                "{} NMIs were sent to CPU {}, but none was counted as an NMI",
                self.sent, c.cpu
            ));
        }
        // SAFETY: reading MSRs.
        let (gs, kernel_gs) = unsafe {
            (
                crate::msr::read(crate::msr::IA32_GS_BASE),
                crate::msr::read(crate::msr::IA32_KERNEL_GS_BASE),
            )
        };
        if gs != c.self_ptr as u64 || kernel_gs != 0 {
            return Err(format!(
                "after the NMIs: IA32_GS_BASE {gs:#x} (this CPU's block is {:#x}), \
                 IA32_KERNEL_GS_BASE {kernel_gs:#x} (should be the user's, 0)",
                c.self_ptr as u64
            ));
        }
        Ok(())
    }
}

/// Runs rounds of `work` on the calling CPU while every other CPU sends it
/// NMIs, until it has taken [`ENOUGH_NMIS`] or run `max_rounds`, or a round
/// fails. With one CPU, the CPU sends itself NMIs from ring 0 around it.
#[cfg(target_os = "none")]
pub fn storm<T: Send>(max_rounds: u64, work: impl Fn(&PerCpu) -> Result<(), T> + Sync) -> Storm<T> {
    let me = crate::percpu::current();
    // Alone, the CPU's own NMIs come only around the work: a few rounds do.
    let max_rounds = if crate::percpu::online() == 1 {
        max_rounds.min(10)
    } else {
        max_rounds
    };
    let before = counts(me);
    let done = AtomicBool::new(false);
    // The work waits for the first NMI to be on its way: an AP may take a
    // while to wake from `hlt`.
    let started = AtomicBool::new(crate::percpu::online() == 1);
    let sent = core::sync::atomic::AtomicU64::new(0);
    let result = spin::Mutex::new(None);
    let target = crate::apic::ipi_destination(me.apic_id);
    crate::smp::run_on_all(&|c: &PerCpu| {
        if c.cpu == me.cpu {
            if crate::percpu::online() == 1 {
                send_self(&sent, target);
            }
            while !started.load(Ordering::Acquire) {
                core::hint::spin_loop();
            }
            let taken = || counts(c).0 - before.0;
            let mut rounds = 0;
            let outcome = loop {
                if rounds == max_rounds || taken() >= ENOUGH_NMIS {
                    break Ok(rounds);
                }
                if let Err(e) = work(c) {
                    break Err(e);
                }
                rounds += 1;
            };
            *result.lock() = Some(outcome);
            if crate::percpu::online() == 1 {
                send_self(&sent, target);
            }
            done.store(true, Ordering::Release);
            return;
        }
        let mut lapic = crate::apic::local();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ c.cpu as u64;
        while !done.load(Ordering::Acquire) {
            // SAFETY: an NMI to a CPU whose NMI handler only counts it.
            unsafe { lapic.send_nmi(target) };
            sent.fetch_add(1, Ordering::Relaxed);
            started.store(true, Ordering::Release);
            // xorshift: irregular gaps, so NMIs land all over the path.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Not `pause`: under TCG each one leaves the CPU loop, which
            // is slower than the whole entry path.
            for i in 0..seed % MAX_GAP {
                core::hint::black_box(i);
            }
        }
    });
    let after = counts(me);
    Storm {
        result: result.into_inner().expect("the work ran on this CPU"),
        nmis: after.0 - before.0,
        in_windows: after.1 - before.1,
        sent: sent.load(Ordering::Relaxed),
    }
}

/// A few NMIs from this CPU to itself.
#[cfg(target_os = "none")]
fn send_self(sent: &core::sync::atomic::AtomicU64, target: u32) {
    let mut lapic = crate::apic::local();
    for _ in 0..16 {
        // SAFETY: as in `storm`.
        unsafe { lapic.send_nmi(target) };
        sent.fetch_add(1, Ordering::Relaxed);
        for i in 0..1000 {
            core::hint::black_box(i);
        }
    }
}

fn counts(c: &PerCpu) -> (u64, u64) {
    let k = &c.counters;
    (
        k.nmis.load(Ordering::Relaxed),
        k.paranoid_user_gs_in_ring0.load(Ordering::Relaxed),
    )
}
