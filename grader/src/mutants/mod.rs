//! `cargo grader mutants`: does the grader catch the mistakes students make?
//!
//! Each file in `grader/mutants/` is one typical one-line mistake, as a
//! patch of `solutions/` (patch.rs). For each, the command puts the
//! solutions' sources with the mistake applied in the scratch tree as the
//! student's `labs/` (tree.rs), builds the kernel image there (only the
//! student crate compiles: the kernel and its dependencies are the tree's),
//! grades the labs the mutant names on its CPU profile, and checks two
//! things:
//!
//! 1. the mutant loses points: some test must fail;
//! 2. a failing test's message names the function the mistake is in, so
//!    the student knows where to look.
//!
//! A mutant no test can tell from the solution (an equivalent mutant) says
//! why in its header, and must survive. The unchanged solutions are graded
//! first on every lab and profile involved, and must get full marks.
//! Grading runs `--jobs` mutants at once; builds take turns in the one
//! tree, boots run side by side.
//!
//! `--report` prints one mutant's grading report instead, as `cargo grader
//! LAB` prints a student's (report.rs): the book's common mistakes.

mod patch;
mod report;
mod tree;

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::Mutants;
use crate::cmdline::Lab;
use crate::exit;
use crate::paths::Workspace;
use crate::profile::{Accel, Machine, Profile};
use crate::score::Status;

pub use patch::Mutant;
use tree::Course;

/// Where the mutants live, relative to the repository root.
pub const DIR: &str = "grader/mutants";

/// The mutation suite grades on two CPUs.
const SMP: u32 = 2;

/// What became of one mutant.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Lost points, and a failing test named the function.
    Killed { lost: u32, named_by: String },
    /// Lost points, but no failing test named the function.
    Unnamed { lost: u32, failed: Vec<String> },
    /// Full marks: no test catches it.
    Survived,
    /// Full marks, as its header says it must.
    Equivalent,
    /// Its header says it is equivalent, yet it loses points.
    NotEquivalent { lost: u32 },
    /// It could not be applied, built or graded.
    Error(String),
}

impl Verdict {
    /// Whether the suite can pass with this verdict.
    fn ok(&self) -> bool {
        matches!(self, Verdict::Killed { .. } | Verdict::Equivalent)
    }
}

pub fn run(m: Mutants) -> Result<u8> {
    let ws = Workspace::locate()?;
    crate::preflight::check_qemu()?;
    crate::preflight::check_target(&ws.root)?;
    let mutants = load(&ws.root.join(DIR), &m.names)?;
    match (&m.report, mutants.as_slice()) {
        (Some(r), [mutant]) => report::run(&ws, mutant, r, m.timeout_secs),
        (Some(_), _) => bail!("--report prints the report of one mutant; name one"),
        (None, _) => suite(&ws, &mutants, &m),
    }
}

/// The suite: the unchanged solutions, then every mutant, judged.
fn suite(ws: &Workspace, mutants: &[Mutant], m: &Mutants) -> Result<u8> {
    let started = Instant::now();
    let course = Course::open(ws)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "mutants: {} mistakes from {DIR}, {} at a time",
        mutants.len(),
        m.jobs
    )?;

    // The unchanged solutions first: a mutant that "loses points" against
    // solutions that already lose them proves nothing.
    let needed: BTreeSet<(String, Lab)> = mutants
        .iter()
        .flat_map(|mu| mu.labs.iter().map(|&lab| (mu.profile.label(), lab)))
        .collect();
    let labs: Vec<Lab> = needed
        .iter()
        .map(|(_, lab)| *lab)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let work = fresh_dir(&tree::dir(ws).join("unchanged-solutions"))?;
    let built = course
        .build(None, &labs, &work)
        .map_err(|e| anyhow!("the unchanged solutions, as labs/: {e}"))?;
    for (label, lab) in &needed {
        let machine = machine(Profile::parse(label).map_err(anyhow::Error::msg)?);
        for scored in course.grade(&built, &[*lab], &machine, m.timeout_secs, &work, false)? {
            if !scored.full_marks() {
                let failed: Vec<String> = scored
                    .tests
                    .iter()
                    .filter(|t| t.status == Status::Failed)
                    .map(|t| format!("{} ({})", t.name, t.message.lines().next().unwrap_or("")))
                    .collect();
                bail!(
                    "the unchanged solutions, copied over labs/, lose points on {lab} ({label}): \
                     {}; fix them before testing the grader against mistakes",
                    failed.join(", ")
                );
            }
        }
    }
    built.remove();
    writeln!(
        out,
        "the unchanged solutions get full marks on {} lab/profile pairs ({:.0} s)",
        needed.len(),
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;
    drop(out);

    let queue = Mutex::new(mutants.iter().collect::<VecDeque<&Mutant>>());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..m.jobs {
            s.spawn(|| {
                while let Some(mutant) = queue.lock().map(|mut q| q.pop_front()).ok().flatten() {
                    let verdict = judge(ws, &course, mutant, m.timeout_secs)
                        .unwrap_or_else(|e| Verdict::Error(format!("{e:#}")));
                    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                    done.push((mutant, verdict));
                    print_one(done.len(), mutants.len(), mutant, &done[done.len() - 1].1);
                }
            });
        }
    });
    let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    let summary = Summary::of(&done);
    let mut out = std::io::stdout().lock();
    summary.write(&mut out, &done, started.elapsed().as_secs_f64())?;
    Ok(if summary.ok() {
        exit::FULL_MARKS
    } else {
        exit::NOT_FULL_MARKS
    })
}

/// The machine a mutant is graded on.
fn machine(profile: Profile) -> Machine {
    Machine {
        profile,
        accel: Accel::Tcg,
        smp: SMP,
    }
}

/// `dir`, emptied or made.
fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Every mutant of `dir`, sorted by name; only those named, if any are.
pub fn load(dir: &Path, names: &[String]) -> Result<Vec<Mutant>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the mutants in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    files.sort();
    let mut mutants = Vec::new();
    for file in files {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        mutants.push(Mutant::parse(&name, &text)?);
    }
    for name in names {
        if !mutants.iter().any(|m| &m.name == name) {
            bail!("no mutant named {name} in {}", dir.display());
        }
    }
    Ok(mutants)
}

/// Applies, builds and grades one mutant. Its build log, boot logs and
/// (while it is graded) kernel image go to target/syslab/mutants/NAME.
fn judge(ws: &Workspace, course: &Course, mutant: &Mutant, timeout_secs: u64) -> Result<Verdict> {
    let work = fresh_dir(&tree::dir(ws).join(&mutant.name))?;
    let built = match course.build(Some(mutant), &mutant.labs, &work) {
        Ok(built) => built,
        Err(e) => return Ok(Verdict::Error(e)),
    };
    let machine = machine(mutant.profile.clone());
    let labs = course.grade(&built, &mutant.labs, &machine, timeout_secs, &work, false)?;
    built.remove();
    let lost: u32 = labs.iter().map(|l| l.possible() - l.earned()).sum();
    let failed: Vec<_> = labs
        .iter()
        .flat_map(|l| &l.tests)
        .filter(|t| t.status == Status::Failed)
        .collect();
    Ok(match (&mutant.equivalent, lost) {
        (Some(_), 0) => Verdict::Equivalent,
        (Some(_), lost) => Verdict::NotEquivalent { lost },
        (None, 0) => Verdict::Survived,
        (None, lost) => match failed.iter().find(|t| t.message.contains(&mutant.function)) {
            Some(t) => Verdict::Killed {
                lost,
                named_by: t.name.clone(),
            },
            None => Verdict::Unnamed {
                lost,
                failed: failed.iter().map(|t| t.name.clone()).collect(),
            },
        },
    })
}

fn print_one(n: usize, of: usize, m: &Mutant, v: &Verdict) {
    let labs: Vec<&str> = m.labs.iter().map(|l| l.as_str()).collect();
    let what = format!("{} ({}, {})", m.name, m.profile.label(), labs.join(" "));
    let line = match v {
        Verdict::Killed { lost, named_by } => {
            format!(
                "killed      {what}: -{lost} points; {named_by} names {}",
                m.function
            )
        }
        Verdict::Equivalent => format!("equivalent  {what}: full marks, as listed"),
        Verdict::Unnamed { lost, failed } => format!(
            "UNNAMED     {what}: -{lost} points, but none of {} names {}",
            failed.join(", "),
            m.function
        ),
        Verdict::Survived => format!("SURVIVED    {what}: full marks for \"{}\"", m.mistake),
        Verdict::NotEquivalent { lost } => {
            format!("NOT EQUIV.  {what}: listed as equivalent, but it loses {lost} points")
        }
        Verdict::Error(e) => format!("ERROR       {what}: {e}"),
    };
    println!("[{n:2}/{of}] {line}");
}

/// The counts the README and the book quote.
struct Summary {
    total: usize,
    killed: usize,
    equivalent: usize,
    bad: usize,
}

impl Summary {
    fn of(done: &[(&Mutant, Verdict)]) -> Summary {
        Summary {
            total: done.len(),
            killed: done
                .iter()
                .filter(|(_, v)| matches!(v, Verdict::Killed { .. }))
                .count(),
            equivalent: done
                .iter()
                .filter(|(_, v)| *v == Verdict::Equivalent)
                .count(),
            bad: done.iter().filter(|(_, v)| !v.ok()).count(),
        }
    }

    fn ok(&self) -> bool {
        self.bad == 0
    }

    fn write(&self, out: &mut dyn Write, done: &[(&Mutant, Verdict)], secs: f64) -> Result<()> {
        writeln!(out)?;
        for (m, v) in done {
            if *v == Verdict::Equivalent {
                let why = m.equivalent.as_deref().unwrap_or_default();
                writeln!(out, "equivalent: {}: {} ({why})", m.name, m.mistake)?;
            }
        }
        for (m, v) in done.iter().filter(|(_, v)| !v.ok()) {
            writeln!(out, "to fix: {}: {} ({v:?})", m.name, m.mistake)?;
        }
        writeln!(
            out,
            "tested against {} typical mistakes; {} lose points{}; {} equivalent; {} to fix; {secs:.0} s",
            self.total,
            self.killed,
            if self.killed > 0 {
                " with a message naming the function"
            } else {
                ""
            },
            self.equivalent,
            self.bad
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the grader lives in the workspace")
            .to_path_buf()
    }

    /// Every mutant parses, patches a student's file, applies to today's
    /// solutions/, changes its function's file, and names a function that
    /// file defines.
    #[test]
    fn every_mutant_applies_to_the_solutions() {
        let root = root();
        if !root.join("solutions").join("Cargo.toml").is_file() {
            return; // a course checkout without the answers
        }
        let mutants = load(&root.join(DIR), &[]).unwrap();
        assert!(mutants.len() >= 40, "{} mutants", mutants.len());
        let mut seen = BTreeSet::new();
        for m in &mutants {
            assert!(
                tree::labs_path(&m.file).is_some(),
                "{}: {} is not one of the student's files",
                m.name,
                m.file
            );
            let text = std::fs::read_to_string(root.join(&m.file)).unwrap();
            let mutated = m.apply(&text).unwrap_or_else(|e| panic!("{e:#}"));
            assert_ne!(mutated, text, "{}", m.name);
            assert!(
                text.contains(&format!("fn {}", m.function)),
                "{}: {} defines no fn {}",
                m.name,
                m.file,
                m.function
            );
            seen.insert((m.profile.label(), m.labs[0]));
        }
        for lab in [Lab::Lab1, Lab::Lab2, Lab::Lab3] {
            assert!(seen.iter().any(|(_, l)| *l == lab), "no mutant of {lab}");
        }
        for profile in ["intel", "amd"] {
            assert!(
                seen.iter().any(|(p, _)| p == profile),
                "no {profile} mutant"
            );
        }
    }

    /// The README and the book's grader appendix quote the suite's size.
    #[test]
    fn the_docs_quote_the_kill_ratio() {
        let root = root();
        if !root.join(DIR).is_dir() {
            return;
        }
        let mutants = load(&root.join(DIR), &[]).unwrap();
        let equivalent = mutants.iter().filter(|m| m.equivalent.is_some()).count();
        let quote = format!(
            "tested against {} typical mistakes; {} lose points",
            mutants.len(),
            mutants.len() - equivalent
        );
        for doc in ["README.md", "book/src/appendix/grader.md"] {
            let text = std::fs::read_to_string(root.join(doc)).unwrap();
            assert!(text.contains(&quote), "{doc} should say \"{quote}\"");
            for m in mutants.iter().filter(|m| m.equivalent.is_some()) {
                assert!(
                    doc == "README.md" || text.contains(&m.name),
                    "{doc} should list the equivalent mutant {}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn only_killed_and_equivalent_pass() {
        assert!(
            Verdict::Killed {
                lost: 5,
                named_by: "lab1.gate".into()
            }
            .ok()
        );
        assert!(Verdict::Equivalent.ok());
        for bad in [
            Verdict::Survived,
            Verdict::NotEquivalent { lost: 5 },
            Verdict::Unnamed {
                lost: 5,
                failed: vec![],
            },
            Verdict::Error("x".into()),
        ] {
            assert!(!bad.ok(), "{bad:?}");
        }
    }
}
