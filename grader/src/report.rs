//! The terminal report, in the manner of xv6's `make grade`:
//!
//! ```text
//! == lab1 (intel, tcg, -smp 2) ==
//! lab1.null_call: PASS (5/5)
//! lab1.args: FAIL (0/5)
//!     kernel fault: #PF in ring 0 on cpu 1, cr2=0x8
//!     ...
//! Score: 5/10
//!
//! Total: 5/10
//! ```
//!
//! Failures that share one reason are printed once, as a group (reasons.rs).

use std::io::{self, Write};

use console::Style;

use crate::reasons::{self, Group, Item};
use crate::score::{LabScore, Status, TestScore, Total};

/// Colours, or none when the output is not a terminal.
pub struct Styles {
    pub header: Style,
    pub pass: Style,
    pub fail: Style,
    pub note: Style,
    pub score: Style,
}

impl Styles {
    pub fn new(colour: bool) -> Styles {
        let s = |style: Style| style.force_styling(colour);
        Styles {
            header: s(Style::new().bold()),
            pass: s(Style::new().green().bold()),
            fail: s(Style::new().red().bold()),
            note: s(Style::new().yellow()),
            score: s(Style::new().bold()),
        }
    }

    /// Colour when stdout is a terminal (and NO_COLOR/CLICOLOR allow it).
    pub fn for_stdout() -> Styles {
        Styles::new(console::colors_enabled())
    }
}

const INDENT: &str = "    ";

fn indented(out: &mut dyn Write, text: &str) -> io::Result<()> {
    for line in text.lines() {
        if line.is_empty() {
            writeln!(out)?;
        } else {
            writeln!(out, "{INDENT}{line}")?;
        }
    }
    Ok(())
}

pub fn write_lab(out: &mut dyn Write, lab: &LabScore, st: &Styles) -> io::Result<()> {
    let header = format!("== {} ({}) ==", lab.lab, lab.machine);
    writeln!(out, "{}", st.header.apply_to(header))?;
    if let Some(error) = &lab.error {
        let mut lines = error.lines();
        if let Some(first) = lines.next() {
            writeln!(out, "{} {first}", st.fail.apply_to("error:"))?;
        }
        indented(out, &lines.collect::<Vec<_>>().join("\n"))?;
    }
    for note in &lab.notes {
        writeln!(out, "{} {note}", st.note.apply_to("note:"))?;
    }
    for item in reasons::items(&lab.tests) {
        match item {
            Item::Test(test) => write_test(out, test, st)?,
            Item::Group(group) => write_group(out, &group, st)?,
        }
    }
    let score = format!("Score: {}/{}", lab.earned(), lab.possible());
    writeln!(out, "{}", st.score.apply_to(score))?;
    writeln!(out)
}

fn write_test(out: &mut dyn Write, test: &TestScore, st: &Styles) -> io::Result<()> {
    let verdict = match test.status {
        Status::Passed => st.pass.apply_to("PASS"),
        Status::Failed => st.fail.apply_to("FAIL"),
    };
    writeln!(
        out,
        "{}: {verdict} ({}/{})",
        test.name, test.earned, test.possible
    )?;
    indented(out, &test.message)
}

/// Failures with one reason: the reason once, then the tests and their logs.
fn write_group(out: &mut dyn Write, group: &Group<'_>, st: &Styles) -> io::Result<()> {
    let (headline, details) = group.headline_and_details();
    writeln!(out, "{}", st.fail.apply_to(headline))?;
    indented(out, &group.names())?;
    indented(out, &details.join("\n"))?;
    indented(out, &group.log_lines().join("\n"))
}

/// After the total: the function whose TODO stops the most basic tests.
pub fn write_first(out: &mut dyn Write, labs: &[LabScore], st: &Styles) -> io::Result<()> {
    if let Some((function, waiting)) = reasons::write_first(labs) {
        let tests = if waiting == 1 { "test" } else { "tests" };
        writeln!(
            out,
            "{} {function}, where {waiting} {tests} stop",
            st.note.apply_to("Write first:")
        )?;
    }
    Ok(())
}

pub fn write_total(out: &mut dyn Write, total: &Total, st: &Styles) -> io::Result<()> {
    let line = format!("Total: {}/{}", total.earned, total.possible);
    let style = if total.full_marks {
        &st.pass
    } else {
        &st.score
    };
    writeln!(out, "{}", style.apply_to(line))
}

/// An error chain, for stderr: `error: what`, then `  because: why` lines.
pub fn write_error(out: &mut dyn Write, err: &anyhow::Error, colour: bool) -> io::Result<()> {
    let red = Style::new().red().bold().force_styling(colour);
    let mut chain = err.chain();
    if let Some(top) = chain.next() {
        writeln!(out, "{} {top}", red.apply_to("error:"))?;
    }
    for cause in chain {
        writeln!(out, "  because: {cause}")?;
    }
    Ok(())
}

/// The spinner shown while a lab or the benchmark runs.
pub fn spinner(message: String) -> indicatif::ProgressBar {
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::Lab;
    use crate::score::tests::lab;
    use crate::score::tests::planned;
    use crate::score::{Outcome, score_tests};
    use std::collections::BTreeMap;

    #[test]
    fn plain_report_layout() {
        let plan = vec![planned("lab1.null_call", 5), planned("lab1.args", 5)];
        let mut results = BTreeMap::new();
        results.insert("lab1.null_call".to_owned(), Outcome::passed(""));
        results.insert(
            "lab1.args".to_owned(),
            Outcome::failed("kernel fault: #PF\nhint: check swapgs"),
        );
        let mut scored = lab(Lab::Lab1, score_tests(&plan, &results, "never ran"));
        scored.notes.push("only 1 of 2 CPUs came online".into());
        let mut out = Vec::new();
        let st = Styles::new(false);
        write_lab(&mut out, &scored, &st).unwrap();
        let total = crate::score::total(&[scored]);
        write_total(&mut out, &total, &st).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "== lab1 (intel, tcg, -smp 2) ==\n\
             note: only 1 of 2 CPUs came online\n\
             lab1.null_call: PASS (5/5)\n\
             lab1.args: FAIL (0/5)\n\
             \x20   kernel fault: #PF\n\
             \x20   hint: check swapgs\n\
             Score: 5/10\n\
             \n\
             Total: 5/10\n"
        );
    }

    #[test]
    fn lab_error_comes_first() {
        let mut scored = lab(Lab::Lab0, vec![]);
        scored.error = Some("the kernel never reached the test runner\ntimeout after 20 s".into());
        let mut out = Vec::new();
        write_lab(&mut out, &scored, &Styles::new(false)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "== lab0 (intel, tcg, -smp 2) ==\n\
             error: the kernel never reached the test runner\n\
             \x20   timeout after 20 s\n\
             Score: 0/0\n\n"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let plan = vec![planned("lab0.boot", 1)];
        let results = BTreeMap::from([("lab0.boot".to_owned(), Outcome::passed(""))]);
        let scored = lab(Lab::Lab0, score_tests(&plan, &results, ""));
        let mut out = Vec::new();
        write_lab(&mut out, &scored, &Styles::new(true)).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("\x1b["));
    }

    #[test]
    fn error_chain() {
        let err = anyhow::anyhow!("`cargo build` failed")
            .context("the kernel did not build; the compiler's errors are above");
        let mut out = Vec::new();
        write_error(&mut out, &err, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "error: the kernel did not build; the compiler's errors are above\n  because: `cargo build` failed\n"
        );
    }
}
