//! The article's Table 4, and this run's rows for the same loop beside it.
//!
//! The article timed 0xFFFFFF calls of `CreateMutex` on a dual Pentium III
//! at 800 MHz: 4 minutes on Windows 2000 SP4 (`int 2e`), 1 minute 30 seconds
//! on Windows XP SP0 (SYSENTER), 2.67 times faster. The benchmark's
//! `create_close` rows run the same loop (with a `CloseHandle` after each
//! `CreateMutex`) through each path, and its 32-bit rows run it through the
//! article's own instructions: Windows 2000's `int 2e` stub and XP's
//! SYSENTER stub. On one CPU, as the article's single thread did, a cycles
//! run gives the time for 0xFFFFFF pairs and an instructions run the
//! software each pair executes.

use crate::bench::table::{CREATE_CLOSE, INT2E, PATHS, Run, SYSCALL, SYSENTER, Unit};

/// The machine both of the article's rows were measured on.
pub const MACHINE: &str = "dual Pentium III, 800 MHz";

/// One row of the article's Table 4.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArticleRow {
    /// The benchmark's name for the path the system used.
    pub path: &'static str,
    pub system: &'static str,
    /// The wall-clock time of the 0xFFFFFF calls.
    pub secs: f64,
}

/// The article's Table 4.
pub const TABLE_4: [ArticleRow; 2] = [
    ArticleRow {
        path: INT2E,
        system: "Windows 2000 SP4",
        secs: 240.0,
    },
    ArticleRow {
        path: SYSENTER,
        system: "Windows XP SP0",
        secs: 90.0,
    },
];

/// How the article and the report name a path.
pub fn way_in(path: &str) -> &'static str {
    match path {
        INT2E => "int 2e",
        SYSENTER => "SYSENTER",
        SYSCALL => "SYSCALL",
        _ => "?",
    }
}

/// One path: the article's figure and this run's.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub path: &'static str,
    pub article: Option<ArticleRow>,
    /// Seconds for 0xFFFFFF pairs on 1 CPU, from a cycles run.
    pub secs: Option<f64>,
    /// Instructions per pair on 1 CPU, from an instructions run.
    pub instructions: Option<f64>,
}

/// A fast path against `int 2e`: int 2e's figure ÷ the path's, in each
/// measure that has both.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Speedup {
    pub article: Option<f64>,
    pub secs: Option<f64>,
    pub instructions: Option<f64>,
}

/// The whole comparison: one line per path that the article or the run has.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Whose rows these are: 32-bit callers' (the article's own
    /// instructions) when the run has them, else 64-bit callers'.
    pub bits: u32,
    pub lines: Vec<Line>,
    /// Whether the time column is TCG's (an emulator's) rather than a CPU's.
    pub tcg: bool,
    /// Which of this run's columns exist.
    pub has_secs: bool,
    pub has_instructions: bool,
}

impl Comparison {
    /// `None` when no run has a 1-CPU `create_close` row. The 32-bit rows
    /// when there are any: they run the article's own instructions.
    pub fn of(runs: &[Run]) -> Option<Comparison> {
        let bits = if runs.iter().any(|r| r.has_bits(32)) {
            32
        } else {
            64
        };
        let pair = |unit: Unit, path: &str| {
            runs.iter()
                .filter(|r| r.unit == unit)
                .find_map(|r| r.row(bits, path, CREATE_CLOSE, 1))
        };
        let lines: Vec<Line> = PATHS
            .into_iter()
            .map(|path| Line {
                path,
                article: TABLE_4.into_iter().find(|a| a.path == path),
                secs: pair(Unit::Cycles, path).map(|r| r.article_count_secs),
                instructions: pair(Unit::Instructions, path).map(|r| r.measured.median),
            })
            .filter(|l| l.article.is_some() || l.secs.is_some() || l.instructions.is_some())
            .collect();
        let has_secs = lines.iter().any(|l| l.secs.is_some());
        let has_instructions = lines.iter().any(|l| l.instructions.is_some());
        (has_secs || has_instructions).then(|| Comparison {
            bits,
            lines,
            tcg: runs
                .iter()
                .any(|r| r.machine.accel == crate::profile::Accel::Tcg),
            has_secs,
            has_instructions,
        })
    }

    fn line(&self, path: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.path == path)
    }

    /// `path` against `int 2e`.
    pub fn speedup(&self, path: &str) -> Speedup {
        let (Some(int2e), Some(fast)) = (self.line(INT2E), self.line(path)) else {
            return Speedup::default();
        };
        let ratio =
            |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b).filter(|r| r.is_finite());
        Speedup {
            article: ratio(int2e.article.map(|a| a.secs), fast.article.map(|a| a.secs)),
            secs: ratio(int2e.secs, fast.secs),
            instructions: ratio(int2e.instructions, fast.instructions),
        }
    }
}

/// What can be compared with the article under TCG and what cannot: the
/// report prints it under the comparison, and the book says the same.
pub const TCG_NOTE: [&str; 3] = [
    "under TCG, compare the order of the paths and the software each one runs (its instructions)",
    "not the entry instructions' own cost: TCG emulates int, sysenter and syscall in C, and an \
     instruction count counts each of them once; nor any 2-CPU scaling of int 0x2e, which QEMU \
     delivers under its global lock",
    "the article also compared two versions of Windows; syslab runs one kernel three ways, and its \
     loop closes each handle it creates",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::derive;
    use crate::bench::table::tests::{row, run_of};

    fn run(unit: Unit, rows: &[(&str, f64)]) -> Run {
        let measured: Vec<_> = rows
            .iter()
            .map(|(path, median)| row(path, CREATE_CLOSE, 1, *median))
            .collect();
        run_of(unit, &measured, 1000.0)
    }

    #[test]
    fn the_article_s_ratio() {
        let c = Comparison::of(&[run(Unit::Cycles, &[(INT2E, 1000.0)])]).unwrap();
        let s = c.speedup(SYSENTER);
        assert!((s.article.unwrap() - 240.0 / 90.0).abs() < 1e-12);
        assert_eq!(format!("{:.2}", s.article.unwrap()), "2.67");
        assert_eq!((s.secs, s.instructions), (None, None), "no sysenter row");
        assert_eq!(
            c.speedup(SYSCALL),
            Speedup::default(),
            "the article has no SYSCALL"
        );
    }

    #[test]
    fn time_and_instructions_side_by_side() {
        // 1 GHz: 2000 cycles per pair is 2 µs, so 0xFFFFFF pairs take 33.6 s.
        let cycles = run(
            Unit::Cycles,
            &[(INT2E, 2000.0), (SYSENTER, 1600.0), (SYSCALL, 1000.0)],
        );
        let instructions = run(
            Unit::Instructions,
            &[(INT2E, 600.0), (SYSENTER, 700.0), (SYSCALL, 500.0)],
        );
        let c = Comparison::of(&[cycles, instructions]).unwrap();
        assert!(c.has_secs && c.has_instructions && c.tcg);
        assert_eq!(c.lines.len(), 3);
        let int2e = &c.lines[0];
        assert_eq!(int2e.article.unwrap().system, "Windows 2000 SP4");
        assert!((int2e.secs.unwrap() - 0xFF_FFFF as f64 * 2e-6).abs() < 1e-9);
        assert_eq!(int2e.instructions, Some(600.0));
        assert_eq!(c.lines[2].article, None);
        let s = c.speedup(SYSENTER);
        assert!((s.secs.unwrap() - 1.25).abs() < 1e-12);
        assert!((s.instructions.unwrap() - 600.0 / 700.0).abs() < 1e-12);
        assert!((c.speedup(SYSCALL).secs.unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_compare_without_create_close_rows() {
        let mut r = run(Unit::Cycles, &[]);
        assert_eq!(Comparison::of(&[r.clone()]), None);
        r.rows = derive(&[row(INT2E, "null", 1, 100.0)], 1000.0);
        assert_eq!(Comparison::of(&[r]), None);
        assert_eq!(way_in(SYSENTER), "SYSENTER");
    }
}
