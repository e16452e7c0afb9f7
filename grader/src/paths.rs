//! Where things are: the workspace root, its target directory, and the
//! grader's own output under `target/syslab/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Names another crate of reference answers than `solutions/`.
pub const SOLUTIONS_ENV: &str = "SYSLAB_SOLUTIONS";

pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Workspace {
    /// The workspace this grader was built in: the parent of its package.
    pub fn locate() -> Result<Workspace> {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(root) = package.parent() else {
            bail!(
                "the grader's package directory {} has no parent",
                package.display()
            );
        };
        if !root.join("Cargo.toml").is_file() {
            bail!(
                "the grader was built in {}, but {} is gone; run it from the checkout with \
                 `cargo grader`",
                package.display(),
                root.join("Cargo.toml").display()
            );
        }
        // Cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in.
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir()?.join(dir)
                }
            }
            _ => root.join("target"),
        };
        Ok(Workspace {
            root: root.to_path_buf(),
            target,
        })
    }

    /// `target/syslab/logs`: one serial and one QEMU log per boot.
    pub fn logs_dir(&self) -> PathBuf {
        self.target.join("syslab").join("logs")
    }

    /// `logs_dir()/name`, with the directory made and any old file removed.
    pub fn fresh_log(&self, name: &str) -> Result<PathBuf> {
        let logs = self.logs_dir();
        std::fs::create_dir_all(&logs)
            .with_context(|| format!("cannot create the log directory {}", logs.display()))?;
        let path = logs.join(name);
        fresh_file(&path)?;
        Ok(path)
    }

    /// The reference answers' crate: `solutions/`, or the directory named by
    /// `SYSLAB_SOLUTIONS` (a copy of it, as the book's transcripts of
    /// broken answers use: book/transcripts/mistake).
    pub fn solutions_dir(&self) -> PathBuf {
        match std::env::var_os(SOLUTIONS_ENV) {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir().unwrap_or_default().join(dir)
                }
            }
            _ => self.root.join("solutions"),
        }
    }

    /// `target/syslab/gdb`: the scripts `cargo grader gdb` writes.
    pub fn gdb_dir(&self) -> PathBuf {
        self.target.join("syslab").join("gdb")
    }
}

/// `path` relative to the current directory when it is below it (as a
/// student would type it), else as it is.
pub fn show(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
}

/// Removes an old log so that a boot starts with an empty one.
pub fn fresh_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove the old log {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// A log's text, lossily decoded; empty if it cannot be read.
pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
