//! `summary.md`: the class at a glance, with the score histogram as an SVG
//! (`histogram.svg`, drawn with plotters), the tests most often failed,
//! the submissions not graded and the flags.

use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use super::results::{Graded, most_failed};

/// The histogram's file name, beside summary.md.
pub const HISTOGRAM: &str = "histogram.svg";
/// Bars in the histogram: tenths of the maximum score.
const BINS: usize = 10;
const FONT: &str = "sans-serif";

/// How many students fall in each tenth of `max` (the last bin holds full
/// marks too).
pub fn bins(class: &[Graded], max: u32) -> [usize; BINS] {
    let mut counts = [0; BINS];
    for g in class {
        let earned = g.total().earned;
        let bin = if max == 0 {
            0
        } else {
            (earned as usize * BINS / max as usize).min(BINS - 1)
        };
        counts[bin] += 1;
    }
    counts
}

/// The label of bin `i`: `0–9`, ..., `90–100` (in points).
fn bin_label(i: usize, max: u32) -> String {
    let low = i * max as usize / BINS;
    let high = if i == BINS - 1 {
        max as usize
    } else {
        ((i + 1) * max as usize / BINS).saturating_sub(1).max(low)
    };
    format!("{low}–{high}")
}

/// The histogram as SVG text.
pub fn histogram(class: &[Graded], max: u32) -> Result<String> {
    let counts = bins(class, max);
    let mut svg = String::new();
    draw(&counts, max, &mut svg).map_err(|e| anyhow!("cannot draw the histogram: {e}"))?;
    Ok(svg)
}

fn draw(
    counts: &[usize; BINS],
    max: u32,
    svg: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (800, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Scores (out of {max})"), (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0..BINS, 0..top + 1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(BINS)
        .x_label_formatter(&|i| {
            if *i < BINS {
                bin_label(*i, max)
            } else {
                String::new()
            }
        })
        .x_desc("points")
        .y_desc("students")
        .y_label_formatter(&|v| v.to_string())
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 12))
        .draw()?;
    let colour = RGBColor(31, 119, 180);
    chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
        let mut bar = Rectangle::new([(i, 0), (i + 1, n)], colour.filled());
        bar.set_margin(0, 0, 4, 4);
        bar
    }))?;
    root.present()?;
    Ok(())
}

/// summary.md's text. `what` says how the class was graded (machine, labs).
pub fn markdown(class: &[Graded], max: u32, what: &str, seconds: f64) -> String {
    let mut md = String::from("# Batch results\n\n");
    let graded = class.iter().filter(|g| g.refusal.is_none()).count();
    let _ = writeln!(
        md,
        "{} submissions ({graded} graded, {} not), {what}, in {seconds:.0} s.\n",
        class.len(),
        class.len() - graded
    );
    if !class.is_empty() {
        let mut totals: Vec<u32> = class.iter().map(|g| g.total().earned).collect();
        totals.sort_unstable();
        let median = totals[totals.len() / 2];
        let full = class.iter().filter(|g| g.total().full_marks).count();
        let _ = writeln!(
            md,
            "Median {median} of {max}; {full} with full marks.\n\n![Score histogram]({HISTOGRAM})\n"
        );
        md.push_str("| points | students |\n|---|---|\n");
        for (i, n) in bins(class, max).iter().enumerate() {
            let _ = writeln!(md, "| {} | {n} |", bin_label(i, max));
        }
        md.push('\n');
    }
    let failed = most_failed(class);
    if !failed.is_empty() {
        md.push_str("## Tests most often failed\n\n| test | failed | of |\n|---|---|---|\n");
        for (name, n, of) in failed.iter().take(15) {
            let _ = writeln!(md, "| `{name}` | {n} | {of} |");
        }
        md.push('\n');
    }
    let refused: Vec<&Graded> = class.iter().filter(|g| g.refusal.is_some()).collect();
    if !refused.is_empty() {
        md.push_str("## Not graded\n\n");
        for g in refused {
            let reason = g.refusal.as_deref().unwrap_or_default();
            let _ = writeln!(
                md,
                "- **{}**: {}",
                g.name,
                reason.lines().next().unwrap_or_default()
            );
        }
        md.push('\n');
    }
    let flagged: Vec<&Graded> = class.iter().filter(|g| !g.flags.is_empty()).collect();
    if !flagged.is_empty() {
        md.push_str(
            "## Flags\n\nFiles outside the students' own, graded as the course has them:\n\n",
        );
        for g in flagged {
            for flag in &g.flags {
                let _ = writeln!(md, "- {}: {flag}", g.name);
            }
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::results::tests::graded;

    #[test]
    fn bins_split_the_maximum_in_tenths() {
        let class = [
            graded("a", &[]),
            graded("b", &["lab1.gate"]),
            graded("c", &["lab1.gate", "lab1.null_call"]),
        ];
        // Out of 15: 0, 5 and 15 points.
        assert_eq!(bins(&class, 15), [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(bin_label(0, 100), "0–9");
        assert_eq!(bin_label(9, 100), "90–100");
        assert_eq!(bins(&class, 0)[0], 3);
    }

    #[test]
    fn the_summary_has_the_histogram_the_failures_and_the_flags() {
        let mut a = graded("alice", &["lab1.gate"]);
        a.flags
            .push("modified kernel/src/test/lab1.rs: ignored".into());
        let mut b = graded("bob", &[]);
        b.refusal = Some("refused: adds a build script, kernel/build.rs".into());
        let class = [a, b, graded("carol", &["lab1.gate", "lab1.null_call"])];
        let md = markdown(&class, 15, "lab1 on intel, tcg, -smp 2", 12.0);
        assert!(md.contains("3 submissions (2 graded, 1 not)"), "{md}");
        assert!(md.contains("![Score histogram](histogram.svg)"), "{md}");
        assert!(md.contains("| `lab1.null_call` | 1 | 2 |"), "{md}");
        assert!(
            md.contains("- **bob**: refused: adds a build script"),
            "{md}"
        );
        assert!(
            md.contains("- alice: modified kernel/src/test/lab1.rs: ignored"),
            "{md}"
        );
        let svg = histogram(&class, 15).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("Scores (out of 15)"),
            "{svg}"
        );
    }
}
