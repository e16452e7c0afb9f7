//! The benchmark's numbers: the `bench` rows of one boot and the columns
//! derived from them (PROTOCOL.md, "Benchmark"). The terminal table, the
//! JSON, the CSV and the chart all read a `Run`.

use crate::profile::Machine;
use crate::protocol::{BenchError, BenchRow, Event, Fields, Transcript};

/// What the numbers of one boot count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// TSC cycles: under TCG the host's, under KVM the CPU's.
    Cycles,
    /// Guest instructions: the TSC of a boot under `-icount shift=0`, which
    /// advances by one for every instruction the guest executes.
    Instructions,
}

impl Unit {
    /// The value of `count=` on the kernel command line, of `unit=` in the
    /// `info bench` line, and of `"unit"` in the JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Cycles => "cycles",
            Unit::Instructions => "instructions",
        }
    }

    /// The heading of the per-operation column.
    pub fn per_call(self) -> &'static str {
        match self {
            Unit::Cycles => "cycles/call",
            Unit::Instructions => "instructions/call",
        }
    }
}

/// `--count`: which units to measure, one boot each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Count {
    Cycles,
    Instructions,
    Both,
}

impl Count {
    /// The boots to make, in the order the report shows them.
    pub fn units(self) -> &'static [Unit] {
        match self {
            Count::Cycles => &[Unit::Cycles],
            Count::Instructions => &[Unit::Instructions],
            Count::Both => &[Unit::Cycles, Unit::Instructions],
        }
    }
}

/// `--bits`: whose rows to time, 32-bit callers' (the article's own
/// instructions), 64-bit callers', or both (the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bits {
    #[value(name = "32")]
    B32,
    #[value(name = "64")]
    B64,
    Both,
}

impl Bits {
    /// The value of `bits=` on the kernel command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Bits::B32 => "32",
            Bits::B64 => "64",
            Bits::Both => "both",
        }
    }
}

/// The article's loop count (its Table 4): 0xFFFFFF calls.
pub const ARTICLE_COUNT: u64 = 0xFF_FFFF;

/// The paths in the kernel's order; `call` is the ring-3 floor.
pub const CALL: &str = "call";
pub const INT2E: &str = "int2e";
pub const SYSENTER: &str = "sysenter";
pub const SYSCALL: &str = "syscall";
pub const PATHS: [&str; 3] = [INT2E, SYSENTER, SYSCALL];
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
    /// Seconds for `ARTICLE_COUNT` operations at `calls_per_sec`.
    pub article_count_secs: f64,
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
    pub unit: Unit,
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
    /// The rows of a boot that counted `unit`. `Err` says why there is no
    /// table: no `info bench` line with a usable `tsc_khz=` (a kernel
    /// without the benchmark, or one that died before it).
    pub fn from_transcript(
        transcript: &Transcript,
        machine: &Machine,
        unit: Unit,
    ) -> Result<Run, String> {
        let info = bench_info(transcript)
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
        if let Some(said) = info.get("unit")
            && said != unit.as_str()
        {
            notes.push(format!(
                "the grader asked for {} but the kernel says it counted {said}",
                unit.as_str()
            ));
        }
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
            unit,
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

    /// The row of `bits`-bit callers on `path`, `kind`, `cpus`.
    pub fn row(&self, bits: u32, path: &str, kind: &str, cpus: u32) -> Option<&Row> {
        self.rows.iter().find(|r| {
            let m = &r.measured;
            m.bits == bits && m.path == path && m.kind == kind && m.cpus == cpus
        })
    }

    /// Whether the run has rows of `bits`-bit callers.
    pub fn has_bits(&self, bits: u32) -> bool {
        self.rows.iter().any(|r| r.measured.bits == bits)
    }

    /// The same run with only the rows of `bits`-bit callers.
    pub fn of_bits(&self, bits: u32) -> Run {
        let mut run = self.clone();
        run.rows.retain(|r| r.measured.bits == bits);
        run
    }
}

/// The `info bench ...` line's fields.
pub fn bench_info(transcript: &Transcript) -> Option<&Fields> {
    transcript.events().find_map(|event| match event {
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
}

fn same_row(a: &BenchRow, b: &BenchRow) -> bool {
    a.path == b.path && a.kind == b.kind && a.cpus == b.cpus && a.bits == b.bits
}

/// The derived columns of every row; the ratios compare rows of the same
/// callers' mode (`bits`).
pub fn derive(measured: &[BenchRow], tsc_mhz: f64) -> Vec<Row> {
    let find = |path: &str, kind: &str, cpus: u32, bits: u32| {
        measured
            .iter()
            .find(|r| r.path == path && r.kind == kind && r.cpus == cpus && r.bits == bits)
    };
    let ns = |r: &BenchRow| r.median / tsc_mhz * 1000.0;
    let calls_per_sec = |r: &BenchRow| f64::from(r.cpus.max(1)) * 1e9 / ns(r);
    measured
        .iter()
        .map(|r| {
            let speedup = (r.path != INT2E && r.path != CALL)
                .then(|| find(INT2E, &r.kind, r.cpus, r.bits))
                .flatten()
                .map(|int2e| int2e.median / r.median);
            let scaling = (r.cpus == 2)
                .then(|| find(&r.path, &r.kind, 1, r.bits))
                .flatten()
                .map(|one| calls_per_sec(r) / calls_per_sec(one));
            Row {
                measured: r.clone(),
                ns_per_call: ns(r),
                calls_per_sec: calls_per_sec(r),
                article_count_secs: ARTICLE_COUNT as f64 / calls_per_sec(r),
                speedup_vs_int2e: speedup.filter(|s| s.is_finite()),
                scaling: scaling.filter(|s| s.is_finite()),
            }
        })
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
            bits: 64,
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

    /// A run of `measured` rows in `unit`, the TSC at `tsc_mhz`, on the intel profile.
    pub fn run_of(unit: Unit, measured: &[BenchRow], tsc_mhz: f64) -> Run {
        Run {
            machine: machine(),
            unit,
            tsc_khz: (tsc_mhz * 1000.0) as u64,
            iterations: 90_000,
            batches: 9,
            sysenter: Some(false),
            rows: derive(measured, tsc_mhz),
            errors: vec![],
            notes: vec![],
        }
    }

    /// A crafted run at 2000 MHz, so that 1 cycle = 0.5 ns.
    pub fn run() -> Run {
        let measured = [
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
        run_of(Unit::Cycles, &measured, 2000.0)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn derived_columns() {
        let run = run();
        let call = run.row(64, "call", "bare", 1).unwrap();
        assert!(close(call.ns_per_call, 10.0));
        assert!(close(call.calls_per_sec, 1e8));
        assert!(close(call.article_count_secs, ARTICLE_COUNT as f64 / 1e8));
        assert_eq!((call.speedup_vs_int2e, call.scaling), (None, None));

        let int2e = run.row(64, "int2e", "null", 1).unwrap();
        assert!(close(int2e.ns_per_call, 600.0));
        assert_eq!(int2e.speedup_vs_int2e, None);

        let sc = run.row(64, "syscall", "null", 1).unwrap();
        assert!(close(sc.ns_per_call, 60.0));
        assert!(close(sc.speedup_vs_int2e.unwrap(), 10.0));
        assert_eq!(sc.scaling, None);

        // Two CPUs at 500 cycles each: 2 * 1e9 / 250 ns calls/s, 1.6 times
        // the one CPU's 1e9 / 200 ns; int 2e on 2 CPUs is 6 times slower.
        let sc2 = run.row(64, "syscall", "create_close", 2).unwrap();
        assert!(close(sc2.calls_per_sec, 8e6));
        assert!(close(sc2.scaling.unwrap(), 1.6));
        assert!(close(sc2.speedup_vs_int2e.unwrap(), 6.0));
        assert!(close(sc2.article_count_secs, ARTICLE_COUNT as f64 / 8e6));
        let int2e2 = run.row(64, "int2e", "create_close", 2).unwrap();
        assert!(close(int2e2.scaling.unwrap(), 2.0));
        // No 1-CPU row to scale against, no int 2e row to compare with.
        let lone = derive(&[row("syscall", "null", 2, 100.0)], 1000.0);
        assert_eq!((lone[0].scaling, lone[0].speedup_vs_int2e), (None, None));
        // A 32-bit row is compared with 32-bit int 2e only.
        let mut int2e32 = row("int2e", "null", 1, 800.0);
        int2e32.bits = 32;
        let mut sysenter32 = row("sysenter", "null", 1, 200.0);
        sysenter32.bits = 32;
        let rows = derive(
            &[row("int2e", "null", 1, 100.0), int2e32, sysenter32],
            1000.0,
        );
        assert!(close(rows[2].speedup_vs_int2e.unwrap(), 4.0));
    }

    #[test]
    fn units_and_counts() {
        assert_eq!(Count::Both.units(), [Unit::Cycles, Unit::Instructions]);
        assert_eq!(Count::Instructions.units(), [Unit::Instructions]);
        assert_eq!(Count::Cycles.units(), [Unit::Cycles]);
        assert_eq!(Unit::Instructions.as_str(), "instructions");
        assert_eq!(Unit::Cycles.per_call(), "cycles/call");
    }

    #[test]
    fn a_unit_the_kernel_disagrees_with_is_noted() {
        let n = "0123456789abcdef";
        let log = format!("@@syslab {n} info bench tsc_khz=999972 unit=cycles\n");
        let t = Transcript::parse(log.as_bytes(), n);
        let run = Run::from_transcript(&t, &machine(), Unit::Instructions).unwrap();
        assert_eq!(run.unit, Unit::Instructions);
        assert!(
            run.notes[0].contains("asked for instructions"),
            "{:?}",
            run.notes
        );
        let agreed = Run::from_transcript(&t, &machine(), Unit::Cycles).unwrap();
        assert!(agreed.notes.is_empty());
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
        let run = Run::from_transcript(
            &Transcript::parse(log.as_bytes(), n),
            &machine(),
            Unit::Cycles,
        )
        .unwrap();
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
            Run::from_transcript(&none, &machine(), Unit::Cycles)
                .unwrap_err()
                .contains("no `info bench`")
        );
        let zero = Transcript::parse(format!("@@syslab {n} info bench tsc_khz=0\n").as_bytes(), n);
        assert!(
            Run::from_transcript(&zero, &machine(), Unit::Cycles)
                .unwrap_err()
                .contains("tsc_khz")
        );
    }
}
