//! `cargo grader [LAB ...]`: check the tools, build, grade each lab, report.

use std::io::Write;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use crate::builder::Variant;
use crate::cli::Grade;
use crate::exit;
use crate::paths::{Workspace, show};
use crate::report::{self, Styles};
use crate::runner::{self, Settings};
use crate::score;
use crate::symbolize::Symbolizer;
use crate::{answers, builder, gradescope, hosttests, preflight};

pub fn run(g: Grade) -> Result<u8> {
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_accel(g.target.machine.accel)?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, g.target.variant)?;
    let symbolizer = load_symbols(&images.kernel, &ws);

    let settings = Settings {
        ws: &ws,
        images: &images,
        machine: &g.target.machine,
        timeout_secs: g.timeout_secs,
        inject: g.target.inject,
        verbose: g.verbose,
        symbolizer: symbolizer.as_ref(),
    };
    let styles = Styles::for_stdout();
    let mut out = std::io::stdout().lock();
    let mut labs = Vec::new();
    for &lab in &g.labs {
        let spinner = if g.verbose {
            ProgressBar::hidden()
        } else {
            crate::report::spinner(format!("grading {lab} ({})", g.target.machine))
        };
        let scored = runner::grade_lab(lab, &settings);
        let mut scored = scored?;
        if let Some(plan) = hosttests::planned(lab, &ws, g.target.variant) {
            let outcome = hosttests::run(lab, &ws, g.target.variant);
            let results = std::collections::BTreeMap::from([(plan.name.clone(), outcome)]);
            scored
                .tests
                .extend(score::score_tests(&[plan], &results, "did not run"));
        }
        // The written questions: a note, no points (answers.rs).
        if g.target.variant == Variant::Labs
            && let Some(note) = answers::note(lab, &ws.root)
        {
            scored.notes.push(note);
        }
        spinner.finish_and_clear();
        report::write_lab(&mut out, &scored, &styles).context("cannot write the report")?;
        out.flush().context("cannot write the report")?;
        labs.push(scored);
    }
    let total = score::total(&labs);
    report::write_total(&mut out, &total, &styles).context("cannot write the report")?;
    report::write_first(&mut out, &labs, &styles).context("cannot write the report")?;

    if let Some(path) = &g.json {
        gradescope::write(path, &labs)?;
        eprintln!("wrote the Gradescope results to {}", show(path).display());
    }
    Ok(if total.environment_error {
        exit::NOT_GRADED
    } else if total.full_marks {
        exit::FULL_MARKS
    } else {
        exit::NOT_FULL_MARKS
    })
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
