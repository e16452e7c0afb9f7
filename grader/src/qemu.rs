//! The QEMU command line (PROTOCOL.md, "Booting") and running one boot.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wait_timeout::ChildExt;

use crate::profile::Machine;

/// The emulator, found on PATH unless `SYSLAB_QEMU` names another.
pub const QEMU: &str = "qemu-system-x86_64";
/// The environment variable that picks the QEMU binary to run, e.g.
/// `SYSLAB_QEMU=/opt/qemu-10/bin/qemu-system-x86_64` (CI grades on two versions).
pub const QEMU_ENV: &str = "SYSLAB_QEMU";

/// The QEMU binary every boot runs: `$SYSLAB_QEMU`, or `qemu-system-x86_64`.
pub fn binary() -> OsString {
    match std::env::var_os(QEMU_ENV) {
        Some(path) if !path.is_empty() => path,
        _ => QEMU.into(),
    }
}

/// The binary, for messages: `qemu-system-x86_64` or `SYSLAB_QEMU=PATH`.
pub fn binary_shown() -> String {
    let bin = binary();
    if bin == QEMU {
        QEMU.to_owned()
    } else {
        format!("{} (from {QEMU_ENV})", bin.to_string_lossy())
    }
}

/// Why QEMU could not start, with what to do.
pub fn cannot_start() -> String {
    if binary() == QEMU {
        format!("cannot start {QEMU}; is it installed and on PATH? (`cargo grader doctor` checks)")
    } else {
        format!(
            "cannot start {}; check the path in {QEMU_ENV}",
            binary().to_string_lossy()
        )
    }
}

/// The kernel wrote 16 to isa-debug-exit: the run ended normally.
pub const EXIT_DONE: i32 = 33;
/// The kernel wrote 17 to isa-debug-exit: it stopped on a fault or panic.
pub const EXIT_FAULT: i32 = 35;
/// With `-no-reboot`, a triple fault ends QEMU with status 0 (no line is
/// printed; only the `-d cpu_reset` log tells it apart).
pub const EXIT_RESET: i32 = 0;

/// Where COM1 goes.
#[derive(Clone, Debug)]
pub enum Serial {
    /// A log file that the grader parses after the boot.
    File(PathBuf),
    /// The terminal, for `demo` and `gdb`.
    Terminal,
}

/// Everything one QEMU run needs.
#[derive(Clone, Debug)]
pub struct BootSpec<'a> {
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub cmdline: String,
    pub machine: &'a Machine,
    pub serial: Serial,
    pub qemu_log: &'a Path,
    /// Normally false (`-no-reboot`: a triple fault exits QEMU). True only
    /// for the re-run that records the register dump of a triple fault:
    /// QEMU logs a CPU's registers when it resets it, and `-no-reboot`
    /// turns the reset into an exit, so no dump is logged.
    pub reboot: bool,
    /// `-S -gdb tcp:127.0.0.1:PORT`: wait, paused, for gdb.
    pub gdb_port: Option<u16>,
}

impl BootSpec<'_> {
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["-machine".into(), "pc".into()];
        args.extend(self.machine.qemu_args().into_iter().map(OsString::from));
        args.extend(["-m".into(), "256M".into()]);
        args.extend(["-kernel".into(), self.kernel.into()]);
        args.extend(["-initrd".into(), self.initrd.into()]);
        args.extend(["-append".into(), self.cmdline.clone().into()]);
        args.extend(["-display".into(), "none".into()]);
        if !self.reboot {
            args.push("-no-reboot".into());
        }
        args.extend(["-monitor".into(), "none".into()]);
        let serial: OsString = match &self.serial {
            Serial::File(path) => {
                let mut arg = OsString::from("file:");
                arg.push(path);
                arg
            }
            Serial::Terminal => "stdio".into(),
        };
        args.extend(["-serial".into(), serial]);
        args.extend([
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
        ]);
        args.extend(["-d".into(), "cpu_reset,guest_errors".into()]);
        args.extend(["-D".into(), self.qemu_log.into()]);
        if let Some(port) = self.gdb_port {
            // Bound to the loopback interface only: the stub gives full
            // control of the machine to whoever connects.
            args.extend([
                "-S".into(),
                "-gdb".into(),
                format!("tcp:127.0.0.1:{port}").into(),
            ]);
        }
        args
    }
}

/// The command as a user could paste it into a POSIX shell.
pub fn display_command(args: &[OsString]) -> String {
    std::iter::once(shell_quote(&binary().to_string_lossy()))
        .chain(args.iter().map(|arg| shell_quote(&arg.to_string_lossy())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=,.:/+@%".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// How a captured QEMU run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// QEMU exited with this status.
    Exited(i32),
    /// QEMU was killed by a signal (not by the grader).
    Signalled,
    /// The grader killed QEMU after the timeout.
    TimedOut(Duration),
}

/// A finished captured run.
#[derive(Clone, Debug)]
pub struct Finished {
    pub ending: Ending,
    pub stderr: String,
}

/// Starts QEMU with stdin and stdout closed and stderr sent to `stderr`.
pub fn spawn(args: &[OsString], stderr: Stdio) -> Result<Child> {
    Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(cannot_start)
}

pub fn ending_of(status: ExitStatus) -> Ending {
    match status.code() {
        Some(code) => Ending::Exited(code),
        None => Ending::Signalled,
    }
}

/// Runs QEMU with stdin and stdout closed and stderr captured, killing it
/// after `timeout`, or earlier once `stop()` (polled every 50 ms when given)
/// says so; a run stopped by `stop` counts as timed out after its elapsed time.
pub fn run_captured(
    args: &[OsString],
    timeout: Duration,
    mut stop: Option<&mut dyn FnMut() -> bool>,
) -> Result<Finished> {
    let mut child = spawn(args, Stdio::piped())?;
    let mut pipe = child.stderr.take();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = pipe.as_mut() {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    });

    let started = Instant::now();
    let poll = Duration::from_millis(50);
    let ending = loop {
        let left = timeout.saturating_sub(started.elapsed());
        let slice = if stop.is_some() { left.min(poll) } else { left };
        if let Some(status) = child.wait_timeout(slice).context("waiting for QEMU")? {
            break ending_of(status);
        }
        let stop_now = stop.as_mut().is_some_and(|stop| stop());
        if stop_now || started.elapsed() >= timeout {
            // kill() fails only if QEMU has just exited; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
            break Ending::TimedOut(started.elapsed());
        }
    };
    let stderr = reader.join().unwrap_or_default();
    Ok(Finished { ending, stderr })
}

/// Runs QEMU in the foreground with the terminal (demo, gdb).
pub fn run_interactive(args: &[OsString]) -> Result<Ending> {
    let status = Command::new(binary())
        .args(args)
        .status()
        .with_context(cannot_start)?;
    Ok(ending_of(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Accel, Profile};

    fn spec<'a>(machine: &'a Machine, log: &'a Path) -> BootSpec<'a> {
        BootSpec {
            kernel: Path::new("/t/kernel"),
            initrd: Path::new("/t/user"),
            cmdline: "nonce=0123456789abcdef lab=lab1 tests=all profile=intel accel=tcg".into(),
            machine,
            serial: Serial::File("/t/s.log".into()),
            qemu_log: log,
            reboot: false,
            gdb_port: None,
        }
    }

    #[test]
    fn command_line_matches_protocol() {
        let machine = Machine {
            profile: Profile::Intel,
            accel: Accel::Tcg,
            smp: 2,
        };
        let args = spec(&machine, Path::new("/t/q.log")).args();
        // The first word is the binary, which SYSLAB_QEMU may change.
        let line = display_command(&args);
        let (program, args) = line.split_once(' ').unwrap();
        assert_eq!(program, shell_quote(&binary().to_string_lossy()));
        assert_eq!(
            format!("qemu-system-x86_64 {args}"),
            "qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64,vendor=GenuineIntel -smp 2 \
             -m 256M -kernel /t/kernel -initrd /t/user \
             -append 'nonce=0123456789abcdef lab=lab1 tests=all profile=intel accel=tcg' \
             -display none -no-reboot -monitor none -serial file:/t/s.log \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -d cpu_reset,guest_errors -D /t/q.log"
        );
    }

    #[test]
    fn reboot_and_gdb_variants() {
        let machine = Machine {
            profile: Profile::Amd,
            accel: Accel::Kvm,
            smp: 1,
        };
        let mut s = spec(&machine, Path::new("/t/q.log"));
        s.reboot = true;
        s.serial = Serial::Terminal;
        s.gdb_port = Some(1234);
        let line = display_command(&s.args());
        assert!(!line.contains("-no-reboot"));
        assert!(line.contains("-accel kvm -cpu qemu64 -smp 1"));
        assert!(line.contains("-serial stdio"));
        assert!(line.ends_with("-S -gdb tcp:127.0.0.1:1234"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
    }
}
