//! The labs' host tests: `tests/<lab>.rs` in the student crate checks the
//! pure functions (the GDT rule, the exit predicates) on the host, with
//! `cargo test`. Each file is one graded test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::builder::Variant;
use crate::cmdline::Lab;
use crate::paths::{Workspace, show};
use crate::score::{Outcome, Planned};

/// Points for a lab's host tests.
const POINTS: u32 = 10;
/// At most this long for one lab's host tests built beforehand: student
/// code on the host, which must not stall a class or a mutation run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The graded test for `lab`'s host tests, if the lab has any.
pub fn planned(lab: Lab, ws: &Workspace, variant: Variant) -> Option<Planned> {
    let file = crate_dir(ws, variant)
        .join("tests")
        .join(format!("{lab}.rs"));
    file.is_file().then(|| Planned {
        name: format!("{lab}.host_tests"),
        points: POINTS,
        description: format!("the pure functions pass tests/{lab}.rs on the host"),
    })
}

fn crate_dir(ws: &Workspace, variant: Variant) -> std::path::PathBuf {
    match variant {
        Variant::Labs => ws.root.join("labs"),
        Variant::Solutions => ws.root.join("solutions"),
    }
}

/// Runs `cargo test --test <lab>` in the student crate and judges it.
pub fn run(lab: Lab, ws: &Workspace, variant: Variant) -> Outcome {
    let dir = crate_dir(ws, variant);
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&ws.root)
        .args(["test", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&ws.target)
        .args(["--test", lab.as_str(), "--", "--test-threads", "1"]);
    match cmd.output() {
        Ok(out) => judge(
            out.status.success(),
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
            &dir.join("tests").join(format!("{lab}.rs")),
        ),
        Err(e) => Outcome::failed(format!("could not run cargo test: {e}")),
    }
}

/// Runs a host-test executable built beforehand (in the scratch tree),
/// killing it after `timeout`: the student's pure functions run natively
/// here, and one that loops must not stall the run.
pub fn run_executable(exe: &Path, file: &Path, timeout: Duration) -> Outcome {
    let child = Command::new(exe)
        .args(["--test-threads", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Outcome::failed(format!("could not run {}: {e}", exe.display())),
    };
    let pipe = |reader: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut reader) = reader {
                let _ = reader.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = pipe(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = pipe(child.stderr.take().map(|p| Box::new(p) as _));
    let status = child.wait_timeout(timeout).ok().flatten();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default(),
    );
    match status {
        Some(status) => judge(status.success(), &out, &err, file),
        None => Outcome::failed(format!(
            "the tests in {} did not finish in {} s (a loop in a pure function?)",
            file.display(),
            timeout.as_secs()
        )),
    }
}

/// Turns libtest's output into an outcome: the names of the failed tests
/// and the first line of each one's panic message.
fn judge(success: bool, stdout: &str, stderr: &str, file: &Path) -> Outcome {
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or("")
        .trim();
    if success && !summary.is_empty() {
        return Outcome::passed(format!(
            "{} ({})",
            summary.trim_start_matches("test result: "),
            show(file).display()
        ));
    }
    let mut failures = Vec::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            // The panic message follows "thread '...' panicked at FILE:LINE:".
            let message = lines
                .by_ref()
                .skip_while(|l| !l.contains("panicked at"))
                .nth(1)
                .unwrap_or("(no message)");
            failures.push((name, message.trim()));
        }
    }
    if failures.is_empty() {
        // It did not build, or libtest printed nothing we know.
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(8)
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Outcome::failed(format!(
            "cargo test failed for {}:\n{}",
            show(file).display(),
            tail.join("\n")
        ));
    }
    // One line per message, naming every test that failed with it: on the
    // skeleton, five tests stop at the same `not implemented:`.
    let mut by_message: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, message) in &failures {
        match by_message.iter_mut().find(|(m, _)| m == message) {
            Some((_, names)) => names.push(name),
            None => by_message.push((message, vec![name])),
        }
    }
    let lines: Vec<String> = by_message
        .iter()
        .map(|(message, names)| match names.as_slice() {
            [one] => format!("{one}: {message}"),
            many => format!("{message}: {}", many.join(", ")),
        })
        .collect();
    Outcome::failed(format!(
        "{} of the tests in {} failed:\n{}",
        failures.len(),
        show(file).display(),
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_run_passes_with_its_summary() {
        let out = "\nrunning 2 tests\n..\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let o = judge(true, out, "", Path::new("labs/tests/lab2.rs"));
        assert_eq!(o.status, crate::score::Status::Passed);
        assert!(o.message.starts_with("ok. 2 passed"), "{}", o.message);
    }

    #[test]
    fn failures_name_the_test_and_its_panic() {
        let out = "\nrunning 2 tests\nF.\nfailures:\n\n---- the_kernels_gdt_passes stdout ----\n\n\
                   thread 'the_kernels_gdt_passes' panicked at labs/src/lab2.rs:28:5:\n\
                   not implemented: lab2::check_sysenter_gdt (labs/src/lab2.rs:28)\n\
                   note: run with `RUST_BACKTRACE=1`\n\nfailures:\n    the_kernels_gdt_passes\n\n\
                   test result: FAILED. 1 passed; 1 failed; 0 ignored\n";
        let o = judge(false, out, "", Path::new("labs/tests/lab2.rs"));
        assert_eq!(o.status, crate::score::Status::Failed);
        assert!(
            o.message
                .contains("the_kernels_gdt_passes: not implemented: lab2::check_sysenter_gdt"),
            "{}",
            o.message
        );
    }

    #[test]
    fn tests_that_fail_alike_share_a_line() {
        let failure = |name: &str, message: &str| {
            format!(
                "---- {name} stdout ----\n\nthread '{name}' panicked at labs/src/lab2.rs:1:1:\n\
                 {message}\n"
            )
        };
        let gdt = "not implemented: lab2::check_sysenter_gdt (labs/src/lab2.rs:28)";
        let out = [
            failure("a", gdt),
            failure("b", "rip 0x8000000000000000"),
            failure("c", gdt),
        ]
        .concat();
        let o = judge(false, &out, "", Path::new("labs/tests/lab2.rs"));
        assert_eq!(
            o.message,
            format!(
                "3 of the tests in labs/tests/lab2.rs failed:\n{gdt}: a, c\nb: rip 0x8000000000000000"
            )
        );
    }

    #[test]
    fn a_build_failure_shows_cargos_last_lines() {
        let o = judge(
            false,
            "",
            "error[E0425]: cannot find value `x`\nerror: could not compile",
            Path::new("t.rs"),
        );
        assert_eq!(o.status, crate::score::Status::Failed);
        assert!(o.message.contains("could not compile"), "{}", o.message);
    }
}
