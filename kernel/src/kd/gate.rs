//! `!idt N`: one 16-byte gate of the IDT decoded (Intel SDM Vol. 3A
//! §7.14.1, Figure 7-8 "64-Bit IDT Gate Descriptors").
//!
//! ```text
//! bytes 15..8: reserved | offset 63:32
//! bytes  7..0: offset 31:16 | P DPL 0 type | 0 IST | selector | offset 15:0
//! ```

use super::descriptor::system_type_name;
use alloc::string::String;
use core::fmt::Write;

/// The fields of a gate, from its two quadwords (low first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateFields {
    pub offset: u64,
    pub selector: u16,
    pub ist: u8,
    pub kind: u8,
    pub dpl: u8,
    pub present: bool,
}

impl GateFields {
    pub const fn of(raw: [u64; 2]) -> GateFields {
        let [low, high] = raw;
        GateFields {
            offset: (low & 0xffff) | ((low >> 48) & 0xffff) << 16 | (high & 0xffff_ffff) << 32,
            selector: (low >> 16) as u16,
            ist: ((low >> 32) & 7) as u8,
            kind: ((low >> 40) & 0xf) as u8,
            dpl: ((low >> 45) & 3) as u8,
            present: low & (1 << 47) != 0,
        }
    }
}

/// Decodes gate `vector` of the IDT at `base`; `symbol` names the offset.
pub fn describe(base: u64, vector: u8, raw: [u64; 2], symbol: Option<&str>) -> String {
    let g = GateFields::of(raw);
    let at = base + vector as u64 * 16;
    let name = symbol.unwrap_or("(no symbol)");
    let mut out = String::new();
    let _ = writeln!(out, "{vector:02x}: {:016x} {name}", g.offset);
    let _ = writeln!(
        out,
        "IDT base = {base:#010x}, Vector = {vector:#04x}, Gate @ {at:#010x}"
    );
    let _ = write!(out, "{at:08x}");
    for b in raw[0].to_le_bytes().iter().chain(&raw[1].to_le_bytes()) {
        let _ = write!(out, " {b:02x}");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Type = {:#x}: {}, {}, DPL = {}{}",
        g.kind,
        system_type_name(g.kind),
        if g.present { "present" } else { "not present" },
        g.dpl,
        if g.dpl == 3 {
            " (ring 3 may raise it with int n)"
        } else {
            " (int n from ring 3 raises #GP)"
        }
    );
    let ist = match g.ist {
        0 => String::from("0 (the CPU switches to TSS.RSP0 only on a privilege change)"),
        n => alloc::format!("{n} (the CPU always switches to TSS.IST{n})"),
    };
    let _ = writeln!(out, "Selector = {:#06x}, IST = {ist}", g.selector);
    let _ = writeln!(out, "Target offset = {:#018x} {name}", g.offset);
    if g.kind == 0xe {
        let _ = writeln!(out, "An interrupt gate: the CPU clears IF on the way in");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idt::{Gate, GateType};

    #[test]
    fn a_dpl3_interrupt_gate() {
        let gate = Gate::new(0x0000_0000_0010_5c40, 0x08, GateType::Interrupt, 3, 0);
        let f = GateFields::of(gate.raw());
        assert_eq!(
            f,
            GateFields {
                offset: 0x10_5c40,
                selector: 0x08,
                ist: 0,
                kind: 0xe,
                dpl: 3,
                present: true
            }
        );
        let text = describe(0x20_0000, 0x2e, gate.raw(), Some("KiSystemService"));
        assert!(
            text.starts_with("2e: 0000000000105c40 KiSystemService\n"),
            "{text}"
        );
        assert!(text.contains("Gate @ 0x002002e0"), "{text}");
        assert!(text.contains("002002e0 40 5c 08 00 00 ee 10 00 00 00 00 00 00 00 00 00"));
        assert!(text.contains("64-bit interrupt gate, present, DPL = 3 (ring 3 may raise"));
        assert!(text.contains("Selector = 0x0008, IST = 0"), "{text}");
        assert!(text.contains("Target offset = 0x0000000000105c40 KiSystemService"));
    }

    #[test]
    fn an_ist_trap_gate_high_in_memory() {
        let gate = Gate::new(0xffff_8000_dead_beef, 0x08, GateType::Trap, 0, 2);
        let f = GateFields::of(gate.raw());
        assert_eq!(
            (f.offset, f.kind, f.dpl, f.ist),
            (0xffff_8000_dead_beef, 0xf, 0, 2)
        );
        let text = describe(0, 2, gate.raw(), None);
        assert!(text.contains("64-bit trap gate"), "{text}");
        assert!(text.contains("IST = 2 (the CPU always switches to TSS.IST2)"));
        assert!(text.contains("(no symbol)"));
        let empty = describe(0, 0x99, [0, 0], None);
        assert!(empty.contains("not present"), "{empty}");
    }
}
