//! What `batch` writes for the class: `results.csv` (a row per student, a
//! column per test) and each student's `results.json` in Gradescope's
//! format. A submission that was refused, or whose boots never reached
//! the test runner, still lists every test at 0 out of its points.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cmdline::Lab;
use crate::gradescope;
use crate::profile::Machine;
use crate::score::{self, LabScore, Planned, Status};

/// One student's grade.
#[derive(Clone, Debug)]
pub struct Graded {
    pub name: String,
    /// Every selected lab, scored (all 0 when refused).
    pub labs: Vec<LabScore>,
    /// Why the submission was not graded: a refusal, a build failure.
    pub refusal: Option<String>,
    /// `modified kernel/src/test/lab1.rs: ignored`, one per touched file.
    pub flags: Vec<String>,
    pub seconds: f64,
}

impl Graded {
    pub fn total(&self) -> score::Total {
        score::total(&self.labs)
    }

    /// Each lab's reason for grading nothing, and the refusal: one line each.
    pub fn errors(&self) -> Vec<String> {
        let headline = |text: &str| text.lines().next().unwrap_or_default().to_owned();
        let mut errors: Vec<String> = self.refusal.iter().map(|r| headline(r)).collect();
        for lab in &self.labs {
            if let (Some(error), None) = (&lab.error, &self.refusal) {
                errors.push(format!("{}: {}", lab.lab, headline(error)));
            }
        }
        errors
    }
}

/// The labs of a submission that was not graded: every planned test at 0,
/// with the reason's first line (the whole reason is the JSON's `output`).
pub fn not_graded(plan: &[(Lab, Vec<Planned>)], machine: &Machine, reason: &str) -> Vec<LabScore> {
    let headline = reason.lines().next().unwrap_or_default();
    plan.iter()
        .map(|(lab, tests)| LabScore {
            lab: *lab,
            machine: machine.clone(),
            tests: score::score_tests(tests, &BTreeMap::new(), &format!("not graded: {headline}")),
            error: None,
            environment_error: false,
            notes: vec![],
        })
        .collect()
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `student,<test>...,total,max,flags,errors,seconds`: points per test, or
/// empty for a test the student's labs do not have.
pub fn csv(plan: &[(Lab, Vec<Planned>)], class: &[Graded]) -> String {
    let tests: Vec<&Planned> = plan.iter().flat_map(|(_, t)| t).collect();
    let mut header = vec!["student".to_owned()];
    header.extend(tests.iter().map(|t| field(&t.name)));
    header.extend(["total", "max", "flags", "errors", "seconds"].map(str::to_owned));
    let mut text = header.join(",") + "\n";
    for g in class {
        let earned: BTreeMap<&str, u32> = g
            .labs
            .iter()
            .flat_map(|l| &l.tests)
            .map(|t| (t.name.as_str(), t.earned))
            .collect();
        let mut row = vec![field(&g.name)];
        row.extend(tests.iter().map(|t| {
            earned
                .get(t.name.as_str())
                .map_or(String::new(), u32::to_string)
        }));
        let total = g.total();
        row.push(total.earned.to_string());
        row.push(total.possible.to_string());
        row.push(field(&g.flags.join("; ")));
        row.push(field(&g.errors().join("; ")));
        row.push(format!("{:.1}", g.seconds));
        text += &(row.join(",") + "\n");
    }
    text
}

/// `STUDENT/results.json`: Gradescope's format, with the refusal and the
/// flags at the top of its `output`.
pub fn write_json(path: &Path, g: &Graded) -> Result<()> {
    let mut results = gradescope::results(&g.labs);
    let mut head: Vec<String> = g.refusal.iter().cloned().collect();
    head.extend(g.flags.iter().cloned());
    if !head.is_empty() {
        if !results.output.is_empty() {
            head.push(std::mem::take(&mut results.output));
        }
        results.output = head.join("\n");
    }
    let json = serde_json::to_string_pretty(&results).context("cannot encode the results")?;
    std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// How many students failed each test, most often failed first.
pub fn most_failed(class: &[Graded]) -> Vec<(String, usize, usize)> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for g in class.iter().filter(|g| g.refusal.is_none()) {
        for t in g.labs.iter().flat_map(|l| &l.tests) {
            let entry = counts.entry(&t.name).or_default();
            entry.1 += 1;
            if t.status == Status::Failed {
                entry.0 += 1;
            }
        }
    }
    let mut list: Vec<(String, usize, usize)> = counts
        .into_iter()
        .filter(|(_, (failed, _))| *failed > 0)
        .map(|(name, (failed, of))| (name.to_owned(), failed, of))
        .collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::score::tests::{lab, planned};
    use crate::score::{Outcome, score_tests};

    pub(crate) fn plan() -> Vec<(Lab, Vec<Planned>)> {
        vec![(
            Lab::Lab1,
            vec![planned("lab1.gate", 5), planned("lab1.null_call", 10)],
        )]
    }

    pub(crate) fn graded(name: &str, passed: &[&str]) -> Graded {
        let results = passed
            .iter()
            .map(|t| (t.to_string(), Outcome::passed("")))
            .collect();
        Graded {
            name: name.into(),
            labs: vec![lab(
                Lab::Lab1,
                score_tests(&plan()[0].1, &results, "never ran"),
            )],
            refusal: None,
            flags: vec![],
            seconds: 1.25,
        }
    }

    #[test]
    fn csv_has_a_column_per_test_and_quotes_what_needs_it() {
        let mut alice = graded("alice", &["lab1.gate"]);
        alice.flags = vec![
            "modified kernel/src/test/lab1.rs: ignored".into(),
            "added x, y: ignored".into(),
        ];
        let machine = alice.labs[0].machine.clone();
        let bob = Graded {
            name: "bob".into(),
            labs: not_graded(&plan(), &machine, "refused: adds the dependency `evil`"),
            refusal: Some("refused: adds the dependency `evil`".into()),
            flags: vec![],
            seconds: 0.0,
        };
        let text = csv(&plan(), &[alice, bob]);
        assert_eq!(
            text,
            "student,lab1.gate,lab1.null_call,total,max,flags,errors,seconds\n\
             alice,5,0,5,15,\"modified kernel/src/test/lab1.rs: ignored; added x, y: ignored\",,1.2\n\
             bob,0,0,0,15,,refused: adds the dependency `evil`,0.0\n"
        );
    }

    #[test]
    fn a_lab_that_never_ran_says_why_in_the_errors_column() {
        let mut g = graded("carol", &[]);
        g.labs[0].error = Some("the kernel never reached the test runner\nQEMU failed".into());
        assert_eq!(
            g.errors(),
            ["lab1: the kernel never reached the test runner"]
        );
        assert_eq!((g.total().earned, g.total().possible), (0, 15));
    }

    #[test]
    fn json_starts_with_the_refusal_and_flags() {
        let machine = graded("x", &[]).labs[0].machine.clone();
        let g = Graded {
            name: "bob".into(),
            labs: not_graded(
                &plan(),
                &machine,
                "refused: adds a build script, kernel/build.rs",
            ),
            refusal: Some("refused: adds a build script, kernel/build.rs".into()),
            flags: vec!["added notes.txt: ignored".into()],
            seconds: 0.0,
        };
        let path = std::env::temp_dir().join(format!("syslab-results-{}.json", std::process::id()));
        write_json(&path, &g).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(v["score"], 0);
        assert_eq!(
            v["output"],
            "refused: adds a build script, kernel/build.rs\nadded notes.txt: ignored"
        );
        let tests = v["tests"].as_array().unwrap();
        let max: u64 = tests.iter().map(|t| t["max_score"].as_u64().unwrap()).sum();
        assert_eq!(
            max, 15,
            "a refused submission still shows every test's points"
        );
        assert!(tests.iter().any(|t| {
            t["output"]
                .as_str()
                .unwrap()
                .contains("not graded: refused")
        }));
    }

    #[test]
    fn most_failed_first() {
        let class = [
            graded("a", &["lab1.gate"]),
            graded("b", &[]),
            graded("c", &["lab1.gate", "lab1.null_call"]),
        ];
        assert_eq!(
            most_failed(&class),
            [
                ("lab1.null_call".to_owned(), 2, 3),
                ("lab1.gate".to_owned(), 1, 3)
            ]
        );
    }
}
