//! End-to-end tests of `cargo grader kd`: the real kernel's `kd>` prompt
//! under QEMU, fed a script, on both CPU profiles and in both `--os`
//! modes. They check what the article's experiments show (each CPU's own
//! SYSENTER_ESP, the kernel code descriptor, the SystemCallStub's bytes,
//! int 0x2e under Windows 2000) and that hostile commands get one line of
//! error while the session goes on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static QEMU: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader lives in the workspace")
        .to_path_buf()
}

fn has_solutions() -> bool {
    let present = root().join("solutions").join("Cargo.toml").is_file();
    if !present {
        eprintln!("no solutions/ in this checkout: skipping");
    }
    present
}

/// Runs `cargo grader kd --solutions --script` on `script`; returns the
/// exit status and everything printed.
fn kd(cpu: &str, os: &str, name: &str, script: &str) -> (Option<i32>, String) {
    let _one_at_a_time = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = root().join("target").join("syslab").join("test-output");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join(format!("{name}-{cpu}-{os}.kd"));
    std::fs::write(&file, script).expect("the script is written");
    let out = Command::new(env!("CARGO_BIN_EXE_syslab-grader"))
        .args([
            "kd",
            "--solutions",
            "--cpu",
            cpu,
            "--os",
            os,
            "--timeout",
            "120",
        ])
        .arg("--script")
        .arg(&file)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the grader runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

const SESSION: &str = "\
rdmsr 174
rdmsr 175
!pcr
~1
rdmsr 174
rdmsr 175
!pcr
~0
!cpuinfo
!descriptor gdt 1
u SharedUserData!SystemCallStub 3
u SharedUserData!SystemCallStub64 3
u ntdll!ZwCreateMutant 4
u ntdll32!ZwCreateMutant 4
!idt 2e
# hostile input: each gets one line, and the session goes on
db 0
dq 8000000000000000
db 3fe00000
u 0
db ffffffffffff0000 L 10000
rdmsr zz
frobnicate now
~7
bench 0n300 -all
r
";

/// The value after `msr[N] = ` on each line that has one, in order.
fn msrs(text: &str, n: &str) -> Vec<u64> {
    let tag = format!("msr[{n}] = ");
    text.lines()
        .filter_map(|l| l.split_once(&tag))
        .map(|(_, v)| u64::from_str_radix(&v.replace(':', ""), 16).expect("hi:lo in hex"))
        .collect()
}

/// The `kernel stack 0xA-0xB` ranges of the `!pcr` outputs, in order.
fn kernel_stacks(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("kernel stack"))
        .map(|rest| {
            let range = rest.split_whitespace().next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
            (hex(lo), hex(hi))
        })
        .collect()
}

/// What every mode must show for the hostile commands.
fn check_errors_and_recovery(text: &str, what: &str) {
    for expected in [
        "memory access error at 00000000 (not mapped)",
        "memory access error at 8000000000000000 (not a canonical address)",
        "memory access error at 3fe00000 (device memory, not read)",
        "rdmsr: `zz` is not a hex number",
        "unknown command `frobnicate`; type ? for the commands",
        "CPU 7 is not online: 2 CPUs run (0-1)",
    ] {
        assert!(
            text.contains(expected),
            "{what}: no `{expected}` in\n{text}"
        );
    }
    assert!(
        text.contains("0: kd> u 0\n") && text.contains("memory access error at 00000000"),
        "{what}: u of an unmapped page\n{text}"
    );
    assert!(
        text.contains("CPU 0: 0x12c pairs") && text.contains("CPU 1: 0x12c pairs"),
        "{text}"
    );
    assert!(
        text.contains("0: kd> r\nrax="),
        "{what}: the session went on after the errors\n{text}"
    );
    assert!(
        text.contains("2e: ") && text.contains(" KiSystemService"),
        "{what}: !idt 2e names KiSystemService\n{text}"
    );
    assert!(text.contains("commands failed"), "{what}: {text}");
}

#[test]
fn windows_xp_session_on_both_profiles() {
    if !has_solutions() {
        return;
    }
    for cpu in ["intel", "amd"] {
        let what = format!("{cpu}, --os xp");
        let (status, text) = kd(cpu, "xp", "session", SESSION);
        assert_eq!(
            status,
            Some(1),
            "{what}: commands failed, so status 1\n{text}"
        );
        assert_eq!(
            msrs(&text, "174"),
            [8, 8],
            "{what}: SYSENTER_CS on both CPUs\n{text}"
        );
        let esp = msrs(&text, "175");
        let stacks = kernel_stacks(&text);
        assert_eq!((esp.len(), stacks.len()), (2, 2), "{what}\n{text}");
        assert_ne!(esp[0], esp[1], "{what}: each CPU has its own SYSENTER_ESP");
        for cpu in 0..2 {
            let (lo, hi) = stacks[cpu];
            assert!(
                lo < esp[cpu] && esp[cpu] <= hi,
                "{what}: CPU {cpu}'s SYSENTER_ESP {:#x} lies in its kernel stack {lo:#x}-{hi:#x}",
                esp[cpu]
            );
        }
        assert!(
            text.contains("ff ff 00 00 00 9b af 00"),
            "{what}: GDT[1]'s bytes\n{text}"
        );
        assert!(
            text.contains("64-bit code segment (L = 1, D = 0)"),
            "{what}\n{text}"
        );
        assert!(text.contains("Segment is present, DPL = 0, Not system segment, Code segment"));
        // The article's 32-bit stub at 0x7ffe0300, decoded as 32-bit code,
        // and the 64-bit one at 0x7ffe0310.
        let line = |start: &str| {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("{what}: no line {start}\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(line("7ffe0300 "), "7ffe0300 8b d4 mov edx, esp", "{what}");
        let (insn, bytes) = if cpu == "intel" {
            ("sysenter", "0f 34")
        } else {
            ("syscall", "0f 05")
        };
        assert_eq!(
            line("7ffe0302 "),
            format!("7ffe0302 {bytes} {insn}"),
            "{what}"
        );
        assert_eq!(line("7ffe0304 "), "7ffe0304 c3 ret", "{what}");
        let stub64 = if cpu == "intel" {
            "7ffe0313 "
        } else {
            "7ffe0315 "
        };
        assert_eq!(line(stub64), format!("{stub64}{bytes} {insn}"), "{what}");
        assert!(text.contains("ntdll!xp::ZwCreateMutant:") && text.contains("call rdx"));
        // The article's XP ZwCreateMutant, byte for byte.
        assert!(
            text.contains("ntdll32!xp::ZwCreateMutant:"),
            "{what}\n{text}"
        );
        for (bytes, asm) in [
            ("b8 2b 00 00 00", "mov eax, 0x2b"),
            ("ba 00 03 fe 7f", "mov edx, 0x7ffe0300"),
            ("ff d2", "call edx"),
            ("c2 10 00", "ret 0x10"),
        ] {
            assert!(
                text.lines()
                    .any(|l| l.contains(&format!(" {bytes} ")) && l.ends_with(asm)),
                "{what}: {bytes} {asm}\n{text}"
            );
        }
        assert!(
            text.contains("KF_FAST_SYSCALL (0x1000) is set"),
            "{what}\n{text}"
        );
        check_errors_and_recovery(&text, &what);
    }
}

#[test]
fn windows_2000_session_on_both_profiles() {
    if !has_solutions() {
        return;
    }
    for cpu in ["intel", "amd"] {
        let what = format!("{cpu}, --os 2000");
        let (status, text) = kd(cpu, "2000", "session", SESSION);
        assert_eq!(status, Some(1), "{what}\n{text}");
        assert_eq!(msrs(&text, "174"), [0, 0], "{what}: never written\n{text}");
        assert_eq!(msrs(&text, "175"), [0, 0], "{what}\n{text}");
        assert!(
            text.contains("msr[174] = 00000000:00000000"),
            "the article's format"
        );
        assert!(
            text.contains("no symbol `SharedUserData!SystemCallStub`"),
            "{what}\n{text}"
        );
        let int2e = text
            .lines()
            .find(|l| l.ends_with("int 0x2e"))
            .unwrap_or_else(|| panic!("{what}: ZwCreateMutant's int 0x2e\n{text}"));
        assert!(int2e.contains("cd 2e"), "{int2e}");
        assert!(text.contains("ntdll!nt::ZwCreateMutant:"), "{what}\n{text}");
        // The article's Windows 2000 ZwCreateMutant, byte for byte.
        assert!(
            text.contains("ntdll32!nt::ZwCreateMutant:"),
            "{what}\n{text}"
        );
        for (bytes, asm) in [
            ("b8 25 00 00 00", "mov eax, 0x25"),
            ("8d 54 24 04", "lea edx, [esp+4]"),
            ("cd 2e", "int 0x2e"),
            ("c2 10 00", "ret 0x10"),
        ] {
            assert!(
                text.lines()
                    .any(|l| l.contains(&format!(" {bytes} ")) && l.ends_with(asm)),
                "{what}: {bytes} {asm}\n{text}"
            );
        }
        assert!(
            text.contains("KF_FAST_SYSCALL (0x1000) is clear"),
            "{what}\n{text}"
        );
        assert!(text.contains("ff ff 00 00 00 9b af 00"), "{what}\n{text}");
        check_errors_and_recovery(&text, &what);
    }
}

#[test]
fn a_clean_script_exits_0() {
    if !has_solutions() {
        return;
    }
    let (status, text) = kd(
        "intel",
        "xp",
        "clean",
        "# the MSRs\nrdmsr 176\nu KiFastCallEntry 2\n",
    );
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("# the MSRs\n0: kd> rdmsr 176\nmsr[176] = "),
        "{text}"
    );
    assert!(text.contains("KiFastCallEntry:\n"), "{text}");
    assert!(
        !text.contains("@@syslab"),
        "protocol lines are hidden\n{text}"
    );
}
