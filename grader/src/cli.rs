//! The command line, parsed into what to do (`Mode`).
//!
//! ```text
//! cargo grader [LAB|TEST ...] [--list] [--solutions] [--cpu intel|amd|MODEL]
//!              [--accel tcg|kvm] [--smp N] [--timeout S] [--json FILE] [-v]
//! cargo grader batch SUBMISSIONS [--labs lab1,lab2,...] [--jobs N] [--out DIR]
//!              [--timeout S] [--cpu ...] [--smp N]
//! cargo grader package gradescope|classroom [--out PATH] [--labs lab1,...] [--cpu ...]
//! cargo grader handin [--out FILE]
//! cargo grader demo [--solutions] [--cpu ...] [--smp N]
//! cargo grader kd [--solutions] [--cpu ...] [--smp N] [--os 2000|xp] [--script FILE]
//!              [--timeout S] [-v]
//! cargo grader gdb LAB [--solutions] [--cpu ...] [--smp N]
//! cargo grader doctor
//! cargo grader bench [--solutions] [--cpu ...] [--accel tcg|kvm] [--smp N]
//!              [--count cycles|instructions|both] [--bits 32|64|both] [--iterations N]
//!              [--batches B] [--timeout S] [--json FILE] [--csv FILE] [--svg FILE] [-v]
//! cargo grader bench --anatomy [--solutions] [--cpu ...] [--count ...] [--json FILE]
//!              [--svg FILE] [-v]
//! cargo grader fuzz [--solutions] [--cpu ...] [--smp N]
//!              [--path int2e|sysenter|syscall|all] [--seconds S] [--seed N] [-v]
//! cargo grader mutants [--jobs N] [--timeout S] [NAME ...]
//! cargo grader mutants NAME --report [--cpu ...] [--smp N] [--timeout S]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::bench::table::{Bits, Count};
use crate::builder::Variant;
use crate::cmdline::{Inject, Lab};
use crate::kd::{Kd, Os};
use crate::profile::{Accel, Machine, Profile};

#[derive(Debug, Parser)]
#[command(
    name = "cargo grader",
    bin_name = "cargo grader",
    version,
    about = "Build the syslab kernel, boot it under QEMU, and grade the labs",
    after_help = "Examples:\n  cargo grader                 grade all four labs\n  \
                  cargo grader lab1 --cpu amd  grade lab1 on an AMD-vendor CPU\n  \
                  cargo grader lab1.gate       run one test (a prefix such as lab2.sysexit runs several)\n  \
                  cargo grader lab2 --list     list lab2's tests and points without booting\n  \
                  cargo grader demo            the article's experiments, scripted, on two CPUs\n  \
                  cargo grader kd --os 2000    the kd> prompt, booted the way Windows 2000 was\n  \
                  cargo grader gdb lab2        boot lab2 paused and print the gdb command that attaches\n  \
                  cargo grader doctor          check QEMU, the Rust target, gdb, mdbook and KVM\n  \
                  cargo grader bench --solutions --cpu amd --svg bench.svg\n  \
                  \x20                            time int 2e, SYSENTER and SYSCALL on 1 and 2 CPUs\n  \
                  cargo grader fuzz --seconds 60  throw random system calls at your kernel",
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
    /// The article's WinDbg experiments in order: the book's kd scripts, Windows 2000 then XP
    Demo(MachineArgs),
    /// The kernel's kd> prompt on this terminal (rdmsr, !cpuinfo, u, ...), or fed from a script
    Kd(KdArgs),
    /// Boot LAB paused under QEMU's gdb stub and write a gdb script that attaches
    Gdb(GdbArgs),
    /// Time each system-call path (int 2e, SYSENTER, SYSCALL) on 1 and 2 CPUs (lab=bench)
    Bench(BenchArgs),
    /// Grade a folder of submissions in parallel, each with only its own files over this course tree
    Batch(BatchArgs),
    /// Pack this course's grader for Gradescope (an autograder zip) or GitHub Classroom (a workflow)
    Package(PackageArgs),
    /// Grade once, then write your files and the scores to a tarball to hand in
    Handin(HandinArgs),
    /// Throw random system calls at the kernel from ring 3 on every CPU and check every result (lab=fuzz)
    Fuzz(FuzzArgs),
    /// Check that the grader catches typical mistakes: grade each patch of grader/mutants/ applied to solutions/, or print one's report
    Mutants(MutantsArgs),
    /// Check QEMU (and which one runs), the Rust target, gdb, mdbook, KVM and the terminal; say how to install what is missing
    Doctor,
}

#[derive(Debug, Args)]
struct PackageArgs {
    /// gradescope: an autograder zip; classroom: .github/classroom/autograding.json and a workflow
    #[arg(value_enum)]
    platform: Platform,
    /// The zip to write [default: autograder.zip], or the directory the classroom files go
    /// under [default: this checkout]
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Labs to grade, comma-separated [default: all four]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LAB,...")]
    labs: Vec<Lab>,
    /// CPU profile the package grades on: intel, amd, or any QEMU -cpu model
    #[arg(long, value_name = "intel|amd|MODEL", default_value = "intel", value_parser = Profile::parse)]
    cpu: Profile,
}

/// Where `package` packs the grader for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Platform {
    Gradescope,
    Classroom,
}

#[derive(Debug, Args)]
struct HandinArgs {
    /// The tarball to write
    #[arg(long, value_name = "FILE", default_value = "handin.tar.gz")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct BatchArgs {
    /// A directory with one entry per student: a directory (a checkout of the course, or its
    /// labs/), a .tar.gz or a .zip; the entry's name is the student's
    #[arg(value_name = "SUBMISSIONS")]
    submissions: PathBuf,
    /// Labs to grade, comma-separated [default: all four]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LAB,...")]
    labs: Vec<Lab>,
    /// Submissions graded at once [default: the number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    jobs: Option<u32>,
    /// Where results.csv, summary.md and a folder per student go
    #[arg(long, value_name = "DIR", default_value = "grades")]
    out: PathBuf,
    /// Seconds each submission may take, its build and all its boots
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    timeout: u64,
    /// CPU profile: intel (qemu64,vendor=GenuineIntel), amd (qemu64), or any QEMU -cpu model
    #[arg(long, value_name = "intel|amd|MODEL", default_value = "intel", value_parser = Profile::parse)]
    cpu: Profile,
    /// Number of CPUs
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=255))]
    smp: u32,
}

#[derive(Debug, Args)]
struct MutantsArgs {
    /// Mutants to try (file names in grader/mutants/ without .patch); default: all
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Mutants graded at once
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    jobs: u32,
    /// Seconds each boot may take before it is killed
    #[arg(long, value_name = "S", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86400))]
    timeout: u64,
    /// Print the grading report of one mutant, as `cargo grader LAB` would for that kernel
    #[arg(long, conflicts_with = "jobs")]
    report: bool,
    /// With --report: the CPU profile, intel, amd or any QEMU -cpu model [default: the mutant's]
    #[arg(long, value_name = "intel|amd|MODEL", requires = "report", value_parser = Profile::parse)]
    cpu: Option<Profile>,
    /// With --report: the number of CPUs [default: 2]
    #[arg(long, value_name = "N", requires = "report", value_parser = clap::value_parser!(u32).range(1..=255))]
    smp: Option<u32>,
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
    /// Labs to grade (default: all four), or tests: a name such as lab1.gate, or a prefix
    /// such as lab2.sysexit for every test whose name starts with it
    #[arg(value_name = "LAB|TEST", value_parser = parse_selector)]
    labs: Vec<Selector>,
    /// List the tests with their points and descriptions, from the kernel image, without booting
    #[arg(long)]
    list: bool,
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
struct KdArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// Boot as Windows 2000 (no SYSENTER MSRs, int 0x2e stubs) or XP (SYSENTER/SYSCALL stub)
    #[arg(long, value_enum, default_value = "xp")]
    os: Os,
    /// Run the commands in FILE (one per line, # comments) instead of the keyboard
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// Seconds the boot, and then each command, may take
    #[arg(long, value_name = "S", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    timeout: u64,
    /// Show the boot's console and protocol lines too
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
    /// Whose rows: 32-bit callers (the article's own instructions, in compatibility mode), 64-bit callers, or both
    #[arg(long, value_enum, default_value_t = Bits::Both, conflicts_with = "anatomy")]
    bits: Bits,
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

/// One positional argument of grading: a whole lab, or the tests of a lab
/// whose names start with a prefix (as MIT's gradelib selects tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Lab(Lab),
    Tests { lab: Lab, prefix: String },
}

/// `lab1` is a lab; `lab1.gate` or `lab2.sysexit` a test name or prefix.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    let lab_named = |name: &str| Lab::ALL.into_iter().find(|l| l.as_str() == name);
    if let Some(lab) = lab_named(text) {
        return Ok(Selector::Lab(lab));
    }
    match text.split_once('.').and_then(|(lab, _)| lab_named(lab)) {
        Some(lab) => Ok(Selector::Tests {
            lab,
            prefix: text.to_owned(),
        }),
        None => Err(format!(
            "`{text}` is neither a lab (lab0, lab1, lab2, lab3) nor a test of one, such as \
             lab1.gate or lab2.sysexit; `cargo grader LAB --list` lists a lab's tests"
        )),
    }
}

#[derive(Debug, Args)]
struct FuzzArgs {
    #[command(flatten)]
    machine: MachineArgs,
    /// The way into the kernel to fuzz; `all` mixes every one this CPU has
    #[arg(long, value_enum, default_value_t = FuzzPath::All)]
    path: FuzzPath,
    /// How long to fuzz
    #[arg(long, value_name = "S", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_FUZZ_SECS))]
    seconds: u64,
    /// Replay the one case with this seed (each mismatch prints its seed) on every CPU, and list its calls
    #[arg(long, value_name = "N", value_parser = parse_seed)]
    seed: Option<u64>,
    /// Print the QEMU command line and the boot's serial output
    #[arg(short, long)]
    verbose: bool,
}

/// `--path`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FuzzPath {
    Int2e,
    Sysenter,
    Syscall,
    All,
}

/// A day.
const MAX_FUZZ_SECS: u64 = 24 * 3600;

/// `--seed`: a case's seed as printed (0x-hex), or in decimal.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    match parsed {
        Ok(0) | Err(_) => Err(format!(
            "`{text}` is not a case seed; give one as a mismatch printed it, e.g. 0x5eed1234abcd"
        )),
        Ok(seed) => Ok(seed),
    }
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
/// The same for the 32-bit rows: seven a CPU count, where the 64-bit have ten.
const BENCH_MICROS_PER_ITERATION_32: u64 = 400;

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

/// The default `--timeout` of `bench`: 60 s plus 0.5 ms per iteration for
/// the 64-bit rows and 0.4 ms for the 32-bit ones (fewer paths).
pub fn bench_timeout_secs(iterations: u64, bits: Bits) -> u64 {
    let micros = match bits {
        Bits::B64 => BENCH_MICROS_PER_ITERATION,
        Bits::B32 => BENCH_MICROS_PER_ITERATION_32,
        Bits::Both => BENCH_MICROS_PER_ITERATION + BENCH_MICROS_PER_ITERATION_32,
    };
    let per_iteration = iterations.saturating_mul(micros) / 1_000_000;
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
    /// Per lab, the test prefixes asked for; a lab without an entry runs
    /// every test (it was named, or nothing was).
    pub tests: BTreeMap<Lab, Vec<String>>,
    /// `--list`: print the plan instead of grading.
    pub list: bool,
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
    /// The callers' modes whose rows the kernel times.
    pub bits: Bits,
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

/// `cargo grader batch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub submissions: PathBuf,
    /// In the order given, without repeats.
    pub labs: Vec<Lab>,
    pub jobs: usize,
    pub out: PathBuf,
    /// Per submission: its build and all its boots.
    pub timeout_secs: u64,
    pub machine: Machine,
}

/// `cargo grader package`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub platform: Platform,
    /// In the order given, without repeats.
    pub labs: Vec<Lab>,
    pub cpu: Profile,
    pub out: Option<PathBuf>,
}

/// `cargo grader fuzz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fuzz {
    pub target: Target,
    pub path: FuzzPath,
    pub seconds: u64,
    /// Replay this case instead of fuzzing for `seconds`.
    pub seed: Option<u64>,
    pub verbose: bool,
}

/// `cargo grader mutants`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutants {
    pub names: Vec<String>,
    pub jobs: usize,
    pub timeout_secs: u64,
    /// `--report`: print one mutant's report instead of judging them.
    pub report: Option<MutantReport>,
}

/// `cargo grader mutants NAME --report`: the machine to grade it on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutantReport {
    /// `None`: the mutant's own profile.
    pub cpu: Option<Profile>,
    pub smp: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Grade(Grade),
    Batch(Batch),
    Package(Package),
    Handin(PathBuf),
    Demo(Target),
    Gdb(Target, Lab),
    Bench(Bench),
    Kd(Kd),
    Fuzz(Fuzz),
    Mutants(Mutants),
    Doctor,
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
            Some(Command::Kd(k)) => Mode::Kd(Kd {
                target: k.machine.into_target(Accel::Tcg),
                os: k.os,
                script: k.script,
                timeout_secs: k.timeout,
                verbose: k.verbose,
            }),
            // Under TCG only: no KVM here runs ring-3 system calls (FACTS.md).
            Some(Command::Fuzz(f)) => Mode::Fuzz(Fuzz {
                target: f.machine.into_target(Accel::Tcg),
                path: f.path,
                seconds: f.seconds,
                seed: f.seed,
                verbose: f.verbose,
            }),
            Some(Command::Mutants(args)) => {
                if args.report && args.names.len() != 1 {
                    return Err(usage_error(
                        "mutants",
                        clap::error::ErrorKind::WrongNumberOfValues,
                        "--report prints the report of one mutant; name it, e.g. `cargo grader \
                         mutants lab1-gate-dpl0 --report`",
                    ));
                }
                Mode::Mutants(Mutants {
                    names: args.names,
                    jobs: args.jobs as usize,
                    timeout_secs: args.timeout,
                    report: args.report.then(|| MutantReport {
                        cpu: args.cpu,
                        smp: args.smp.unwrap_or(2),
                    }),
                })
            }
            Some(Command::Doctor) => Mode::Doctor,
            Some(Command::Bench(b)) => {
                if b.iterations < b.batches {
                    let message = format!(
                        "--iterations {} is fewer than --batches {}: each batch needs at least \
                         one operation; raise --iterations or lower --batches",
                        b.iterations, b.batches
                    );
                    let kind = clap::error::ErrorKind::ValueValidation;
                    return Err(usage_error("bench", kind, message));
                }
                Mode::Bench(Bench {
                    count: b.count,
                    bits: b.bits,
                    anatomy: b.anatomy,
                    iterations: b.iterations,
                    batches: b.batches,
                    timeout_secs: b
                        .timeout
                        .unwrap_or(bench_timeout_secs(b.iterations, b.bits)),
                    json: b.json,
                    csv: b.csv,
                    svg: b.svg,
                    verbose: b.verbose,
                    target: b.machine.into_target(b.accel),
                })
            }
            Some(Command::Handin(h)) => Mode::Handin(h.out),
            Some(Command::Package(p)) => Mode::Package(Package {
                platform: p.platform,
                labs: labs_of(p.labs),
                cpu: p.cpu,
                out: p.out,
            }),
            Some(Command::Batch(b)) => {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                let labs = labs_of(b.labs);
                Mode::Batch(Batch {
                    submissions: b.submissions,
                    labs,
                    jobs: b.jobs.map_or(cores, |n| n as usize),
                    out: b.out,
                    timeout_secs: b.timeout,
                    machine: Machine {
                        profile: b.cpu,
                        accel: Accel::Tcg,
                        smp: b.smp,
                    },
                })
            }
            None => {
                let g = cli.grade;
                let (labs, tests) = selection(&g.labs);
                Mode::Grade(Grade {
                    labs,
                    tests,
                    list: g.list,
                    timeout_secs: g.timeout.unwrap_or(g.accel.default_timeout_secs()),
                    json: g.json,
                    verbose: g.verbose,
                    target: g.machine.into_target(g.accel),
                })
            }
        })
    }
}

/// A usage error of `subcommand` that clap could not find by itself; it
/// shows the usage of that subcommand, not of grading.
fn usage_error(
    subcommand: &str,
    kind: clap::error::ErrorKind,
    message: impl std::fmt::Display,
) -> clap::Error {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(kind, message),
        None => cli.error(kind, message),
    }
}

/// `--labs`: in order, without repeats; all four when none is given.
fn labs_of(labs: Vec<Lab>) -> Vec<Lab> {
    selection(&labs.into_iter().map(Selector::Lab).collect::<Vec<_>>()).0
}

/// The labs to grade, in order, and the test prefixes of the labs that
/// were not named whole.
fn selection(selectors: &[Selector]) -> (Vec<Lab>, BTreeMap<Lab, Vec<String>>) {
    if selectors.is_empty() {
        return (Lab::ALL.to_vec(), BTreeMap::new());
    }
    let mut labs: Vec<Lab> = Vec::new();
    let mut tests: BTreeMap<Lab, Vec<String>> = BTreeMap::new();
    for selector in selectors {
        let lab = match selector {
            Selector::Lab(lab) | Selector::Tests { lab, .. } => *lab,
        };
        if !labs.contains(&lab) {
            labs.push(lab);
        }
        if let Selector::Tests { prefix, .. } = selector {
            let prefixes = tests.entry(lab).or_default();
            if !prefixes.contains(prefix) {
                prefixes.push(prefix.clone());
            }
        }
    }
    // A lab named whole runs every test, whatever else names its tests.
    for selector in selectors {
        if let Selector::Lab(lab) = selector {
            tests.remove(lab);
        }
    }
    (labs, tests)
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
    fn tests_and_prefixes_select_within_their_labs() {
        let g = grade(&[
            "lab2.sysexit",
            "lab1.gate",
            "lab2.msrs",
            "lab2.sysexit",
            "--list",
        ]);
        assert_eq!(g.labs, [Lab::Lab2, Lab::Lab1]);
        assert_eq!(g.tests[&Lab::Lab2], ["lab2.sysexit", "lab2.msrs"]);
        assert_eq!(g.tests[&Lab::Lab1], ["lab1.gate"]);
        assert!(g.list);
        // A lab named whole runs all of it.
        let g = grade(&["lab1.gate", "lab1", "lab3."]);
        assert_eq!(g.labs, [Lab::Lab1, Lab::Lab3]);
        assert!(!g.tests.contains_key(&Lab::Lab1));
        assert_eq!(g.tests[&Lab::Lab3], ["lab3."]);
        assert!(grade(&[]).tests.is_empty());
        assert!(!grade(&[]).list);
        for bad in ["gate", "lab9.gate", "lab", "lab1gate", ".gate"] {
            let err = mode(&[bad]).unwrap_err().to_string();
            assert!(err.contains("neither a lab"), "{bad}: {err}");
        }
    }

    #[test]
    fn batch_defaults_and_flags() {
        let Mode::Batch(b) = mode(&["batch", "subs"]).unwrap() else {
            panic!()
        };
        assert_eq!(b.submissions, PathBuf::from("subs"));
        assert_eq!(b.labs, Lab::ALL);
        assert!(b.jobs >= 1);
        assert_eq!((b.out, b.timeout_secs), (PathBuf::from("grades"), 300));
        assert_eq!(b.machine.profile, Profile::Intel);
        let Mode::Batch(b) = mode(&[
            "batch",
            "subs",
            "--labs",
            "lab2,lab1,lab2",
            "--jobs",
            "3",
            "--out",
            "o",
            "--timeout",
            "60",
            "--cpu",
            "amd",
            "--smp",
            "1",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(b.labs, [Lab::Lab2, Lab::Lab1]);
        assert_eq!((b.jobs, b.timeout_secs, b.machine.smp), (3, 60, 1));
        assert_eq!(b.machine.profile, Profile::Amd);
        for bad in [
            &["batch"][..],
            &["batch", "s", "--labs", "lab9"],
            &["batch", "s", "--jobs", "0"],
            &["batch", "s", "--timeout", "0"],
        ] {
            assert!(mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn package_and_handin() {
        let Mode::Package(p) =
            mode(&["package", "gradescope", "--out", "a.zip", "--labs", "lab1"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.platform, Platform::Gradescope);
        assert_eq!(
            (p.labs, p.out),
            (vec![Lab::Lab1], Some(PathBuf::from("a.zip")))
        );
        let Mode::Package(p) = mode(&["package", "classroom"]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (p.platform, p.labs.len(), p.out),
            (Platform::Classroom, 4, None)
        );
        assert!(mode(&["package"]).is_err());
        assert!(mode(&["package", "moodle"]).is_err());
        assert_eq!(
            mode(&["handin"]).unwrap(),
            Mode::Handin("handin.tar.gz".into())
        );
        assert_eq!(
            mode(&["handin", "--out", "me.tar.gz"]).unwrap(),
            Mode::Handin("me.tar.gz".into())
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
        assert_eq!(mode(&["doctor"]).unwrap(), Mode::Doctor);
        assert!(mode(&["doctor", "lab1"]).is_err());
    }

    #[test]
    fn kd_subcommand() {
        let Mode::Kd(k) = mode(&["kd"]).unwrap() else {
            panic!()
        };
        assert_eq!((k.os, k.script, k.timeout_secs), (Os::WindowsXp, None, 300));
        assert_eq!(k.target.machine.smp, 2);
        let Mode::Kd(k) = mode(&[
            "kd",
            "--solutions",
            "--cpu",
            "amd",
            "--smp",
            "1",
            "--os",
            "2000",
            "--script",
            "s.kd",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(k.os, Os::Windows2000);
        assert_eq!(k.script, Some(PathBuf::from("s.kd")));
        assert_eq!(k.target.variant, Variant::Solutions);
        assert_eq!(
            (k.target.machine.profile, k.target.machine.smp),
            (Profile::Amd, 1)
        );
        for bad in [
            &["kd", "--os", "98"][..],
            &["kd", "lab1"],
            &["kd", "--script"],
        ] {
            assert!(mode(bad).is_err(), "{bad:?}");
        }
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
        assert_eq!(b.timeout_secs, 60 + 81);
        assert_eq!(b.bits, Bits::Both);
        assert_eq!(bench(&["--bits", "32"]).bits, Bits::B32);
        assert_eq!(bench(&["--bits", "64"]).bits, Bits::B64);
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
        assert_eq!(b.timeout_secs, 60 + 0xFF_FFFF * 9 / 10_000);
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
        assert_eq!(bench_timeout_secs(1, Bits::Both), 60);
        assert_eq!(bench_timeout_secs(90_000, Bits::B64), 60 + 45);
        assert_eq!(bench_timeout_secs(90_000, Bits::B32), 60 + 36);
        assert_eq!(
            bench_timeout_secs(u64::MAX, Bits::Both),
            MAX_BENCH_TIMEOUT_SECS
        );
    }

    #[test]
    fn mutants_arguments() {
        let Mode::Mutants(m) = mode(&["mutants"]).unwrap() else {
            panic!()
        };
        assert_eq!((m.jobs, m.timeout_secs, m.names.len()), (2, 20, 0));
        let Mode::Mutants(m) = mode(&["mutants", "--jobs", "4", "a", "b"]).unwrap() else {
            panic!()
        };
        assert_eq!((m.jobs, m.names), (4, vec!["a".into(), "b".into()]));
        assert_eq!(m.report, None);
        assert!(mode(&["mutants", "--jobs", "0"]).is_err());
    }

    #[test]
    fn a_mutants_report() {
        let Mode::Mutants(m) =
            mode(&["mutants", "lab2-bsp-only", "--report", "--smp", "1"]).unwrap()
        else {
            panic!()
        };
        let expected = MutantReport { cpu: None, smp: 1 };
        assert_eq!((m.names.len(), m.report), (1, Some(expected)));
        let Mode::Mutants(m) = mode(&["mutants", "x", "--report", "--cpu", "intel"]).unwrap()
        else {
            panic!()
        };
        let expected = MutantReport {
            cpu: Some(Profile::Intel),
            smp: 2,
        };
        assert_eq!(m.report, Some(expected));
        for wrong in [
            &["mutants", "--report"][..],
            &["mutants", "a", "b", "--report"],
            &["mutants", "a", "--cpu", "amd"],
            &["mutants", "a", "--smp", "1"],
            &["mutants", "a", "--report", "--jobs", "2"],
        ] {
            assert!(mode(wrong).is_err(), "{wrong:?}");
        }
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
    fn fuzz_defaults_and_flags() {
        let Mode::Fuzz(f) = mode(&["fuzz"]).unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.path, f.seconds, f.seed, f.verbose),
            (FuzzPath::All, 10, None, false)
        );
        assert_eq!(f.target.machine.smp, 2);
        let Mode::Fuzz(f) = mode(&[
            "fuzz",
            "--solutions",
            "--cpu",
            "amd",
            "--smp",
            "4",
            "--path",
            "syscall",
            "--seconds",
            "30",
            "--seed",
            "0x5eed",
            "--inject",
            "clobber",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (f.path, f.seconds, f.seed),
            (FuzzPath::Syscall, 30, Some(0x5eed))
        );
        assert_eq!(f.target.machine.profile, Profile::Amd);
        assert_eq!(f.target.inject, Some(Inject::Clobber));
        assert_eq!(parse_seed("12"), Ok(12));
        for bad in ["0", "0x", "seed", "-1", "0x1g"] {
            assert!(
                parse_seed(bad).unwrap_err().contains("not a case seed"),
                "{bad}"
            );
        }
        for args in [
            &["fuzz", "--path", "iret"][..],
            &["fuzz", "--seconds", "0"],
            &["fuzz", "--seed", "0"],
            &["fuzz", "lab1"],
        ] {
            assert!(mode(args).is_err(), "{args:?} should be refused");
        }
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
