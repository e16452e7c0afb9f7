//! The in-kernel test runner and its serial protocol (grader/PROTOCOL.md,
//! and the book's grader appendix).
//!
//! Every protocol line starts with `@@syslab <nonce>`: the nonce comes from
//! the command line, so output that did not come from this runner (a
//! student's debug print, say) can never pass for a result.

use crate::percpu::PerCpu;
use alloc::string::String;
use core::fmt;
use core::sync::atomic::Ordering;

// The tests themselves run only in the kernel.
#[cfg(target_os = "none")]
pub mod compat;
#[cfg(target_os = "none")]
pub mod lab0;
#[cfg(target_os = "none")]
pub mod lab1;
#[cfg(target_os = "none")]
pub mod lab2;
#[cfg(target_os = "none")]
pub mod lab3;
#[cfg(target_os = "none")]
pub mod nmi;
pub mod plan;
#[cfg(target_os = "none")]
pub mod robust;
#[cfg(target_os = "none")]
pub mod user;

/// One graded test.
pub struct Test {
    /// `labN.name`.
    pub name: &'static str,
    pub points: u32,
    /// One line for the grader's report.
    pub description: &'static str,
    /// Ok(message) on a pass, Err(what went wrong) on a failure.
    pub run: fn() -> Result<String, String>,
}

/// One lab's tests, for the CPUs of one vendor or for any CPU.
pub struct List {
    /// `lab0` .. `lab3`.
    pub lab: &'static str,
    /// `any`, or `intel` / `amd` for a lab whose tests differ by vendor.
    pub vendor: &'static str,
    pub tests: &'static [Test],
}

/// Every lab's tests: what the runner runs (`tests_for`) and what the image's
/// plan section announces (plan.rs). Labs 2 and 3 have a list per vendor.
#[cfg(target_os = "none")]
pub static LISTS: &[List] = &[
    List {
        lab: "lab0",
        vendor: "any",
        tests: lab0::TESTS,
    },
    List {
        lab: "lab1",
        vendor: "any",
        tests: lab1::TESTS,
    },
    List {
        lab: "lab2",
        vendor: "intel",
        tests: lab2::INTEL,
    },
    List {
        lab: "lab2",
        vendor: "amd",
        tests: lab2::AMD,
    },
    List {
        lab: "lab3",
        vendor: "intel",
        tests: lab3::INTEL,
    },
    List {
        lab: "lab3",
        vendor: "amd",
        tests: lab3::AMD,
    },
];

static NONCE: spin::Once<&'static str> = spin::Once::new();

/// Remembers the nonce for `proto!`.
pub fn set_nonce(nonce: &'static str) {
    NONCE.call_once(|| nonce);
}

#[doc(hidden)]
pub fn _proto(args: fmt::Arguments) {
    let nonce = NONCE.get().copied().unwrap_or("0");
    let mut line = LineBuf::new();
    let _ = fmt::write(&mut line, args);
    crate::kprintln!("@@syslab {nonce} {}", line.as_str());
}

/// Prints one protocol line: `@@syslab <nonce> <verb> ...`.
#[macro_export]
macro_rules! proto {
    ($($arg:tt)*) => { $crate::test::_proto(format_args!($($arg)*)) };
}

/// A fixed-size line buffer that needs no heap (fault paths use it). Line
/// breaks are replaced so a message stays one protocol line; overflow is cut.
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub const fn new() -> Self {
        Self {
            buf: [0; 512],
            len: 0,
        }
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<invalid utf-8>")
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let c = if c == '\n' || c == '\r' { ' ' } else { c };
            let mut tmp = [0u8; 4];
            let bytes = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + bytes.len() > self.buf.len() {
                return Ok(());
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// The name of the test `cpu` is running, for fault reports.
pub fn current_test_name(cpu: &PerCpu) -> &'static str {
    let p = cpu.current_test.load(Ordering::Relaxed);
    if p.is_null() {
        "-"
    } else {
        // SAFETY: only ever set from a `&'static &'static str`.
        unsafe { *p }
    }
}

/// The tests of `lab`, in the order they run.
#[cfg(target_os = "none")]
pub fn tests_for(lab: &str) -> &'static [Test] {
    let vendor = if crate::shared_user_data::cpu_features().intel {
        "intel"
    } else {
        "amd"
    };
    LISTS
        .iter()
        .find(|l| l.lab == lab && (l.vendor == "any" || l.vendor == vendor))
        .map_or(&[], |l| l.tests)
}

/// Announces the lab's tests and their points. Printed early in the boot,
/// so that the grader knows what to score even if the boot dies later.
#[cfg(target_os = "none")]
pub fn plan(lab: &str) {
    let tests = tests_for(lab);
    if tests.is_empty() && lab.starts_with("lab") {
        crate::kprintln!("no tests for lab '{lab}'");
    }
    for t in tests {
        crate::proto!("plan {} points={} {}", t.name, t.points, t.description);
    }
}

/// Runs the selected tests of the lab on the command line, then ends the run.
#[cfg(target_os = "none")]
pub fn run(cmdline: &crate::cmdline::Cmdline<'static>) -> ! {
    let tests = tests_for(cmdline.lab);
    let mut injected = false;
    for t in tests.iter().filter(|t| cmdline.selects(t.name)) {
        crate::proto!("run {}", t.name);
        for cpu in crate::percpu::all() {
            cpu.current_test
                .store(&t.name as *const &str as *mut &str, Ordering::Relaxed);
        }
        if let (Some(inject), false) = (cmdline.inject, injected) {
            injected = true;
            inject_failure(inject);
        }
        match (t.run)() {
            Ok(msg) => crate::proto!("pass {} {}", t.name, msg),
            Err(msg) => crate::proto!("fail {} {}", t.name, msg),
        }
    }
    for cpu in crate::percpu::all() {
        cpu.current_test
            .store(core::ptr::null_mut(), Ordering::Relaxed);
    }
    crate::proto!("done");
    crate::arch::qemu_exit(crate::arch::ExitCode::Done)
}

/// Breaks the kernel on purpose, for the grader's own tests.
#[cfg(target_os = "none")]
pub fn inject_failure(what: crate::cmdline::Inject) {
    use crate::cmdline::Inject;
    crate::kprintln!("inject: {what:?}");
    match what {
        // SAFETY: deliberately wrong; page 0 is unmapped.
        Inject::Ring0Fault => unsafe {
            core::arch::asm!("mov rax, [8]", out("rax") _, options(nostack));
        },
        Inject::Hang => loop {
            // SAFETY: spinning with interrupts off is the point.
            unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
            core::hint::spin_loop();
        },
        Inject::Clobber => crate::fuzz::clobber_syscall_entry(),
        // An empty IDT turns the next exception into a triple fault.
        Inject::TripleFault => unsafe {
            let empty = crate::gdt::DescriptorTablePointer { limit: 0, base: 0 };
            core::arch::asm!("lidt [{}]", "ud2", in(reg) &empty, options(nostack));
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn line_buf_keeps_one_line_and_cuts_overflow() {
        let mut b = LineBuf::new();
        write!(b, "a\nb\r\nc").unwrap();
        assert_eq!(b.as_str(), "a b  c");
        let long = "x".repeat(600);
        let mut b = LineBuf::new();
        write!(b, "{long}").unwrap();
        assert_eq!(b.as_str().len(), 512);
    }
}
