//! The `kd>` command table: each command's name, its syntax, its one line
//! of help, and the parser that turns its words into a [`Request`]. The
//! names and output shapes are WinDbg's; `?` prints this table.
//!
//! Parsing is pure (host-tested); mod.rs runs what it returns.

use super::args::{self, Args, Expr};
use super::dump::{MAX_DUMP_BYTES, Width};
use crate::percpu::MAX_CPUS;
use alloc::format;
use alloc::string::String;

/// Instructions `u` shows by default, and at most.
pub const U_DEFAULT: u64 = 8;
pub const U_MAX: u64 = 0x100;
/// CreateMutex + CloseHandle pairs `bench` runs by default, and at most.
pub const BENCH_DEFAULT: u64 = 0x10000;
pub const BENCH_MAX: u64 = 0xFFFF_FFFF;

/// Which path `bench` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchPath {
    /// ntdll's `int 0x2e` stubs.
    Int2e,
    /// SharedUserData's stub, which must be the SYSENTER one.
    Sysenter,
    /// Direct `syscall` stubs.
    Syscall,
    /// The current SystemCallStub, whatever it is.
    Stub,
}

impl BenchPath {
    pub const fn name(self) -> &'static str {
        match self {
            BenchPath::Int2e => "int2e",
            BenchPath::Sysenter => "sysenter",
            BenchPath::Syscall => "syscall",
            BenchPath::Stub => "stub",
        }
    }
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// An empty line: nothing to do.
    Nothing,
    Rdmsr(u32),
    /// `~`: list the CPUs.
    Cpus,
    /// `~N`: make CPU N the current one.
    SwitchCpu(u32),
    CpuInfo,
    /// `!descriptor gdt N`: the entry at index N.
    Descriptor(u64),
    /// `dg SEL`: the entry a selector names.
    Selector(u64),
    Idt(u8),
    /// `u [ADDR] [N]`; no address: go on after the last `u`.
    Unassemble {
        at: Option<Expr>,
        count: u64,
    },
    Dump {
        width: Width,
        at: Expr,
        count: u64,
    },
    Registers,
    Pcr,
    Handle(Option<u64>),
    Object,
    /// `bench [PATH] [N] [-all]`; no path: whatever this OS's ntdll uses.
    Bench {
        path: Option<BenchPath>,
        count: u64,
        all: bool,
    },
    Go,
    Quit,
    Help,
}

/// One command of the table.
pub struct Command {
    pub name: &'static str,
    /// Other spellings.
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    parse: fn(&mut Args) -> Result<Request, String>,
}

// ANCHOR: table
pub static COMMANDS: &[Command] = &[
    Command {
        name: "rdmsr",
        aliases: &[],
        usage: "rdmsr N",
        help: "read model-specific register N (hex) on the current CPU",
        parse: |a| {
            let n = need(a.word(), "the MSR number")?;
            let n = args::number(n)?;
            u32::try_from(n)
                .map(Request::Rdmsr)
                .map_err(|_| format!("MSR numbers are 32 bits; {n:#x} is not one"))
        },
    },
    Command {
        name: "~",
        aliases: &[],
        usage: "~ | ~N",
        help: "list the CPUs, or run later commands on CPU N (its MSRs, GDT and GS are its own)",
        parse: |_| Ok(Request::Cpus),
    },
    Command {
        name: "!cpuinfo",
        aliases: &[],
        usage: "!cpuinfo",
        help: "one line per CPU: family/model/stepping, vendor, MHz, microcode, NT's KF_* feature word",
        parse: |_| Ok(Request::CpuInfo),
    },
    Command {
        name: "!descriptor",
        aliases: &["!protmode.descriptor"],
        usage: "!descriptor gdt N",
        help: "decode GDT entry N (hex index) of the current CPU, field by field",
        parse: |a| {
            let table = need(a.word(), "`gdt`")?;
            if !table.eq_ignore_ascii_case("gdt") {
                return Err(format!("only the GDT can be shown, not `{table}`"));
            }
            let n = args::number(need(a.word(), "the entry index")?)?;
            Ok(Request::Descriptor(n))
        },
    },
    Command {
        name: "dg",
        aliases: &[],
        usage: "dg SEL",
        help: "decode the GDT entry selector SEL (hex) names",
        parse: |a| {
            let sel = args::number(need(a.word(), "a selector")?)?;
            if sel > 0xffff {
                return Err(format!("selectors are 16 bits; {sel:#x} is not one"));
            }
            Ok(Request::Selector(sel))
        },
    },
    Command {
        name: "!idt",
        aliases: &[],
        usage: "!idt N",
        help: "decode IDT gate N (hex vector, 0-ff) and name its handler",
        parse: |a| {
            let v = args::number(need(a.word(), "a vector")?)?;
            u8::try_from(v)
                .map(Request::Idt)
                .map_err(|_| format!("vectors are 00-ff; {v:#x} is not one"))
        },
    },
    Command {
        name: "u",
        aliases: &[],
        usage: "u [ADDR|SYMBOL] [N]",
        help: "disassemble N instructions (default 8, at most 0x100); no address goes on from the last u",
        parse: |a| {
            let at = a.word().map(args::expr).transpose()?;
            let count = a.count()?.unwrap_or(U_DEFAULT);
            if !(1..=U_MAX).contains(&count) {
                return Err(format!("the count must be 1-{U_MAX:#x}, not {count:#x}"));
            }
            Ok(Request::Unassemble { at, count })
        },
    },
    Command {
        name: "db",
        aliases: &[],
        usage: "db ADDR [L count]",
        help: "dump bytes and ASCII (default 0x80 bytes)",
        parse: |a| dump(a, Width::Byte),
    },
    Command {
        name: "dd",
        aliases: &[],
        usage: "dd ADDR [L count]",
        help: "dump dwords (default 0x20)",
        parse: |a| dump(a, Width::Dword),
    },
    Command {
        name: "dq",
        aliases: &[],
        usage: "dq ADDR [L count]",
        help: "dump qwords (default 0x10)",
        parse: |a| dump(a, Width::Qword),
    },
    Command {
        name: "r",
        aliases: &[],
        usage: "r",
        help: "the current CPU's registers at the prompt, and its last trap frame from ring 3",
        parse: |_| Ok(Request::Registers),
    },
    Command {
        name: "!pcr",
        aliases: &[],
        usage: "!pcr",
        help: "the current CPU's per-CPU block: APIC id, GS, stacks, TSS, system-call MSRs, exit counters",
        parse: |_| Ok(Request::Pcr),
    },
    Command {
        name: "!handle",
        aliases: &[],
        usage: "!handle [H]",
        help: "the process's handle table, or handle H (hex)",
        parse: |a| Ok(Request::Handle(a.word().map(args::number).transpose()?)),
    },
    Command {
        name: "!object",
        aliases: &[],
        usage: "!object",
        help: "the live kernel objects, by type",
        parse: |_| Ok(Request::Object),
    },
    Command {
        name: "bench",
        aliases: &[],
        usage: "bench [int2e|sysenter|syscall|stub] [N] [-all]",
        help: "the article's test: N CreateMutex+CloseHandle pairs (default 0x10000); -all: every CPU at once",
        parse: bench,
    },
    Command {
        name: "g",
        aliases: &[],
        usage: "g",
        help: "go: leave the prompt and let the CPUs run (idle); Ctrl-C breaks back in",
        parse: |_| Ok(Request::Go),
    },
    Command {
        name: "q",
        aliases: &[],
        usage: "q",
        help: "quit: end the session and the run (Ctrl-C at the prompt does the same)",
        parse: |_| Ok(Request::Quit),
    },
    Command {
        name: "?",
        aliases: &["help"],
        usage: "?",
        help: "this list",
        parse: |_| Ok(Request::Help),
    },
];
// ANCHOR_END: table

fn need<'a>(word: Option<&'a str>, what: &str) -> Result<&'a str, String> {
    word.ok_or_else(|| format!("{what} is missing"))
}

fn dump(a: &mut Args, width: Width) -> Result<Request, String> {
    let at = args::expr(need(a.word(), "the address")?)?;
    let count = a.count()?.unwrap_or(width.default_count());
    let max = MAX_DUMP_BYTES / width.bytes();
    if !(1..=max).contains(&count) {
        return Err(format!("the count must be 1-{max:#x}, not {count:#x}"));
    }
    Ok(Request::Dump { width, at, count })
}

fn bench(a: &mut Args) -> Result<Request, String> {
    let mut path = None;
    let mut count = None;
    let mut all = false;
    while let Some(w) = a.word() {
        let p = match w.to_ascii_lowercase().as_str() {
            "int2e" | "int" => Some(BenchPath::Int2e),
            "sysenter" => Some(BenchPath::Sysenter),
            "syscall" => Some(BenchPath::Syscall),
            "stub" => Some(BenchPath::Stub),
            "-all" => {
                all = true;
                continue;
            }
            _ => None,
        };
        match (p, path, count) {
            (Some(p), None, None) => path = Some(p),
            (Some(_), _, _) => return Err(format!("`{w}`: one path, before the count")),
            (None, _, None) => count = Some(args::number(w)?),
            (None, _, Some(_)) => return Err(format!("unexpected `{w}`")),
        }
    }
    let count = count.unwrap_or(BENCH_DEFAULT);
    if !(1..=BENCH_MAX).contains(&count) {
        return Err(format!(
            "the count must be 1-{BENCH_MAX:#x}, not {count:#x}"
        ));
    }
    Ok(Request::Bench { path, count, all })
}

/// A command line that does not parse: its message, and the usage of the
/// command it was meant for, if that much was recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub command: Option<&'static Command>,
}

impl core::fmt::Debug for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Command {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Command {}

impl ParseError {
    /// The one line the prompt prints.
    pub fn line(&self) -> String {
        match self.command {
            Some(c) => format!(
                "{}: {}; usage: {} ({})",
                c.name, self.message, c.usage, c.help
            ),
            None => format!("{}; type ? for the commands", self.message),
        }
    }
}

/// The command `name` (case-insensitive, as WinDbg's).
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| {
        c.name.eq_ignore_ascii_case(name) || c.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses one command line.
pub fn parse(line: &str) -> Result<Request, ParseError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Request::Nothing);
    }
    // `~1` is one word in WinDbg: the CPU number follows the tilde.
    if let Some(rest) = line.strip_prefix('~') {
        let cmd = find("~");
        let rest = rest.trim();
        if rest.is_empty() {
            return Ok(Request::Cpus);
        }
        let fail = |message| ParseError {
            message,
            command: cmd,
        };
        let n = args::number(rest).map_err(fail)?;
        return match u32::try_from(n) {
            Ok(n) if (n as usize) < MAX_CPUS => Ok(Request::SwitchCpu(n)),
            _ => Err(fail(format!(
                "there is no CPU {n:#x}: this kernel runs at most {MAX_CPUS} CPUs"
            ))),
        };
    }
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let Some(command) = find(name) else {
        let shown: String = name.chars().take(40).collect();
        return Err(ParseError {
            message: format!("unknown command `{shown}`"),
            command: None,
        });
    };
    let mut words = Args::new(rest);
    let request = (command.parse)(&mut words).and_then(|r| words.end().map(|()| r));
    request.map_err(|message| ParseError {
        message,
        command: Some(command),
    })
}

/// `?`: every command, one line each.
pub fn help() -> String {
    let mut out = String::new();
    for c in COMMANDS {
        out += &format!("{:<48} {}\n", c.usage, c.help);
    }
    out += "Numbers are hex (0n for decimal); addresses may be symbols: KiFastCallEntry, \
            ntdll!ZwCreateMutant, SharedUserData!SystemCallStub+3.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        parse(line).unwrap_err().line()
    }

    #[test]
    fn the_articles_commands() {
        assert_eq!(parse("rdmsr 174"), Ok(Request::Rdmsr(0x174)));
        assert_eq!(
            parse("RDMSR 176"),
            Ok(Request::Rdmsr(0x176)),
            "the article's capitals"
        );
        assert_eq!(parse("!cpuinfo"), Ok(Request::CpuInfo));
        assert_eq!(
            parse("!ProtMode.Descriptor GDT 1"),
            Ok(Request::Descriptor(1))
        );
        assert_eq!(parse("!descriptor gdt 7"), Ok(Request::Descriptor(7)));
        assert_eq!(
            parse("u 804fa1e0"),
            Ok(Request::Unassemble {
                at: Some(Expr::Number(0x804f_a1e0)),
                count: 8
            })
        );
        assert_eq!(
            parse("u ntdll!ZwCreateMutant 5"),
            Ok(Request::Unassemble {
                at: Some(Expr::Symbol {
                    name: "ntdll!ZwCreateMutant".into(),
                    offset: 0
                }),
                count: 5
            })
        );
        assert_eq!(parse("~1"), Ok(Request::SwitchCpu(1)));
        assert_eq!(parse("~ 0"), Ok(Request::SwitchCpu(0)));
        assert_eq!(parse("~"), Ok(Request::Cpus));
        assert_eq!(parse("   "), Ok(Request::Nothing));
    }

    #[test]
    fn the_other_commands() {
        assert_eq!(parse("dg 2b"), Ok(Request::Selector(0x2b)));
        assert_eq!(parse("!idt 2e"), Ok(Request::Idt(0x2e)));
        assert_eq!(
            parse("db 7ffe0300 L10"),
            Ok(Request::Dump {
                width: Width::Byte,
                at: Expr::Number(0x7ffe_0300),
                count: 0x10
            })
        );
        assert_eq!(
            parse("dq rsp"),
            Ok(Request::Dump {
                width: Width::Qword,
                at: Expr::Symbol {
                    name: "rsp".into(),
                    offset: 0
                },
                count: 16
            })
        );
        assert_eq!(parse("!handle"), Ok(Request::Handle(None)));
        assert_eq!(parse("!handle 4"), Ok(Request::Handle(Some(4))));
        assert_eq!(
            parse("bench"),
            Ok(Request::Bench {
                path: None,
                count: 0x10000,
                all: false
            })
        );
        assert_eq!(
            parse("bench sysenter 0n1000 -all"),
            Ok(Request::Bench {
                path: Some(BenchPath::Sysenter),
                count: 1000,
                all: true
            })
        );
        assert_eq!(
            parse("bench -all ffffff"),
            Ok(Request::Bench {
                path: None,
                count: 0xff_ffff,
                all: true
            })
        );
        for (line, r) in [
            ("g", Request::Go),
            ("q", Request::Quit),
            ("?", Request::Help),
        ] {
            assert_eq!(parse(line), Ok(r));
        }
        assert_eq!(parse("help"), Ok(Request::Help));
        assert!(help().lines().count() > COMMANDS.len());
    }

    #[test]
    fn errors_name_the_command_and_its_usage() {
        assert_eq!(
            err("rdmsr"),
            "rdmsr: the MSR number is missing; usage: rdmsr N (read model-specific register N \
             (hex) on the current CPU)"
        );
        assert!(err("rdmsr zz").starts_with("rdmsr: `zz` is not a hex number"));
        assert!(err("rdmsr 100000000").contains("MSR numbers are 32 bits"));
        assert!(err("rdmsr 174 175").contains("unexpected `175`"));
        assert_eq!(
            err("frobnicate now"),
            "unknown command `frobnicate`; type ? for the commands"
        );
        assert!(err("!idt 100").contains("vectors are 00-ff"));
        assert!(err("!descriptor ldt 1").contains("only the GDT"));
        assert!(err("!descriptor gdt").contains("the entry index is missing"));
        assert!(err("dg 10000").contains("selectors are 16 bits"));
        assert!(err("~9").contains("there is no CPU 0x9"));
        assert!(err("~x").starts_with("~: `x` is not a hex number"));
        assert!(err("bench sysenter syscall").contains("one path"));
        assert!(err("bench 10 20").contains("unexpected `20`"));
        assert!(err("bench fast").contains("not a hex number"));
    }

    #[test]
    fn hostile_input() {
        assert!(err("u KiFastCallEntry 0").contains("the count must be 1-0x100"));
        assert!(err("u 0 ffffffffffffffff").contains("the count must be"));
        assert!(err("db 0 L ffffffffffffffff").contains("the count must be 1-0x10000"));
        assert!(err("dq 0 L 2001").contains("1-0x2000"));
        assert!(err("db ffffffffffffffff+1").contains("outside the 64-bit address space"));
        assert!(err("bench 0").contains("the count must be"));
        assert!(err("bench 100000000").contains("the count must be"));
        assert!(err("~ffffffffffffffffff").contains("64 bits"));
        let long = "x".repeat(300);
        assert!(
            err(&long).len() < 120,
            "an unknown command is shown cut short"
        );
        assert!(parse("\u{1}\u{2}").is_err());
        assert!(err("db \u{7f}").contains("neither a hex address nor a symbol"));
    }
}
