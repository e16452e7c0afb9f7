//! `r` and `!pcr`: what one CPU holds, formatted as WinDbg's x64 `r` does.
//!
//! `r` shows the registers of the CPU at the prompt (the kernel's own, in
//! the debugger's code) and the last trap frame from ring 3 on that CPU.
//! Every entry from ring 3 builds its KTrapFrame at the very top of the
//! CPU's kernel stack (TSS.RSP0, IA32_SYSENTER_ESP and the SYSCALL stack
//! are all that top), as NT keeps KTHREAD.TrapFrame there, so the last one
//! stays readable after the thread has gone.

use crate::frame::KTrapFrame;
use alloc::string::String;
use core::fmt::Write;

/// Registers captured on the CPU at the prompt.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Registers {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub gs_base: u64,
    pub kernel_gs_base: u64,
    pub gdtr: (u64, u16),
    pub idtr: (u64, u16),
    pub tr: u16,
}

/// General registers in the order of [`Registers::gpr`].
pub const GPR_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// RFLAGS as WinDbg shows it: `iopl=0 nv up ei pl zr na po nc`.
pub fn flags_text(f: u64) -> String {
    let pick = |bit: u32, set: &'static str, clear: &'static str| {
        if f & (1 << bit) != 0 { set } else { clear }
    };
    alloc::format!(
        "iopl={} {} {} {} {} {} {} {} {}",
        (f >> 12) & 3,
        pick(11, "ov", "nv"),
        pick(10, "dn", "up"),
        pick(9, "ei", "di"),
        pick(7, "ng", "pl"),
        pick(6, "zr", "nz"),
        pick(4, "ac", "na"),
        pick(2, "pe", "po"),
        pick(0, "cy", "nc")
    )
}

fn three_per_line(out: &mut String, regs: &[(&str, u64)]) {
    for row in regs.chunks(3) {
        let line: alloc::vec::Vec<String> = row
            .iter()
            .map(|(n, v)| alloc::format!("{n:>3}={v:016x}"))
            .collect();
        let _ = writeln!(out, "{}", line.join(" "));
    }
}

pub fn format_registers(r: &Registers) -> String {
    let mut out = String::new();
    let mut regs: alloc::vec::Vec<(&str, u64)> = GPR_NAMES
        .iter()
        .copied()
        .zip(r.gpr.iter().copied())
        .collect();
    regs.insert(7, ("rip", r.rip));
    three_per_line(&mut out, &regs);
    let _ = writeln!(out, "{}", flags_text(r.rflags));
    let _ = writeln!(
        out,
        "cs={:04x}  ss={:04x}  ds={:04x}  es={:04x}  fs={:04x}  gs={:04x}             efl={:08x}",
        r.cs, r.ss, r.ds, r.es, r.fs, r.gs, r.rflags
    );
    let _ = writeln!(
        out,
        "cr0={:016x} cr2={:016x} cr3={:016x} cr4={:016x}",
        r.cr0, r.cr2, r.cr3, r.cr4
    );
    let _ = writeln!(
        out,
        "efer={:016x} gs_base={:016x} kernel_gs_base={:016x}",
        r.efer, r.gs_base, r.kernel_gs_base
    );
    let _ = writeln!(
        out,
        "gdtr={:016x} (limit {:#06x}) idtr={:016x} (limit {:#06x}) tr={:04x}",
        r.gdtr.0, r.gdtr.1, r.idtr.0, r.idtr.1, r.tr
    );
    out
}

/// The last ring-3 trap frame, or why there is none.
pub fn format_trap_frame(at: u64, frame: &KTrapFrame, entry: &str) -> String {
    let mut out = String::new();
    if !frame.from_user() {
        let _ = writeln!(
            out,
            "No trap frame from ring 3 at {at:08x}: no user thread has entered the kernel on this CPU yet"
        );
        return out;
    }
    let _ = writeln!(
        out,
        "Last trap frame from ring 3, at {at:08x} (the top of this CPU's kernel stack), entered through {entry}:"
    );
    let f = frame;
    let regs = [
        ("rax", f.rax),
        ("rbx", f.rbx),
        ("rcx", f.rcx),
        ("rdx", f.rdx),
        ("rsi", f.rsi),
        ("rdi", f.rdi),
        ("rip", f.rip),
        ("rsp", f.rsp),
        ("rbp", f.rbp),
        ("r8", f.r8),
        ("r9", f.r9),
        ("r10", f.r10),
        ("r11", f.r11),
        ("r12", f.r12),
        ("r13", f.r13),
        ("r14", f.r14),
        ("r15", f.r15),
    ];
    three_per_line(&mut out, &regs);
    let _ = writeln!(out, "{}", flags_text(f.rflags));
    let _ = writeln!(
        out,
        "cs={:04x}  ss={:04x}  error code={:x}                     efl={:08x}",
        f.cs, f.ss, f.error_code, f.rflags
    );
    out
}

/// The running CPU's registers, here, in the debugger: the general
/// registers as the call to this function found them, then the segment,
/// control and table registers and the MSRs behind GS.
#[cfg(target_os = "none")]
#[inline(never)]
pub fn capture() -> Registers {
    use crate::msr;
    let mut r = Registers::default();
    // SAFETY: store_gprs writes only into `r`.
    unsafe { store_gprs(&mut r) };
    // SAFETY: reading segment, control and table registers has no effect.
    unsafe {
        core::arch::asm!("mov {:x}, cs", out(reg) r.cs, options(nomem, nostack));
        core::arch::asm!("mov {:x}, ss", out(reg) r.ss, options(nomem, nostack));
        core::arch::asm!("mov {:x}, ds", out(reg) r.ds, options(nomem, nostack));
        core::arch::asm!("mov {:x}, es", out(reg) r.es, options(nomem, nostack));
        core::arch::asm!("mov {:x}, fs", out(reg) r.fs, options(nomem, nostack));
        core::arch::asm!("mov {:x}, gs", out(reg) r.gs, options(nomem, nostack));
        core::arch::asm!("mov {}, cr0", out(reg) r.cr0, options(nomem, nostack));
        core::arch::asm!("mov {}, cr2", out(reg) r.cr2, options(nomem, nostack));
        core::arch::asm!("mov {}, cr3", out(reg) r.cr3, options(nomem, nostack));
        core::arch::asm!("mov {}, cr4", out(reg) r.cr4, options(nomem, nostack));
        core::arch::asm!("str {:x}", out(reg) r.tr, options(nomem, nostack));
        let mut table = [0u8; 10];
        core::arch::asm!("sgdt [{}]", in(reg) table.as_mut_ptr(), options(nostack));
        r.gdtr = split_table_register(&table);
        core::arch::asm!("sidt [{}]", in(reg) table.as_mut_ptr(), options(nostack));
        r.idtr = split_table_register(&table);
    }
    let m = |n| msr::read_checked(n).unwrap_or(0);
    r.efer = m(msr::IA32_EFER);
    r.gs_base = m(msr::IA32_GS_BASE);
    r.kernel_gs_base = m(msr::IA32_KERNEL_GS_BASE);
    r
}

/// The operand of `sgdt`/`sidt`: (base, limit).
pub fn split_table_register(raw: &[u8; 10]) -> (u64, u16) {
    let mut base = [0u8; 8];
    base.copy_from_slice(&raw[2..]);
    (
        u64::from_le_bytes(base),
        u16::from_le_bytes([raw[0], raw[1]]),
    )
}

/// Stores RAX..R15, the return address (as RIP) and RFLAGS into `*r`.
/// RSP is the caller's, as it was before the call.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn store_gprs(r: *mut Registers) {
    core::arch::naked_asm!(
        "mov [rdi + {g} + 0*8], rax",
        "mov [rdi + {g} + 1*8], rbx",
        "mov [rdi + {g} + 2*8], rcx",
        "mov [rdi + {g} + 3*8], rdx",
        "mov [rdi + {g} + 4*8], rsi",
        "mov [rdi + {g} + 5*8], rdi",
        "mov [rdi + {g} + 6*8], rbp",
        "lea rax, [rsp + 8]", // RSP before the call pushed the return address
        "mov [rdi + {g} + 7*8], rax",
        "mov [rdi + {g} + 8*8], r8",
        "mov [rdi + {g} + 9*8], r9",
        "mov [rdi + {g} + 10*8], r10",
        "mov [rdi + {g} + 11*8], r11",
        "mov [rdi + {g} + 12*8], r12",
        "mov [rdi + {g} + 13*8], r13",
        "mov [rdi + {g} + 14*8], r14",
        "mov [rdi + {g} + 15*8], r15",
        "mov rax, [rsp]", // the return address: where capture() called from
        "mov [rdi + {rip}], rax",
        "pushfq",
        "pop qword ptr [rdi + {rflags}]",
        "ret",
        g = const core::mem::offset_of!(Registers, gpr),
        rip = const core::mem::offset_of!(Registers, rip),
        rflags = const core::mem::offset_of!(Registers, rflags),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_windbg_prints_them() {
        assert_eq!(flags_text(0x246), "iopl=0 nv up ei pl zr na pe nc");
        assert_eq!(flags_text(0x3e87), "iopl=3 ov dn ei ng nz na pe cy");
    }

    #[test]
    fn registers_and_frames() {
        let mut r = Registers::default();
        r.gpr[0] = 0x1234;
        r.rip = 0x10_5000;
        let text = format_registers(&r);
        assert!(
            text.starts_with("rax=0000000000001234 rbx=0000000000000000 rcx="),
            "{text}"
        );
        assert!(text.contains("rip=0000000000105000"), "{text}");
        let none = format_trap_frame(0x3000_0000, &KTrapFrame::default(), "-");
        assert!(none.starts_with("No trap frame from ring 3"));
        let frame = KTrapFrame {
            cs: 0x2b,
            ss: 0x33,
            rip: 0x4000_0123,
            rflags: 0x202,
            ..Default::default()
        };
        let text = format_trap_frame(0x3002_ff50, &frame, "#BP breakpoint");
        assert!(text.contains("entered through #BP breakpoint"), "{text}");
        assert!(text.contains("rip=0000000040000123"), "{text}");
        assert!(text.contains("cs=002b  ss=0033"), "{text}");
    }
}
