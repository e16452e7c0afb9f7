//! The command line, parsed into what to do (`Mode`).
//!
//! ```text
//! cargo grader [LAB ...] [--solutions] [--cpu intel|amd|MODEL] [--accel tcg|kvm]
//!              [--smp N] [--timeout S] [--json FILE] [-v]
//! cargo grader demo [--solutions] [--cpu ...] [--smp N]
//! cargo grader gdb LAB [--solutions] [--cpu ...] [--smp N]
//! cargo grader bench [--solutions] [--cpu ...] [--accel tcg|kvm] [--smp N]
//!              [--count cycles|instructions|both] [--iterations N] [--batches B]
//!              [--timeout S] [--json FILE] [--csv FILE] [--svg FILE] [-v]
//! cargo grader bench --anatomy [--solutions] [--cpu ...] [--count ...] [--json FILE]
//!              [--svg FILE] [-v]
//! ```

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::bench::table::Count;
use crate::builder::Variant;
use crate::cmdline::{Inject, Lab};
use crate::profile::{Accel, Machine, Profile};

#[derive(Debug, Parser)]
#[command(
    name = "cargo grader",
    bin_name = "cargo grader",
    version,
    about = "Build the syslab kernel, boot it under QEMU, and grade the labs",
    after_help = "Examples:\n  cargo grader                 grade all four labs\n  \
                  cargo grader lab1 --cpu amd  grade lab1 on an AMD-vendor CPU\n  \
                  cargo grader demo            boot the demo with the serial port on this terminal\n  \
                  cargo grader gdb lab2        boot lab2 paused and print the gdb command that attaches\n  \
                  cargo grader bench --solutions --cpu amd --svg bench.svg\n  \
                  \x20                            time int 2e, SYSENTER and SYSCALL on 1 and 2 CPUs",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    grade: GradeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Boot the demo (lab=demo), the serial port on this terminal, then print its bench table; Ctrl-C ends it
    Demo(MachineArgs),
    /// Boot LAB paused under QEMU's gdb stub and write a gdb script that attaches
    Gdb(GdbArgs),
    /// Time each system-call path (int 2e, SYSENTER, SYSCALL) on 1 and 2 CPUs (lab=bench)
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct MachineArgs {
    /// Build solutions/ (the reference answers) instead of labs/
    #[arg(long)]
    solutions: bool,
    /// CPU profile: intel (qemu64,vendor=GenuineIntel), amd (qemu64), or any QEMU -cpu model
    #[arg(long, value_name = "intel|amd|MODEL", default_value = "intel", value_parser = Profile::parse)]
    cpu: Profile,
    /// Number of CPUs
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=255))]
    smp: u32,
    /// Break the kernel on purpose in the first test of the first boot (the grader's own tests)
    #[arg(long, value_enum, hide = true)]
    inject: Option<Inject>,
}

#[derive(Debug, Args)]
struct GradeArgs {
    /// Labs to grade (default: all four)
    #[arg(value_enum, value_name = "LAB")]
    labs: Vec<Lab>,
    #[command(flatten)]
    machine: MachineArgs,
    /// QEMU accelerator
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    accel: Accel,
    /// Seconds each boot may take before it is killed [default: 20 with tcg, 15 with kvm]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=86400))]
    timeout: Option<u64>,
    /// Also write the results in Gradescope's results.json format to FILE
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print the QEMU command lines and each boot's serial output
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Args)]
struct GdbArgs {
    /// The lab to boot
    #[arg(value_enum, value_name = "LAB")]
    lab: Lab,
    #[command(flatten)]
    machine: MachineArgs,
}

#[derive(Debug, Args)]
struct BenchArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// QEMU accelerator
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    accel: Accel,
    /// What to count: TSC cycles, guest instructions (exact, under -icount, on one CPU), or both (two boots); --anatomy with instructions skips its cycles boot
    #[arg(long, value_enum, default_value_t = Count::Cycles)]
    count: Count,
    /// Single-step one call of each service on each path and count its instructions phase by phase
    #[arg(long, conflicts_with_all = ["csv", "iterations", "batches"])]
    anatomy: bool,
    /// Operations per row, in decimal or 0x-hex (0xFFFFFF is the article's count)
    #[arg(long, value_name = "N", default_value = "90000", value_parser = parse_count)]
    iterations: u64,
    /// Batches per row; the table shows their median, min and max
    #[arg(long, value_name = "B", default_value_t = 9, value_parser = clap::value_parser!(u64).range(1..=MAX_BATCHES))]
    batches: u64,
    /// Seconds the boot may take before it is killed [default: 60 + 0.5 ms per iteration]
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..=MAX_BENCH_TIMEOUT_SECS))]
    timeout: Option<u64>,
    /// Also write the rows as JSON to FILE
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the rows as CSV to FILE
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also draw the rows as an SVG bar chart in FILE (with --anatomy: a stacked bar per path)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Print the QEMU command line and the boot's serial output
    #[arg(short, long)]
    verbose: bool,
}

/// The kernel clamps `batches=` to 1..=99.
const MAX_BATCHES: u64 = 99;
/// A week: enough for 0xFFFFFF iterations on a slow machine.
const MAX_BENCH_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// The benchmark's timeout: this much for booting and the fixed costs ...
const BENCH_BASE_TIMEOUT_SECS: u64 = 60;
/// ... and this much per iteration (each row runs `iterations` operations;
/// the whole default run of 90000 took about 10 s under TCG here, about
/// 0.11 ms per iteration, so this is some 5 times that).
const BENCH_MICROS_PER_ITERATION: u64 = 500;

/// `--iterations`: a positive count, decimal (`90000`, `90_000`) or hex (`0xFFFFFF`).
pub fn parse_count(text: &str) -> Result<u64, String> {
    let digits = text.replace('_', "");
    let parsed = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse(),
    };
    match parsed {
        Ok(0) => Err("the count must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{text}` is not a count; give a decimal number such as 90000 or a hex one such as \
             0xFFFFFF"
        )),
    }
}

/// The default `--timeout` of `bench`: 60 s plus 0.5 ms per iteration.
pub fn bench_timeout_secs(iterations: u64) -> u64 {
    let per_iteration = iterations.saturating_mul(BENCH_MICROS_PER_ITERATION) / 1_000_000;
    BENCH_BASE_TIMEOUT_SECS
        .saturating_add(per_iteration)
        .min(MAX_BENCH_TIMEOUT_SECS)
}

/// What every mode shares: which image, on which machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub variant: Variant,
    pub machine: Machine,
    pub inject: Option<Inject>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grade {
    pub target: Target,
    /// In the order given, without repeats.
    pub labs: Vec<Lab>,
    pub timeout_secs: u64,
    pub json: Option<PathBuf>,
    pub verbose: bool,
}

/// `cargo grader bench`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bench {
    pub target: Target,
    /// The units to measure, one boot each.
    pub count: Count,
    /// `--anatomy`: step through one call of each service instead.
    pub anatomy: bool,
    /// Operations per row (the kernel splits them into `batches`).
    pub iterations: u64,
    pub batches: u64,
    pub timeout_secs: u64,
    pub json: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub verbose: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Grade(Grade),
    Demo(Target),
    Gdb(Target, Lab),
    Bench(Bench),
}

impl MachineArgs {
    fn into_target(self, accel: Accel) -> Target {
        Target {
            variant: if self.solutions {
                Variant::Solutions
            } else {
                Variant::Labs
            },
            machine: Machine {
                profile: self.cpu,
                accel,
                smp: self.smp,
            },
            inject: self.inject,
        }
    }
}

impl TryFrom<Cli> for Mode {
    type Error = clap::Error;

    /// Checks what clap cannot check flag by flag.
    fn try_from(cli: Cli) -> Result<Mode, clap::Error> {
        Ok(match cli.command {
            // demo and gdb are interactive: always TCG, which can run ring 3 here.
            Some(Command::Demo(machine)) => Mode::Demo(machine.into_target(Accel::Tcg)),
            Some(Command::Gdb(args)) => Mode::Gdb(args.machine.into_target(Accel::Tcg), args.lab),
            Some(Command::Bench(b)) => {
                if b.iterations < b.batches {
                    let message = format!(
                        "--iterations {} is fewer than --batches {}: each batch needs at least \
                         one operation; raise --iterations or lower --batches",
                        b.iterations, b.batches
                    );
                    // The error shows the usage of `bench`, not of grading.
                    let mut cli = Cli::command();
                    cli.build();
                    let kind = clap::error::ErrorKind::ValueValidation;
                    return Err(match cli.find_subcommand_mut("bench") {
                        Some(bench) => bench.error(kind, message),
                        None => cli.error(kind, message),
                    });
                }
                Mode::Bench(Bench {
                    count: b.count,
                    anatomy: b.anatomy,
                    iterations: b.iterations,
                    batches: b.batches,
                    timeout_secs: b.timeout.unwrap_or(bench_timeout_secs(b.iterations)),
                    json: b.json,
                    csv: b.csv,
                    svg: b.svg,
                    verbose: b.verbose,
                    target: b.machine.into_target(b.accel),
                })
            }
            None => {
                let g = cli.grade;
                let mut labs: Vec<Lab> = Vec::new();
                for lab in if g.labs.is_empty() {
                    Lab::ALL.to_vec()
                } else {
                    g.labs
                } {
                    if !labs.contains(&lab) {
                        labs.push(lab);
                    }
                }
                Mode::Grade(Grade {
                    labs,
                    timeout_secs: g.timeout.unwrap_or(g.accel.default_timeout_secs()),
                    json: g.json,
                    verbose: g.verbose,
                    target: g.machine.into_target(g.accel),
                })
            }
        })
    }
}

/// Parses the process's arguments; on a usage error clap prints it and
/// exits with status 2 (`exit::NOT_GRADED`).
pub fn parse() -> Mode {
    Mode::try_from(Cli::parse()).unwrap_or_else(|err| err.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> Result<Mode, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo-grader").chain(args.iter().copied()))
            .and_then(Mode::try_from)
    }

    fn grade(args: &[&str]) -> Grade {
        match mode(args).unwrap() {
            Mode::Grade(g) => g,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let g = grade(&[]);
        assert_eq!(g.labs, Lab::ALL);
        assert_eq!(g.target.machine.profile, Profile::Intel);
        assert_eq!(g.target.machine.accel, Accel::Tcg);
        assert_eq!(g.target.machine.smp, 2);
        assert_eq!(g.timeout_secs, 20);
        assert_eq!(g.target.variant, Variant::Labs);
        assert_eq!(g.json, None);
        assert!(!g.verbose);
        assert_eq!(g.target.inject, None);
        assert_eq!(grade(&["--accel", "kvm"]).timeout_secs, 15);
        assert_eq!(
            grade(&["--accel", "kvm", "--timeout", "60"]).timeout_secs,
            60
        );
    }

    #[test]
    fn labs_and_flags() {
        let g = grade(&[
            "lab3",
            "lab1",
            "lab3",
            "--solutions",
            "--cpu",
            "amd",
            "--smp",
            "4",
            "--json",
            "out.json",
            "-v",
            "--inject",
            "triple",
        ]);
        assert_eq!(g.labs, [Lab::Lab3, Lab::Lab1]);
        assert_eq!(g.target.variant, Variant::Solutions);
        assert_eq!(g.target.machine.profile, Profile::Amd);
        assert_eq!(g.target.machine.smp, 4);
        assert_eq!(g.json, Some(PathBuf::from("out.json")));
        assert!(g.verbose);
        assert_eq!(g.target.inject, Some(Inject::Triple));
        assert_eq!(
            grade(&["--cpu", "Skylake-Client"]).target.machine.profile,
            Profile::Model("Skylake-Client".into())
        );
    }

    #[test]
    fn demo_and_gdb_subcommands() {
        let Mode::Demo(t) = mode(&["demo", "--cpu", "amd", "--smp", "1"]).unwrap() else {
            panic!()
        };
        assert_eq!((t.machine.profile, t.machine.smp), (Profile::Amd, 1));
        let Mode::Gdb(t, lab) = mode(&["gdb", "lab2", "--solutions"]).unwrap() else {
            panic!()
        };
        assert_eq!((lab, t.variant), (Lab::Lab2, Variant::Solutions));
    }

    fn bench(args: &[&str]) -> Bench {
        let args: Vec<&str> = std::iter::once("bench")
            .chain(args.iter().copied())
            .collect();
        match mode(&args).unwrap() {
            Mode::Bench(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bench_defaults_and_flags() {
        let b = bench(&[]);
        assert_eq!((b.iterations, b.batches), (90_000, 9));
        assert_eq!(b.timeout_secs, 60 + 45);
        assert_eq!(b.target.machine.smp, 2);
        assert_eq!(b.target.machine.accel, Accel::Tcg);
        assert_eq!(b.target.variant, Variant::Labs);
        assert_eq!((b.json, b.csv, b.svg, b.verbose), (None, None, None, false));
        assert_eq!((b.count, b.anatomy), (Count::Cycles, false));
        assert_eq!(
            bench(&["--count", "instructions"]).count,
            Count::Instructions
        );
        assert_eq!(bench(&["--count", "both"]).count, Count::Both);
        let a = bench(&["--anatomy", "--svg", "a.svg", "--cpu", "amd"]);
        assert!(a.anatomy);
        assert_eq!(
            bench(&["--anatomy", "--count", "instructions"]).count,
            Count::Instructions
        );
        assert_eq!(a.svg, Some(PathBuf::from("a.svg")));

        let b = bench(&[
            "--solutions",
            "--cpu",
            "amd",
            "--accel",
            "kvm",
            "--smp",
            "1",
            "--iterations",
            "0xFFFFFF",
            "--batches",
            "5",
            "--json",
            "b.json",
            "--csv",
            "b.csv",
            "--svg",
            "b.svg",
            "-v",
        ]);
        assert_eq!((b.iterations, b.batches), (0xFF_FFFF, 5));
        assert_eq!(b.timeout_secs, 60 + 0xFF_FFFF / 2000);
        assert_eq!(b.target.variant, Variant::Solutions);
        assert_eq!(b.target.machine.profile, Profile::Amd);
        assert_eq!(b.target.machine.accel, Accel::Kvm);
        assert_eq!(b.target.machine.smp, 1);
        assert_eq!(b.json, Some(PathBuf::from("b.json")));
        assert_eq!(b.csv, Some(PathBuf::from("b.csv")));
        assert_eq!(b.svg, Some(PathBuf::from("b.svg")));
        assert!(b.verbose);
        assert_eq!(bench(&["--timeout", "7"]).timeout_secs, 7);
        assert_eq!(bench(&["--iterations", "1_000"]).iterations, 1000);
    }

    #[test]
    fn counts_and_timeouts() {
        assert_eq!(parse_count("90000"), Ok(90_000));
        assert_eq!(parse_count("0xffffff"), Ok(0xFF_FFFF));
        assert_eq!(parse_count("0XFF_FFFF"), Ok(0xFF_FFFF));
        assert!(parse_count("0").unwrap_err().contains("at least 1"));
        for bad in ["", "0x", "ten", "-5", "0xG", "1e6"] {
            assert!(parse_count(bad).unwrap_err().contains("0xFFFFFF"), "{bad}");
        }
        assert_eq!(bench_timeout_secs(1), 60);
        assert_eq!(bench_timeout_secs(u64::MAX), MAX_BENCH_TIMEOUT_SECS);
    }

    #[test]
    fn bench_usage_errors() {
        for args in [
            &["bench", "--iterations", "0"][..],
            &["bench", "--iterations", "lots"],
            &["bench", "--batches", "0"],
            &["bench", "--batches", "100"],
            &["bench", "--iterations", "5", "--batches", "9"],
            &["bench", "lab1"],
            &["bench", "--accel", "hvf"],
            &["bench", "--timeout", "0"],
            &["bench", "--count", "time"],
            &["bench", "--anatomy", "--csv", "a.csv"],
            &["bench", "--anatomy", "--iterations", "10"],
        ] {
            assert!(mode(args).is_err(), "{args:?} should be refused");
        }
        let err = mode(&["bench", "--iterations", "5"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("raise --iterations or lower --batches"),
            "{err}"
        );
    }

    #[test]
    fn usage_errors() {
        for args in [
            &["lab9"][..],
            &["--smp", "0"],
            &["--timeout", "0"],
            &["--accel", "hvf"],
            &["gdb"],
            &["gdb", "lab1", "lab2"],
            &["demo", "lab1"],
            &["demo", "--accel", "kvm"],
            &["--cpu", ""],
            &["lab1", "demo"],
        ] {
            assert!(mode(args).is_err(), "{args:?} should be refused");
        }
    }

    #[test]
    fn inject_is_hidden_from_help() {
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("--inject"));
        assert!(help.contains("--timeout"));
    }
}
