//! The benchmark's numbers: the `bench` rows of one boot and the columns
//! derived from them (PROTOCOL.md, "Benchmark"). The terminal table, the
//! JSON, the CSV and the chart all read a `Run`.

use crate::profile::Machine;
use crate::protocol::{BenchError, BenchRow, Event, Transcript};

/// The seed article's loop count (its Table 4): 0xFFFFFF calls.
pub const SEED_COUNT: u64 = 0xFF_FFFF;

/// The paths in the kernel's order; `call` is the ring-3 floor.
pub const CALL: &str = "call";
pub const INT2E: &str = "int2e";
pub const PATHS: [&str; 3] = [INT2E, "sysenter", "syscall"];
pub const BARE: &str = "bare";
pub const NULL: &str = "null";
pub const CREATE_CLOSE: &str = "create_close";
pub const KINDS: [&str; 3] = [BARE, NULL, CREATE_CLOSE];

/// One row with its derived columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub measured: BenchRow,
    /// The median in nanoseconds on one CPU: cycles / TSC MHz * 1000.
    pub ns_per_call: f64,
    /// Operations per second summed over the row's CPUs.
    pub calls_per_sec: f64,
    /// Seconds for `SEED_COUNT` operations at `calls_per_sec`.
    pub seed_count_secs: f64,
    /// int 2e's median / this row's (same kind and CPUs); `None` for int 2e
    /// itself, for `call`, and when int 2e's row is missing.
    pub speedup_vs_int2e: Option<f64>,
    /// On a 2-CPU row: its calls/s / the 1-CPU row's of the same path and kind.
    pub scaling: Option<f64>,
}

/// One benchmark boot, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub machine: Machine,
    pub tsc_khz: u64,
    /// What the kernel ran per row: `batches` × operations per batch.
    pub iterations: u64,
    pub batches: u64,
    /// Whether the kernel timed SYSENTER (`sysenter=1`: an Intel profile).
    pub sysenter: Option<bool>,
    pub rows: Vec<Row>,
    pub errors: Vec<BenchError>,
    /// Remarks on the lines themselves (repeats, ...).
    pub notes: Vec<String>,
}

impl Run {
    /// The rows of a boot. `Err` says why there is no table: no
    /// `info bench` line with a usable `tsc_khz=` (a kernel without the
    /// benchmark, or one that died before it).
    pub fn from_transcript(transcript: &Transcript, machine: &Machine) -> Result<Run, String> {
        let info = transcript
            .events()
            .find_map(|event| match event {
                Event::Info(fields)
                    if fields
                        .0
                        .first()
                        .is_some_and(|(k, v)| k == "bench" && v.is_none()) =>
                {
                    Some(fields)
                }
                _ => None,
            })
            .ok_or("the kernel printed no `info bench` line (does it know lab=bench?)")?;
        let number = |key: &str| info.get(key).and_then(|v| v.parse::<u64>().ok());
        let tsc_khz = number("tsc_khz").filter(|&khz| khz > 0).ok_or_else(|| {
            format!(
                "the kernel's `info bench` line has no usable tsc_khz= (it says {:?}), so cycles \
                 cannot be turned into time",
                info.get("tsc_khz").unwrap_or("nothing")
            )
        })?;
        let mut measured: Vec<BenchRow> = Vec::new();
        let mut errors = Vec::new();
        let mut notes = Vec::new();
        for event in transcript.events() {
            match event {
                Event::Bench(row) => {
                    if measured.iter().any(|r| same_row(r, row)) {
                        notes.push(format!(
                            "the kernel printed path={} kind={} cpus={} twice; the first counts",
                            row.path, row.kind, row.cpus
                        ));
                    } else {
                        measured.push(row.clone());
                    }
                }
                Event::BenchError(error) => errors.push(error.clone()),
                _ => {}
            }
        }
        Ok(Run {
            machine: machine.clone(),
            tsc_khz,
            iterations: number("iterations").unwrap_or_default(),
            batches: number("batches").unwrap_or_default(),
            sysenter: info.get("sysenter").map(|v| v == "1"),
            rows: derive(&measured, tsc_khz as f64 / 1000.0),
            errors,
            notes,
        })
    }

    pub fn tsc_mhz(&self) -> f64 {
        self.tsc_khz as f64 / 1000.0
    }

    pub fn row(&self, path: &str, kind: &str, cpus: u32) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.measured.path == path && r.measured.kind == kind && r.measured.cpus == cpus)
    }
}

fn same_row(a: &BenchRow, b: &BenchRow) -> bool {
    a.path == b.path && a.kind == b.kind && a.cpus == b.cpus
}

/// The derived columns of every row.
pub fn derive(measured: &[BenchRow], tsc_mhz: f64) -> Vec<Row> {
    let find = |path: &str, kind: &str, cpus: u32| {
        measured
            .iter()
            .find(|r| r.path == path && r.kind == kind && r.cpus == cpus)
    };
    let ns = |r: &BenchRow| r.median / tsc_mhz * 1000.0;
    let calls_per_sec = |r: &BenchRow| f64::from(r.cpus.max(1)) * 1e9 / ns(r);
    measured
        .iter()
        .map(|r| {
            let speedup = (r.path != INT2E && r.path != CALL)
                .then(|| find(INT2E, &r.kind, r.cpus))
                .flatten()
                .map(|int2e| int2e.median / r.median);
            let scaling = (r.cpus == 2)
                .then(|| find(&r.path, &r.kind, 1))
                .flatten()
                .map(|one| calls_per_sec(r) / calls_per_sec(one));
            Row {
                measured: r.clone(),
                ns_per_call: ns(r),
                calls_per_sec: calls_per_sec(r),
                seed_count_secs: SEED_COUNT as f64 / calls_per_sec(r),
                speedup_vs_int2e: speedup.filter(|s| s.is_finite()),
                scaling: scaling.filter(|s| s.is_finite()),
            }
        })
        .collect()
}

/// One of issue 6's targets, measured for one path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    pub goal: Goal,
    /// `None` when a row it needs is missing.
    pub value: Option<f64>,
}

impl Target {
    pub fn met(&self) -> Option<bool> {
        self.value.map(|v| self.goal.met(v))
    }
}

/// What issue 6 asks of each path; measured and reported, never asserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// null / bare ≤ 1.3 (1 CPU): the dispatcher adds little.
    NullOverBare,
    /// create_close / null < 3 (1 CPU): the object manager's work per
    /// pair costs less than one more null call.
    CreateCloseOverNull,
    /// 2-CPU create_close calls/s ÷ 1-CPU ≥ 1.9.
    Scaling,
}

impl Goal {
    pub const ALL: [Goal; 3] = [Goal::NullOverBare, Goal::CreateCloseOverNull, Goal::Scaling];

    pub fn label(self) -> &'static str {
        match self {
            Goal::NullOverBare => "null / bare ≤ 1.3",
            Goal::CreateCloseOverNull => "create_close / null < 3",
            Goal::Scaling => "2-CPU create_close scaling ≥ 1.9",
        }
    }

    pub fn met(self, value: f64) -> bool {
        match self {
            Goal::NullOverBare => value <= 1.3,
            Goal::CreateCloseOverNull => value < 3.0,
            Goal::Scaling => value >= 1.9,
        }
    }

    pub fn measure(self, run: &Run, path: &str) -> Target {
        let median = |kind: &str| run.row(path, kind, 1).map(|r| r.measured.median);
        let ratio = |top: Option<f64>, bottom: Option<f64>| {
            top.zip(bottom)
                .map(|(t, b)| t / b)
                .filter(|v| v.is_finite())
        };
        let value = match self {
            Goal::NullOverBare => ratio(median(NULL), median(BARE)),
            Goal::CreateCloseOverNull => ratio(median(CREATE_CLOSE), median(NULL)),
            Goal::Scaling => run.row(path, CREATE_CLOSE, 2).and_then(|r| r.scaling),
        };
        Target { goal: self, value }
    }
}

/// The paths the run has rows for, in the kernel's order (without `call`).
pub fn measured_paths(run: &Run) -> Vec<&'static str> {
    PATHS
        .into_iter()
        .filter(|p| run.rows.iter().any(|r| r.measured.path == *p))
        .collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::profile::{Accel, Profile};

    pub fn row(path: &str, kind: &str, cpus: u32, median: f64) -> BenchRow {
        BenchRow {
            path: path.into(),
            kind: kind.into(),
            cpus,
            median,
            min: median * 9.0 / 10.0,
            max: median * 12.0 / 10.0,
            n: 10_000,
            batches: 9,
        }
    }

    pub fn machine() -> Machine {
        Machine {
            profile: Profile::Intel,
            accel: Accel::Tcg,
            smp: 2,
        }
    }

    /// A crafted run at 2000 MHz, so that 1 cycle = 0.5 ns.
    pub fn run() -> Run {
        let measured = vec![
            row("call", "bare", 1, 20.0),
            row("int2e", "bare", 1, 600.0),
            row("int2e", "null", 1, 1200.0),
            row("int2e", "create_close", 1, 3000.0),
            row("syscall", "bare", 1, 100.0),
            row("syscall", "null", 1, 120.0),
            row("syscall", "create_close", 1, 400.0),
            row("call", "bare", 2, 20.0),
            row("int2e", "create_close", 2, 3000.0),
            row("syscall", "create_close", 2, 500.0),
        ];
        Run {
            machine: machine(),
            tsc_khz: 2_000_000,
            iterations: 90_000,
            batches: 9,
            sysenter: Some(false),
            rows: derive(&measured, 2000.0),
            errors: vec![],
            notes: vec![],
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn derived_columns() {
        let run = run();
        let call = run.row("call", "bare", 1).unwrap();
        assert!(close(call.ns_per_call, 10.0));
        assert!(close(call.calls_per_sec, 1e8));
        assert!(close(call.seed_count_secs, SEED_COUNT as f64 / 1e8));
        assert_eq!((call.speedup_vs_int2e, call.scaling), (None, None));

        let int2e = run.row("int2e", "null", 1).unwrap();
        assert!(close(int2e.ns_per_call, 600.0));
        assert_eq!(int2e.speedup_vs_int2e, None);

        let sc = run.row("syscall", "null", 1).unwrap();
        assert!(close(sc.ns_per_call, 60.0));
        assert!(close(sc.speedup_vs_int2e.unwrap(), 10.0));
        assert_eq!(sc.scaling, None);

        // Two CPUs at 500 cycles each: 2 * 1e9 / 250 ns calls/s, 1.6 times
        // the one CPU's 1e9 / 200 ns; int 2e on 2 CPUs is 6 times slower.
        let sc2 = run.row("syscall", "create_close", 2).unwrap();
        assert!(close(sc2.calls_per_sec, 8e6));
        assert!(close(sc2.scaling.unwrap(), 1.6));
        assert!(close(sc2.speedup_vs_int2e.unwrap(), 6.0));
        assert!(close(sc2.seed_count_secs, SEED_COUNT as f64 / 8e6));
        let int2e2 = run.row("int2e", "create_close", 2).unwrap();
        assert!(close(int2e2.scaling.unwrap(), 2.0));
        // No 1-CPU row to scale against, no int 2e row to compare with.
        let lone = derive(&[row("syscall", "null", 2, 100.0)], 1000.0);
        assert_eq!((lone[0].scaling, lone[0].speedup_vs_int2e), (None, None));
    }

    #[test]
    fn targets_are_measured_per_path() {
        let run = run();
        let t = |goal: Goal, path| goal.measure(&run, path);
        assert_eq!(t(Goal::NullOverBare, "int2e").value, Some(2.0));
        assert_eq!(t(Goal::NullOverBare, "int2e").met(), Some(false));
        assert!(close(t(Goal::NullOverBare, "syscall").value.unwrap(), 1.2));
        assert_eq!(t(Goal::NullOverBare, "syscall").met(), Some(true));
        assert_eq!(t(Goal::CreateCloseOverNull, "int2e").value, Some(2.5));
        assert_eq!(t(Goal::CreateCloseOverNull, "int2e").met(), Some(true));
        assert_eq!(t(Goal::Scaling, "int2e").met(), Some(true));
        assert_eq!(t(Goal::Scaling, "syscall").met(), Some(false));
        assert_eq!(t(Goal::Scaling, "sysenter").value, None);
        assert_eq!(t(Goal::Scaling, "sysenter").met(), None);
        assert_eq!(measured_paths(&run), ["int2e", "syscall"]);
        assert!(Goal::NullOverBare.met(1.3) && !Goal::CreateCloseOverNull.met(3.0));
        assert!(Goal::Scaling.met(1.9));
    }

    #[test]
    fn a_run_from_serial_lines() {
        let n = "0123456789abcdef";
        let log = format!(
            "boot\n\
             @@syslab {n} info bench tsc_khz=2455843 iterations=90000 batches=9 sysenter=1\n\
             @@syslab {n} bench path=call kind=bare cpus=1 median=73.5 min=66.3 max=76.6 n=10000 batches=9\n\
             @@syslab {n} bench path=call kind=bare cpus=1 median=99 min=66.3 max=176.6 n=10000 batches=9\n\
             @@syslab {n} bench-error path=sysenter kind=null cpus=2 CPU 1: the benchmark thread faulted\n\
             @@syslab {n} done\n"
        );
        let run = Run::from_transcript(&Transcript::parse(log.as_bytes(), n), &machine()).unwrap();
        assert_eq!(run.tsc_khz, 2_455_843);
        assert!(close(run.tsc_mhz(), 2455.843));
        assert_eq!(
            (run.iterations, run.batches, run.sysenter),
            (90_000, 9, Some(true))
        );
        assert_eq!(run.rows.len(), 1);
        assert_eq!(run.rows[0].measured.median, 73.5);
        assert_eq!(run.errors.len(), 1);
        assert_eq!(run.errors[0].message, "CPU 1: the benchmark thread faulted");
        assert!(run.notes[0].contains("twice"));

        let none = Transcript::parse(format!("@@syslab {n} done\n").as_bytes(), n);
        assert!(
            Run::from_transcript(&none, &machine())
                .unwrap_err()
                .contains("no `info bench`")
        );
        let zero = Transcript::parse(format!("@@syslab {n} info bench tsc_khz=0\n").as_bytes(), n);
        assert!(
            Run::from_transcript(&zero, &machine())
                .unwrap_err()
                .contains("tsc_khz")
        );
    }
}
