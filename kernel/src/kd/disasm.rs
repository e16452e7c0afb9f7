//! `u`: disassembly in WinDbg's layout (address, bytes, Intel syntax),
//! with the `iced-x86` decoder and formatter. Branch targets are named
//! from the symbol tables, as WinDbg names them.

use super::symbols::Symbols;
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write;
use iced_x86::{
    Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter, OpKind, SymbolResolver,
    SymbolResult,
};

/// The longest x86 instruction.
pub const MAX_INSTRUCTION: usize = 15;
/// Width of the bytes column: ten bytes; longer instructions push the text right.
const BYTES_COLUMN: usize = 30;

/// Names branch targets and RIP-relative operands; leaves immediates alone.
struct Names(&'static Symbols);

impl SymbolResolver for Names {
    fn symbol(
        &mut self,
        instruction: &Instruction,
        _operand: u32,
        instruction_operand: Option<u32>,
        address: u64,
        _address_size: u32,
    ) -> Option<SymbolResult<'_>> {
        let kind = instruction.op_kind(instruction_operand?);
        let wanted = matches!(
            kind,
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
        ) || (kind == OpKind::Memory && instruction.is_ip_rel_memory_operand());
        if !wanted {
            return None;
        }
        let name = self.0.name_of(address)?;
        Some(SymbolResult::with_string(address, name))
    }
}

fn formatter(symbols: &'static Symbols) -> IntelFormatter {
    let mut f = IntelFormatter::with_options(Some(Box::new(Names(symbols))), None);
    let o = f.options_mut();
    o.set_space_after_operand_separator(true);
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_show_symbol_address(true);
    f
}

/// What [`disassemble`] produced.
pub struct Listing {
    pub text: String,
    /// Where the next instruction starts (`u` with no address goes on there).
    pub next: u64,
    /// Fewer than asked when the bytes ran out.
    pub decoded: usize,
}

/// Up to `count` instructions decoded from `code`, the bytes at `ip`, in
/// `bitness`-bit mode (64 today; 32 for the 32-bit user mode).
pub fn disassemble(
    code: &[u8],
    ip: u64,
    bitness: u32,
    count: usize,
    symbols: &'static Symbols,
) -> Listing {
    let mut decoder = Decoder::with_ip(bitness, code, ip, DecoderOptions::NONE);
    let mut formatter = formatter(symbols);
    let mut instruction = Instruction::default();
    let mut text = String::new();
    let mut next = ip;
    let mut decoded = 0;
    let mut asm = String::new();
    while decoded < count && decoder.can_decode() {
        let start = decoder.position();
        decoder.decode_out(&mut instruction);
        let len = instruction.len();
        // An instruction cut off by the end of the readable bytes: stop
        // before it rather than show a wrong decode.
        if instruction.is_invalid() && start + MAX_INSTRUCTION > code.len() {
            break;
        }
        // A label where a symbol starts, and at the top of the listing.
        match symbols.at(next) {
            Some((s, 0)) => {
                let _ = writeln!(text, "{}:", s.name);
            }
            Some(_) if decoded == 0 => {
                let _ = writeln!(text, "{}:", symbols.name_of(next).unwrap_or_default());
            }
            _ => {}
        }
        asm.clear();
        if instruction.is_invalid() {
            asm.push_str("(bad)");
        } else {
            formatter.format(&instruction, &mut asm);
        }
        let mut bytes = String::new();
        for b in &code[start..start + len] {
            let _ = write!(bytes, "{b:02x} ");
        }
        let _ = writeln!(text, "{next:08x} {bytes:<BYTES_COLUMN$}{asm}");
        next += len as u64;
        decoded += 1;
    }
    Listing {
        text,
        next,
        decoded,
    }
}

#[cfg(test)]
mod tests {
    use super::super::symbols::Symbol;
    use super::*;

    fn leak(list: alloc::vec::Vec<Symbol>) -> &'static Symbols {
        Box::leak(Box::new(Symbols::new(list, "xp")))
    }

    #[test]
    fn the_sysenter_stub() {
        let symbols = leak(alloc::vec![Symbol::new(
            0x7ffe_0300,
            6,
            "SharedUserData!SystemCallStub"
        )]);
        let code = [0x48, 0x89, 0xe2, 0x0f, 0x34, 0xc3];
        let l = disassemble(&code, 0x7ffe_0300, 64, 8, symbols);
        assert_eq!(
            l.text,
            "SharedUserData!SystemCallStub:\n\
             7ffe0300 48 89 e2                      mov rdx, rsp\n\
             7ffe0303 0f 34                         sysenter\n\
             7ffe0305 c3                            ret\n"
        );
        assert_eq!((l.next, l.decoded), (0x7ffe_0306, 3));
    }

    #[test]
    fn the_articles_windows_2000_stub_in_32_bit_mode() {
        let symbols = leak(alloc::vec![]);
        // mov eax, 0x25; lea edx, [esp+4]; int 0x2e; ret 0x10
        let code = [
            0xb8, 0x25, 0, 0, 0, 0x8d, 0x54, 0x24, 0x04, 0xcd, 0x2e, 0xc2, 0x10, 0x00,
        ];
        let l = disassemble(&code, 0x77f8_53b8, 32, 8, symbols);
        let lines: alloc::vec::Vec<&str> = l.text.lines().collect();
        assert_eq!(
            lines[0],
            "77f853b8 b8 25 00 00 00                mov eax, 0x25"
        );
        assert_eq!(
            lines[1],
            "77f853bd 8d 54 24 04                   lea edx, [esp+4]"
        );
        assert_eq!(lines[2], "77f853c1 cd 2e                         int 0x2e");
        assert_eq!(lines[3], "77f853c3 c2 10 00                      ret 0x10");
    }

    #[test]
    fn branches_are_named_and_short_code_stops_cleanly() {
        let symbols = leak(alloc::vec![
            Symbol::new(0x1000, 0x10, "caller"),
            Symbol::new(0x2000, 0x10, "KiSystemServiceExit"),
        ]);
        // call rel32 to 0x2000, then the first byte of another call, cut off.
        let code = [0xe8, 0xfb, 0x0f, 0, 0, 0xe8, 0x00];
        let l = disassemble(&code, 0x1000, 64, 8, symbols);
        assert!(l.text.contains("call KiSystemServiceExit"), "{}", l.text);
        assert_eq!(l.decoded, 1, "the cut-off call is not shown");
        assert_eq!(l.next, 0x1005);
        // PUSH ES does not exist in 64-bit mode.
        let l = disassemble(&[0x06; 16], 0, 64, 1, symbols);
        assert!(l.text.contains("(bad)"), "{}", l.text);
        assert_eq!(disassemble(&[], 0, 64, 8, symbols).decoded, 0);
    }
}
