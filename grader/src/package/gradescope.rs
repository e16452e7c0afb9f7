//! `cargo grader package gradescope --out autograder.zip`: Gradescope's
//! autograder zip. It holds setup.sh and run_autograder (the scripts
//! beside this file, with the labs and CPU filled in) and, under course/,
//! the build parts of this checkout: what batch copies into its scratch
//! tree. Gradescope unpacks it into /autograder/source.

use std::path::Path;

use anyhow::Result;

use super::{Package, lab_list};
use crate::exit;
use crate::paths::{Workspace, show};
use crate::{scratch, zipfile};

const SETUP: &str = include_str!("setup.sh");
const RUN: &str = include_str!("run_autograder");
/// Where the course tree goes in the zip (and so in /autograder/source).
pub const COURSE: &str = "course";

/// A script with its placeholders filled in.
fn fill(script: &str, p: &Package) -> String {
    script
        .replace("@LABS@", &lab_list(&p.labs))
        .replace("@CPU@", &p.cpu.label())
}

pub fn run(p: &Package) -> Result<u8> {
    let ws = Workspace::locate()?;
    // The labs must exist and build before a course uploads them.
    let chosen = super::tests(&ws, &p.labs, &p.cpu)?;
    let files = scratch::snapshot(&ws.root)?;
    let out = p.out.clone().unwrap_or_else(|| "autograder.zip".into());
    write(&out, p, &files)?;
    let points: u32 = chosen.iter().flat_map(|c| &c.tests).map(|t| t.points).sum();
    println!(
        "wrote {}: {} on {}, {points} points; upload it as the assignment's autograder \
         (Ubuntu 24.04 base image: QEMU 7.2 or newer is needed)",
        show(&out).display(),
        lab_list(&p.labs),
        p.cpu.label()
    );
    Ok(exit::FULL_MARKS)
}

fn write(out: &Path, p: &Package, files: &crate::batch::submission::Files) -> Result<()> {
    let (setup, run) = (fill(SETUP, p), fill(RUN, p));
    let course: Vec<(String, &[u8])> = files
        .iter()
        .filter(|(path, _)| scratch::in_parts(path))
        .map(|(path, bytes)| (format!("{COURSE}/{path}"), bytes.as_slice()))
        .collect();
    let scripts = [
        ("setup.sh", setup.as_bytes()),
        ("run_autograder", run.as_bytes()),
    ];
    let members = scripts
        .into_iter()
        .map(|(name, bytes)| (name, bytes, 0o755))
        .chain(
            course
                .iter()
                .map(|(name, bytes)| (name.as_str(), *bytes, 0o644)),
        )
        .map(|(name, bytes, mode)| zipfile::Member { name, bytes, mode });
    zipfile::write(out, members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_get_the_labs_and_cpu() {
        let p = Package {
            platform: crate::cli::Platform::Gradescope,
            labs: vec![crate::cmdline::Lab::Lab1, crate::cmdline::Lab::Lab2],
            cpu: crate::profile::Profile::Amd,
            out: None,
        };
        let run = fill(RUN, &p);
        assert!(run.contains("--labs lab1,lab2 --cpu amd"), "{run}");
        assert!(!run.contains('@'), "every placeholder is filled");
        assert!(!fill(SETUP, &p).contains("@LABS@"));
        assert!(run.starts_with("#!/usr/bin/env bash\n"));
    }
}
