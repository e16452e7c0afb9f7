//! Which tests run: the test names and prefixes given on the command line
//! (`cargo grader lab1.gate`, `cargo grader lab2.sysexit`), matched against
//! a lab's plan as MIT's gradelib matches them, and `--list`.

use std::io::{self, Write};

use anyhow::{Result, bail};

use crate::cmdline::Lab;
use crate::score::Planned;

/// The names of `tests` that start with one of `prefixes`, in plan order.
/// A prefix that matches nothing is an error that lists the lab's tests.
pub fn resolve(lab: Lab, prefixes: &[String], tests: &[Planned]) -> Result<Vec<String>> {
    for prefix in prefixes {
        if !tests.iter().any(|t| t.name.starts_with(prefix.as_str())) {
            let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "no test of {lab} is named `{prefix}` or starts with it; {lab}'s tests are:\n  {}",
                names.join("\n  ")
            );
        }
    }
    Ok(tests
        .iter()
        .filter(|t| prefixes.iter().any(|p| t.name.starts_with(p.as_str())))
        .map(|t| t.name.clone())
        .collect())
}

/// `--list`: one lab's tests, a line each with points and description,
/// then the count and the total.
pub fn write_list(out: &mut dyn Write, header: &str, tests: &[Planned]) -> io::Result<()> {
    writeln!(out, "== {header} ==")?;
    let width = tests.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in tests {
        writeln!(
            out,
            "{:<width$}  {:>3}  {}",
            t.name, t.points, t.description
        )?;
    }
    let points: u32 = tests.iter().map(|t| t.points).sum();
    writeln!(out, "{} tests, {points} points", tests.len())?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::tests::planned;

    fn lab2() -> Vec<Planned> {
        [
            "lab2.msrs",
            "lab2.sysexit_rip",
            "lab2.sysexit_rsp",
            "lab2.host_tests",
        ]
        .iter()
        .map(|n| planned(n, 5))
        .collect()
    }

    #[test]
    fn prefixes_select_in_plan_order() {
        let all = lab2();
        let got = resolve(Lab::Lab2, &["lab2.sysexit".into()], &all).unwrap();
        assert_eq!(got, ["lab2.sysexit_rip", "lab2.sysexit_rsp"]);
        let got = resolve(
            Lab::Lab2,
            &["lab2.host_tests".into(), "lab2.msrs".into()],
            &all,
        )
        .unwrap();
        assert_eq!(got, ["lab2.msrs", "lab2.host_tests"]);
        assert_eq!(
            resolve(Lab::Lab2, &["lab2.".into()], &all).unwrap().len(),
            4
        );
    }

    #[test]
    fn a_name_matching_nothing_lists_the_labs_tests() {
        let err = resolve(Lab::Lab2, &["lab2.sysret".into()], &lab2())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no test of lab2 is named `lab2.sysret`"),
            "{err}"
        );
        assert!(err.contains("\n  lab2.msrs\n  lab2.sysexit_rip"), "{err}");
    }

    #[test]
    fn list_layout() {
        let mut out = Vec::new();
        let tests = vec![planned("lab1.gate", 5), planned("lab1.null_call", 10)];
        write_list(&mut out, "lab1 (intel)", &tests).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "== lab1 (intel) ==\n\
             lab1.gate         5  checks lab1.gate\n\
             lab1.null_call   10  checks lab1.null_call\n\
             2 tests, 15 points\n\n"
        );
    }
}
