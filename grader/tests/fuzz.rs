//! End-to-end tests of `cargo grader fuzz`: the real grader builds the real
//! kernel and fuzzes it under QEMU (TCG). The reference answers must come
//! out clean; a kernel broken on purpose must not, and the seed the report
//! prints must replay the mismatch. They assert no speed: only that calls
//! were made.
//!
//! QEMU runs are serialised, as in grading.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

static QEMU: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader lives in the workspace")
        .to_path_buf()
}

/// Runs `cargo grader fuzz` with `args`; returns its output and its text.
fn fuzz(args: &[&str]) -> (Output, String) {
    let _one_at_a_time = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(env!("CARGO_BIN_EXE_syslab-grader"))
        .arg("fuzz")
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the grader runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

fn has_solutions() -> bool {
    let present = root().join("solutions").join("Cargo.toml").is_file();
    if !present {
        eprintln!("no solutions/ in this checkout: skipping (a course hands out labs/ only)");
    }
    present
}

/// The `N` of the report's `N calls in S s` line.
fn calls(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.split_once(" calls in "))
        .and_then(|(n, _)| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no call count in:\n{text}"))
}

// The SYSCALL path of the reference answers. (int 0x2e leaves AC set in
// the kernel, and a single-step into SYSENTER that ends its thread leaves
// its trap to the next thread on the CPU; the fuzzer reports both, so they
// join this test once the kernel is fixed.)
#[test]
fn the_solutions_fuzz_clean() {
    if !has_solutions() {
        return;
    }
    let (out, text) = fuzz(&["--solutions", "--path", "syscall", "--seconds", "5"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Result: clean"), "{text}");
    assert!(calls(&text) > 0, "{text}");
    assert!(
        text.contains("objects 0, handles 0 before the run; objects 0, handles 0 after it"),
        "{text}"
    );
}

/// A SYSCALL entry that loses R10 when R8's low four bits are 0 (the
/// hidden `--inject clobber`): the fuzzer finds it, names the register and
/// the call, and its seed replays exactly that case.
#[test]
fn a_lost_register_is_found_and_its_seed_replays_it() {
    if !has_solutions() {
        return;
    }
    let broken = ["--solutions", "--path", "syscall", "--inject", "clobber"];
    let (out, text) = fuzz(&[&broken[..], &["--seconds", "5"]].concat());
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("mismatch: R10 via syscall"), "{text}");
    assert!(text.contains("expected: r10 = 0x"), "{text}");
    assert!(text.contains("got:      r10 = 0x0"), "{text}");
    let replay = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay:"))
        .unwrap_or_else(|| panic!("no replay command:\n{text}"))
        .trim()
        .to_owned();
    let seed = replay.rsplit(' ').next().unwrap().to_owned();
    assert!(
        replay.ends_with(&format!("--inject clobber --seed {seed}")),
        "{replay}"
    );

    let (out, text) = fuzz(&[&broken[..], &["--seed", &seed]].concat());
    assert_eq!(
        out.status.code(),
        Some(1),
        "the replay finds it again:\n{text}"
    );
    assert!(
        text.contains(&format!("case {seed}, on every CPU at once:")),
        "{text}"
    );
    assert!(text.contains("mismatch: R10 via syscall"), "{text}");

    let (out, text) = fuzz(&["--solutions", "--path", "syscall", "--seed", &seed]);
    assert!(
        out.status.success(),
        "the same case on a sound kernel:\n{text}"
    );
    assert!(
        text.contains("Result: the case ran clean on every CPU"),
        "{text}"
    );
}

/// Against the skeleton it is a student's stress test: each path whose lab
/// is not done is named with the function to write, in one line.
#[test]
fn the_skeleton_says_which_labs_to_finish() {
    let (out, text) = fuzz(&["--seconds", "2"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("note: sysenter, syscall not fuzzed: not implemented: lab2::"),
        "{text}"
    );
    assert!(
        text.contains("note: int2e not fuzzed: not implemented: lab1::"),
        "{text}"
    );
    assert!(text.contains("Result: nothing fuzzed"), "{text}");
    assert!(!text.contains("timeout"), "{text}");
}
