//! Scratch copies of the student crate that build against the checkout's
//! own kernel and share its target directory, so that each copy compiles
//! only the student crate itself.
//!
//! Three things about how Cargo decides what to rebuild shape them:
//!
//! - A path dependency is known by its path: a copy whose manifest said
//!   `path = "../kernel"` would depend on a different kernel and rebuild
//!   it. So the copy names the checkout's kernel by its absolute path, and
//!   a `kernel` link beside the copy lets its build script find
//!   `../kernel/kernel.ld` as in the original.
//! - A package inside its own workspace is hashed by its path *relative to
//!   that workspace*, the same for every copy and for the original: copies
//!   built into one target directory would share one set of artifacts and
//!   fingerprints with each other and with `solutions/`. So each job slot
//!   builds its copies under a package name of its own, `syslab-copy-N`.
//! - Cargo records a source file inside the target directory relative to
//!   that directory, not to its package: a copy kept there would be checked
//!   against the files of the copy it replaced, and found up to date. So
//!   the copies live in the system's temporary directory, one place per
//!   slot, outside the target directory. Each new copy's files are newer
//!   than the slot's last build, so Cargo rebuilds the one crate.
//!
//! The target directory thus holds one set of artifacts per slot, not one
//! per mutant.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::paths::Workspace;

/// A copy of `solutions/` at `dir/solutions/`.
pub struct Scratch {
    /// The slot's directory: the copy and the `kernel` link beside it.
    pub dir: PathBuf,
    /// The copied crate.
    pub crate_dir: PathBuf,
    /// Its package and binary name, `syslab-copy-SLOT`.
    pub package: String,
}

impl Scratch {
    /// A fresh copy of `ws.root/solutions` for job slot `slot`, replacing
    /// the slot's last one.
    pub fn new(ws: &Workspace, slot: usize) -> Result<Scratch> {
        let dir = slots_dir(ws).join(format!("slot-{slot}"));
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
        let package = format!("syslab-copy-{slot}");
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

/// Where this checkout's slots live: a directory of the system's temporary
/// one named after the checkout, so that two checkouts never share a slot.
pub fn slots_dir(ws: &Workspace) -> PathBuf {
    // FNV-1a of the checkout's path: short, and stable from run to run.
    let hash = ws
        .root
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    std::env::temp_dir().join(format!("syslab-mutants-{hash:016x}"))
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
