//! `cargo grader package classroom`: GitHub Classroom's autograding for
//! the course's template repository, `.github/classroom/autograding.json`
//! and the workflow `.github/workflows/classroom.yml`, with one graded step
//! per test: `cargo grader TEST` exits 0 only when the test passes, which
//! is how Classroom's command grader awards a step's points.
//!
//! Classroom grades in the student's own repository, where the student
//! can change the tests; it gives feedback on each push, and a course that
//! needs grades it can trust grades with `batch` or Gradescope.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use super::{Package, lab_list};
use crate::exit;
use crate::grade::Chosen;
use crate::paths::{Workspace, show};

/// Minutes each step may take (Classroom's unit), the build included.
const STEP_MINUTES: u32 = 10;

pub const AUTOGRADING: &str = ".github/classroom/autograding.json";
pub const WORKFLOW: &str = ".github/workflows/classroom.yml";

pub fn run(p: &Package) -> Result<u8> {
    let ws = Workspace::locate()?;
    let chosen = super::tests(&ws, &p.labs, &p.cpu)?;
    let dir = p.out.clone().unwrap_or_else(|| ws.root.clone());
    let cpu = p.cpu.label();
    write(&dir.join(AUTOGRADING), &autograding(&chosen, &cpu))?;
    write(&dir.join(WORKFLOW), &workflow(&chosen, &cpu))?;
    let steps: usize = chosen.iter().map(|c| c.tests.len()).sum();
    println!(
        "wrote {} and {}: {steps} graded steps for {}; commit them to the template repository",
        show(&dir.join(AUTOGRADING)).display(),
        show(&dir.join(WORKFLOW)).display(),
        lab_list(&p.labs)
    );
    Ok(exit::FULL_MARKS)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The command that grades one test.
fn command(test: &str, cpu: &str) -> String {
    format!("cargo grader {test} --cpu {cpu}")
}

/// `.github/classroom/autograding.json`: Classroom's list of tests.
pub fn autograding(chosen: &[Chosen], cpu: &str) -> String {
    let tests: Vec<serde_json::Value> = chosen
        .iter()
        .flat_map(|c| &c.tests)
        .map(|t| {
            json!({
                "name": t.name,
                "setup": "",
                "run": command(&t.name, cpu),
                "input": "",
                "output": "",
                "comparison": "included",
                "timeout": STEP_MINUTES,
                "points": t.points,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "tests": tests })).unwrap_or_default() + "\n"
}

/// A step id: the test name with `.` as `-` (ids may not hold dots).
fn step_id(test: &str) -> String {
    test.replace('.', "-")
}

/// `.github/workflows/classroom.yml`: installs QEMU and the toolchain,
/// builds once, then one command-grader step per test and the reporter.
pub fn workflow(chosen: &[Chosen], cpu: &str) -> String {
    let tests: Vec<&crate::score::Planned> = chosen.iter().flat_map(|c| &c.tests).collect();
    let mut y = String::new();
    y.push_str(
        "# Written by `cargo grader package classroom`: GitHub Classroom grades each push\n\
         # with the course's grader, one step per test.\n\
         name: Autograding Tests\n\
         'on': [push, repository_dispatch]\n\
         permissions:\n  checks: write\n  actions: read\n  contents: read\n\
         jobs:\n  run-autograding-tests:\n    runs-on: ubuntu-latest\n\
         \x20   if: github.actor != 'github-classroom[bot]'\n    steps:\n\
         \x20   - name: Checkout code\n      uses: actions/checkout@v4\n\
         \x20   - name: Install QEMU\n\
         \x20     run: sudo apt-get update -qq && sudo apt-get install -y -qq qemu-system-x86\n\
         \x20   - name: Install the pinned Rust toolchain and the kernel target\n\
         \x20     run: rustup show active-toolchain || rustup toolchain install; rustup target add x86_64-unknown-none\n\
         \x20   - name: Build the grader and the kernel\n",
    );
    let _ = writeln!(
        y,
        "      run: cargo grader {} --list --cpu {cpu}",
        lab_list_of(chosen)
    );
    for t in &tests {
        let id = step_id(&t.name);
        let _ = write!(
            y,
            "    - name: {name}\n      id: {id}\n      uses: classroom-resources/autograding-command-grader@v1\n      with:\n        test-name: {name}\n        setup-command: ''\n        command: {command}\n        timeout: {STEP_MINUTES}\n        max-score: {points}\n",
            name = t.name,
            command = command(&t.name, cpu),
            points = t.points,
        );
    }
    y.push_str(
        "    - name: Autograding Reporter\n      uses: classroom-resources/autograding-grading-reporter@v1\n      env:\n",
    );
    for t in &tests {
        let id = step_id(&t.name);
        let _ = writeln!(
            y,
            "        {}_RESULTS: \"${{{{steps.{id}.outputs.result}}}}\"",
            id.to_uppercase().replace('-', "_")
        );
    }
    let ids: Vec<String> = tests.iter().map(|t| step_id(&t.name)).collect();
    let _ = writeln!(y, "      with:\n        runners: {}", ids.join(","));
    y
}

fn lab_list_of(chosen: &[Chosen]) -> String {
    lab_list(&chosen.iter().map(|c| c.lab).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::Lab;
    use crate::score::tests::planned;

    fn chosen() -> Vec<Chosen> {
        vec![Chosen {
            lab: Lab::Lab1,
            tests: vec![planned("lab1.gate", 5), planned("lab1.null_call", 10)],
            only: None,
        }]
    }

    #[test]
    fn autograding_json_has_a_test_per_test() {
        let v: serde_json::Value = serde_json::from_str(&autograding(&chosen(), "intel")).unwrap();
        let tests = v["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 2);
        assert_eq!(tests[1]["run"], "cargo grader lab1.null_call --cpu intel");
        assert_eq!(tests[1]["points"], 10);
    }

    #[test]
    fn workflow_steps_and_reporter_agree() {
        let y = workflow(&chosen(), "intel");
        assert!(y.contains("      id: lab1-gate\n"), "{y}");
        assert!(
            y.contains("        command: cargo grader lab1.gate --cpu intel\n"),
            "{y}"
        );
        assert!(
            y.contains(
                "        LAB1_NULL_CALL_RESULTS: \"${{steps.lab1-null_call.outputs.result}}\"\n"
            ),
            "{y}"
        );
        assert!(y.contains("runners: lab1-gate,lab1-null_call\n"), "{y}");
        assert!(
            y.contains("run: cargo grader lab1 --list --cpu intel\n"),
            "{y}"
        );
    }
}
