//! A mutant: one typical student mistake, as a patch of `solutions/`.
//!
//! Each file in `grader/mutants/` is a unified diff (what `git diff` prints)
//! of one file under `solutions/`, after a header that says what it is:
//!
//! ```text
//! # mistake: KiFastCallEntry saves the user's RFLAGS without IF
//! # function: KiFastCallEntry
//! # labs: lab2
//! # profile: intel
//! # equivalent: why no test can tell it from the solution (optional)
//! --- a/solutions/src/lab2.rs
//! +++ b/solutions/src/lab2.rs
//! @@ -112,3 +112,2 @@
//!          "pushfq",
//! -        "bts qword ptr [rsp], 9",
//!          "push {user_cs}",
//! ```
//!
//! A mistake is one hunk changing at most three lines (almost all change one). The hunk is applied by
//! its text, not its line numbers: its old lines (context and removed) must
//! occur exactly once in the file, so the patch survives edits elsewhere.

use anyhow::{Context, Result, bail};

use crate::cmdline::Lab;
use crate::profile::Profile;

/// The most lines one mistake may change: one, except where the mistake
/// itself spans lines (a shared global instead of a per-CPU slot changes a
/// store, a load and an operand).
pub const MAX_CHANGED_LINES: usize = 3;

/// One mutant, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutant {
    /// The file name without `.patch`.
    pub name: String,
    pub mistake: String,
    /// The student's function the mistake is in; a failing test's message
    /// must name it.
    pub function: String,
    pub labs: Vec<Lab>,
    pub profile: Profile,
    /// Why no test can catch it, for a mutant that behaves like the solution.
    pub equivalent: Option<String>,
    /// The patched file, relative to the repository root (`solutions/...`).
    pub file: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

impl Mutant {
    /// Parses the text of `grader/mutants/NAME.patch`.
    pub fn parse(name: &str, text: &str) -> Result<Mutant> {
        let mut fields = std::collections::BTreeMap::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next_if(|l| !l.starts_with("--- ")) {
            if let Some((key, value)) = line.strip_prefix('#').and_then(|l| l.split_once(':')) {
                fields.insert(key.trim().to_owned(), value.trim().to_owned());
            } else if !line.trim().is_empty() {
                bail!("{name}: header line `{line}` is not `# key: value`");
            }
        }
        let field = |key: &str| {
            fields
                .get(key)
                .cloned()
                .with_context(|| format!("{name}: the header has no `# {key}:` line"))
        };
        let labs = field("labs")?
            .split([',', ' '])
            .filter(|w| !w.is_empty())
            .map(|w| {
                lab(w).with_context(|| format!("{name}: `{w}` in `# labs:` is not lab1..lab3"))
            })
            .collect::<Result<Vec<Lab>>>()?;
        if labs.is_empty() {
            bail!("{name}: `# labs:` names no lab");
        }
        let profile = match field("profile")?.as_str() {
            "intel" => Profile::Intel,
            "amd" => Profile::Amd,
            other => bail!("{name}: `# profile: {other}` is not intel or amd"),
        };
        let (Some(minus), Some(plus)) = (lines.next(), lines.next()) else {
            bail!("{name}: no `--- a/...` and `+++ b/...` lines after the header");
        };
        let file = plus
            .strip_prefix("+++ b/")
            .filter(|f| minus.strip_prefix("--- a/") == Some(*f))
            .with_context(|| format!("{name}: expected `--- a/PATH` and `+++ b/PATH`"))?
            .to_owned();
        if !file.starts_with("solutions/") || file.contains("..") {
            bail!("{name}: patches {file}; a mutant patches a file under solutions/");
        }
        let (mut old, mut new, mut hunks) = (Vec::new(), Vec::new(), 0);
        let (mut removed, mut added) = (0, 0);
        for line in lines {
            if line.starts_with("@@") {
                hunks += 1;
                continue;
            }
            if line.starts_with("\\ ") {
                continue; // "\ No newline at end of file"
            }
            match line.split_at_checked(1) {
                Some((" ", rest)) => {
                    old.push(rest.to_owned());
                    new.push(rest.to_owned());
                }
                Some(("-", rest)) => {
                    old.push(rest.to_owned());
                    removed += 1;
                }
                Some(("+", rest)) => {
                    new.push(rest.to_owned());
                    added += 1;
                }
                _ if line.is_empty() => {
                    old.push(String::new());
                    new.push(String::new());
                }
                _ => bail!("{name}: `{line}` is not a diff line (or a second file)"),
            }
        }
        if hunks != 1 {
            bail!("{name}: {hunks} hunks; a mutant is one mistake, in one hunk");
        }
        if removed + added == 0 {
            bail!("{name}: the hunk changes nothing");
        }
        if removed > MAX_CHANGED_LINES || added > MAX_CHANGED_LINES {
            bail!("{name}: changes more than {MAX_CHANGED_LINES} lines; a mutant is one mistake");
        }
        Ok(Mutant {
            name: name.to_owned(),
            mistake: field("mistake")?,
            function: field("function")?,
            labs,
            profile,
            equivalent: fields.get("equivalent").cloned(),
            file,
            old,
            new,
        })
    }

    /// `text` with the hunk applied.
    pub fn apply(&self, text: &str) -> Result<String> {
        let old = self.old.join("\n");
        let new = self.new.join("\n");
        match text.matches(&old).count() {
            1 => Ok(text.replacen(&old, &new, 1)),
            0 => bail!(
                "{}: its lines are no longer in {}; update the patch (`git diff` of the mistake)",
                self.name,
                self.file
            ),
            n => bail!(
                "{}: its lines occur {n} times in {}; give the hunk more context",
                self.name,
                self.file
            ),
        }
    }
}

fn lab(word: &str) -> Option<Lab> {
    match word {
        "lab1" => Some(Lab::Lab1),
        "lab2" => Some(Lab::Lab2),
        "lab3" => Some(Lab::Lab3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "# mistake: forgets IF\n# function: KiFastCallEntry\n# labs: lab2, lab3\n\
        # profile: intel\n--- a/solutions/src/lab2.rs\n+++ b/solutions/src/lab2.rs\n\
        @@ -1,3 +1,2 @@\n         \"pushfq\",\n-        \"bts qword ptr [rsp], 9\",\n         \"push 1\",\n";

    #[test]
    fn parses_the_header_and_the_hunk() {
        let m = Mutant::parse("lab2-no-if", PATCH).unwrap();
        assert_eq!(m.function, "KiFastCallEntry");
        assert_eq!(m.labs, [Lab::Lab2, Lab::Lab3]);
        assert_eq!(m.profile, Profile::Intel);
        assert_eq!(m.file, "solutions/src/lab2.rs");
        assert_eq!(m.old.len(), 3);
        assert_eq!(m.new.len(), 2);
        assert_eq!(m.equivalent, None);
    }

    #[test]
    fn applies_by_text_exactly_once() {
        let m = Mutant::parse("x", PATCH).unwrap();
        let file =
            "a\n        \"pushfq\",\n        \"bts qword ptr [rsp], 9\",\n        \"push 1\",\nb\n";
        assert_eq!(
            m.apply(file).unwrap(),
            "a\n        \"pushfq\",\n        \"push 1\",\nb\n"
        );
        assert!(
            m.apply("nothing")
                .unwrap_err()
                .to_string()
                .contains("no longer")
        );
        let twice = format!("{file}{file}");
        assert!(m.apply(&twice).unwrap_err().to_string().contains("2 times"));
    }

    #[test]
    fn refuses_what_is_not_one_small_mistake() {
        let no_function = PATCH.replace("# function: KiFastCallEntry\n", "");
        assert!(Mutant::parse("x", &no_function).is_err());
        let outside = PATCH.replace("solutions/src/lab2.rs", "kernel/src/trap.rs");
        assert!(Mutant::parse("x", &outside).is_err());
        let two_hunks = format!("{PATCH}@@ -9 +9 @@\n-a\n+b\n");
        assert!(Mutant::parse("x", &two_hunks).is_err());
        let big = PATCH.replace("-        \"bts qword ptr [rsp], 9\",\n", "-a\n-b\n-c\n-d\n");
        assert!(
            Mutant::parse("x", &big)
                .unwrap_err()
                .to_string()
                .contains("more than")
        );
        let bad_profile = PATCH.replace("intel", "max");
        assert!(Mutant::parse("x", &bad_profile).is_err());
    }
}
