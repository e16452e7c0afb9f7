//! Building in the scratch tree: the kernel image with the student's crate
//! and the labs' host tests, with cargo's messages into a build log. The
//! results are copied out of the tree, so that the next build can start
//! while this one boots.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

use crate::builder::{USER_PACKAGE, Variant};
use crate::cmdline::Lab;
use crate::grade::Chosen;
use crate::hosttests;
use crate::preflight::TARGET;
use crate::score::{Outcome, Planned};

/// What one cargo run produced, or why it did not.
struct Cargo {
    /// `name -> executable` for each artifact that has one.
    executables: Vec<(String, PathBuf)>,
    /// The compiler's first error, as rustc rendered it.
    first_error: Option<String>,
    success: bool,
}

/// Lines of the compiler's first error kept for the report.
const ERROR_LINES: usize = 25;

/// Runs cargo in `tree` with the tree's own target directory, writing what
/// it says to `log`, and kills it at `deadline`.
fn cargo(
    tree: &Path,
    args: &[&str],
    log: &mut dyn Write,
    deadline: Instant,
) -> Result<Cargo, String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let shown = format!("cargo {}", args.join(" "));
    let _ = writeln!(log, "$ {shown}");
    let mut child = Command::new(program)
        .args(args)
        .args([
            "--message-format=json-diagnostic-rendered-ansi",
            "--color=never",
        ])
        .current_dir(tree)
        .env("CARGO_TARGET_DIR", tree.join("target"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let stderr = child.stderr.take().map(|pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
    });
    let stdout = child.stdout.take().map(|pipe| {
        std::thread::spawn(move || {
            let mut out = Cargo {
                executables: vec![],
                first_error: None,
                success: false,
            };
            let mut rendered = String::new();
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                match message["reason"].as_str() {
                    Some("compiler-message") => {
                        let text = message["message"]["rendered"].as_str().unwrap_or_default();
                        let text = console::strip_ansi_codes(text).into_owned();
                        if message["message"]["level"] == "error" && out.first_error.is_none() {
                            let lines: Vec<&str> = text.lines().take(ERROR_LINES).collect();
                            out.first_error = Some(lines.join("\n"));
                        }
                        rendered.push_str(&text);
                    }
                    Some("compiler-artifact") => {
                        if let (Some(name), Some(exe)) = (
                            message["target"]["name"].as_str(),
                            message["executable"].as_str(),
                        ) {
                            out.executables.push((name.to_owned(), PathBuf::from(exe)));
                        }
                    }
                    Some("build-finished") => {
                        out.success = message["success"].as_bool() == Some(true);
                    }
                    _ => {}
                }
            }
            (out, rendered)
        })
    });
    let left = deadline.saturating_duration_since(Instant::now());
    let status = match child.wait_timeout(left) {
        Ok(Some(status)) => Some(status),
        Ok(None) | Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    let (mut out, rendered) = stdout
        .and_then(|t| t.join().ok())
        .ok_or_else(|| format!("`{shown}` printed nothing"))?;
    let errors = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let _ = log.write_all(rendered.as_bytes());
    let _ = log.write_all(errors.as_bytes());
    let Some(status) = status else {
        return Err(format!("`{shown}` did not finish in the submission's time"));
    };
    out.success &= status.success();
    if !out.success && out.first_error.is_none() {
        // Cargo itself failed (a manifest error, say): its last words.
        let tail: Vec<&str> = errors.lines().filter(|l| !l.trim().is_empty()).collect();
        let start = tail.len().saturating_sub(ERROR_LINES);
        out.first_error = Some(tail[start..].join("\n"));
    }
    Ok(out)
}

/// `error: mismatched types (labs/src/lab1.rs:27:5)`: rustc's first line
/// and the place its `-->` line names.
fn headline(error: &str) -> String {
    let first = error.lines().next().unwrap_or("cargo failed").trim();
    match error
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
    {
        Some(place) => format!("{first} ({})", place.trim()),
        None => first.to_owned(),
    }
}

/// Builds the user program (the same for every submission) and copies it to `to`.
pub fn user_program(
    tree: &Path,
    to: &Path,
    log: &mut dyn Write,
    deadline: Instant,
) -> Result<(), String> {
    let args = ["build", "--release", "-p", USER_PACKAGE, "--target", TARGET];
    let out = cargo(tree, &args, log, deadline)?;
    if !out.success {
        return Err(format!(
            "the course's user program does not build:\n{}",
            out.first_error.unwrap_or_default()
        ));
    }
    copy_executable(&out, USER_PACKAGE, to)
}

fn copy_executable(out: &Cargo, name: &str, to: &Path) -> Result<(), String> {
    let Some((_, exe)) = out.executables.iter().find(|(n, _)| n == name) else {
        return Err(format!("cargo built no executable named {name}"));
    };
    std::fs::copy(exe, to)
        .map(|_| ())
        .map_err(|e| format!("cannot copy {} to {}: {e}", exe.display(), to.display()))
}

/// A build's files, in its work directory.
pub struct Built {
    pub kernel: PathBuf,
    /// Per lab with host tests: the test executable, or why it did not build.
    pub host_tests: Vec<(Lab, Result<PathBuf, String>)>,
}

impl Built {
    /// Removes the executables (several MB each) from the work directory;
    /// the logs beside them stay.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.kernel);
        for exe in self
            .host_tests
            .iter()
            .filter_map(|(_, exe)| exe.as_ref().ok())
        {
            let _ = std::fs::remove_file(exe);
        }
    }

    /// The host tests of `c`'s lab as `grade::grade_lab` takes them: the
    /// planned test, and a run of the built executable for at most
    /// `timeout` (its build error, if it did not build).
    pub fn host_tests<'a>(
        &'a self,
        c: &Chosen,
        timeout: Duration,
    ) -> Option<(Planned, impl FnOnce() -> Outcome + use<'a>)> {
        let planned = c.tests.iter().find(|t| t.name.ends_with(".host_tests"))?;
        let (lab, built) = self.host_tests.iter().find(|(lab, _)| *lab == c.lab)?;
        let run = move || match built {
            Ok(exe) => {
                let file = PathBuf::from(format!("labs/tests/{lab}.rs"));
                hosttests::run_executable(exe, &file, timeout)
            }
            Err(why) => Outcome::failed(why.clone()),
        };
        Some((planned.clone(), run))
    }
}

/// Builds the kernel image with the student's crate, then the host tests
/// of `host_labs`, copying each into `work`. A kernel that does not build
/// is the compiler's first error.
pub fn student(
    tree: &Path,
    host_labs: &[Lab],
    work: &Path,
    log: &mut dyn Write,
    deadline: Instant,
) -> Result<Built, String> {
    let package = Variant::Labs.package();
    let args = ["build", "--release", "-p", package, "--target", TARGET];
    let out = cargo(tree, &args, log, deadline)?;
    if !out.success {
        let error = out.first_error.unwrap_or_default();
        return Err(format!("does not build: {}\n{error}", headline(&error)));
    }
    let kernel = work.join("kernel");
    copy_executable(&out, package, &kernel)?;
    let mut host_tests = Vec::new();
    for &lab in host_labs {
        let args = ["test", "--no-run", "-p", package, "--test", lab.as_str()];
        let built = cargo(tree, &args, log, deadline).and_then(|out| {
            if !out.success {
                let error = out.first_error.unwrap_or_default();
                return Err(format!(
                    "the host tests of {lab} do not build with this submission: {}\n{error}",
                    headline(&error)
                ));
            }
            let exe = work.join(format!("{lab}-host-tests"));
            copy_executable(&out, lab.as_str(), &exe).map(|()| exe)
        });
        host_tests.push((lab, built));
    }
    Ok(Built { kernel, host_tests })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_names_the_error_and_its_place() {
        let rendered = "error: this file contains an unclosed delimiter\n   --> labs/src/lab3.rs:150:14\n    |\n150 | fn broken( {\n";
        assert_eq!(
            headline(rendered),
            "error: this file contains an unclosed delimiter (labs/src/lab3.rs:150:14)"
        );
        assert_eq!(
            headline("error: failed to parse manifest"),
            "error: failed to parse manifest"
        );
    }
}
