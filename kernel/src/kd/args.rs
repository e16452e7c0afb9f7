//! The words of a `kd>` command line, read the way WinDbg reads them.
//!
//! - Numbers are hexadecimal unless they say otherwise: `174`, `0x174`,
//!   `0n372` (decimal), and a backtick may split a 64-bit value in two as
//!   WinDbg prints it: ``00000000`7ffe0300``.
//! - An address is a number or a symbol, with an optional offset:
//!   `KiFastCallEntry`, `ntdll!ZwCreateMutant+4`, `7ffe0300-0x10`.
//! - A count is a number, or `L` and a number (`L10`, `L 10`), as after `db`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// An address as typed: resolved against the symbol tables when the
/// command runs, because only then are the tables at hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Number(u64),
    Symbol { name: String, offset: i128 },
}

/// A number in WinDbg's default radix (16), or `0x`/`0n`-prefixed.
pub fn number(word: &str) -> Result<u64, String> {
    let plain: String = word.chars().filter(|&c| c != '`').collect();
    let (digits, radix) = if let Some(d) = strip_prefix_ci(&plain, "0x") {
        (d, 16)
    } else if let Some(d) = strip_prefix_ci(&plain, "0n") {
        (d, 10)
    } else {
        (plain.as_str(), 16)
    };
    if digits.is_empty() || word.starts_with('`') || word.ends_with('`') {
        return Err(format!("`{word}` is not a number"));
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(if radix == 16 {
            format!("`{word}` is not a hex number (write decimal as 0n{digits})")
        } else {
            format!("`{word}` is not a decimal number")
        });
    }
    // Only overflow is left to fail.
    u64::from_str_radix(digits, radix).map_err(|_| format!("`{word}` does not fit in 64 bits"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Whether `c` may appear in a symbol name (`module!path::name`).
fn symbol_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_!:.$@?".contains(c)
}

/// An address: a number, or a symbol, each with an optional `+N` or `-N`.
pub fn expr(word: &str) -> Result<Expr, String> {
    // The offset starts at the first sign after the first character.
    let split = word
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == '+' || c == '-')
        .map(|(i, _)| i);
    let (base, offset) = match split {
        Some(i) => {
            let magnitude = number(&word[i + 1..])? as i128;
            let sign = if word[i..].starts_with('-') { -1 } else { 1 };
            (&word[..i], sign * magnitude)
        }
        None => (word, 0),
    };
    if let Ok(n) = number(base) {
        let at = n as i128 + offset;
        return u64::try_from(at)
            .map(Expr::Number)
            .map_err(|_| format!("`{word}` is outside the 64-bit address space"));
    }
    if base.is_empty() || !base.chars().all(symbol_char) {
        return Err(format!(
            "`{word}` is neither a hex address nor a symbol name"
        ));
    }
    Ok(Expr::Symbol {
        name: base.to_string(),
        offset,
    })
}

/// The words after the command name.
pub struct Args<'a> {
    words: Vec<&'a str>,
    next: usize,
}

impl<'a> Args<'a> {
    pub fn new(rest: &'a str) -> Self {
        Args {
            words: rest.split_ascii_whitespace().collect(),
            next: 0,
        }
    }

    /// The next word, if any.
    pub fn word(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.next).copied();
        self.next += w.is_some() as usize;
        w
    }

    /// The next word if it is `flag` (case-insensitive).
    pub fn flag(&mut self, flag: &str) -> bool {
        let hit = self
            .words
            .get(self.next)
            .is_some_and(|w| w.eq_ignore_ascii_case(flag));
        self.next += hit as usize;
        hit
    }

    /// A count: `N`, `LN` or `L N`, if one is next.
    pub fn count(&mut self) -> Result<Option<u64>, String> {
        let Some(w) = self.word() else {
            return Ok(None);
        };
        let digits = match w.strip_prefix(['L', 'l']) {
            Some("") => self.word().ok_or("`L` needs a count after it")?,
            Some(d) => d,
            None => w,
        };
        number(digits).map(Some)
    }

    /// Fails if words are left over.
    pub fn end(&self) -> Result<(), String> {
        match self.words.get(self.next) {
            None => Ok(()),
            Some(w) => Err(format!("unexpected `{w}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_hex_by_default() {
        assert_eq!(number("174"), Ok(0x174));
        assert_eq!(number("0x174"), Ok(0x174));
        assert_eq!(number("0X2E"), Ok(0x2e));
        assert_eq!(number("0n100"), Ok(100));
        assert_eq!(number("00000000`7ffe0300"), Ok(0x7ffe_0300));
        assert_eq!(number("ffffffffffffffff"), Ok(u64::MAX));
    }

    #[test]
    fn bad_numbers_say_why() {
        assert!(number("1ffffffffffffffff").unwrap_err().contains("64 bits"));
        assert!(number("zz").unwrap_err().contains("not a hex number"));
        assert!(number("0n12a").unwrap_err().contains("decimal"));
        for bad in ["", "0x", "0n", "`", "`12", "12`", "-1", "+1"] {
            assert!(number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expressions() {
        assert_eq!(expr("7ffe0300"), Ok(Expr::Number(0x7ffe_0300)));
        assert_eq!(expr("7ffe0300+4"), Ok(Expr::Number(0x7ffe_0304)));
        assert_eq!(expr("10-0n16"), Ok(Expr::Number(0)));
        assert_eq!(
            expr("ntdll!ZwCreateMutant+0x4"),
            Ok(Expr::Symbol {
                name: "ntdll!ZwCreateMutant".into(),
                offset: 4
            })
        );
        assert_eq!(
            expr("KiFastCallEntry-1"),
            Ok(Expr::Symbol {
                name: "KiFastCallEntry".into(),
                offset: -1
            })
        );
    }

    #[test]
    fn hostile_expressions_are_refused() {
        assert!(expr("ffffffffffffffff+1").unwrap_err().contains("outside"));
        assert!(expr("0-1").unwrap_err().contains("outside"));
        assert!(expr("Ki+zz").is_err());
        assert!(expr("a b").is_err());
        assert!(expr("[rax]").is_err());
        assert!(expr("\u{1b}[A").is_err());
    }

    #[test]
    fn counts_and_flags() {
        let mut a = Args::new("L10 l 20 30 -all");
        assert_eq!(a.count(), Ok(Some(0x10)));
        assert_eq!(a.count(), Ok(Some(0x20)));
        assert_eq!(a.count(), Ok(Some(0x30)));
        assert!(a.flag("-ALL"));
        assert_eq!(a.count(), Ok(None));
        assert_eq!(a.end(), Ok(()));
        let mut a = Args::new("L");
        assert!(a.count().unwrap_err().contains("needs a count"));
        let mut a = Args::new("x y");
        assert_eq!(a.word(), Some("x"));
        assert_eq!(a.end(), Err("unexpected `y`".into()));
    }
}
