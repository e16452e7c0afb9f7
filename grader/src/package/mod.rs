//! `cargo grader package gradescope|classroom`: the course's grader packed
//! for the platforms a course grades on, running the same grader.
//! - gradescope: an autograder zip whose run_autograder grades one
//!   submission the way `batch` does (setup.sh, run_autograder beside it);
//! - classroom: GitHub Classroom's autograding.json and a workflow, one
//!   graded step per test.

mod classroom;
mod gradescope;

use anyhow::Result;

use crate::builder::{self, Variant};
use crate::cmdline::Lab;
use crate::grade::{self, Chosen};
use crate::hosttests;
use crate::paths::Workspace;
use crate::plan::ImagePlan;
use crate::profile::Profile;

pub use crate::cli::{Package, Platform};

pub fn run(p: Package) -> Result<u8> {
    match p.platform {
        Platform::Gradescope => gradescope::run(&p),
        Platform::Classroom => classroom::run(&p),
    }
}

/// Every test of `labs` on `profile`, from the skeleton's image (built
/// here): what the packages name and score.
fn tests(ws: &Workspace, labs: &[Lab], profile: &Profile) -> Result<Vec<Chosen>> {
    crate::preflight::check_target(&ws.root)?;
    let images = builder::build(ws, Variant::Labs)?;
    let plan = ImagePlan::read(&images.kernel)?;
    let host = |lab| hosttests::planned(lab, ws, Variant::Labs);
    grade::choose(labs, &Default::default(), &plan, profile, host)
}

/// `lab1,lab2`, as the scripts pass it to `--labs`.
fn lab_list(labs: &[Lab]) -> String {
    labs.iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
