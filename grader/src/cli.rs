//! The command line, parsed into what to do (`Mode`).
//!
//! ```text
//! cargo grader [LAB ...] [--solutions] [--cpu intel|amd|MODEL] [--accel tcg|kvm]
//!              [--smp N] [--timeout S] [--json FILE] [-v]
//! cargo grader demo [--solutions] [--cpu ...] [--smp N]
//! cargo grader gdb LAB [--solutions] [--cpu ...] [--smp N]
//! ```

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
                  cargo grader gdb lab2        boot lab2 paused and print the gdb command that attaches",
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
    /// Boot the demo (lab=demo), the serial port on this terminal; Ctrl-C ends it
    Demo(MachineArgs),
    /// Boot LAB paused under QEMU's gdb stub and write a gdb script that attaches
    Gdb(GdbArgs),
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Grade(Grade),
    Demo(Target),
    Gdb(Target, Lab),
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

impl From<Cli> for Mode {
    fn from(cli: Cli) -> Mode {
        match cli.command {
            // demo and gdb are interactive: always TCG, which can run ring 3 here.
            Some(Command::Demo(machine)) => Mode::Demo(machine.into_target(Accel::Tcg)),
            Some(Command::Gdb(args)) => Mode::Gdb(args.machine.into_target(Accel::Tcg), args.lab),
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
        }
    }
}

/// Parses the process's arguments; on a usage error clap prints it and
/// exits with status 2 (`exit::NOT_GRADED`).
pub fn parse() -> Mode {
    Cli::parse().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn mode(args: &[&str]) -> Result<Mode, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo-grader").chain(args.iter().copied()))
            .map(Mode::from)
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
