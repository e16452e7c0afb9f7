//! The written questions of each lab: `labs/answers-labN.md`, which the
//! student fills in and the instructor grades by hand (as xv6's
//! `answers-*.txt`). The grader gives them no points; it only says, in a
//! lab note, whether the file is there and how many questions have an answer.
//!
//! A question is a `## ` heading; the question's text ends at its
//! `<!-- ANCHOR_END: qN -->` line (the book includes the questions from this
//! file by those anchors); the answer is what follows, up to the next
//! question, once the template's `(your answer)` line and comments are left
//! out.

use std::path::Path;

use crate::cmdline::Lab;
use crate::paths::show;

/// The line each answer replaces.
pub const PLACEHOLDER: &str = "(your answer)";

/// The answers file of `lab`, relative to the workspace root; Lab 0 has none.
pub fn file(lab: Lab) -> Option<String> {
    (lab != Lab::Lab0).then(|| format!("labs/answers-{lab}.md"))
}

/// How far a file is filled in.
#[derive(Debug, PartialEq, Eq)]
pub struct Progress {
    pub questions: usize,
    pub answered: usize,
}

/// Counts the questions of an answers file and those with an answer.
pub fn progress(text: &str) -> Progress {
    let mut progress = Progress {
        questions: 0,
        answered: 0,
    };
    // Each section: the lines after a `## ` heading, up to the next one.
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            sections.push(Vec::new());
        } else if let Some(section) = sections.last_mut() {
            section.push(line);
        }
    }
    for section in &sections {
        progress.questions += 1;
        // The answer follows the question's ANCHOR_END; without one (the
        // student removed it), only the placeholder tells.
        let answer: &[&str] = match section.iter().position(|l| l.contains("ANCHOR_END:")) {
            Some(end) => &section[end + 1..],
            None if section.iter().any(|l| l.trim() == PLACEHOLDER) => &[],
            None => section,
        };
        let written = answer.iter().any(|l| {
            let l = l.trim();
            !l.is_empty() && l != PLACEHOLDER && !(l.starts_with("<!--") && l.ends_with("-->"))
        });
        if written {
            progress.answered += 1;
        }
    }
    progress
}

/// The lab note about `lab`'s answers file under `root`, or `None` for a lab
/// without questions.
pub fn note(lab: Lab, root: &Path) -> Option<String> {
    let rel = file(lab)?;
    let path = root.join(&rel);
    let shown = show(&path);
    let by_hand = "graded by hand, not by this grader";
    Some(match std::fs::read_to_string(&path) {
        Err(_) => format!(
            "{} is missing: the lab's written questions go there ({by_hand}); `git checkout -- {rel}` \
             brings the template back",
            shown.display()
        ),
        Ok(text) => {
            let p = progress(&text);
            if p.questions == 0 {
                format!(
                    "{} has no questions left (no `## ` headings): is it the template this course \
                     handed out?",
                    shown.display()
                )
            } else if p.answered == 0 {
                format!(
                    "{}: none of its {} questions is answered yet, it is still the template ({by_hand})",
                    shown.display(),
                    p.questions
                )
            } else {
                format!(
                    "{}: {} of {} questions answered ({by_hand})",
                    shown.display(),
                    p.answered,
                    p.questions
                )
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(lab: Lab) -> String {
        let root = crate::paths::Workspace::locate().unwrap().root;
        std::fs::read_to_string(root.join(file(lab).unwrap())).unwrap()
    }

    #[test]
    fn every_lab_after_lab0_ships_an_unanswered_template() {
        assert_eq!(file(Lab::Lab0), None);
        for lab in [Lab::Lab1, Lab::Lab2, Lab::Lab3] {
            let p = progress(&template(lab));
            assert!(p.questions >= 3, "{lab}: {p:?}");
            assert_eq!(
                p.answered, 0,
                "{lab}: the template must count as unanswered"
            );
        }
    }

    #[test]
    fn an_answer_in_place_of_the_placeholder_counts() {
        let text = template(Lab::Lab1).replacen(
            "\n(your answer)\n",
            "\nA trap gate leaves IF set, so an interrupt before swapgs ...\n",
            1,
        );
        assert_eq!(
            progress(&text),
            Progress {
                questions: 4,
                answered: 1
            }
        );
        let all = template(Lab::Lab1).replace(PLACEHOLDER, "an answer");
        assert_eq!(progress(&all).answered, 4);
    }

    #[test]
    fn a_deleted_placeholder_or_anchor_is_judged_by_what_is_left() {
        // The placeholder deleted and nothing written: not an answer.
        let empty = "## 1. Q\nWhy?\n<!-- ANCHOR_END: q1 -->\n\n\n## 2. R\nHow?\n<!-- ANCHOR_END: q2 -->\n(your answer)\n";
        assert_eq!(progress(empty).answered, 0);
        // Anchors removed: the placeholder still tells.
        let no_anchor = "## 1. Q\nWhy?\n(your answer)\n## 2. R\nHow?\nBecause.\n";
        assert_eq!(
            progress(no_anchor),
            Progress {
                questions: 2,
                answered: 1
            }
        );
    }

    #[test]
    fn notes_say_what_to_do() {
        let dir = std::env::temp_dir().join(format!("syslab-answers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("labs")).unwrap();
        let missing = note(Lab::Lab2, &dir).unwrap();
        assert!(missing.contains("answers-lab2.md is missing"), "{missing}");
        assert!(
            missing.contains("git checkout -- labs/answers-lab2.md"),
            "{missing}"
        );
        std::fs::write(dir.join("labs/answers-lab2.md"), template(Lab::Lab2)).unwrap();
        let fresh = note(Lab::Lab2, &dir).unwrap();
        assert!(
            fresh.contains("none of its 4 questions is answered yet"),
            "{fresh}"
        );
        assert!(fresh.contains("graded by hand"), "{fresh}");
        std::fs::write(
            dir.join("labs/answers-lab2.md"),
            template(Lab::Lab2).replacen("\n(your answer)\n", "\nEach CPU ...\n", 2),
        )
        .unwrap();
        assert!(
            note(Lab::Lab2, &dir)
                .unwrap()
                .contains("2 of 4 questions answered")
        );
        assert_eq!(note(Lab::Lab0, &dir), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
