//! Results and points: what each test earned, per lab and in total.

use std::collections::BTreeMap;

use crate::cmdline::Lab;
use crate::profile::Machine;

/// A test the kernel announced with a `plan` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub points: u32,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
}

/// What became of one planned test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// The kernel's message, or the grader's diagnostic; may span lines.
    pub message: String,
}

impl Outcome {
    pub fn passed(message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Passed,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Failed,
            message: message.into(),
        }
    }
}

/// One scored test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestScore {
    pub name: String,
    pub description: String,
    pub status: Status,
    pub earned: u32,
    pub possible: u32,
    pub message: String,
}

/// A lab's scored tests, in plan order, and what the grader has to say
/// about the lab as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabScore {
    pub lab: Lab,
    pub machine: Machine,
    pub tests: Vec<TestScore>,
    /// A reason the lab could not be graded at all (no plan, broken
    /// accelerator); printed before the tests.
    pub error: Option<String>,
    /// Whether `error` comes from the environment rather than the kernel.
    pub environment_error: bool,
    /// Lab-level remarks: malformed protocol lines, CPUs that did not start.
    pub notes: Vec<String>,
}

impl LabScore {
    pub fn earned(&self) -> u32 {
        self.tests.iter().map(|t| t.earned).sum()
    }

    pub fn possible(&self) -> u32 {
        self.tests.iter().map(|t| t.possible).sum()
    }

    /// Full marks: there were tests, all passed, and nothing went wrong.
    pub fn full_marks(&self) -> bool {
        self.error.is_none()
            && !self.tests.is_empty()
            && self.tests.iter().all(|t| t.status == Status::Passed)
    }
}

/// Scores `plan` from `results`. A planned test without a result failed,
/// with `never_ran` as its message.
pub fn score_tests(
    plan: &[Planned],
    results: &BTreeMap<String, Outcome>,
    never_ran: &str,
) -> Vec<TestScore> {
    plan.iter()
        .map(|test| {
            let outcome = results
                .get(&test.name)
                .cloned()
                .unwrap_or_else(|| Outcome::failed(never_ran));
            TestScore {
                name: test.name.clone(),
                description: test.description.clone(),
                status: outcome.status,
                earned: match outcome.status {
                    Status::Passed => test.points,
                    Status::Failed => 0,
                },
                possible: test.points,
                message: outcome.message,
            }
        })
        .collect()
}

/// The sum over labs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Total {
    pub earned: u32,
    pub possible: u32,
    pub full_marks: bool,
    pub environment_error: bool,
}

pub fn total(labs: &[LabScore]) -> Total {
    Total {
        earned: labs.iter().map(LabScore::earned).sum(),
        possible: labs.iter().map(LabScore::possible).sum(),
        full_marks: !labs.is_empty() && labs.iter().all(LabScore::full_marks),
        environment_error: labs.iter().any(|l| l.environment_error),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::profile::{Accel, Profile};

    pub(crate) fn planned(name: &str, points: u32) -> Planned {
        Planned {
            name: name.into(),
            points,
            description: format!("checks {name}"),
        }
    }

    pub(crate) fn lab(lab: Lab, tests: Vec<TestScore>) -> LabScore {
        LabScore {
            lab,
            machine: Machine {
                profile: Profile::Intel,
                accel: Accel::Tcg,
                smp: 2,
            },
            tests,
            error: None,
            environment_error: false,
            notes: vec![],
        }
    }

    fn plan() -> Vec<Planned> {
        vec![
            planned("lab1.a", 5),
            planned("lab1.b", 10),
            planned("lab1.c", 3),
        ]
    }

    #[test]
    fn partial_marks() {
        let mut results = BTreeMap::new();
        results.insert("lab1.a".to_owned(), Outcome::passed("ok"));
        results.insert("lab1.b".to_owned(), Outcome::failed("expected 7, got 0"));
        results.insert("lab1.c".to_owned(), Outcome::passed(""));
        let scored = lab(Lab::Lab1, score_tests(&plan(), &results, "never ran"));
        assert_eq!((scored.earned(), scored.possible()), (8, 18));
        assert!(!scored.full_marks());
        assert_eq!(scored.tests[1].earned, 0);
        assert_eq!(scored.tests[1].message, "expected 7, got 0");
    }

    #[test]
    fn full_marks() {
        let results = plan()
            .iter()
            .map(|t| (t.name.clone(), Outcome::passed("")))
            .collect();
        let scored = lab(Lab::Lab1, score_tests(&plan(), &results, "never ran"));
        assert_eq!((scored.earned(), scored.possible()), (18, 18));
        assert!(scored.full_marks());
        let t = total(&[scored.clone(), scored]);
        assert_eq!((t.earned, t.possible, t.full_marks), (36, 36, true));
    }

    #[test]
    fn tests_that_never_ran_fail_with_the_given_reason_in_plan_order() {
        let mut results = BTreeMap::new();
        results.insert("lab1.c".to_owned(), Outcome::passed(""));
        let tests = score_tests(&plan(), &results, "did not run");
        let names: Vec<_> = tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["lab1.a", "lab1.b", "lab1.c"]);
        assert_eq!(tests[0].status, Status::Failed);
        assert_eq!(tests[0].message, "did not run");
        assert_eq!(tests[0].possible, 5);
        assert_eq!(tests[2].earned, 3);
    }

    #[test]
    fn a_lab_without_tests_or_with_an_error_is_not_full_marks() {
        let empty = lab(Lab::Lab0, vec![]);
        assert!(!empty.full_marks());
        assert_eq!((empty.earned(), empty.possible()), (0, 0));
        assert!(!total(&[empty]).full_marks);
        assert!(!total(&[]).full_marks);
    }
}
