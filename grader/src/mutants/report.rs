//! `cargo grader mutants NAME --report`: one mutant's grading report,
//! exactly as `cargo grader LAB` prints it for a student whose `labs/`
//! holds that mistake. The book's common mistakes are these reports.

use anyhow::{Result, anyhow};

use super::tree::{self, Course};
use super::{Mutant, fresh_dir};
use crate::cli::MutantReport;
use crate::grade;
use crate::paths::Workspace;
use crate::profile::{Accel, Machine};
use crate::score;

/// Builds `mutant` in the scratch tree and grades its labs on its profile
/// (or `r.cpu`) with `r.smp` CPUs; the exit status is `cargo grader`'s.
pub fn run(ws: &Workspace, mutant: &Mutant, r: &MutantReport, timeout_secs: u64) -> Result<u8> {
    let course = Course::open(ws)?;
    let work = fresh_dir(&tree::dir(ws).join(&mutant.name))?;
    let spinner = crate::report::spinner(format!("building the mutant {}", mutant.name));
    let built = course.build(Some(mutant), &mutant.labs, &work);
    spinner.finish_and_clear();
    let built = built.map_err(|e| anyhow!("{e}"))?;
    let machine = Machine {
        profile: r.cpu.clone().unwrap_or_else(|| mutant.profile.clone()),
        accel: Accel::Tcg,
        smp: r.smp,
    };
    // The boots log where a student's do: this run's directory.
    let labs = course.grade(&built, &mutant.labs, &machine, timeout_secs, &ws.logs, true)?;
    Ok(grade::exit_status(&score::total(&labs)))
}
