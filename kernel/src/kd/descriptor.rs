//! `!descriptor gdt N` and `dg SEL`: one GDT entry decoded field by field,
//! in the order of the article's ProtMode extension (Intel SDM Vol. 3A
//! §3.4.5 "Segment Descriptors", §8.2.3 "TSS Descriptor in 64-bit Mode").
//!
//! ```text
//!  63    56 55 54 53 52 51  48 47 46 45 44 43  40 39     16 15      0
//! +--------+--+--+--+--+------+--+-----+--+------+---------+---------+
//! |base    |G |DB|L |AV|limit |P | DPL |S | type |  base   |  limit  |
//! | 31:24  |  |  |  |  |19:16 |  |     |  |      |  23:0   |  15:0   |
//! +--------+--+--+--+--+------+--+-----+--+------+---------+---------+
//! ```
//!
//! With S = 0 the entry is a system descriptor; in 64-bit mode those (the
//! TSS, the LDT, gates) take two slots, the second holding base 63:32.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// The fields of an 8-byte descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    pub base: u32,
    pub limit: u32,
    /// G: the limit counts 4 KiB pages.
    pub granularity: bool,
    /// D/B: 32-bit default size (code) or a 32-bit stack (data).
    pub default_big: bool,
    /// L: a 64-bit code segment.
    pub long: bool,
    pub present: bool,
    pub dpl: u8,
    /// S: a code or data segment (else a system descriptor).
    pub code_or_data: bool,
    /// The 4-bit type field.
    pub kind: u8,
}

impl Fields {
    pub const fn of(d: u64) -> Fields {
        Fields {
            base: ((d >> 16) & 0xff_ffff) as u32 | (((d >> 56) & 0xff) as u32) << 24,
            limit: (d & 0xffff) as u32 | (((d >> 48) & 0xf) as u32) << 16,
            granularity: d & (1 << 55) != 0,
            default_big: d & (1 << 54) != 0,
            long: d & (1 << 53) != 0,
            present: d & (1 << 47) != 0,
            dpl: ((d >> 45) & 3) as u8,
            code_or_data: d & (1 << 44) != 0,
            kind: ((d >> 40) & 0xf) as u8,
        }
    }

    /// Type bit 3: executable (a code segment).
    pub const fn is_code(&self) -> bool {
        self.code_or_data && self.kind & 0b1000 != 0
    }

    /// Whether this is the first half of a 16-byte system descriptor.
    pub const fn is_wide_system(&self) -> bool {
        !self.code_or_data && matches!(self.kind, 0x2 | 0x9 | 0xb | 0xc | 0xe | 0xf)
    }
}

/// The name of a 64-bit mode system-descriptor type (SDM Vol. 3A Table 3-2).
pub fn system_type_name(kind: u8) -> &'static str {
    match kind {
        0x2 => "LDT",
        0x9 => "available 64-bit TSS",
        0xb => "busy 64-bit TSS",
        0xc => "64-bit call gate",
        0xe => "64-bit interrupt gate",
        0xf => "64-bit trap gate",
        _ => "reserved in 64-bit mode",
    }
}

fn bytes(out: &mut String, at: u64, word: u64) {
    let _ = write!(out, "{at:08x}");
    for b in word.to_le_bytes() {
        let _ = write!(out, " {b:02x}");
    }
    out.push('\n');
}

/// Decodes GDT entry `index` of the table at `base` holding `entries`.
pub fn describe(base: u64, entries: &[u64], index: usize) -> Result<String, String> {
    let Some(&word) = entries.get(index) else {
        return Err(format!(
            "GDT index {index:#04x} is past the end: this GDT has {} entries, 0x00-{:#04x}",
            entries.len(),
            entries.len().saturating_sub(1)
        ));
    };
    let at = base + index as u64 * 8;
    let f = Fields::of(word);
    let mut out = String::new();
    let header = |out: &mut String, title: &str| header(out, title, base, index);
    if index > 0 && Fields::of(entries[index - 1]).is_wide_system() {
        header(&mut out, "Upper half of a System Segment Descriptor");
        bytes(&mut out, at, word);
        let _ = writeln!(
            out,
            "This slot holds bits 127:64 of the 16-byte descriptor at index {:#04x} \
             (base 63:32 = {:#010x}); see `!descriptor gdt {:x}`",
            index - 1,
            word & 0xffff_ffff,
            index - 1
        );
        return Ok(out);
    }
    if word == 0 {
        header(&mut out, "Null Descriptor");
        bytes(&mut out, at, word);
        let _ = writeln!(
            out,
            "An unused entry: loading a selector for it into CS or SS raises #GP"
        );
        return Ok(out);
    }
    if !f.code_or_data {
        describe_system(&mut out, base, entries, index, f);
        return Ok(out);
    }
    let what = if f.is_code() { "code" } else { "data" };
    header(
        &mut out,
        if f.is_code() {
            "Code Segment Descriptor"
        } else {
            "Data Segment Descriptor"
        },
    );
    bytes(&mut out, at, word);
    let size = if f.granularity {
        "Segment size is in 4KB pages"
    } else {
        "Segment size is in bytes"
    };
    let width = match (f.is_code(), f.long, f.default_big) {
        (true, true, false) => "64-bit code segment (L = 1, D = 0)",
        (true, true, true) => "L = 1 with D = 1: reserved, loading it raises #GP",
        (true, false, true) => "32-bit default operand and data size",
        (true, false, false) => "16-bit default operand and data size",
        (false, _, true) => "32-bit stack (B = 1)",
        (false, _, false) => "16-bit stack (B = 0)",
    };
    let _ = writeln!(out, "{size}, {width}");
    let _ = writeln!(
        out,
        "Segment is {}present, DPL = {}, Not system segment, {} segment",
        if f.present { "" } else { "not " },
        f.dpl,
        if f.is_code() { "Code" } else { "Data" }
    );
    // Type bits 2 and 1, and bit 0: (set, clear) for code, then for data.
    let names = if f.is_code() {
        [
            ("conforming", "not conforming"),
            ("readable", "execute-only"),
        ]
    } else {
        [("expand-down", "expand-up"), ("writable", "read-only")]
    };
    let pick = |bit: u8, (set, clear): (&'static str, &'static str)| {
        if f.kind & bit != 0 { set } else { clear }
    };
    let direction = pick(0b100, names[0]);
    let access = pick(0b10, names[1]);
    let accessed = pick(1, ("accessed", "not accessed"));
    let _ = writeln!(
        out,
        "Segment is {direction}, Segment is {access}, Segment is {accessed}"
    );
    let _ = writeln!(out, "Target {what} segment base address = {:#010x}", f.base);
    let _ = writeln!(out, "Target {what} segment size = {:#010x}", f.limit);
    if f.is_code() && f.long || !f.is_code() {
        let _ = writeln!(
            out,
            "(In 64-bit mode the CPU ignores the base and limit of code and data segments.)"
        );
    }
    Ok(out)
}

/// The two lines every decode starts with, as ProtMode prints them.
fn header(out: &mut String, title: &str, base: u64, index: usize) {
    let at = base + index as u64 * 8;
    let _ = writeln!(out, "----------------- {title} -----------------");
    let _ = writeln!(
        out,
        "GDT base = {base:#010x}, Index = {index:#04x}, Descriptor @ {at:#010x}"
    );
}

fn describe_system(out: &mut String, base: u64, entries: &[u64], index: usize, f: Fields) {
    let at = base + index as u64 * 8;
    let name = system_type_name(f.kind);
    let upper = entries.get(index + 1).copied();
    let wide = f.is_wide_system();
    let title = format!(
        "System Segment Descriptor ({name}{})",
        if wide { ", 16 bytes" } else { "" }
    );
    header(out, &title, base, index);
    bytes(out, at, entries[index]);
    if wide && let Some(high) = upper {
        bytes(out, at + 8, high);
    }
    let _ = writeln!(out, "Type = {:#x}: {name}", f.kind);
    let _ = writeln!(
        out,
        "Segment is {}present, DPL = {}, System segment",
        if f.present { "" } else { "not " },
        f.dpl
    );
    let _ = writeln!(
        out,
        "{}",
        if f.granularity {
            "Segment size is in 4KB pages"
        } else {
            "Segment size is in bytes"
        }
    );
    match (wide, upper) {
        (true, Some(high)) => {
            let full = (high & 0xffff_ffff) << 32 | f.base as u64;
            let _ = writeln!(out, "Target base address = {full:#018x}");
        }
        (true, None) => {
            let _ = writeln!(
                out,
                "The upper half (base 63:32) lies past the end of the GDT"
            );
        }
        (false, _) => {
            let _ = writeln!(out, "Target base address = {:#010x}", f.base);
        }
    }
    let _ = writeln!(out, "Target size = {:#010x}", f.limit);
}

/// `dg SEL`: the selector's parts, then its descriptor.
pub fn describe_selector(base: u64, entries: &[u64], selector: u16) -> Result<String, String> {
    if selector & 4 != 0 {
        return Err(format!(
            "selector {selector:#06x} has TI = 1 (an LDT selector); this kernel has no LDT"
        ));
    }
    let mut out = format!(
        "Selector {selector:#06x}: index {:#04x}, TI = 0 (GDT), RPL = {}\n",
        selector >> 3,
        selector & 3
    );
    out += &describe(base, entries, selector as usize >> 3)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdt::{self, Gdt, Tss};

    /// The article's descriptor: `ff ff 00 00 00 9b cf 00`.
    const ARTICLE_KERNEL_CS: u64 = u64::from_le_bytes([0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0]);

    #[test]
    fn the_articles_descriptor() {
        let f = Fields::of(ARTICLE_KERNEL_CS);
        assert_eq!(
            f,
            Fields {
                base: 0,
                limit: 0xfffff,
                granularity: true,
                default_big: true,
                long: false,
                present: true,
                dpl: 0,
                code_or_data: true,
                kind: 0xb,
            }
        );
        assert!(f.is_code());
        let text = describe(0x8003_f000, &[0, ARTICLE_KERNEL_CS], 1).unwrap();
        let expected = "\
----------------- Code Segment Descriptor -----------------
GDT base = 0x8003f000, Index = 0x01, Descriptor @ 0x8003f008
8003f008 ff ff 00 00 00 9b cf 00
Segment size is in 4KB pages, 32-bit default operand and data size
Segment is present, DPL = 0, Not system segment, Code segment
Segment is not conforming, Segment is readable, Segment is accessed
Target code segment base address = 0x00000000
Target code segment size = 0x000fffff
";
        assert_eq!(text, expected);
    }

    #[test]
    fn syslabs_own_gdt() {
        let table = gdt::standard_gdt();
        let kcs = describe(0x1000, &table, 1).unwrap();
        assert!(kcs.contains("1008 ff ff 00 00 00 9b af 00"), "{kcs}");
        assert!(kcs.contains("64-bit code segment (L = 1, D = 0)"), "{kcs}");
        assert!(kcs.contains("DPL = 0, Not system segment, Code segment"));
        let kds = describe(0x1000, &table, 2).unwrap();
        assert!(kds.contains("Data Segment Descriptor"));
        assert!(kds.contains("Segment is expand-up, Segment is writable, Segment is accessed"));
        let ucs32 = describe(0x1000, &table, 3).unwrap();
        assert!(ucs32.contains("32-bit default operand and data size"));
        assert!(ucs32.contains("DPL = 3"));
        let ucs = describe(0x1000, &table, 5).unwrap();
        assert!(ucs.contains("64-bit code segment") && ucs.contains("DPL = 3"));
        let null = describe(0x1000, &table, 0).unwrap();
        assert!(null.contains("Null Descriptor"));
    }

    #[test]
    fn the_tss_is_a_16_byte_system_descriptor() {
        let mut g = Gdt::new();
        let tss = Tss::new();
        g.set_tss(&tss);
        let base = &tss as *const Tss as u64;
        let text = describe(0x2000, &g.0, 7).unwrap();
        assert!(text.contains("System Segment Descriptor (available 64-bit TSS, 16 bytes)"));
        assert!(text.contains("Type = 0x9: available 64-bit TSS"), "{text}");
        assert!(
            text.contains(&format!("Target base address = {base:#018x}")),
            "{text}"
        );
        assert!(text.contains("Target size = 0x00000067"), "{text}");
        assert_eq!(
            text.matches("\n0000203").count() + text.matches("\n0000204").count(),
            2
        );
        let upper = describe(0x2000, &g.0, 8).unwrap();
        assert!(upper.contains("bits 127:64 of the 16-byte descriptor at index 0x07"));
        let busy = g.0[7] | (0x2 << 40); // type 0x9 -> 0xb, as `ltr` leaves it
        assert!(
            describe(0, &[0, busy, 0], 1)
                .unwrap()
                .contains("busy 64-bit TSS")
        );
        assert!(
            describe(0, &[0, busy], 1)
                .unwrap()
                .contains("lies past the end of the GDT")
        );
    }

    #[test]
    fn bad_indexes_and_selectors() {
        let table = gdt::standard_gdt();
        let err = describe(0, &table, 9).unwrap_err();
        assert!(
            err.contains("past the end: this GDT has 9 entries, 0x00-0x08"),
            "{err}"
        );
        assert!(describe(0, &table, usize::MAX).is_err());
        assert!(describe(0, &[], 0).is_err());
        let s = describe_selector(0, &table, 0x2b).unwrap();
        assert!(s.starts_with("Selector 0x002b: index 0x05, TI = 0 (GDT), RPL = 3"));
        assert!(
            describe_selector(0, &table, 0x0c)
                .unwrap_err()
                .contains("LDT")
        );
        assert!(describe_selector(0, &table, 0xfff8).is_err());
    }
}
