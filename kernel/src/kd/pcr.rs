//! `!pcr`: the current CPU's per-CPU block (NT's KPCR, syslab's PerCpu)
//! and the per-CPU registers that point into it: GS, the stacks in the
//! TSS, the SYSENTER and SYSCALL MSRs, and the exit counters that record
//! how each system call went back.

use super::symbols::Symbols;
use crate::msr;
use crate::percpu::PerCpu;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

/// Gathers and formats the block of `me`, the CPU this runs on.
pub fn describe(me: &PerCpu, symbols: &Symbols) -> String {
    let mut out = String::new();
    let named = |v: u64| {
        symbols
            .name_of(v)
            .map(|n| alloc::format!(" {n}"))
            .unwrap_or_default()
    };
    let msr = |m: u32| msr::read_checked(m).unwrap_or(0);
    let gs = msr(msr::IA32_GS_BASE);
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:<20} {value}");
    };
    row("CPU number", alloc::format!("{}", me.cpu));
    row("APIC id", alloc::format!("{}", me.apic_id));
    row(
        "GS base",
        alloc::format!(
            "{gs:#018x} (IA32_GS_BASE{})",
            if gs == me.self_ptr as u64 {
                ": this block"
            } else {
                ": NOT this block"
            }
        ),
    );
    row(
        "kernel GS base",
        alloc::format!(
            "{:#018x} (IA32_KERNEL_GS_BASE: the user's GS while in the kernel)",
            msr(msr::IA32_KERNEL_GS_BASE)
        ),
    );
    let stack = |s: &crate::percpu::Stack| alloc::format!("{:#010x}-{:#010x}", s.bottom, s.top);
    row("idle stack", stack(&me.idle_stack));
    row(
        "kernel stack",
        alloc::format!(
            "{} (top = gs:[8] = {:#x})",
            stack(&me.kernel_stack),
            me.kernel_stack_top
        ),
    );
    let rsp = me.tss.rsp;
    let ist = me.tss.ist;
    row("TSS.RSP0", alloc::format!("{:#010x}", rsp[0]));
    row("TSS.IST1 (#DF)", alloc::format!("{:#010x}", ist[0]));
    row("TSS.IST2 (NMI)", alloc::format!("{:#010x}", ist[1]));
    for (name, m) in [
        ("IA32_SYSENTER_CS", msr::IA32_SYSENTER_CS),
        ("IA32_SYSENTER_ESP", msr::IA32_SYSENTER_ESP),
        ("IA32_SYSENTER_EIP", msr::IA32_SYSENTER_EIP),
        ("IA32_EFER", msr::IA32_EFER),
        ("IA32_STAR", msr::IA32_STAR),
        ("IA32_LSTAR", msr::IA32_LSTAR),
        ("IA32_CSTAR", msr::IA32_CSTAR),
        ("IA32_FMASK", msr::IA32_FMASK),
    ] {
        let v = msr(m);
        let note = match m {
            msr::IA32_SYSENTER_EIP | msr::IA32_LSTAR | msr::IA32_CSTAR => named(v),
            msr::IA32_EFER => alloc::format!(" (SCE = {})", v & msr::efer::SCE),
            _ => String::new(),
        };
        row(name, alloc::format!("{v:#018x}{note}"));
    }
    let c = &me.counters;
    row("exits", {
        let n = |exit: crate::student::SystemCallExit| c.exits[exit as usize].load(Relaxed);
        use crate::student::SystemCallExit::*;
        alloc::format!(
            "iretq {}, sysexit {}, sysret {}, 32-bit sysexit {}, sysretl {}",
            n(Iretq),
            n(Sysexit),
            n(Sysret),
            n(Sysexit32),
            n(Sysret32)
        )
    });
    row(
        "user faults",
        alloc::format!("{}", c.user_faults.load(Relaxed)),
    );
    row("NMIs", alloc::format!("{}", c.nmis.load(Relaxed)));
    alloc::format!(
        "PCR of CPU {} (its PerCpu block at {:#x}):\n{out}",
        me.cpu,
        me.self_ptr as u64
    )
}
