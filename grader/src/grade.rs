//! `cargo grader [LAB|TEST ...]`: check the tools, build, read the test plan
//! from the image, grade each lab (or only the tests asked for), report.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use crate::builder::Variant;
use crate::cli::Grade;
use crate::cmdline::Lab;
use crate::exit;
use crate::paths::{Workspace, show};
use crate::plan::ImagePlan;
use crate::report::{self, Styles};
use crate::runner::{self, Settings};
use crate::score::{self, LabScore, Outcome, Planned};
use crate::symbolize::Symbolizer;
use crate::{answers, builder, gradescope, hosttests, preflight, select};

/// One lab as the command line chose it.
pub struct Chosen {
    pub lab: Lab,
    /// Every test of the lab on this machine: the image's, then the host tests.
    pub tests: Vec<Planned>,
    /// The names to run, or `None` for all of them.
    pub only: Option<Vec<String>>,
}

pub fn run(g: Grade) -> Result<u8> {
    let labs = grade(&g)?;
    if g.list {
        return Ok(exit::FULL_MARKS);
    }
    let total = score::total(&labs);
    if let Some(path) = &g.json {
        gradescope::write(path, &labs)?;
        eprintln!("wrote the Gradescope results to {}", show(path).display());
    }
    Ok(exit_status(&total))
}

/// Builds, then grades and reports (or, with `--list`, lists) the labs of `g`.
pub fn grade(g: &Grade) -> Result<Vec<LabScore>> {
    let ws = Workspace::locate()?;
    if !g.list {
        preflight::check_qemu()?;
        preflight::check_accel(g.target.machine.accel)?;
    }
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, g.target.variant)?;
    let plan = ImagePlan::read(&images.kernel)?;
    let host = |lab| hosttests::planned(lab, &ws, g.target.variant);
    let chosen = choose(&g.labs, &g.tests, &plan, &g.target.machine.profile, host)?;

    if g.list {
        let mut out = std::io::stdout().lock();
        for c in &chosen {
            let header = format!("{} ({})", c.lab, g.target.machine.profile.label());
            select::write_list(&mut out, &header, &c.tests).context("cannot write the list")?;
        }
        return Ok(vec![]);
    }

    let symbolizer = load_symbols(&images.kernel, &ws);
    let settings = Settings {
        ws: &ws,
        images: &images,
        machine: &g.target.machine,
        timeout_secs: g.timeout_secs,
        inject: g.target.inject,
        verbose: g.verbose,
        symbolizer: symbolizer.as_ref(),
        plan: &plan,
        deadline: None,
    };
    let (ws, variant) = (&ws, g.target.variant);
    grade_and_report(
        &chosen,
        &settings,
        |c| {
            let lab = c.lab;
            host(lab).map(|p| (p, move || hosttests::run(lab, ws, variant)))
        },
        // The written questions: a note, no points (answers.rs).
        |lab| {
            (variant == Variant::Labs)
                .then(|| answers::note(lab, &ws.root))
                .flatten()
        },
    )
}

/// Grades each lab of `chosen` and prints its report as it comes, then the
/// total and the function to write first: what `cargo grader LAB` prints.
/// `host` gives a lab's host tests and how to run them, `note` a note to
/// add to a lab's report.
pub fn grade_and_report<H: FnOnce() -> Outcome>(
    chosen: &[Chosen],
    settings: &Settings<'_>,
    host: impl Fn(&Chosen) -> Option<(Planned, H)>,
    note: impl Fn(Lab) -> Option<String>,
) -> Result<Vec<LabScore>> {
    let styles = Styles::for_stdout();
    let mut out = std::io::stdout().lock();
    let mut labs = Vec::new();
    for c in chosen {
        let spinner = if settings.verbose {
            ProgressBar::hidden()
        } else {
            crate::report::spinner(format!("grading {} ({})", c.lab, settings.machine))
        };
        let scored = grade_lab(c, host(c), settings);
        spinner.finish_and_clear();
        let mut scored = scored?;
        scored.notes.extend(note(c.lab));
        report::write_lab(&mut out, &scored, &styles).context("cannot write the report")?;
        out.flush().context("cannot write the report")?;
        labs.push(scored);
    }
    let total = score::total(&labs);
    report::write_total(&mut out, &total, &styles).context("cannot write the report")?;
    report::write_first(&mut out, &labs, &styles).context("cannot write the report")?;
    Ok(labs)
}

/// 0 at full marks, 1 below, 2 when the environment kept a lab from being graded.
pub fn exit_status(total: &score::Total) -> u8 {
    if total.environment_error {
        exit::NOT_GRADED
    } else if total.full_marks {
        exit::FULL_MARKS
    } else {
        exit::NOT_FULL_MARKS
    }
}

/// Each lab's tests on this machine, and which of them the prefixes select.
pub fn choose(
    labs: &[Lab],
    prefixes: &BTreeMap<Lab, Vec<String>>,
    plan: &ImagePlan,
    profile: &crate::profile::Profile,
    host: impl Fn(Lab) -> Option<Planned>,
) -> Result<Vec<Chosen>> {
    labs.iter()
        .map(|&lab| {
            let mut tests = plan.for_lab(lab, profile);
            tests.extend(host(lab));
            let only = match prefixes.get(&lab) {
                Some(prefixes) => Some(select::resolve(lab, prefixes, &tests)?),
                None => None,
            };
            Ok(Chosen { lab, tests, only })
        })
        .collect()
}

/// One lab: its boots (none when only its host tests are selected), then
/// its host tests when the lab has them and they are selected.
pub fn grade_lab(
    c: &Chosen,
    host: Option<(Planned, impl FnOnce() -> Outcome)>,
    s: &Settings<'_>,
) -> Result<LabScore> {
    let wanted = |name: &str| c.only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));
    let host = host.filter(|(p, _)| wanted(&p.name));
    let kernel_only: Option<Vec<String>> = c.only.as_ref().map(|names| {
        names
            .iter()
            .filter(|n| host.as_ref().is_none_or(|(p, _)| &p.name != *n))
            .cloned()
            .collect()
    });
    let mut scored = match kernel_only.as_deref() {
        Some([]) => LabScore {
            lab: c.lab,
            machine: s.machine.clone(),
            tests: vec![],
            error: None,
            environment_error: false,
            notes: vec![],
        },
        only => runner::grade_lab(c.lab, only, s)?,
    };
    if let Some((plan, run)) = host {
        let results = BTreeMap::from([(plan.name.clone(), run())]);
        scored
            .tests
            .extend(score::score_tests(&[plan], &results, "did not run"));
    }
    Ok(scored)
}

/// The kernel's symbols; without them faults are still reported, unnamed.
pub fn load_symbols(kernel: &std::path::Path, ws: &Workspace) -> Option<Symbolizer> {
    match Symbolizer::load(kernel, Some(&ws.root)) {
        Ok(symbols) => Some(symbols),
        Err(err) => {
            eprintln!("warning: {err:#}; faulting addresses will not be named");
            None
        }
    }
}
