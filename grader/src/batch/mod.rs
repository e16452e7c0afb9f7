//! `cargo grader batch SUBMISSIONS`: grade a class.
//!
//! Each submission (submission.rs) is reduced to the student's own files
//! and graded over a pristine copy of this course tree (the scratch tree,
//! crate::scratch). The builds share that one tree and its target
//! directory, one at a time, so after the first only the student's crate
//! is rebuilt; the boots of up to `--jobs` submissions run at once, each
//! with its own log directory. The class's CSV, each student's Gradescope
//! JSON (results.rs) and summary.md with its histogram (summary.rs) go to
//! `--out`.

mod results;
pub mod submission;
mod summary;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::builder::{Images, Variant};
use crate::cli::Batch;
use crate::cmdline::Lab;
use crate::grade::{self, Chosen};
use crate::paths::{Workspace, show};
use crate::plan::ImagePlan;
use crate::runner::Settings;
use crate::score::Planned;
use crate::scratch::{self, COURSE_BUILD_SECS, Scratch};
use crate::{exit, hosttests, preflight};

use results::Graded;
use submission::Files;

/// The per-boot timeout within a submission's time (TCG's default).
const BOOT_TIMEOUT_SECS: u64 = 20;

/// One entry of SUBMISSIONS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The student's name: the entry's, without `.tar.gz`, `.tgz` or `.zip`.
    pub name: String,
    pub path: PathBuf,
}

/// The entries of `dir`, sorted; hidden ones and `skip` (the output
/// directory, when it sits inside) are left out.
pub fn entries(dir: &Path, skip: Option<&Path>) -> Result<Vec<Entry>> {
    let listing = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the submissions directory {}", dir.display()))?;
    let skip = skip.and_then(|p| p.canonicalize().ok());
    let mut found: Vec<(String, PathBuf)> = listing
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, path)| !name.starts_with('.') && path.canonicalize().ok() != skip)
        .collect();
    found.sort();
    let mut entries: Vec<Entry> = Vec::new();
    for (file, path) in found {
        let stem = [".tar.gz", ".tgz", ".zip"]
            .iter()
            .find_map(|ext| file.strip_suffix(ext))
            .filter(|_| path.is_file())
            .unwrap_or(&file);
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._@-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        // Two entries of one name (alice/ and alice.zip): the second keeps
        // its extension.
        let mut name = safe(stem);
        if entries.iter().any(|e| e.name == name) {
            name = safe(&file);
        }
        entries.push(Entry { name, path });
    }
    Ok(entries)
}

/// Prepares `--out`: made if missing, emptied if it is an earlier batch's,
/// refused if it holds anything else.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let earlier = out.join("results.csv").is_file();
        let empty = std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !earlier && !empty {
            bail!(
                "--out {} exists and is not an earlier batch's output (no results.csv); choose \
                 another directory",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
}

/// Everything the jobs share.
struct Class<'a> {
    b: &'a Batch,
    ws: &'a Workspace,
    pristine: Files,
    /// The one scratch tree; holding its lock is holding the build slot.
    scratch: Mutex<Scratch>,
    work: PathBuf,
    user: PathBuf,
    plan: ImagePlan,
    /// Per lab, every test (the image's, then the host tests).
    columns: Vec<(Lab, Vec<Planned>)>,
}

pub fn run(b: Batch) -> Result<u8> {
    let started = Instant::now();
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_target(&ws.root)?;
    let list = entries(&b.submissions, Some(&b.out))?;
    if list.is_empty() {
        bail!("{} holds no submissions", b.submissions.display());
    }
    prepare_out(&b.out)?;
    warn_uncommitted(&ws.root);

    let pristine = scratch::snapshot(&ws.root)?;
    let scratch = Scratch::open_for(&ws)?;
    let work = ws.target.join("syslab").join("batch").join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    // The course tree as it is: the user program, the skeleton's image
    // (whose plan names the columns) and a warm cache for every submission.
    let spinner = crate::report::spinner("building the course tree".into());
    let course_log = b.out.join("course-build.log");
    let user = work.join("user");
    let skeleton = build_course(&scratch, &pristine, &work, &user, &course_log);
    spinner.finish_and_clear();
    let skeleton = skeleton.with_context(|| format!("see {}", show(&course_log).display()))?;
    let plan = ImagePlan::read(&skeleton)?;
    let tree = scratch.workspace(&work);
    let columns = b
        .labs
        .iter()
        .map(|&lab| {
            let mut tests = plan.for_lab(lab, &b.machine.profile);
            tests.extend(hosttests::planned(lab, &tree, Variant::Labs));
            (lab, tests)
        })
        .collect();
    let class = Class {
        b: &b,
        ws: &ws,
        pristine,
        scratch: Mutex::new(scratch),
        work,
        user,
        plan,
        columns,
    };

    let graded = grade_all(&class, list);
    let seconds = started.elapsed().as_secs_f64();
    write_outputs(&class, &graded, seconds)?;
    let _ = std::fs::remove_dir_all(&class.work);
    Ok(exit::FULL_MARKS)
}

/// Builds the pristine tree: the user program to `user`, and the
/// skeleton's kernel image, whose path it returns.
fn build_course(
    scratch: &Scratch,
    pristine: &Files,
    work: &Path,
    user: &Path,
    log: &Path,
) -> Result<PathBuf> {
    let mut log =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let deadline = Instant::now() + Duration::from_secs(COURSE_BUILD_SECS);
    scratch.user_program(pristine, &Files::new(), user, &mut log, deadline)?;
    let skeleton = work.join("course");
    std::fs::create_dir_all(&skeleton)?;
    let host_labs: Vec<Lab> = Lab::ALL
        .into_iter()
        .filter(|lab| pristine.contains_key(&format!("labs/tests/{lab}.rs")))
        .collect();
    let built = scratch::compile::student(&scratch.root, &host_labs, &skeleton, &mut log, deadline)
        .map_err(|e| anyhow::anyhow!("the course tree itself does not build: {e}"))?;
    Ok(built.kernel)
}

/// Warns when the course's own files have uncommitted changes: they are
/// what every submission is graded against.
fn warn_uncommitted(root: &Path) {
    let Ok(out) = std::process::Command::new("git")
        .args([
            "status",
            "--porcelain",
            "--",
            "kernel",
            "labs",
            "grader",
            "Cargo.toml",
            "Cargo.lock",
        ])
        .current_dir(root)
        .output()
    else {
        return;
    };
    let changed = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && !changed.trim().is_empty() {
        eprintln!(
            "warning: the course tree has uncommitted changes, and submissions are graded \
             against them:\n{}",
            changed.trim_end()
        );
    }
}

/// Runs the jobs and returns the grades in the order of `list`.
fn grade_all(class: &Class<'_>, list: Vec<Entry>) -> Vec<Graded> {
    let total = list.len();
    let queue = Mutex::new(list.into_iter().enumerate().collect::<VecDeque<_>>());
    let done: Mutex<Vec<(usize, Graded)>> = Mutex::new(Vec::new());
    let active: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:32.cyan/blue} {pos}/{len} [{elapsed}] {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let show_active =
        |active: &Vec<String>| bar.set_message(format!("grading {}", active.join(", ")));
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..class.b.jobs.min(total) {
            s.spawn(|| {
                loop {
                    let Some((i, entry)) = lock(&queue).pop_front() else {
                        break;
                    };
                    show_active(&{
                        let mut a = lock(&active);
                        a.push(entry.name.clone());
                        a.clone()
                    });
                    let graded = grade_one(class, &entry);
                    say(one_line(&graded));
                    for flag in &graded.flags {
                        say(format!("{}: {flag}", graded.name));
                    }
                    show_active(&{
                        let mut a = lock(&active);
                        a.retain(|n| n != &entry.name);
                        a.clone()
                    });
                    bar.inc(1);
                    lock(&done).push((i, graded));
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, g)| g).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `alice: 245/325 (12.3 s)`, or the refusal.
fn one_line(g: &Graded) -> String {
    let total = g.total();
    match &g.refusal {
        Some(reason) => format!(
            "{}: 0/{} ({})",
            g.name,
            total.possible,
            reason.lines().next().unwrap_or_default()
        ),
        None => format!(
            "{}: {}/{} ({:.1} s)",
            g.name, total.earned, total.possible, g.seconds
        ),
    }
}

/// Reads, stages, builds and grades one submission; never fails the batch.
fn grade_one(class: &Class<'_>, entry: &Entry) -> Graded {
    let started = Instant::now();
    let dir = class.b.out.join(&entry.name);
    let logs = dir.join("log");
    let mut graded = Graded {
        name: entry.name.clone(),
        labs: vec![],
        refusal: None,
        flags: vec![],
        seconds: 0.0,
    };
    let outcome = std::fs::create_dir_all(&logs)
        .map_err(|e| format!("cannot create {}: {e}", logs.display()))
        .and_then(|()| submission::read(&entry.path))
        .and_then(|read| submission::stage(read, &class.pristine))
        .and_then(|staged| {
            graded.flags = staged.flags;
            build_and_boot(class, entry, &staged.overlay, &logs)
        });
    let b = class.b;
    match outcome {
        Ok(labs) => graded.labs = labs,
        Err(reason) => {
            graded.labs = results::not_graded(&class.columns, &b.machine, &reason);
            graded.refusal = Some(reason);
        }
    }
    graded.seconds = started.elapsed().as_secs_f64();
    if let Err(e) = results::write_json(&dir.join("results.json"), &graded) {
        graded.flags.push(format!("{e:#}"));
    }
    let _ = std::fs::remove_dir_all(class.work.join(&entry.name));
    graded
}

/// Builds in the scratch tree (waiting for it), then boots outside it.
fn build_and_boot(
    class: &Class<'_>,
    entry: &Entry,
    overlay: &Files,
    logs: &Path,
) -> Result<Vec<crate::score::LabScore>, String> {
    let b = class.b;
    let work = class.work.join(&entry.name);
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let host_labs: Vec<Lab> = class
        .columns
        .iter()
        .filter(|(_, tests)| tests.iter().any(|t| t.name.ends_with(".host_tests")))
        .map(|(lab, _)| *lab)
        .collect();
    let build_log = logs.join("build.log");
    let mut log = std::fs::File::create(&build_log)
        .map_err(|e| format!("cannot create {}: {e}", build_log.display()))?;
    let (built, deadline, root) = {
        let scratch = lock(&class.scratch);
        let deadline = Instant::now() + Duration::from_secs(b.timeout_secs);
        let built = scratch.build(
            &class.pristine,
            overlay,
            &host_labs,
            &work,
            &mut log,
            deadline,
        )?;
        (built, deadline, scratch.root.clone())
    };
    let _ = log.flush();

    let plan = ImagePlan::read(&built.kernel).map_err(|e| format!("{e:#}"))?;
    if plan != class.plan {
        return Err(
            "refused: the kernel image's test plan differs from the course's (code in labs/src \
             adds to the .syslab_plan section)"
                .into(),
        );
    }
    let ws = Workspace {
        root: root.clone(),
        target: class.ws.target.clone(),
        logs: logs.to_path_buf(),
    };
    let images = Images {
        kernel: built.kernel.clone(),
        user: class.user.clone(),
    };
    let symbolizer = grade::load_symbols(&images.kernel, &ws);
    let settings = Settings {
        ws: &ws,
        images: &images,
        machine: &b.machine,
        timeout_secs: BOOT_TIMEOUT_SECS,
        inject: None,
        verbose: false,
        symbolizer: symbolizer.as_ref(),
        plan: &class.plan,
        deadline: Some(deadline),
    };
    let mut labs = Vec::new();
    for (lab, tests) in &class.columns {
        let chosen = Chosen {
            lab: *lab,
            tests: tests.clone(),
            only: None,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let host = built.host_tests(&chosen, left.min(hosttests::TIMEOUT));
        let scored = grade::grade_lab(&chosen, host, &settings).map_err(|e| format!("{e:#}"))?;
        labs.push(scored);
    }
    Ok(labs)
}

fn write_outputs(class: &Class<'_>, graded: &[Graded], seconds: f64) -> Result<()> {
    let out = &class.b.out;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("results.csv", results::csv(&class.columns, graded))?;
    let max: u32 = class
        .columns
        .iter()
        .flat_map(|(_, t)| t)
        .map(|t| t.points)
        .sum();
    write(summary::HISTOGRAM, summary::histogram(graded, max)?)?;
    let labs: Vec<&str> = class.columns.iter().map(|(l, _)| l.as_str()).collect();
    let what = format!(
        "{} on {} with {} jobs",
        labs.join(", "),
        class.b.machine,
        class.b.jobs
    );
    write("summary.md", summary::markdown(graded, max, &what, seconds))?;
    eprintln!(
        "graded {} submission{} in {seconds:.0} s; wrote {}/results.csv, summary.md and a \
         folder per student",
        graded.len(),
        if graded.len() == 1 { "" } else { "s" },
        show(out).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_after_the_student() {
        let dir = std::env::temp_dir().join(format!("syslab-entries-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("alice")).unwrap();
        std::fs::create_dir_all(dir.join("grades")).unwrap();
        std::fs::create_dir_all(dir.join(".hidden")).unwrap();
        for file in ["bob.tar.gz", "carol.zip", "alice.zip", "dave smith.tgz"] {
            std::fs::write(dir.join(file), "").unwrap();
        }
        let found = entries(&dir, Some(&dir.join("grades"))).unwrap();
        let names: Vec<&str> = found.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["alice", "alice.zip", "bob", "carol", "dave_smith"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn out_is_refused_unless_empty_or_an_earlier_batchs() {
        let dir = std::env::temp_dir().join(format!("syslab-out-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        prepare_out(&dir).unwrap();
        std::fs::write(dir.join("results.csv"), "x").unwrap();
        std::fs::create_dir_all(dir.join("old-student")).unwrap();
        prepare_out(&dir).unwrap();
        assert!(
            !dir.join("old-student").exists(),
            "an earlier batch's output is replaced"
        );
        std::fs::write(dir.join("thesis.tex"), "x").unwrap();
        assert!(
            prepare_out(&dir)
                .unwrap_err()
                .to_string()
                .contains("not an earlier batch")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
