//! The doctor's probes, one per tool. Each runs the tool the way the grader
//! would and says what it found; none of them changes the machine.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::install::Tool;
use crate::builder::{self, Variant};
use crate::cmdline::{KernelCmdline, Lab, Nonce, Program, Selection};
use crate::paths::{Workspace, read_lossy};
use crate::preflight::{self, MIN_QEMU, TARGET};
use crate::profile::{Accel, Machine, Profile};
use crate::protocol::{Event, Transcript};
use crate::qemu::{self, BootSpec, Serial};
use crate::{diagnose, gdb};

/// How a probe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// There and usable.
    Ok,
    /// Missing or broken, and the grader cannot work without it.
    Needed,
    /// Missing or unusable, but only an extra needs it (gdb, the book, KVM).
    Optional,
}

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub what: &'static str,
    pub state: State,
    pub detail: String,
    /// What installs it, when that is the fix.
    pub install: Option<Tool>,
}

impl Finding {
    fn new(what: &'static str, state: State, detail: impl Into<String>) -> Finding {
        Finding {
            what,
            state,
            detail: detail.into(),
            install: None,
        }
    }

    fn install(mut self, tool: Tool) -> Finding {
        self.install = Some(tool);
        self
    }
}

/// The directory of PATH that holds `program`, as the shell would find it.
pub fn which(program: &std::ffi::OsStr) -> Option<PathBuf> {
    let given = Path::new(program);
    if given.components().count() > 1 {
        return given.is_file().then(|| given.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// QEMU: which binary the grader runs, its version, and that it starts.
pub fn qemu() -> Finding {
    let binary = qemu::binary();
    let from_env = std::env::var_os(qemu::QEMU_ENV).is_some_and(|v| !v.is_empty());
    let (version, line) = match preflight::qemu_version() {
        Ok(found) => found,
        // A QEMU named by SYSLAB_QEMU is fixed by fixing the path, not by a package.
        Err(why) if from_env => {
            return Finding::new(
                "QEMU",
                State::Needed,
                format!("{why}: check the path in {}", qemu::QEMU_ENV),
            );
        }
        Err(why) => return Finding::new("QEMU", State::Needed, why).install(Tool::Qemu),
    };
    let path = which(&binary).map_or_else(
        || binary.to_string_lossy().into_owned(),
        |p| p.display().to_string(),
    );
    let source = if from_env {
        format!(" (from {})", qemu::QEMU_ENV)
    } else {
        String::new()
    };
    let (major, minor, patch) = version;
    let said = format!("{major}.{minor}.{patch} at {path}{source}: the grader runs this one");
    if (major, minor) < MIN_QEMU {
        return Finding::new(
            "QEMU",
            State::Needed,
            format!(
                "{said}, but it is older than {}.{} ({line})",
                MIN_QEMU.0, MIN_QEMU.1
            ),
        )
        .install(Tool::Qemu);
    }
    match starts() {
        Ok(()) => Finding::new("QEMU", State::Ok, said),
        Err(why) => Finding::new(
            "QEMU",
            State::Needed,
            format!("{said}, but it does not start a machine: {why}"),
        )
        .install(Tool::Qemu),
    }
}

/// Starts the machine the labs use, paused, for a moment: missing firmware
/// or modules from another build make QEMU exit at once.
fn starts() -> Result<(), String> {
    let mut child = Command::new(qemu::binary())
        .args(["-machine", "pc", "-accel", "tcg", "-display", "none"])
        .args(["-monitor", "none", "-serial", "none", "-no-reboot", "-S"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(700));
    match child.try_wait() {
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(())
        }
        _ => {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(stderr
                .trim()
                .lines()
                .last()
                .unwrap_or("it exited")
                .to_owned())
        }
    }
}

/// The kernel's target, for the workspace's toolchain.
pub fn target(root: &Path) -> Finding {
    match preflight::target_installed(std::ffi::OsStr::new("rustup"), root) {
        Some(true) => Finding::new("target", State::Ok, format!("{TARGET} is installed")),
        Some(false) => Finding::new(
            "target",
            State::Ok,
            format!("{TARGET} is missing; `cargo grader` adds it with rustup on first use"),
        )
        .install(Tool::Target),
        None if which("rustup".as_ref()).is_none() => Finding::new(
            "target",
            State::Needed,
            format!(
                "rustup is not installed, so {TARGET} cannot be checked or added (a Rust from \
                 elsewhere must bring the target's `core` itself)"
            ),
        )
        .install(Tool::Rustup),
        None => Finding::new(
            "target",
            State::Needed,
            format!("`rustup target list --installed` failed, so {TARGET} could not be checked"),
        )
        .install(Tool::Target),
    }
}

/// gdb, for `cargo grader gdb`: one that debugs x86-64.
pub fn gdb() -> Finding {
    match gdb::find_gdb() {
        Some(found) => Finding::new(
            "gdb",
            State::Ok,
            format!("{} ({}), debugs x86-64", found.version, found.name),
        ),
        None => Finding::new(
            "gdb",
            State::Optional,
            format!(
                "no gdb that debugs x86-64 (tried {}); only `cargo grader gdb` needs it",
                gdb::GDB_NAMES.join(", ")
            ),
        )
        .install(Tool::Gdb),
    }
}

/// The version of mdbook the book is checked with.
pub const MDBOOK_SERIES: &str = "mdbook v0.5.";

/// mdbook, to read the book locally.
pub fn mdbook() -> Finding {
    let version = Command::new("mdbook")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match version {
        Some(v) if v.starts_with(MDBOOK_SERIES) => Finding::new("mdbook", State::Ok, v),
        Some(v) => Finding::new(
            "mdbook",
            State::Optional,
            format!("{v}: the book is written for mdbook 0.5 (`mdbook serve book`)"),
        )
        .install(Tool::Mdbook),
        None => Finding::new(
            "mdbook",
            State::Optional,
            "not installed; only reading the book locally needs it (`mdbook serve book`)",
        )
        .install(Tool::Mdbook),
    }
}

/// Whether `--accel kvm` can run the labs: the kernel's boot self-test
/// makes a system call from ring 3 each way and reports what happened.
pub fn kvm(ws: &Workspace, qemu_ok: bool) -> Finding {
    let dev = Path::new("/dev/kvm");
    if !dev.exists() {
        return Finding::new(
            "KVM",
            State::Optional,
            "no /dev/kvm: the labs run under TCG, the default, which is all they need",
        );
    }
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .is_err()
    {
        return Finding::new(
            "KVM",
            State::Optional,
            "/dev/kvm exists but this user may not open it (on Linux: sudo usermod -aG kvm \
             $USER, then log in again); TCG, the default, needs no KVM",
        );
    }
    if !qemu_ok {
        return Finding::new("KVM", State::Optional, "not tested: QEMU is not usable");
    }
    match kvm_selftest(ws) {
        Ok(None) => Finding::new(
            "KVM",
            State::Ok,
            "the boot self-test ran system calls from ring 3: --accel kvm works",
        ),
        Ok(Some(why)) => Finding::new("KVM", State::Optional, why),
        Err(why) => Finding::new(
            "KVM",
            State::Optional,
            format!("the self-test did not run under KVM ({why}); TCG, the default, is unaffected"),
        ),
    }
}

/// How long the KVM self-test boot may take (SeaBIOS alone can take 3 s
/// under a nested KVM).
const KVM_BOOT_SECS: u64 = 60;

/// Builds the skeleton's kernel and boots it under KVM until the self-test
/// has reported: `Ok(None)` if ring 3 works, `Ok(Some(why))` if it does not.
fn kvm_selftest(ws: &Workspace) -> Result<Option<String>, String> {
    let images = builder::build(ws, Variant::Labs).map_err(|e| format!("{e:#}"))?;
    let machine = Machine {
        profile: Profile::Intel,
        accel: Accel::Kvm,
        smp: 1,
    };
    let serial_log = ws
        .fresh_log("doctor-kvm.serial.log")
        .map_err(|e| format!("{e:#}"))?;
    let qemu_log = ws
        .fresh_log("doctor-kvm.qemu.log")
        .map_err(|e| format!("{e:#}"))?;
    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: KernelCmdline {
            nonce: &nonce,
            program: Program::Lab(Lab::Lab0),
            tests: &Selection::All,
            machine: &machine,
            inject: None,
            verbose: false,
        }
        .to_string(),
        machine: &machine,
        serial: Serial::File(serial_log.clone()),
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: None,
    };
    let selftest = || {
        Transcript::parse(read_lossy(&serial_log).as_bytes(), nonce.as_str())
            .events()
            .find_map(|e| match e {
                Event::Info(fields) if fields.get("ring3").is_some() => Some(fields.clone()),
                _ => None,
            })
    };
    let mut reported = || selftest().is_some();
    let finished = qemu::run_captured(
        &spec.args(),
        Duration::from_secs(KVM_BOOT_SECS),
        Some(&mut reported),
    )
    .map_err(|e| format!("{e:#}"))?;
    match selftest() {
        Some(fields) => Ok(diagnose::ring3_selftest(&fields, Accel::Kvm)),
        None => {
            let stderr = finished.stderr.trim();
            Err(if stderr.is_empty() {
                format!("no self-test line in {}", serial_log.display())
            } else {
                stderr.lines().last().unwrap_or(stderr).to_owned()
            })
        }
    }
}

/// The terminal: colour and spinners need one.
pub fn terminal() -> Finding {
    let term = console::Term::stdout();
    if !std::io::stdout().is_terminal() {
        return Finding::new(
            "terminal",
            State::Ok,
            "output is not a terminal: no colour and no spinners, plain text only",
        );
    }
    let (_, columns) = term.size();
    let colour = if console::colors_enabled() {
        "colour on"
    } else {
        "colour off (NO_COLOR or TERM=dumb)"
    };
    let narrow = if columns < 80 {
        "; narrower than 80 columns, so long report lines wrap"
    } else {
        ""
    };
    Finding::new(
        "terminal",
        State::Ok,
        format!("{columns} columns, {colour}{narrow}"),
    )
}
