//! `db`, `dd` and `dq`: memory as bytes (with ASCII), dwords or qwords, in
//! WinDbg's layout. An address that cannot be read ends the dump with
//! `memory access error at ADDR` (memory.rs says why it never faults).

use super::memory::AccessError;
use alloc::string::String;
use core::fmt::Write;

/// The three widths, and how many of each WinDbg shows by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Byte,
    Dword,
    Qword,
}

impl Width {
    pub const fn bytes(self) -> u64 {
        match self {
            Width::Byte => 1,
            Width::Dword => 4,
            Width::Qword => 8,
        }
    }

    /// 128 bytes, 32 dwords, 16 qwords.
    pub const fn default_count(self) -> u64 {
        128 / self.bytes()
    }
}

/// The most bytes one dump shows.
pub const MAX_DUMP_BYTES: u64 = 0x1_0000;

/// Formats `data` (read from `address`); `error` is why the dump stopped early.
pub fn format(address: u64, data: &[u8], width: Width, error: Option<AccessError>) -> String {
    let mut out = String::new();
    let unit = width.bytes() as usize;
    let whole = data.len() / unit * unit;
    for (row, line) in data[..whole].chunks(16).enumerate() {
        let at = address.wrapping_add(row as u64 * 16);
        let _ = write!(out, "{at:08x} ");
        match width {
            Width::Byte => {
                for (i, b) in line.iter().enumerate() {
                    let sep = if i == 8 { '-' } else { ' ' };
                    let _ = write!(out, "{sep}{b:02x}");
                }
                for _ in line.len()..16 {
                    out.push_str("   ");
                }
                out.push_str("  ");
                out.extend(line.iter().map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                }));
            }
            Width::Dword => {
                for d in line.chunks_exact(4) {
                    let v = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
                    let _ = write!(out, " {v:08x}");
                }
            }
            Width::Qword => {
                for q in line.chunks_exact(8) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(q);
                    let v = u64::from_le_bytes(b);
                    let _ = write!(out, " {:08x}`{:08x}", v >> 32, v as u32);
                }
            }
        }
        out.push('\n');
    }
    if let Some(e) = error {
        out.push_str(&e.line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kd::memory::Unreadable;

    const STUB: [u8; 6] = [0x48, 0x89, 0xe2, 0x0f, 0x34, 0xc3];

    #[test]
    fn bytes_dwords_qwords() {
        assert_eq!(
            format(0x7ffe_0300, &STUB, Width::Byte, None),
            "7ffe0300  48 89 e2 0f 34 c3                                H...4.\n"
        );
        let mut sixteen = [0u8; 16];
        sixteen[..6].copy_from_slice(&STUB);
        sixteen[15] = b'A';
        assert_eq!(
            format(0x10, &sixteen, Width::Byte, None),
            "00000010  48 89 e2 0f 34 c3 00 00-00 00 00 00 00 00 00 41  H...4..........A\n"
        );
        assert_eq!(
            format(0x7ffe_0300, &sixteen, Width::Dword, None),
            "7ffe0300  0fe28948 0000c334 00000000 41000000\n"
        );
        assert_eq!(
            format(0x7ffe_0300, &sixteen, Width::Qword, None),
            "7ffe0300  0000c334`0fe28948 41000000`00000000\n"
        );
    }

    #[test]
    fn a_dump_that_runs_into_unmapped_memory() {
        let e = AccessError {
            address: 0x3006,
            why: Unreadable::NotMapped,
        };
        let text = format(0x3000, &STUB, Width::Dword, Some(e));
        assert_eq!(
            text,
            "00003000  0fe28948\nmemory access error at 00003006 (not mapped)\n"
        );
        assert_eq!(
            format(0, &[], Width::Byte, Some(e)),
            "memory access error at 00003006 (not mapped)\n"
        );
        assert_eq!(Width::Qword.default_count(), 16);
    }
}
