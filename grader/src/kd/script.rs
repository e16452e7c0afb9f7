//! A `kd>` script: one command per line, `#` comments (PROTOCOL.md, "The
//! kd> prompt"). Comments are not sent to the kernel; they are printed
//! where they stand, so a script reads as a narrated session. A comment
//! holding `ANCHOR:` or `ANCHOR_END:` marks a part of the transcript for
//! the book's `{{#include}}`; the demo leaves those out.

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A `#` line, printed as it is.
    Comment(String),
    /// A command for the kernel.
    Command(String),
}

/// The steps of `text`. Blank lines are dropped; commands are trimmed.
pub fn parse(text: &str) -> Vec<Step> {
    text.lines()
        .filter_map(|line| {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                None
            } else if trimmed.starts_with('#') {
                Some(Step::Comment(trimmed.to_owned()))
            } else {
                Some(Step::Command(trimmed.to_owned()))
            }
        })
        .collect()
}

/// Whether a comment is a book anchor rather than narration.
pub fn is_anchor(comment: &str) -> bool {
    comment.contains("ANCHOR:") || comment.contains("ANCHOR_END:")
}

/// Whether the script ends the session itself (`q` as its last command).
pub fn quits(steps: &[Step]) -> bool {
    steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Command(c) => Some(c.eq_ignore_ascii_case("q")),
            Step::Comment(_) => None,
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_commands_and_blanks() {
        let steps = parse("# The MSRs\nrdmsr 174\n\n   rdmsr 175  \n# ANCHOR: x\nq\n");
        assert_eq!(
            steps,
            [
                Step::Comment("# The MSRs".into()),
                Step::Command("rdmsr 174".into()),
                Step::Command("rdmsr 175".into()),
                Step::Comment("# ANCHOR: x".into()),
                Step::Command("q".into()),
            ]
        );
        assert!(quits(&steps));
        assert!(!quits(&parse("q\nr\n# done")));
        assert!(quits(&parse("Q\n# the end")));
        assert!(!quits(&[]));
        assert!(is_anchor("# ANCHOR: msrs") && is_anchor("# ANCHOR_END: msrs"));
        assert!(!is_anchor("# the anchors of the article"));
    }
}
