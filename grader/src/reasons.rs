//! Failures that share a reason, said once.
//!
//! On the untouched skeleton every test of a lab stops at the same
//! `not implemented:` panic. Printed test by test, that is the same three
//! lines twelve times; grouped, it is one block that names the function,
//! lists the tests that wait for it, and says where the logs are:
//!
//! ```text
//! 12 tests did not run: not implemented: lab1::install_int2e_gate (labs/src/lab1.rs:27)
//!     tests (0/85): lab1.gate, lab1.int2d_refused, ...
//!     that function is still the skeleton's TODO; the book's Lab 1, "The gate", says what it must do
//!     serial logs: target/syslab/logs/lab1-intel-tcg-boot{1..12}.serial.log
//! ```
//!
//! Grouping only changes the terminal report: the Gradescope JSON keeps one
//! full message per test.

use crate::diagnose::NOT_IMPLEMENTED;
use crate::score::{LabScore, Status, TestScore};

/// What the report prints, in plan order: a test on its own, or the
/// failures that share a reason, at the place of the first of them.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Test(&'a TestScore),
    Group(Group<'a>),
}

/// Two or more failed tests whose messages differ only in their log paths.
#[derive(Debug, PartialEq, Eq)]
pub struct Group<'a> {
    /// The shared message, without the log lines.
    pub reason: Vec<&'a str>,
    pub tests: Vec<&'a TestScore>,
    /// The log lines of all of them (`serial log: PATH`), each once.
    pub logs: Vec<&'a str>,
}

/// Log lines name a boot's files; they are the only lines allowed to
/// differ inside a group.
const LOG_PREFIXES: [&str; 2] = ["serial log: ", "qemu log: "];
/// The names line wraps here (the report indents it by 4 more).
const NAMES_WIDTH: usize = 84;
/// What the runner says of a test that a dead boot never reached.
const DID_NOT_RUN: &str = "did not run: ";

fn is_log(line: &str) -> bool {
    LOG_PREFIXES.iter().any(|p| line.starts_with(p))
}

fn reason_of(test: &TestScore) -> Vec<&str> {
    test.message.lines().filter(|l| !is_log(l)).collect()
}

/// The tests of a lab, with the failures that share a reason grouped.
pub fn items(tests: &[TestScore]) -> Vec<Item<'_>> {
    let mut items: Vec<Item<'_>> = Vec::new();
    // The tests already shown in a group.
    let mut grouped = vec![false; tests.len()];
    for (i, test) in tests.iter().enumerate() {
        if grouped[i] {
            continue;
        }
        let reason = reason_of(test);
        let same: Vec<usize> = if test.status == Status::Failed && !reason.is_empty() {
            (i..tests.len())
                .filter(|&j| tests[j].status == Status::Failed && reason_of(&tests[j]) == reason)
                .collect()
        } else {
            vec![i]
        };
        if same.len() < 2 {
            items.push(Item::Test(test));
            continue;
        }
        let mut logs: Vec<&str> = Vec::new();
        for &j in &same {
            grouped[j] = true;
            for line in tests[j].message.lines().filter(|l| is_log(l)) {
                if !logs.contains(&line) {
                    logs.push(line);
                }
            }
        }
        items.push(Item::Group(Group {
            reason,
            tests: same.iter().map(|&j| &tests[j]).collect(),
            logs,
        }));
    }
    items
}

impl Group<'_> {
    /// `12 tests did not run: not implemented: lab1::x (labs/src/lab1.rs:27)`
    /// or `3 tests failed: kernel fault: #PF ...`, and the lines that follow it.
    pub fn headline_and_details(&self) -> (String, Vec<&str>) {
        let n = self.tests.len();
        if let Some(todo) = self.reason.iter().find(|l| l.starts_with(NOT_IMPLEMENTED)) {
            let details = self
                .reason
                .iter()
                .copied()
                .filter(|l| l != todo && !l.starts_with(DID_NOT_RUN))
                .collect();
            return (format!("{n} tests did not run: {todo}"), details);
        }
        let (first, rest) = self
            .reason
            .split_first()
            .map_or(("", &[][..]), |(f, r)| (*f, r));
        let headline = match first.strip_prefix(DID_NOT_RUN) {
            Some(why) => format!(
                "{n} tests did not run: {}",
                why.replace("reaching it", "reaching them")
            ),
            None => format!("{n} tests failed: {first}"),
        };
        (headline, rest.to_vec())
    }

    /// `tests (0/85): a, b, c`: the names, and the points they hold,
    /// wrapped to lines of at most `NAMES_WIDTH` (continuations indented).
    pub fn names(&self) -> String {
        let possible: u32 = self.tests.iter().map(|t| t.possible).sum();
        let earned: u32 = self.tests.iter().map(|t| t.earned).sum();
        let mut text = format!("tests ({earned}/{possible}):");
        let mut width = text.len();
        for (i, test) in self.tests.iter().enumerate() {
            let comma = if i + 1 < self.tests.len() { "," } else { "" };
            let word = format!("{}{comma}", test.name);
            if width + 1 + word.len() > NAMES_WIDTH && i > 0 {
                text.push_str("\n   ");
                width = 3;
            }
            text.push(' ');
            text.push_str(&word);
            width += 1 + word.len();
        }
        text
    }

    /// The log lines, those of one kind folded into one line:
    /// `serial logs: target/syslab/logs/lab1-intel-tcg-boot{1..12}.serial.log`.
    pub fn log_lines(&self) -> Vec<String> {
        LOG_PREFIXES
            .iter()
            .filter_map(|prefix| {
                let paths: Vec<&str> = self
                    .logs
                    .iter()
                    .filter_map(|l| l.strip_prefix(prefix))
                    .collect();
                let kind = prefix.trim_end_matches(": ");
                match paths.as_slice() {
                    [] => None,
                    [one] => Some(format!("{kind}: {one}")),
                    many => Some(format!("{kind}s: {}", fold_paths(many))),
                }
            })
            .collect()
    }
}

/// Paths that differ only in the middle, folded into shell brace syntax:
/// `a/boot1.log`, `a/boot2.log`, `a/boot3.log` -> `a/boot{1..3}.log`; a
/// pasteable list `a/boot{1,4}.log` when the middles are not a run of
/// numbers.
pub fn fold_paths(paths: &[&str]) -> String {
    let Some(first) = paths.first() else {
        return String::new();
    };
    if paths.iter().all(|p| p == first) {
        return (*first).to_owned();
    }
    if !paths.iter().all(|p| p.is_ascii()) {
        return paths.join(" ");
    }
    let prefix_len = paths.iter().fold(first.len(), |n, p| {
        n.min(
            first
                .bytes()
                .zip(p.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    // Back up over digits, so that boot1 and boot12 share "boot", not "boot1".
    let prefix_len = first[..prefix_len]
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .len();
    let suffix_len = paths.iter().fold(first.len() - prefix_len, |n, p| {
        n.min(
            first[prefix_len..]
                .bytes()
                .rev()
                .zip(p[prefix_len.min(p.len())..].bytes().rev())
                .take_while(|(a, b)| a == b)
                .count(),
        )
    });
    let middles: Vec<&str> = paths
        .iter()
        .map(|p| &p[prefix_len..p.len() - suffix_len])
        .collect();
    let numbers: Option<Vec<u64>> = middles.iter().map(|m| m.parse().ok()).collect();
    let braces = match numbers {
        Some(n) if n.len() > 2 && n.windows(2).all(|w| w[1] == w[0] + 1) => {
            format!("{{{}..{}}}", n[0], n[n.len() - 1])
        }
        _ => format!("{{{}}}", middles.join(",")),
    };
    format!(
        "{}{braces}{}",
        &first[..prefix_len],
        &first[first.len() - suffix_len..]
    )
}

/// The function to write first: the first `not implemented:` line of the
/// first lab that has one, and how many tests of these labs stop at it.
pub fn write_first(labs: &[LabScore]) -> Option<(String, usize)> {
    // `not implemented: lab1::x (labs/src/lab1.rs:27)`, up to its `)`.
    let todo_of = |t: &TestScore| {
        t.message
            .lines()
            .find(|l| l.starts_with(NOT_IMPLEMENTED))
            .map(|l| l.find(')').map_or(l, |end| &l[..=end]).to_owned())
    };
    let first = labs
        .iter()
        .flat_map(|lab| &lab.tests)
        .filter(|t| t.status == Status::Failed)
        .find_map(todo_of)?;
    let waiting = labs
        .iter()
        .flat_map(|lab| &lab.tests)
        .filter(|t| t.status == Status::Failed && todo_of(t).as_ref() == Some(&first))
        .count();
    let function = first.trim_start_matches(NOT_IMPLEMENTED).trim().to_owned();
    Some((function, waiting))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::Lab;
    use crate::score::tests::{lab, planned};
    use crate::score::{Outcome, score_tests};
    use std::collections::BTreeMap;

    const TODO: &str = "not implemented: lab1::install_int2e_gate (labs/src/lab1.rs:27)";

    fn scored(results: &[(&str, Outcome)]) -> Vec<TestScore> {
        let plan: Vec<_> = results.iter().map(|(n, _)| planned(n, 5)).collect();
        let results: BTreeMap<String, Outcome> = results
            .iter()
            .map(|(n, o)| ((*n).to_owned(), o.clone()))
            .collect();
        score_tests(&plan, &results, "never ran")
    }

    fn todo_in_boot(n: u32) -> Outcome {
        Outcome::failed(format!(
            "{TODO}\nthat function is still the skeleton's TODO\nserial log: logs/lab1-boot{n}.serial.log"
        ))
    }

    #[test]
    fn failures_that_differ_only_in_their_logs_are_one_group() {
        let tests = scored(&[
            ("lab1.a", todo_in_boot(1)),
            ("lab1.b", Outcome::passed("fine")),
            ("lab1.c", todo_in_boot(2)),
            ("lab1.d", todo_in_boot(3)),
            ("lab1.e", Outcome::failed("expected 7, got 0")),
        ]);
        let items = items(&tests);
        assert_eq!(items.len(), 3, "{items:?}");
        let Item::Group(group) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(items[1], Item::Test(&tests[1]));
        assert_eq!(items[2], Item::Test(&tests[4]));
        let (headline, details) = group.headline_and_details();
        assert_eq!(headline, format!("3 tests did not run: {TODO}"));
        assert_eq!(details, ["that function is still the skeleton's TODO"]);
        assert_eq!(group.names(), "tests (0/15): lab1.a, lab1.c, lab1.d");
        assert_eq!(
            group.log_lines(),
            ["serial logs: logs/lab1-boot{1..3}.serial.log"]
        );
    }

    #[test]
    fn long_lists_of_names_wrap() {
        let many: Vec<(String, Outcome)> = (0..12)
            .map(|i| (format!("lab1.test_number_{i}"), todo_in_boot(i)))
            .collect();
        let many: Vec<(&str, Outcome)> =
            many.iter().map(|(n, o)| (n.as_str(), o.clone())).collect();
        let tests = scored(&many);
        let Item::Group(group) = &super::items(&tests)[0] else {
            panic!()
        };
        let names = group.names();
        assert!(names.lines().count() > 1, "{names}");
        assert!(names.lines().all(|l| l.len() <= NAMES_WIDTH), "{names}");
        assert!(
            names.lines().skip(1).all(|l| l.starts_with("    lab1.")),
            "{names}"
        );
        assert!(names.ends_with("lab1.test_number_11"), "{names}");
    }

    #[test]
    fn a_reason_met_once_stays_with_its_test() {
        let tests = scored(&[
            ("lab1.a", todo_in_boot(1)),
            ("lab1.b", Outcome::failed("kernel fault: #PF")),
        ]);
        assert_eq!(
            items(&tests),
            [Item::Test(&tests[0]), Item::Test(&tests[1])]
        );
        // Passes with the same message are never grouped.
        let tests = scored(&[("a", Outcome::passed("ok")), ("b", Outcome::passed("ok"))]);
        assert!(items(&tests).iter().all(|i| matches!(i, Item::Test(_))));
    }

    #[test]
    fn tests_a_dead_boot_never_reached() {
        let never = Outcome::failed(format!(
            "did not run: boot 1 stopped before reaching it\n{TODO}\nserial log: logs/b1.log"
        ));
        let tests = scored(&[("a", never.clone()), ("b", never)]);
        let Item::Group(group) = &items(&tests)[0] else {
            panic!()
        };
        let (headline, details) = group.headline_and_details();
        assert_eq!(headline, format!("2 tests did not run: {TODO}"));
        assert!(details.is_empty(), "{details:?}");
        assert_eq!(group.log_lines(), ["serial log: logs/b1.log"]);

        let crash = Outcome::failed(
            "did not run: boot 2 stopped before reaching it\nkernel fault: #GP\nhint: x",
        );
        let tests = scored(&[("a", crash.clone()), ("b", crash)]);
        let Item::Group(group) = &items(&tests)[0] else {
            panic!()
        };
        assert_eq!(
            group.headline_and_details(),
            (
                "2 tests did not run: boot 2 stopped before reaching them".to_owned(),
                vec!["kernel fault: #GP", "hint: x"]
            )
        );
        let same = Outcome::failed("timeout after 20 s");
        let tests = scored(&[("a", same.clone()), ("b", same)]);
        let Item::Group(group) = &items(&tests)[0] else {
            panic!()
        };
        assert_eq!(
            group.headline_and_details().0,
            "2 tests failed: timeout after 20 s"
        );
    }

    #[test]
    fn folded_paths() {
        assert_eq!(fold_paths(&["x/boot1.log"]), "x/boot1.log");
        assert_eq!(
            fold_paths(&["x/boot9.log", "x/boot10.log", "x/boot11.log"]),
            "x/boot{9..11}.log"
        );
        assert_eq!(
            fold_paths(&["x/boot1.log", "x/boot4.log"]),
            "x/boot{1,4}.log"
        );
        assert_eq!(
            fold_paths(&["x/lab1.serial.log", "x/lab1.qemu.log"]),
            "x/lab1.{serial,qemu}.log"
        );
    }

    #[test]
    fn the_first_todo_of_the_first_lab_comes_first() {
        let lab2_todo = "not implemented: lab2::check_sysenter_gdt (labs/src/lab2.rs:28)";
        let lab1 = lab(
            Lab::Lab1,
            scored(&[
                ("lab1.a", Outcome::passed("")),
                ("lab1.b", todo_in_boot(1)),
                ("lab1.c", todo_in_boot(2)),
            ]),
        );
        let lab2 = lab(
            Lab::Lab2,
            scored(&[(
                "lab2.a",
                Outcome::failed(format!("did not run\n{lab2_todo}")),
            )]),
        );
        assert_eq!(
            write_first(&[lab2.clone(), lab1.clone()]),
            Some((
                "lab2::check_sysenter_gdt (labs/src/lab2.rs:28)".to_owned(),
                1
            ))
        );
        assert_eq!(
            write_first(&[lab1, lab2]),
            Some((
                "lab1::install_int2e_gate (labs/src/lab1.rs:27)".to_owned(),
                2
            ))
        );
        let done = lab(Lab::Lab1, scored(&[("lab1.a", Outcome::passed(""))]));
        assert_eq!(write_first(&[done]), None);
    }
}
