//! A mutant in the scratch tree (crate::scratch): the solutions' sources,
//! with the mistake applied, built as the student's crate `labs/` over the
//! pristine course tree, as `batch` builds a submission.
//!
//! labs/ and solutions/ mirror each other file for file, so the unchanged
//! solutions there get full marks (the suite checks it first), and a
//! mutant's kernel is exactly the kernel of a student whose labs/src holds
//! that mistake: its report names `labs/src/lab2.rs` and its host tests
//! are the course's `labs/tests/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Mutant;
use crate::batch::submission::{Files, is_student_file};
use crate::builder::{Images, Variant};
use crate::cmdline::Lab;
use crate::grade::{self, Chosen};
use crate::hosttests;
use crate::paths::{Workspace, show};
use crate::plan::ImagePlan;
use crate::profile::Machine;
use crate::runner::Settings;
use crate::score::LabScore;
use crate::scratch::{self, Built, COURSE_BUILD_SECS, Scratch};

/// The scratch tree, ready for mutants.
pub struct Course {
    /// The checkout (not the tree): its `labs/tests/` are the tree's.
    checkout: PathBuf,
    /// The course tree's files.
    pristine: Files,
    /// The solutions' sources at their `labs/` paths.
    solutions: Files,
    /// The one tree; holding its lock is holding the build slot.
    scratch: Mutex<Scratch>,
    tree: PathBuf,
    tree_target: PathBuf,
    /// The user program, built once.
    user: PathBuf,
}

/// `target/syslab/mutants/`: each mutant's kernel image, build log and
/// boot logs, in a directory of its name.
pub fn dir(ws: &Workspace) -> PathBuf {
    ws.target.join("syslab").join("mutants")
}

/// `solutions/src/lab2.rs` -> `labs/src/lab2.rs`: where a file of the
/// solutions goes in the tree, if it is one of the student's files.
pub fn labs_path(solutions_path: &str) -> Option<String> {
    let path = format!("labs/{}", solutions_path.strip_prefix("solutions/")?);
    is_student_file(&path).then_some(path)
}

impl Course {
    /// Reads the checkout, locks its scratch tree and builds the user
    /// program there (the first time, the kernel's dependencies too).
    pub fn open(ws: &Workspace) -> Result<Course> {
        let pristine = scratch::snapshot(&ws.root)?;
        let solutions: Files = pristine
            .iter()
            .filter_map(|(path, bytes)| Some((labs_path(path)?, bytes.clone())))
            .collect();
        if solutions.is_empty() {
            bail!(
                "this checkout has no solutions/src: the mutants are mistakes made in the \
                 reference answers"
            );
        }
        let scratch = Scratch::open_for(ws)?;
        let dir = dir(ws);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let user = dir.join("user");
        let log_path = dir.join("course-build.log");
        let mut log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let spinner = crate::report::spinner("building the course in the scratch tree".into());
        let deadline = Instant::now() + Duration::from_secs(COURSE_BUILD_SECS);
        let built = scratch.user_program(&pristine, &solutions, &user, &mut log, deadline);
        spinner.finish_and_clear();
        built.with_context(|| format!("see {}", show(&log_path).display()))?;
        Ok(Course {
            checkout: ws.root.clone(),
            pristine,
            solutions,
            tree: scratch.root.clone(),
            tree_target: scratch.target(),
            scratch: Mutex::new(scratch),
            user,
        })
    }

    /// The student's files for `mutant`, or for the unchanged solutions.
    fn overlay(&self, mutant: Option<&Mutant>) -> Result<Files, String> {
        let mut files = self.solutions.clone();
        if let Some(m) = mutant {
            let Some(path) = labs_path(&m.file) else {
                return Err(format!(
                    "{}: patches {}, which is not one of the student's files \
                     (solutions/src/**/*.rs)",
                    m.name, m.file
                ));
            };
            let Some(text) = files
                .get(&path)
                .map(|b| String::from_utf8_lossy(b).into_owned())
            else {
                return Err(format!("{}: {} does not exist", m.name, m.file));
            };
            let mutated = m.apply(&text).map_err(|e| format!("{e:#}"))?;
            files.insert(path, mutated.into_bytes());
        }
        Ok(files)
    }

    /// Builds `mutant` (None: the unchanged solutions) with the host tests
    /// of `labs` into `work`, with cargo's messages in `work/build.log`;
    /// waits for the tree while another build has it.
    pub fn build(
        &self,
        mutant: Option<&Mutant>,
        labs: &[Lab],
        work: &Path,
    ) -> Result<Built, String> {
        let overlay = self.overlay(mutant)?;
        let host_labs: Vec<Lab> = labs
            .iter()
            .copied()
            .filter(|lab| self.pristine.contains_key(&format!("labs/tests/{lab}.rs")))
            .collect();
        let log_path = work.join("build.log");
        let mut log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_secs(COURSE_BUILD_SECS);
        scratch.build(
            &self.pristine,
            &overlay,
            &host_labs,
            work,
            &mut log,
            deadline,
        )
    }

    /// Grades `labs` of a built kernel on `machine`, with its host tests,
    /// as `cargo grader` grades a student's; the boots log to `logs`. With
    /// `print`, each lab's report is printed as `cargo grader LAB` prints it.
    pub fn grade(
        &self,
        built: &Built,
        labs: &[Lab],
        machine: &Machine,
        timeout_secs: u64,
        logs: &Path,
        print: bool,
    ) -> Result<Vec<LabScore>> {
        let images = Images {
            kernel: built.kernel.clone(),
            user: self.user.clone(),
        };
        let plan = ImagePlan::read(&images.kernel)?;
        let course = Workspace {
            root: self.checkout.clone(),
            target: self.tree_target.clone(),
            logs: logs.to_path_buf(),
        };
        let host = |lab| hosttests::planned(lab, &course, Variant::Labs);
        let chosen = grade::choose(labs, &BTreeMap::new(), &plan, &machine.profile, host)?;
        let tree = Workspace {
            root: self.tree.clone(),
            ..course
        };
        let symbols = grade::load_symbols(&images.kernel, &tree);
        let settings = Settings {
            ws: &tree,
            images: &images,
            machine,
            timeout_secs,
            inject: None,
            verbose: false,
            symbolizer: symbols.as_ref(),
            plan: &plan,
            deadline: None,
        };
        let host = |c: &Chosen| built.host_tests(c, hosttests::TIMEOUT);
        if print {
            return grade::grade_and_report(&chosen, &settings, host, |_| None);
        }
        chosen
            .iter()
            .map(|c| grade::grade_lab(c, host(c), &settings))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solutions_sources_go_where_the_students_are() {
        assert_eq!(
            labs_path("solutions/src/lab2.rs").as_deref(),
            Some("labs/src/lab2.rs")
        );
        for not_the_students in [
            "solutions/Cargo.toml",
            "solutions/build.rs",
            "solutions/tests/lab2.rs",
            "kernel/src/lib.rs",
        ] {
            assert_eq!(labs_path(not_the_students), None, "{not_the_students}");
        }
    }
}
