//! The kernel command line (PROTOCOL.md, "Kernel command line") and the
//! values that go on it: the lab, the test selection, the nonce, the
//! deliberate breakage of `--inject`.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::ValueEnum;

use crate::profile::Machine;

/// A lab the grader can build and boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Lab {
    Lab0,
    Lab1,
    Lab2,
    Lab3,
}

impl Lab {
    pub const ALL: [Lab; 4] = [Lab::Lab0, Lab::Lab1, Lab::Lab2, Lab::Lab3];

    pub fn as_str(self) -> &'static str {
        match self {
            Lab::Lab0 => "lab0",
            Lab::Lab1 => "lab1",
            Lab::Lab2 => "lab2",
            Lab::Lab3 => "lab3",
        }
    }
}

impl fmt::Display for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the kernel is asked to run: `lab=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Lab(Lab),
    /// The `kd>` prompt (`cargo grader kd` and the demo).
    Kd,
    /// `lab=fuzz`, whose own words (`paths=`, `seconds=`, `seed=`) follow.
    Fuzz,
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Program::Lab(lab) => lab.fmt(f),
            Program::Kd => f.write_str("kd"),
            Program::Fuzz => f.write_str("fuzz"),
        }
    }
}

/// Which tests the kernel runs: `tests=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    Only(Vec<String>),
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::All => f.write_str("all"),
            Selection::Only(tests) => f.write_str(&tests.join(",")),
        }
    }
}

/// A deliberate breakage for the grader's own integration tests (`--inject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Inject {
    /// A page fault in ring 0.
    Ring0,
    /// Spin forever with interrupts off.
    Hang,
    /// A triple fault.
    Triple,
    /// A SYSCALL entry that loses R10 for some inputs (what the fuzzer must find).
    Clobber,
}

impl Inject {
    pub fn as_str(self) -> &'static str {
        match self {
            Inject::Ring0 => "ring0",
            Inject::Hang => "hang",
            Inject::Triple => "triple",
            Inject::Clobber => "clobber",
        }
    }
}

/// The random token that marks this boot's protocol lines: 16 hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce(String);

impl Nonce {
    /// A fresh nonce. It only has to be unpredictable to the code under test
    /// (so that a stray print cannot fake a pass), not cryptographically
    /// strong: std's randomly keyed SipHash over the time is enough.
    pub fn fresh() -> Nonce {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let bits = RandomState::new().hash_one((nanos, std::process::id()));
        Nonce(format!("{bits:016x}"))
    }

    #[cfg(test)]
    pub fn fixed(text: &str) -> Nonce {
        Nonce(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Everything that goes on `-append`.
#[derive(Clone, Debug)]
pub struct KernelCmdline<'a> {
    pub nonce: &'a Nonce,
    pub program: Program,
    pub tests: &'a Selection,
    pub machine: &'a Machine,
    pub inject: Option<Inject>,
    pub verbose: bool,
}

impl fmt::Display for KernelCmdline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nonce={} lab={} tests={} profile={} accel={}",
            self.nonce.as_str(),
            self.program,
            self.tests,
            self.machine.profile.cmdline_name(),
            self.machine.accel.as_str(),
        )?;
        if let Some(inject) = self.inject {
            write!(f, " inject={}", inject.as_str())?;
        }
        if self.verbose {
            f.write_str(" verbose=1")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Accel, Profile};

    #[test]
    fn nonce_is_16_hex_digits_and_changes() {
        let a = Nonce::fresh();
        let b = Nonce::fresh();
        assert_eq!(a.as_str().len(), 16);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn cmdline_has_every_field_in_order() {
        let nonce = Nonce::fixed("0123456789abcdef");
        let machine = Machine {
            profile: Profile::Model("Skylake-Client".into()),
            accel: Accel::Tcg,
            smp: 2,
        };
        let tests = Selection::Only(vec!["lab1.a".into(), "lab1.b".into()]);
        let line = KernelCmdline {
            nonce: &nonce,
            program: Program::Lab(Lab::Lab1),
            tests: &tests,
            machine: &machine,
            inject: Some(Inject::Triple),
            verbose: true,
        }
        .to_string();
        assert_eq!(
            line,
            "nonce=0123456789abcdef lab=lab1 tests=lab1.a,lab1.b profile=other accel=tcg \
             inject=triple verbose=1"
        );
    }
}
