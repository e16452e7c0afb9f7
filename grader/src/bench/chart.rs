//! `--svg`: the benchmark's charts, drawn with plotters' SVG backend (no
//! system fonts: the text goes into the SVG as `<text>` elements).
//!
//! The rows: one group per path and kind, with a bar for 1 CPU and one for
//! 2 CPUs: the median cycles (or instructions) per operation on a log scale
//! (the rows span 4 to 30 000), a whisker from min to max, and the median
//! above it. The anatomy: one group per service, a bar per path, each bar
//! stacked from its eight phases.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::bench::anatomy::Anatomy;
use crate::bench::phases::Phase;
use crate::bench::table::{CALL, KINDS, PATHS, Run, Unit};
use crate::profile::{Accel, Machine};

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 640;
const FONT: &str = "sans-serif";
/// Bar colours for 1 and 2 CPUs (matplotlib's first two: they print in grey
/// too, and read for the common colour blindnesses).
const SERIES: [(u32, RGBColor, &str); 2] = [
    (1, RGBColor(31, 119, 180), "1 CPU"),
    (2, RGBColor(255, 127, 14), "2 CPUs (at once)"),
];
/// The width of one bar, in x units (a group is 1 unit wide).
const BAR: f64 = 0.36;
/// The extra space between two paths' groups.
const PATH_GAP: f64 = 0.6;

/// One group of bars: a path and kind at an x position.
struct Group {
    path: &'static str,
    kind: &'static str,
    x: f64,
}

/// The groups the run has rows for, in the table's order.
fn groups(run: &Run) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut x = 0.0;
    let mut previous: Option<&str> = None;
    let order = std::iter::once((CALL, "bare")).chain(
        PATHS
            .iter()
            .flat_map(|p| KINDS.iter().map(move |k| (*p, *k))),
    );
    for (path, kind) in order {
        if !run
            .rows
            .iter()
            .any(|r| r.measured.path == path && r.measured.kind == kind)
        {
            continue;
        }
        if let Some(prev) = previous {
            x += 1.0;
            if prev != path {
                x += PATH_GAP;
            }
        }
        previous = Some(path);
        groups.push(Group { path, kind, x });
    }
    groups
}

/// `26.1k`, `975`, `68.2`: a median short enough to sit above its bar.
fn short(cycles: f64) -> String {
    if cycles >= 10_000.0 {
        format!("{:.1}k", cycles / 1000.0)
    } else if cycles >= 100.0 {
        format!("{cycles:.0}")
    } else {
        format!("{cycles:.1}")
    }
}

/// The powers of ten around `[low, high]`.
fn decades(low: f64, high: f64) -> (f64, f64) {
    let low = low.max(1.0);
    let high = high.max(low * 10.0);
    (
        10f64.powf(low.log10().floor()),
        10f64.powf(high.log10().ceil()),
    )
}

fn title(what: &str, m: &Machine) -> String {
    format!(
        "syslab {what}: {}, {} (-cpu {})",
        m.profile.label(),
        m.accel.as_str(),
        m.profile.cpu_arg(m.accel)
    )
}

fn subtitle(run: &Run) -> String {
    let code = match run.rows.first().map(|r| r.measured.bits) {
        Some(32) => "32-bit code, ",
        _ => "",
    };
    let text = match run.unit {
        Unit::Cycles => {
            let mut text = format!(
                "median TSC cycles per operation over {} batches (whiskers: min–max), TSC {:.0} \
                 MHz, {} operations per row",
                run.batches,
                run.tsc_mhz(),
                run.iterations
            );
            if run.machine.accel == Accel::Tcg {
                text.push_str("; TCG: the emulator's cycles, not the CPU's");
            }
            text
        }
        Unit::Instructions => format!(
            "guest instructions per operation, counted under -icount on one CPU (exact), {} \
             operations per row",
            run.iterations
        ),
    };
    format!("{code}{text}")
}

fn y_desc(unit: Unit) -> &'static str {
    match unit {
        Unit::Cycles => "median TSC cycles per operation (log scale)",
        Unit::Instructions => "instructions per operation (log scale)",
    }
}

/// Black text of `size`, centred, anchored at its top or bottom edge.
fn text_style(size: u32, bold: bool, v: VPos) -> TextStyle<'static> {
    let font = (FONT, size).into_font();
    let font = if bold {
        font.style(FontStyle::Bold)
    } else {
        font
    };
    font.color(&BLACK).pos(Pos::new(HPos::Center, v))
}

/// The title and the subtitle, centred at the top.
fn heading(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: String,
    subtitle: String,
) -> Result<(), Box<dyn std::error::Error>> {
    root.draw(&Text::new(
        title,
        (WIDTH as i32 / 2, 12),
        (FONT, 22)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    root.draw(&Text::new(
        subtitle,
        (WIDTH as i32 / 2, 42),
        (FONT, 13)
            .into_font()
            .color(&RGBColor(80, 80, 80))
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    Ok(())
}

/// The chart as SVG text.
pub fn render(run: &Run) -> Result<String> {
    let mut svg = String::new();
    draw(run, &mut svg).map_err(|e| anyhow!("{e}"))?;
    Ok(svg)
}

/// The chart of one kind of caller: the 32-bit rows (the article's own
/// instructions) when the run has them, else the 64-bit ones.
pub fn write(path: &Path, run: &Run) -> Result<()> {
    let bits = if run.has_bits(32) { 32 } else { 64 };
    let svg = render(&run.of_bits(bits)).context("cannot draw the benchmark chart")?;
    std::fs::write(path, svg)
        .with_context(|| format!("cannot write the benchmark chart to {}", path.display()))
}

fn draw(run: &Run, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let groups = groups(run);
    if groups.is_empty() {
        return Err("there are no rows to draw".into());
    }
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    heading(&root, title("bench", &run.machine), subtitle(run))?;
    let plot = root.margin(66, 12, 12, 20);

    let low = run
        .rows
        .iter()
        .map(|r| r.measured.min)
        .fold(f64::INFINITY, f64::min);
    let high = run.rows.iter().map(|r| r.measured.max).fold(0.0, f64::max);
    let (y_low, y_high) = decades(low, high * 1.6);
    let x_last = groups.last().map_or(0.0, |g| g.x);

    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(62)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.6..x_last + 0.6, (y_low..y_high).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc(run.unit))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;

    // Side by side when both CPU counts have rows, else centred.
    let both = SERIES
        .iter()
        .all(|(cpus, _, _)| run.rows.iter().any(|r| r.measured.cpus == *cpus));
    for (i, (cpus, colour, label)) in SERIES.into_iter().enumerate() {
        let offset = match (both, i) {
            (false, _) => 0.0,
            (true, 0) => -BAR / 2.0,
            (true, _) => BAR / 2.0,
        };
        let bars: Vec<(f64, &crate::bench::table::Row)> = groups
            .iter()
            .filter_map(|g| {
                run.rows
                    .iter()
                    .find(|r| {
                        let m = &r.measured;
                        m.path == g.path && m.kind == g.kind && m.cpus == cpus
                    })
                    .map(|row| (g.x + offset, row))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        chart
            .draw_series(bars.iter().map(|(x, row)| {
                Rectangle::new(
                    [
                        (x - BAR / 2.0 + 0.02, y_low),
                        (x + BAR / 2.0 - 0.02, row.measured.median),
                    ],
                    colour.filled(),
                )
            }))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        // The whiskers: min to max, with caps.
        let whisker = BLACK.stroke_width(1);
        let cap = BAR / 5.0;
        chart.draw_series(bars.iter().flat_map(|(x, row)| {
            let (lo, hi) = (row.measured.min, row.measured.max);
            [
                PathElement::new(vec![(*x, lo), (*x, hi)], whisker),
                PathElement::new(vec![(x - cap, lo), (x + cap, lo)], whisker),
                PathElement::new(vec![(x - cap, hi), (x + cap, hi)], whisker),
            ]
        }))?;
        chart.draw_series(bars.iter().map(|(x, row)| {
            Text::new(
                short(row.measured.median),
                (*x, row.measured.max * 1.12),
                text_style(11, false, VPos::Bottom),
            )
        }))?;
    }

    // The x labels, drawn by hand: each kind under its group, each path
    // under its kinds, and a line between paths.
    let kind_style = text_style(13, false, VPos::Top);
    let path_style = text_style(15, true, VPos::Top);
    for g in &groups {
        let (px, py) = chart.backend_coord(&(g.x, y_low));
        root.draw(&Text::new(g.kind, (px, py + 8), kind_style.clone()))?;
    }
    let mut start = 0;
    while start < groups.len() {
        let path = groups[start].path;
        let end = groups[start..]
            .iter()
            .position(|g| g.path != path)
            .map_or(groups.len(), |n| start + n);
        let middle = (groups[start].x + groups[end - 1].x) / 2.0;
        let (px, py) = chart.backend_coord(&(middle, y_low));
        let name = if path == CALL {
            "call (ring-3 floor)"
        } else {
            path
        };
        root.draw(&Text::new(name, (px, py + 28), path_style.clone()))?;
        if end < groups.len() {
            let between = (groups[end - 1].x + groups[end].x) / 2.0;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(between, y_low), (between, y_high)],
                RGBColor(170, 170, 170).stroke_width(1),
            )))?;
        }
        start = end;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(170, 170, 170))
        .draw()?;
    root.present()?;
    Ok(())
}

/// The phases' colours, bottom of a bar to top: the ring-3 side in greys,
/// the instructions in black, the kernel's software in Tableau's colours.
const PHASE_COLOURS: [RGBColor; 8] = [
    RGBColor(180, 180, 180), // user stub
    RGBColor(20, 20, 20),    // entry instruction
    RGBColor(31, 119, 180),  // entry stub
    RGBColor(255, 127, 14),  // dispatcher
    RGBColor(44, 160, 44),   // service
    RGBColor(214, 39, 40),   // exit decision
    RGBColor(148, 103, 189), // exit stub
    RGBColor(20, 20, 20),    // exit instruction
];

/// `--anatomy --svg`: a stacked bar of phases per path, grouped by service.
pub fn render_anatomy(a: &Anatomy, machine: &Machine) -> Result<String> {
    let mut svg = String::new();
    draw_anatomy(a, machine, &mut svg).map_err(|e| anyhow!("{e}"))?;
    Ok(svg)
}

pub fn write_anatomy(path: &Path, a: &Anatomy, machine: &Machine) -> Result<()> {
    let svg = render_anatomy(a, machine).context("cannot draw the anatomy chart")?;
    std::fs::write(path, svg)
        .with_context(|| format!("cannot write the anatomy chart to {}", path.display()))
}

fn draw_anatomy(
    a: &Anatomy,
    machine: &Machine,
    svg: &mut String,
) -> Result<(), Box<dyn std::error::Error>> {
    let paths = a.paths();
    let services = a.services();
    if paths.is_empty() || services.is_empty() {
        return Err("there are no calls to draw".into());
    }
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    heading(
        &root,
        title("anatomy", machine),
        "instructions of one call, phase by phase, single-stepped through QEMU's gdb stub".into(),
    )?;
    let plot = root.margin(66, 12, 12, 20);
    // One unit per bar, a gap of one between services.
    let slot = |s: usize, p: usize| (s * (paths.len() + 1) + p) as f64;
    let x_end = slot(services.len() - 1, paths.len() - 1) + 0.5;
    let high = a
        .calls
        .iter()
        .map(|c| c.cut.counts.total())
        .max()
        .unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .x_label_area_size(62)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.6..x_end + 0.1, 0.0..high * 1.12)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("instructions")
        .y_max_light_lines(1)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(200, 200, 200))
        .draw()?;
    for (i, phase) in Phase::ALL.into_iter().enumerate() {
        let colour = PHASE_COLOURS[i];
        let mut bars = Vec::new();
        for (s, service) in services.iter().enumerate() {
            for (p, path) in paths.iter().enumerate() {
                let Some(counts) = a.counts(service, path) else {
                    continue;
                };
                let below: u64 = Phase::ALL[..i].iter().map(|q| counts.get(*q)).sum();
                let n = counts.get(phase);
                if n > 0 {
                    let x = slot(s, p);
                    bars.push(Rectangle::new(
                        [(x - 0.4, below as f64), (x + 0.4, (below + n) as f64)],
                        colour.filled(),
                    ));
                }
            }
        }
        chart
            .draw_series(bars)?
            .label(phase.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    // Totals above the bars, paths under them, services under the paths.
    let small = text_style(12, false, VPos::Bottom);
    let under = text_style(13, false, VPos::Top);
    let bold = text_style(15, true, VPos::Top);
    for (s, service) in services.iter().enumerate() {
        for (p, path) in paths.iter().enumerate() {
            let x = slot(s, p);
            if let Some(counts) = a.counts(service, path) {
                let total = counts.total() as f64;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{total:.0}"),
                    (x, total + high * 0.01),
                    small.clone(),
                )))?;
            }
            let (px, py) = chart.backend_coord(&(x, 0.0));
            root.draw(&Text::new(*path, (px, py + 8), under.clone()))?;
        }
        let middle = (slot(s, 0) + slot(s, paths.len() - 1)) / 2.0;
        let (px, py) = chart.backend_coord(&(middle, 0.0));
        root.draw(&Text::new(*service, (px, py + 28), bold.clone()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(170, 170, 170))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::run;

    #[test]
    fn the_svg_has_a_title_bars_and_labels() {
        let svg = render(&run()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("syslab bench: intel, tcg (-cpu qemu64,vendor=GenuineIntel)"));
        assert!(
            svg.contains("the emulator&apos;s cycles") || svg.contains("the emulator's cycles")
        );
        assert!(svg.contains("median TSC cycles per operation (log scale)"));
        for text in [
            "1 CPU",
            "2 CPUs (at once)",
            "create_close",
            "int2e",
            "syscall",
        ] {
            assert!(svg.contains(text), "{text}");
        }
        assert!(
            !svg.contains("sysenter"),
            "no sysenter rows, no sysenter group"
        );
        assert!(svg.matches("<rect").count() >= 10);
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn the_anatomy_has_a_stacked_bar_per_path() {
        let a = crate::bench::anatomy::tests::anatomy();
        let svg = render_anatomy(&a, &crate::bench::anatomy::tests::machine()).unwrap();
        assert!(svg.contains("syslab anatomy: intel, tcg"));
        for text in [
            "NtNull",
            "int2e",
            "syscall",
            "exit decision",
            "user stub",
            "58",
            "69",
        ] {
            assert!(svg.contains(text), "{text}");
        }
        // A rectangle per non-empty phase of each bar (7 + 8), and the legend's 8.
        assert!(svg.matches("<rect").count() >= 7 + 8 + 8);
    }

    #[test]
    fn an_instructions_chart_says_so() {
        let mut r = run();
        r.unit = Unit::Instructions;
        let svg = render(&r).unwrap();
        assert!(svg.contains("instructions per operation (log scale)"));
        assert!(!svg.contains("TSC"));
    }

    #[test]
    fn writes_the_file() {
        let path = std::env::temp_dir().join(format!("syslab-bench-{}.svg", std::process::id()));
        write(&path, &run()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("syslab bench"));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn groups_skip_missing_rows_and_space_paths() {
        let g = groups(&run());
        let names: Vec<(&str, &str)> = g.iter().map(|g| (g.path, g.kind)).collect();
        assert_eq!(names[0], ("call", "bare"));
        assert_eq!(names.len(), 7);
        assert_eq!(g[1].x, 1.0 + PATH_GAP);
        assert_eq!(g[2].x, 2.0 + PATH_GAP);
        assert_eq!(short(26_115.0), "26.1k");
        assert_eq!(short(975.2), "975");
        assert_eq!(short(68.24), "68.2");
        assert_eq!(decades(68.0, 26_000.0), (10.0, 100_000.0));
    }
}
