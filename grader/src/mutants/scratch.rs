//! Scratch copies of the student crate that build against the checkout's
//! own kernel and share its target directory, so that each copy compiles
//! only the student crate itself.
//!
//! Two things about how Cargo names what it builds decide the layout:
//!
//! - A path dependency is known by its path: a copy whose manifest said
//!   `path = "../kernel"` would depend on a different kernel and rebuild
//!   it. So the copy names the checkout's kernel by its absolute path, and
//!   a `kernel` link beside the copy lets its build script find
//!   `../kernel/kernel.ld` as in the original.
//! - A package inside its own workspace is hashed by its path *relative to
//!   that workspace*, which is the same for every copy and for the
//!   original: copies built into one target directory would share one set
//!   of artifacts and fingerprints, and a copy whose sources are older than
//!   another copy's build would be taken as up to date (and so, afterwards,
//!   would `solutions/`). So each copy gets a package and binary name of
//!   its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::paths::Workspace;

/// A copy of `solutions/` at `dir/solutions/`.
pub struct Scratch {
    /// `target/syslab/mutants/NAME`: the copy, its logs and its kernel image.
    pub dir: PathBuf,
    /// The copied crate.
    pub crate_dir: PathBuf,
    /// Its package and binary name, `syslab-copy-NAME`.
    pub package: String,
}

impl Scratch {
    /// A fresh copy of `ws.root/solutions` in `target/syslab/mutants/NAME`.
    pub fn new(ws: &Workspace, name: &str) -> Result<Scratch> {
        let dir = ws.target.join("syslab").join("mutants").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the old copy {}", dir.display()))?;
        }
        let original = ws.root.join("solutions");
        let crate_dir = dir.join("solutions");
        copy_tree(&original, &crate_dir)?;
        let manifest = crate_dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let kernel = ws.root.join("kernel");
        let relative = "path = \"../kernel\"";
        if !text.contains(relative) {
            bail!(
                "{} has no `{relative}` dependency to point at the checkout's kernel",
                manifest.display()
            );
        }
        let absolute = format!("path = \"{}\"", kernel.display());
        let package = format!("syslab-copy-{name}");
        let original_name = format!(
            "name = \"{}\"",
            crate::builder::Variant::Solutions.package()
        );
        if text.matches(&original_name).count() != 2 {
            bail!(
                "{} should name its package and its binary `{original_name}`",
                manifest.display()
            );
        }
        let text = text
            .replace(relative, &absolute)
            .replace(&original_name, &format!("name = \"{package}\""));
        std::fs::write(&manifest, text)
            .with_context(|| format!("cannot write {}", manifest.display()))?;
        link(&kernel, &dir.join("kernel"))?;
        Ok(Scratch {
            dir,
            crate_dir,
            package,
        })
    }

    /// The copy's version of `file`, a path relative to the repository
    /// root that starts with `solutions/`.
    pub fn file(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// Copies the sources of a crate: every file but `target/` and hidden ones.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, at)
        .with_context(|| format!("cannot link {} to {}", at.display(), target.display()))
}

#[cfg(not(unix))]
fn link(target: &Path, at: &Path) -> Result<()> {
    bail!(
        "scratch copies need a symbolic link ({} -> {}), which this system does not offer",
        at.display(),
        target.display()
    )
}
