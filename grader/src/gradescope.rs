//! `--json FILE`: the Gradescope autograder results format
//! (`results.json`: a total score and one entry per test).

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::score::{LabScore, Status, total};

#[derive(Debug, Serialize)]
pub struct Results {
    pub score: u32,
    /// Lab-level notes, shown above the tests.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    pub tests: Vec<TestEntry>,
}

#[derive(Debug, Serialize)]
pub struct TestEntry {
    pub name: String,
    pub score: u32,
    pub max_score: u32,
    pub status: &'static str,
    pub output: String,
}

pub fn results(labs: &[LabScore]) -> Results {
    let mut tests = Vec::new();
    let mut notes = Vec::new();
    for lab in labs {
        // A lab that could not be graded gets an entry of its own, so that
        // the reason shows up on Gradescope even when there are no tests.
        if let Some(error) = &lab.error {
            tests.push(TestEntry {
                name: format!("{} ({})", lab.lab, lab.machine),
                score: 0,
                max_score: 0,
                status: "failed",
                output: error.clone(),
            });
        }
        notes.extend(lab.notes.iter().map(|n| format!("{}: {n}", lab.lab)));
        for test in &lab.tests {
            let output = match (test.description.is_empty(), test.message.is_empty()) {
                (true, _) => test.message.clone(),
                (false, true) => test.description.clone(),
                (false, false) => format!("{}\n\n{}", test.description, test.message),
            };
            tests.push(TestEntry {
                name: test.name.clone(),
                score: test.earned,
                max_score: test.possible,
                status: match test.status {
                    Status::Passed => "passed",
                    Status::Failed => "failed",
                },
                output,
            });
        }
    }
    Results {
        score: total(labs).earned,
        output: notes.join("\n"),
        tests,
    }
}

pub fn write(path: &Path, labs: &[LabScore]) -> Result<()> {
    let json = serde_json::to_string_pretty(&results(labs))
        .context("cannot encode the Gradescope results")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for --json", dir.display()))?;
    }
    std::fs::write(path, json + "\n")
        .with_context(|| format!("cannot write the Gradescope results to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::Lab;
    use crate::score::tests::{lab, planned};
    use crate::score::{Outcome, score_tests};
    use serde_json::Value;
    use std::collections::BTreeMap;

    #[test]
    fn shape_parses_back_with_the_gradescope_keys() {
        let plan = vec![planned("lab1.a", 5), planned("lab1.b", 10)];
        let results_map = BTreeMap::from([
            ("lab1.a".to_owned(), Outcome::passed("")),
            ("lab1.b".to_owned(), Outcome::failed("timeout after 20 s")),
        ]);
        let mut broken = lab(Lab::Lab2, vec![]);
        broken.error = Some("the kernel never reached the test runner".into());
        let labs = vec![lab(Lab::Lab1, score_tests(&plan, &results_map, "")), broken];

        let text = serde_json::to_string(&results(&labs)).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["score"], 5);
        let tests = v["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 3);
        for t in tests {
            let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 5);
            for key in ["name", "score", "max_score", "status", "output"] {
                assert!(keys.contains(&key), "{key} missing in {t}");
            }
        }
        assert_eq!(tests[0]["name"], "lab1.a");
        assert_eq!(tests[0]["status"], "passed");
        assert_eq!(tests[0]["score"], 5);
        assert_eq!(tests[0]["max_score"], 5);
        assert_eq!(tests[1]["status"], "failed");
        assert_eq!(tests[1]["score"], 0);
        assert_eq!(tests[1]["output"], "checks lab1.b\n\ntimeout after 20 s");
        assert_eq!(tests[2]["max_score"], 0);
        assert!(
            tests[2]["output"]
                .as_str()
                .unwrap()
                .contains("never reached")
        );
        assert!(v.get("output").is_none(), "no notes, no top-level output");
    }

    #[test]
    fn written_to_a_file_even_when_tests_fail() {
        let plan = vec![planned("lab0.boot", 1)];
        let labs = vec![lab(
            Lab::Lab0,
            score_tests(&plan, &BTreeMap::new(), "never ran"),
        )];
        let dir = std::env::temp_dir().join(format!("syslab-grader-test-{}", std::process::id()));
        let path = dir.join("out").join("results.json");
        write(&path, &labs).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["score"], 0);
        assert_eq!(v["tests"][0]["status"], "failed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
