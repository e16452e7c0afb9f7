//! `cargo grader handin [--out FILE]`: the student's files as a tarball
//! for the course, as xv6's `make handin` makes one. It refuses while
//! labs/ has uncommitted changes (so that the commit id says what was
//! handed in), warns about untracked files there, grades once, and writes
//! `labs/src/**/*.rs`, the answers files and a manifest (commit, grader
//! version, date, the local scores) that `cargo grader batch` reads.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::batch::submission::{HANDIN_MANIFEST, is_student_file};
use crate::builder::Variant;
use crate::cli::{Grade, Target};
use crate::cmdline::Lab;
use crate::paths::{Workspace, show, utc_stamp};
use crate::profile::{Accel, Machine, Profile};
use crate::{exit, grade, score};

/// `git -C root ARGS`, or `None` when git is missing or `root` is no repository.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `git status --porcelain` says about labs/: changed and untracked paths.
pub fn labs_status(porcelain: &str) -> (Vec<String>, Vec<String>) {
    let mut changed = Vec::new();
    let mut untracked = Vec::new();
    for line in porcelain.lines().filter(|l| l.len() > 3) {
        let path = line[3..].to_owned();
        if line.starts_with("??") {
            untracked.push(path);
        } else {
            changed.push(path);
        }
    }
    (changed, untracked)
}

/// `2026-12-01T10:15:00Z`.
fn iso_date(secs: u64) -> String {
    let s = utc_stamp(secs);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

pub fn run(out: PathBuf) -> Result<u8> {
    let ws = Workspace::locate()?;
    let root = &ws.root;
    let commit = match git(
        root,
        &[
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--",
            "labs",
        ],
    ) {
        Some(porcelain) => {
            let (changed, untracked) = labs_status(&porcelain);
            if !changed.is_empty() {
                bail!(
                    "labs/ has uncommitted changes, so the handin would not match any commit:\n  \
                     {}\ncommit them first: git commit -am \"my labs\" (or git stash to hand in \
                     the last commit)",
                    changed.join("\n  ")
                );
            }
            for path in &untracked {
                eprintln!(
                    "warning: {path} is untracked and is not handed in; `git add` and commit it \
                     if it is yours"
                );
            }
            git(root, &["rev-parse", "HEAD"]).map(|c| c.trim().to_owned())
        }
        None => {
            eprintln!(
                "warning: this checkout is not a git repository; the handin has no commit id"
            );
            None
        }
    };
    let files = student_files(root, commit.is_some())?;
    if files.is_empty() {
        bail!("labs/ holds none of your files (labs/src/*.rs); is this the course checkout?");
    }

    // The local grade, for the manifest: the course grades again, this is
    // for comparing.
    let g = Grade {
        target: Target {
            variant: Variant::Labs,
            machine: Machine {
                profile: Profile::Intel,
                accel: Accel::Tcg,
                smp: 2,
            },
            inject: None,
        },
        labs: Lab::ALL.to_vec(),
        tests: Default::default(),
        list: false,
        timeout_secs: Accel::Tcg.default_timeout_secs(),
        json: None,
        verbose: false,
    };
    let scores = match grade::grade(&g) {
        Ok(labs) => {
            let total = score::total(&labs);
            let per_lab: serde_json::Map<String, serde_json::Value> = labs
                .iter()
                .map(|l| {
                    let v = json!({ "earned": l.earned(), "possible": l.possible() });
                    (l.lab.to_string(), v)
                })
                .collect();
            json!({
                "machine": g.target.machine.to_string(),
                "labs": per_lab,
                "total": { "earned": total.earned, "possible": total.possible },
            })
        }
        Err(err) => {
            eprintln!(
                "warning: the local grading failed ({err:#}); handing in without local scores"
            );
            serde_json::Value::Null
        }
    };
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let manifest = json!({
        "format": 1,
        "commit": commit,
        "grader_version": env!("CARGO_PKG_VERSION"),
        "date": iso_date(secs),
        "scores": scores,
        "files": files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
    });
    write_tarball(&out, &manifest, &files, secs)?;
    println!(
        "wrote {} ({} files{}); hand it in as the course asks",
        show(&out).display(),
        files.len(),
        commit.as_deref().map_or(String::new(), |c| format!(
            ", commit {}",
            &c[..c.len().min(12)]
        ))
    );
    Ok(exit::FULL_MARKS)
}

/// The student's files under labs/: tracked ones when `tracked_only` (a
/// git checkout), else every one on disk.
fn student_files(root: &Path, tracked_only: bool) -> Result<Vec<(String, Vec<u8>)>> {
    let paths: Vec<String> = if tracked_only {
        git(root, &["ls-files", "--", "labs"])
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    } else {
        crate::batch::submission::read(&root.join("labs"))
            .map_err(anyhow::Error::msg)?
            .files
            .into_keys()
            .map(|p| format!("labs/{p}"))
            .collect()
    };
    paths
        .into_iter()
        .filter(|p| is_student_file(p))
        .map(|p| {
            let bytes = std::fs::read(root.join(&p)).with_context(|| format!("cannot read {p}"))?;
            Ok((p, bytes))
        })
        .collect()
}

fn write_tarball(
    out: &Path,
    manifest: &serde_json::Value,
    files: &[(String, Vec<u8>)],
    secs: u64,
) -> Result<()> {
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    let manifest = serde_json::to_vec_pretty(manifest)?;
    let entries = std::iter::once((HANDIN_MANIFEST, manifest.as_slice()))
        .chain(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(secs);
        tar.append_data(&mut header, path, bytes)
            .with_context(|| format!("cannot add {path} to {}", out.display()))?;
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .and_then(|mut f| f.flush())
        .with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_separates_changes_from_untracked_files() {
        let (changed, untracked) =
            labs_status(" M labs/src/lab1.rs\n?? labs/src/util.rs\nA  labs/answers-lab1.md\n");
        assert_eq!(changed, ["labs/src/lab1.rs", "labs/answers-lab1.md"]);
        assert_eq!(untracked, ["labs/src/util.rs"]);
        assert_eq!(labs_status(""), (vec![], vec![]));
    }

    #[test]
    fn dates_are_iso_8601_utc() {
        assert_eq!(iso_date(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn the_tarball_reads_back_as_a_handin() {
        let path =
            std::env::temp_dir().join(format!("syslab-handin-{}.tar.gz", std::process::id()));
        let files = vec![("labs/src/lab1.rs".to_owned(), b"answer\n".to_vec())];
        write_tarball(&path, &json!({ "commit": "abc" }), &files, 0).unwrap();
        let read = crate::batch::submission::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.files["labs/src/lab1.rs"], b"answer\n");
        assert!(String::from_utf8_lossy(&read.files[HANDIN_MANIFEST]).contains("\"abc\""));
    }
}
