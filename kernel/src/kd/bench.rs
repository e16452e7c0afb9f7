//! `bench`: the article's test program at the prompt. CreateMutex +
//! CloseHandle N times in ring 3, through one path, on the current CPU or
//! on every CPU at once, timed by the kernel's benchmark code
//! ([`crate::bench::time_on`]) and shown as the article's Table 4 column:
//! how long 0xFFFFFF iterations would take at that rate.

use super::commands::BenchPath;
use crate::os::Os;
use crate::shared_user_data::StubKind;
use alloc::format;
use alloc::string::String;
use syslab_abi::user_test::*;

/// The article's loop count.
pub const ARTICLE_PAIRS: u64 = 0x00FF_FFFF;
/// Pairs per user thread: the watchdog never fires, and Ctrl-C is looked
/// for between batches.
pub const BATCH: u64 = 0x4000;

/// The user program's path id for `path`, and how to name it; or why this
/// boot cannot take that path.
pub fn path_for(
    path: Option<BenchPath>,
    os: Os,
    stub: Option<StubKind>,
    syscall_present: bool,
) -> Result<(u64, String), String> {
    let stub_name = |k: StubKind| format!("{} (SharedUserData!SystemCallStub64)", k.name());
    match (path, os, stub) {
        (None, Os::Windows2000, _) | (Some(BenchPath::Int2e), _, _) => {
            Ok((PATH_INT2E, "int 0x2e (ntdll's own stubs)".into()))
        }
        (None | Some(BenchPath::Stub), Os::WindowsXp, Some(k)) => Ok((PATH_SHARED, stub_name(k))),
        (Some(BenchPath::Stub), _, _) | (None, _, None) => Err(
            "there is no SystemCallStub under --os 2000: Windows 2000's ntdll runs int 0x2e itself"
                .into(),
        ),
        (Some(BenchPath::Sysenter), _, Some(StubKind::Sysenter)) => {
            Ok((BENCH_PATH_SYSENTER, stub_name(StubKind::Sysenter)))
        }
        (Some(BenchPath::Sysenter), Os::Windows2000, _) => Err(
            "SYSENTER is not set up under --os 2000 (its MSRs read 0, as on Windows 2000)".into(),
        ),
        (Some(BenchPath::Sysenter), _, Some(k)) => Err(format!(
            "this CPU's SystemCallStub uses {}: SYSENTER raises #UD in 64-bit mode on non-Intel CPUs",
            k.name()
        )),
        (Some(BenchPath::Syscall), Os::Windows2000, _) => Err(
            "SYSCALL is not set up under --os 2000 (Windows 2000 knew no fast system call)".into(),
        ),
        (Some(BenchPath::Syscall), _, _) if !syscall_present => {
            Err("this CPU has no SYSCALL (CPUID.80000001H:EDX[11] = 0)".into())
        }
        (Some(BenchPath::Syscall), _, _) => Ok((PATH_SYSCALL, "syscall (direct stubs)".into())),
        (Some(BenchPath::Sysenter), _, None) => Err("no SystemCallStub in this boot".into()),
    }
}

/// `12.34 s`, or `1 min 30.0 s` as the article's Table 4 writes times.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.2} s")
    } else {
        let minutes = (seconds / 60.0) as u64;
        format!("{minutes} min {:.1} s", seconds - minutes as f64 * 60.0)
    }
}

/// The report: one row per CPU of `(cpu, pairs, ticks)`.
pub fn report(what: &str, rows: &[(u32, u64, u64)], tsc_khz: u64, stopped: bool) -> String {
    let mut out = format!(
        "CreateMutex + CloseHandle through {what}{}\n",
        if rows.len() > 1 {
            ", on every CPU at once"
        } else {
            ""
        }
    );
    for &(cpu, pairs, ticks) in rows {
        let per_pair = ticks as f64 / pairs.max(1) as f64;
        let seconds = per_pair * ARTICLE_PAIRS as f64 / (tsc_khz.max(1) as f64 * 1000.0);
        out += &format!(
            "CPU {cpu}: {pairs:#x} pairs, {per_pair:.1} cycles per pair ({:.1} per system call); \
             0xFFFFFF pairs, the article's loop, would take {}\n",
            per_pair / 2.0,
            duration(seconds)
        );
    }
    if stopped {
        out += "(stopped early by Ctrl-C)\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_by_os_and_cpu() {
        let xp_intel = |p| path_for(p, Os::WindowsXp, Some(StubKind::Sysenter), true);
        assert_eq!(xp_intel(None).unwrap().0, PATH_SHARED);
        assert!(xp_intel(None).unwrap().1.starts_with("sysenter"));
        assert_eq!(
            xp_intel(Some(BenchPath::Sysenter)).unwrap().0,
            BENCH_PATH_SYSENTER
        );
        assert_eq!(xp_intel(Some(BenchPath::Int2e)).unwrap().0, PATH_INT2E);
        assert_eq!(xp_intel(Some(BenchPath::Syscall)).unwrap().0, PATH_SYSCALL);
        let amd = path_for(
            Some(BenchPath::Sysenter),
            Os::WindowsXp,
            Some(StubKind::Syscall),
            true,
        );
        assert!(amd.unwrap_err().contains("#UD"));
        let w2k = |p| path_for(p, Os::Windows2000, None, true);
        assert_eq!(w2k(None).unwrap().0, PATH_INT2E);
        assert!(
            w2k(Some(BenchPath::Stub))
                .unwrap_err()
                .contains("no SystemCallStub")
        );
        assert!(
            w2k(Some(BenchPath::Sysenter))
                .unwrap_err()
                .contains("read 0")
        );
        assert!(
            w2k(Some(BenchPath::Syscall))
                .unwrap_err()
                .contains("not set up")
        );
        let no_syscall = path_for(Some(BenchPath::Syscall), Os::WindowsXp, None, false);
        assert!(no_syscall.unwrap_err().contains("no SYSCALL"));
    }

    #[test]
    fn table_4_column() {
        assert_eq!(duration(9.5), "9.50 s");
        assert_eq!(duration(90.0), "1 min 30.0 s");
        assert_eq!(duration(240.0), "4 min 0.0 s");
        // 1000 cycles per pair at 1 GHz: 0xFFFFFF pairs take 16.78 s.
        let text = report(
            "int 0x2e",
            &[(0, 0x10000, 0x10000 * 1000)],
            1_000_000,
            false,
        );
        let expected = "CPU 0: 0x10000 pairs, 1000.0 cycles per pair (500.0 per system call); \
                        0xFFFFFF pairs, the article's loop, would take 16.78 s";
        assert!(text.contains(expected), "{text}");
        let both = report("x", &[(0, 1, 1), (1, 1, 1)], 1, true);
        assert!(both.contains("on every CPU at once") && both.contains("Ctrl-C"));
    }
}
