//! The scratch tree: one pristine copy of the course tree's build parts at
//! a fixed path, `target/syslab/scratch/`, with its own target directory,
//! in which changed copies of the course are built: each submission of a
//! class (batch), each mutant of the solutions (mutants), one after the
//! other. Each `sync` rewrites only the files that differ from what the
//! next build needs: cargo's fingerprints then see the kernel and every
//! dependency unchanged, and only the student's crate, `labs/`, is rebuilt
//! (compile.rs). Its reports name `labs/src/...`, as a student's do.

pub mod compile;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::batch::submission::{self, Files};
use crate::cmdline::Lab;
use crate::paths::Workspace;

pub use compile::Built;

/// The course build may take this long: the first one in a fresh tree
/// compiles the kernel and every dependency.
pub const COURSE_BUILD_SECS: u64 = 1800;

/// What a build needs from the course tree; everything else stays out.
pub const PARTS: [&str; 7] = [
    "Cargo.toml",
    "Cargo.lock",
    "rust-toolchain.toml",
    ".cargo",
    "kernel",
    "labs",
    "grader",
];

/// The course checkout's files, read once (build output and VCS data left
/// out), so that a checkout edited while a batch runs cannot change it.
pub fn snapshot(root: &Path) -> Result<Files> {
    submission::read(root)
        .map(|contents| contents.files)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot read the course checkout {}", root.display()))
}

/// Whether a course-tree path is part of what a build needs.
pub fn in_parts(path: &str) -> bool {
    PARTS
        .iter()
        .any(|part| path == *part || path.strip_prefix(part).is_some_and(|r| r.starts_with('/')))
}

/// The scratch tree, locked for as long as this value lives.
pub struct Scratch {
    pub root: PathBuf,
    _lock: File,
}

impl Scratch {
    /// Opens (and creates) this checkout's tree, `target/syslab/scratch/`.
    /// Only one process may use it.
    pub fn open_for(ws: &Workspace) -> Result<Scratch> {
        Scratch::open(&ws.target.join("syslab").join("scratch"))
    }

    /// Opens (and creates) the tree at `root`. Only one process may use it.
    pub fn open(root: &Path) -> Result<Scratch> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create the scratch tree {}", root.display()))?;
        let lock_path = root.join(".lock");
        let lock = File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "another grader is using the scratch tree {}; wait for it to finish",
                root.display()
            );
        }
        Ok(Scratch {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// The tree's own target directory.
    pub fn target(&self) -> PathBuf {
        self.root.join("target")
    }

    /// The tree as a workspace whose boots log to `logs`.
    pub fn workspace(&self, logs: &Path) -> Workspace {
        Workspace {
            root: self.root.clone(),
            target: self.target(),
            logs: logs.to_path_buf(),
        }
    }

    /// Makes the tree `pristine` with `overlay` over it, then builds the
    /// kernel image and the host tests of `host_labs` into `work`, writing
    /// cargo's messages to `log`. The error is what to tell the student (or
    /// the author of a mutant).
    pub fn build(
        &self,
        pristine: &Files,
        overlay: &Files,
        host_labs: &[Lab],
        work: &Path,
        log: &mut dyn std::io::Write,
        deadline: std::time::Instant,
    ) -> Result<Built, String> {
        self.sync(pristine, overlay)
            .map_err(|e| format!("cannot prepare the scratch tree: {e:#}"))?;
        compile::student(&self.root, host_labs, work, log, deadline)
    }

    /// Makes the tree `pristine` with `overlay` over it and builds the
    /// user program (the same for every build) into `to`.
    pub fn user_program(
        &self,
        pristine: &Files,
        overlay: &Files,
        to: &Path,
        log: &mut dyn std::io::Write,
        deadline: std::time::Instant,
    ) -> Result<()> {
        self.sync(pristine, overlay)?;
        compile::user_program(&self.root, to, log, deadline).map_err(anyhow::Error::msg)
    }

    /// Makes the tree exactly the build parts of `pristine` with `overlay`
    /// over them: files that differ are rewritten, files that are in
    /// neither (a previous submission's) are removed, the rest untouched.
    pub fn sync(&self, pristine: &Files, overlay: &Files) -> Result<()> {
        let mut wanted: Files = pristine
            .iter()
            .filter(|(path, _)| in_parts(path))
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect();
        wanted.extend(overlay.iter().map(|(p, b)| (p.clone(), b.clone())));

        let mut present = BTreeSet::new();
        self.list(&self.root, "", &mut present)?;
        for stale in present.iter().filter(|p| !wanted.contains_key(*p)) {
            let path = self.root.join(stale);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
        for (rel, bytes) in &wanted {
            let path = self.root.join(rel);
            if present.contains(rel) && std::fs::read(&path).is_ok_and(|old| old == *bytes) {
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Every file of the tree but the target directory and the lock.
    fn list(&self, dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> Result<()> {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if rel == "target" || rel == ".lock" {
                continue;
            }
            if entry.file_type()?.is_dir() {
                self.list(&entry.path(), &format!("{rel}/"), out)?;
            } else {
                out.insert(rel);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::submission::tests::files;
    use std::time::SystemTime;

    fn mtime(path: &Path) -> SystemTime {
        std::fs::metadata(path).unwrap().modified().unwrap()
    }

    #[test]
    fn sync_rewrites_only_what_differs_and_removes_leftovers() {
        let dir = std::env::temp_dir().join(format!("syslab-scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pristine = files(&[
            ("Cargo.toml", "[workspace]"),
            ("kernel/src/lib.rs", "kernel"),
            ("labs/src/lab1.rs", "skeleton"),
            ("book/src/intro.md", "not built"),
        ]);
        let scratch = Scratch::open(&dir).unwrap();
        assert!(Scratch::open(&dir).is_err(), "one user at a time");
        scratch
            .sync(
                &pristine,
                &files(&[("labs/src/lab1.rs", "alice"), ("labs/src/x.rs", "a")]),
            )
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("labs/src/lab1.rs")).unwrap(),
            "alice"
        );
        assert!(
            !dir.join("book").exists(),
            "only the build parts are copied"
        );
        let kernel = dir.join("kernel/src/lib.rs");
        let before = mtime(&kernel);
        std::fs::create_dir_all(dir.join("target")).unwrap();
        std::fs::write(dir.join("target/keep"), "build output").unwrap();
        std::fs::write(&kernel, "tampered").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));

        scratch
            .sync(&pristine, &files(&[("labs/src/lab1.rs", "bob")]))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&kernel).unwrap(), "kernel");
        assert!(mtime(&kernel) > before, "a changed file is rewritten");
        let toml = dir.join("Cargo.toml");
        let untouched = mtime(&toml);
        assert!(
            !dir.join("labs/src/x.rs").exists(),
            "alice's extra file is gone"
        );
        assert!(
            dir.join("target/keep").is_file(),
            "the target directory stays"
        );

        scratch
            .sync(&pristine, &files(&[("labs/src/lab1.rs", "bob")]))
            .unwrap();
        assert_eq!(mtime(&toml), untouched, "an unchanged file keeps its mtime");
        drop(scratch);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
