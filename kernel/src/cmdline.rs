//! The kernel command line: `key=value` words that the grader passes with
//! QEMU's `-append` (grader/PROTOCOL.md lists them).

/// A deliberate breakage, for the grader's tests of its own diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// A page fault in ring 0.
    Ring0Fault,
    /// Spin forever with interrupts off.
    Hang,
    /// Make the CPU triple-fault.
    TripleFault,
    /// Zero R10 in the SYSCALL entry for some inputs (fuzz.rs): a bug only
    /// a fuzzer finds by chance.
    Clobber,
}

use crate::os::Os;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmdline<'a> {
    /// Stamped on every protocol line so that stray output cannot fake a result.
    pub nonce: &'a str,
    /// `lab0`..`lab3`, `bench`, or `kd` (the `kd>` prompt; `demo` is its old name).
    pub lab: &'a str,
    /// `os=2000` or `os=xp` (the default): see os.rs.
    pub os: Os,
    /// `all`, or a comma-separated list of test names.
    pub tests: &'a str,
    /// The grader's CPU profile name, for the record.
    pub profile: &'a str,
    /// `tcg` or `kvm`.
    pub accel: &'a str,
    pub inject: Option<Inject>,
    pub verbose: bool,
    /// Benchmark: operations per row, split into `batches` batches.
    pub iterations: u64,
    pub batches: u64,
    /// Fuzzing (`lab=fuzz`): the paths (`all` or names joined by commas),
    /// how long, and the run's seed, or with `replay` the one case to run.
    pub paths: &'a str,
    pub seconds: u64,
    pub seed: u64,
    pub replay: bool,
    /// Benchmark: what the grader made the TSC count, `cycles` or
    /// `instructions` (under `-icount`); only reported back.
    pub count: &'a str,
    /// Benchmark: which rows to time, those of 32-bit or of 64-bit callers.
    pub bits: Bits,
}

/// `bits=32|64|both`: the benchmark's rows of 32-bit callers (the article's
/// own instructions), of 64-bit ones, or both (the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bits {
    B32,
    B64,
    Both,
}

impl Bits {
    /// Whether rows of `bits`-bit callers (32 or 64) are timed.
    pub fn includes(self, bits: u32) -> bool {
        matches!(
            (self, bits),
            (Bits::Both, _) | (Bits::B32, 32) | (Bits::B64, 64)
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Bits::B32 => "32",
            Bits::B64 => "64",
            Bits::Both => "both",
        }
    }
}

impl<'a> Cmdline<'a> {
    /// Parses the command line; unknown words are ignored, missing ones default.
    pub fn parse(line: &'a str) -> Self {
        let mut c = Cmdline {
            nonce: "0",
            lab: "lab0",
            os: Os::WindowsXp,
            tests: "all",
            profile: "unknown",
            accel: "tcg",
            inject: None,
            verbose: false,
            iterations: 90_000,
            batches: 9,
            paths: "all",
            seconds: 10,
            seed: 0,
            replay: false,
            count: "cycles",
            bits: Bits::Both,
        };
        for word in line.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                continue;
            };
            match key {
                "nonce" => c.nonce = value,
                "lab" => c.lab = value,
                "os" => c.os = Os::parse(value).unwrap_or(c.os),
                "tests" => c.tests = value,
                "profile" => c.profile = value,
                "accel" => c.accel = value,
                "verbose" => c.verbose = value == "1",
                "iterations" => c.iterations = parse_number(value).unwrap_or(c.iterations),
                "batches" => c.batches = parse_number(value).unwrap_or(c.batches),
                "paths" => c.paths = value,
                "seconds" => c.seconds = parse_number(value).unwrap_or(c.seconds),
                "seed" => c.seed = parse_number(value).unwrap_or(c.seed),
                "replay" => c.replay = value == "1",
                "count" => c.count = value,
                "bits" => {
                    c.bits = match value {
                        "32" => Bits::B32,
                        "64" => Bits::B64,
                        _ => Bits::Both,
                    }
                }
                "inject" => {
                    c.inject = match value {
                        "ring0" => Some(Inject::Ring0Fault),
                        "hang" => Some(Inject::Hang),
                        "triple" => Some(Inject::TripleFault),
                        "clobber" => Some(Inject::Clobber),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// Whether the test called `name` was selected.
    pub fn selects(&self, name: &str) -> bool {
        self.tests == "all" || self.tests.split(',').any(|t| t == name)
    }
}

/// A decimal or 0x-prefixed hexadecimal number (`0xFFFFFF`, the article's count).
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let c = Cmdline::parse(
            "nonce=00ff lab=lab1 tests=lab1.a,lab1.b profile=amd accel=kvm inject=hang verbose=1",
        );
        assert_eq!(c.nonce, "00ff");
        assert_eq!(c.lab, "lab1");
        assert_eq!(c.profile, "amd");
        assert_eq!(c.accel, "kvm");
        assert_eq!(c.inject, Some(Inject::Hang));
        assert!(c.verbose);
        assert!(c.selects("lab1.b"));
        assert!(!c.selects("lab1.c"));
        assert!(!c.selects("lab1"));
        assert_eq!(c.os, Os::WindowsXp, "xp unless asked");
        assert_eq!(Cmdline::parse("lab=kd os=2000").os, Os::Windows2000);
        assert_eq!(Cmdline::parse("os=95").os, Os::WindowsXp);
    }

    #[test]
    fn benchmark_numbers_in_decimal_or_hex() {
        let c = Cmdline::parse("lab=bench iterations=0xFFFFFF batches=5 count=instructions");
        assert_eq!((c.iterations, c.batches), (0xFF_FFFF, 5));
        assert_eq!(c.count, "instructions");
        assert_eq!(Cmdline::parse("lab=bench").count, "cycles");
        assert_eq!(Cmdline::parse("lab=bench").bits, Bits::Both);
        let b = Cmdline::parse("bits=32").bits;
        assert!(b.includes(32) && !b.includes(64));
        assert_eq!(Cmdline::parse("bits=64").bits.name(), "64");
        let c = Cmdline::parse("iterations=zz");
        assert_eq!(c.iterations, 90_000);
    }

    #[test]
    fn fuzz_words() {
        let c = Cmdline::parse(
            "lab=fuzz paths=int2e,syscall seconds=30 seed=0xdeadbeef replay=1 inject=clobber",
        );
        assert_eq!(
            (c.paths, c.seconds, c.seed, c.replay),
            ("int2e,syscall", 30, 0xdead_beef, true)
        );
        assert_eq!(c.inject, Some(Inject::Clobber));
        let c = Cmdline::parse("lab=fuzz");
        assert_eq!(
            (c.paths, c.seconds, c.seed, c.replay),
            ("all", 10, 0, false)
        );
    }

    #[test]
    fn defaults_select_everything_and_ignore_junk() {
        let c = Cmdline::parse("  junk =x inject=nonsense ");
        assert_eq!(c.lab, "lab0");
        assert_eq!(c.inject, None);
        assert!(c.selects("anything"));
    }
}
