//! `cargo grader kd`: the kernel's `kd>` prompt on this terminal, or fed
//! from a script (PROTOCOL.md, "The kd> prompt").
//!
//! parse (cli) -> run (this module: build, the kernel's symbol file, one
//! boot with COM1 on QEMU's stdio) -> the session (session.rs splits the
//! serial stream; script.rs reads scripts; terminal.rs is raw mode).
//!
//! - **Interactive** (standard input is a terminal, no `--script`): raw
//!   mode, every key goes to the kernel, which echoes and edits the line.
//!   Ctrl-C or `q` ends the session; a second Ctrl-C while the kernel does
//!   not answer stops QEMU.
//! - **Scripted** (`--script FILE`, or standard input is not a terminal):
//!   each command is sent when the kernel prints its prompt, so the
//!   transcript reads like the article's sessions; comments are printed
//!   where they stand. The exit status is 1 if any command failed.

pub mod script;
pub mod session;
mod terminal;

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;

use crate::builder::Images;
use crate::cli::Target;
use crate::cmdline::{KernelCmdline, Nonce, Program, Selection};
use crate::diagnose::{self, Context};
use crate::paths::{Workspace, fresh_file, read_lossy, show};
use crate::qemu::{self, BootSpec, Ending, Finished, Serial};
use crate::symbolize::Symbolizer;
use crate::{builder, exit, grade, preflight};
use script::Step;
use session::{Filter, Piece};

/// `--os`: which Windows the kernel boots as (the kernel's `os=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Os {
    /// The SYSENTER MSRs are never written; ntdll's stubs use int 0x2e
    #[value(name = "2000")]
    Windows2000,
    /// Every CPU's SYSENTER MSRs are programmed; SharedUserData's stub uses SYSENTER or SYSCALL
    #[value(name = "xp")]
    WindowsXp,
}

impl Os {
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Windows2000 => "2000",
            Os::WindowsXp => "xp",
        }
    }
}

/// `cargo grader kd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kd {
    pub target: Target,
    pub os: Os,
    /// `--script FILE`; `None` reads standard input (a script unless it is a terminal).
    pub script: Option<PathBuf>,
    /// How long the boot, and then each command, may take.
    pub timeout_secs: u64,
    pub verbose: bool,
}

/// The fw_cfg name under which the kernel looks for its symbols
/// (kernel/src/kd/symbols.rs, KERNEL_SYMBOLS_FILE).
pub const SYMBOLS_FW_CFG: &str = "opt/syslab/kernel.sym";

/// Where the input comes from.
enum Input {
    Terminal,
    Script(Vec<Step>),
}

pub fn run(kd: Kd) -> Result<u8> {
    let input = match &kd.script {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the script {}", path.display()))?;
            Input::Script(script::parse(&text))
        }
        None if std::io::stdin().is_terminal() => Input::Terminal,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the script from standard input")?;
            Input::Script(script::parse(&text))
        }
    };
    let ws = Workspace::locate()?;
    let (images, symbolizer) = prepare(&ws, &kd.target)?;
    session(&ws, &kd, &images, symbolizer.as_ref(), input, &|_| true)
}

/// Checks the tools and builds the images, as grading does.
pub fn prepare(ws: &Workspace, target: &Target) -> Result<(Images, Option<Symbolizer>)> {
    preflight::check_qemu()?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(ws, target.variant)?;
    let symbolizer = grade::load_symbols(&images.kernel, ws);
    Ok((images, symbolizer))
}

/// Runs a script in a session; returns the exit status (the demo's way in).
pub fn run_script(
    ws: &Workspace,
    kd: &Kd,
    images: &Images,
    symbolizer: Option<&Symbolizer>,
    steps: Vec<Step>,
    show_comment: &dyn Fn(&str) -> bool,
) -> Result<u8> {
    session(
        ws,
        kd,
        images,
        symbolizer,
        Input::Script(steps),
        show_comment,
    )
}

fn log_path(ws: &Workspace, kd: &Kd, kind: &str) -> PathBuf {
    ws.logs_dir().join(format!(
        "kd-{}-{}-os{}.{kind}.log",
        kd.target.machine.profile.file_label(),
        kd.target.machine.accel.as_str(),
        kd.os.as_str()
    ))
}

/// The kernel's symbols as its `kd>` prompt reads them: `address size name`.
fn write_symbols(ws: &Workspace, symbolizer: Option<&Symbolizer>) -> Result<PathBuf> {
    let dir = ws.target.join("syslab").join("kd");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("kernel.sym");
    let text = symbolizer.map(Symbolizer::symbol_file).unwrap_or_default();
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn session(
    ws: &Workspace,
    kd: &Kd,
    images: &Images,
    symbolizer: Option<&Symbolizer>,
    input: Input,
    show_comment: &dyn Fn(&str) -> bool,
) -> Result<u8> {
    let machine = &kd.target.machine;
    let serial_log = log_path(ws, kd, "serial");
    let qemu_log = log_path(ws, kd, "qemu");
    std::fs::create_dir_all(ws.logs_dir()).context("cannot create the log directory")?;
    fresh_file(&serial_log)?;
    fresh_file(&qemu_log)?;
    let symbols = write_symbols(ws, symbolizer)?;
    let nonce = Nonce::fresh();
    let cmdline = format!(
        "{} os={}",
        KernelCmdline {
            nonce: &nonce,
            program: Program::Kd,
            tests: &Selection::All,
            machine,
            inject: kd.target.inject,
            verbose: false,
        },
        kd.os.as_str()
    );
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline,
        machine,
        serial: Serial::Terminal,
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: None,
    };
    let mut args = spec.args();
    args.extend(fw_cfg_file(SYMBOLS_FW_CFG, &symbols));
    if kd.verbose {
        eprintln!("kd: {}", qemu::display_command(&args));
    }
    let mut child = Command::new(qemu::binary())
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(qemu::cannot_start)?;
    let mut driver = Driver::new(&nonce, kd, input, show_comment);
    let run = driver.drive(&mut child);
    let _ = child.kill();
    let status = child.wait().context("waiting for QEMU")?;
    std::fs::write(&serial_log, &driver.serial)
        .with_context(|| format!("cannot write {}", serial_log.display()))?;
    let given_up = !run.context("the kd session failed")?;
    let ending = match (given_up, status.code()) {
        (true, _) => Ending::TimedOut(driver.started.elapsed()),
        (false, Some(code)) => Ending::Exited(code),
        (false, None) => Ending::Signalled,
    };
    let transcript = crate::protocol::Transcript::parse(&driver.serial, nonce.as_str());
    let finished = Finished {
        ending: ending.clone(),
        stderr: String::new(),
    };
    let end = diagnose::classify(&finished, &transcript, &read_lossy(&qemu_log));
    let diagnostic = diagnose::describe(
        &end,
        &Context {
            transcript: &transcript,
            symbolizer,
            serial_log: &show(&serial_log),
            qemu_log: &show(&qemu_log),
            timeout_secs: kd.timeout_secs,
            triple_fault_dump: None,
        },
    );
    let mut exit = exit::FULL_MARKS;
    if let Some(why) = diagnostic {
        if let (true, Some(stuck)) = (given_up, &driver.stuck_on) {
            eprintln!(
                "kd: the kernel did not answer `{stuck}` within {} s",
                kd.timeout_secs
            );
        }
        eprintln!("kd: the session did not end normally: {why}");
        if why.contains("not implemented:") {
            eprintln!(
                "hint: the kd> prompt runs your labs/: --os 2000 needs Lab 1, --os xp Labs 1 to 3; \
                 --solutions boots the reference answers instead"
            );
        }
        exit = exit::NOT_FULL_MARKS;
    }
    if driver.failed > 0 {
        eprintln!(
            "kd: {} of {} commands failed",
            driver.failed, driver.commands
        );
        exit = exit::NOT_FULL_MARKS;
    }
    Ok(exit)
}

/// `-fw_cfg name=NAME,file=PATH`: a file the kernel reads through QEMU's
/// fw_cfg device. A comma in the path would end QEMU's option, so it is doubled.
fn fw_cfg_file(name: &str, path: &Path) -> [OsString; 2] {
    let path = path.display().to_string().replace(',', ",,");
    ["-fw_cfg".into(), format!("name={name},file={path}").into()]
}

/// The session loop: reads the serial stream, shows the console part,
/// answers prompts from the script or forwards the keyboard.
struct Driver<'a> {
    filter: Filter,
    script: Option<std::collections::VecDeque<Step>>,
    /// Console output is shown from `kd ready` on (before, with -v only).
    showing: bool,
    verbose: bool,
    /// Strip CRs: the output is a transcript, not a terminal.
    plain: bool,
    timeout: Duration,
    serial: Vec<u8>,
    commands: usize,
    failed: usize,
    /// The command the kernel is running, for a timeout message.
    stuck_on: Option<String>,
    started: Instant,
    show_comment: &'a dyn Fn(&str) -> bool,
}

impl<'a> Driver<'a> {
    fn new(nonce: &Nonce, kd: &Kd, input: Input, show_comment: &'a dyn Fn(&str) -> bool) -> Self {
        let script = match input {
            Input::Terminal => None,
            Input::Script(mut steps) => {
                if !script::quits(&steps) {
                    steps.push(Step::Command("q".into()));
                }
                Some(steps.into())
            }
        };
        Driver {
            filter: Filter::new(nonce.as_str()),
            plain: script.is_some(),
            script,
            showing: kd.verbose,
            verbose: kd.verbose,
            timeout: Duration::from_secs(kd.timeout_secs),
            serial: Vec::new(),
            commands: 0,
            failed: 0,
            stuck_on: None,
            started: Instant::now(),
            show_comment,
        }
    }

    fn show(&self, out: &mut impl Write, bytes: &[u8]) {
        let bytes: Vec<u8> = if self.plain {
            bytes.iter().copied().filter(|&b| b != b'\r').collect()
        } else {
            bytes.to_vec()
        };
        let _ = out.write_all(&bytes).and_then(|()| out.flush());
    }

    /// Runs until QEMU exits (Ok(true)) or is given up on (Ok(false)).
    fn drive(&mut self, child: &mut Child) -> Result<bool> {
        let Some(mut stdout) = child.stdout.take() else {
            bail!("QEMU's standard output is not a pipe");
        };
        let Some(stdin) = child.stdin.take() else {
            bail!("QEMU's standard input is not a pipe");
        };
        // The keyboard thread and the script both write to COM1.
        let to_kernel = Arc::new(Mutex::new(stdin));
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(chunk[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        // Interactive: the keyboard goes to the kernel from its own thread.
        let interrupts = Arc::new(AtomicU32::new(0));
        let give_up = Arc::new(AtomicBool::new(false));
        let _raw = if self.script.is_none() {
            let raw = terminal::RawMode::enter().context("cannot put the terminal in raw mode")?;
            let keys_to = Arc::clone(&to_kernel);
            let (interrupts, give_up) = (Arc::clone(&interrupts), Arc::clone(&give_up));
            std::thread::spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut key = [0u8; 64];
                while let Ok(n) = stdin.read(&mut key) {
                    if n == 0 {
                        break;
                    }
                    if key[..n].contains(&0x03) && interrupts.fetch_add(1, Ordering::SeqCst) >= 1 {
                        give_up.store(true, Ordering::SeqCst);
                    }
                    let mut w = keys_to.lock().unwrap_or_else(|e| e.into_inner());
                    if w.write_all(&key[..n]).and_then(|()| w.flush()).is_err() {
                        break;
                    }
                }
            });
            raw
        } else {
            None
        };
        let mut out = std::io::stdout().lock();
        let mut deadline = Instant::now() + self.timeout;
        loop {
            if give_up.load(Ordering::SeqCst) {
                let _ = writeln!(
                    out,
                    "\r\nkd: the kernel does not answer Ctrl-C; stopping QEMU\r"
                );
                return Ok(false);
            }
            let chunk = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(chunk) => chunk,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.leftover_comments(&mut out);
                    return Ok(true);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.script.is_some() && Instant::now() > deadline {
                        return Ok(false);
                    }
                    continue;
                }
            };
            self.serial.extend_from_slice(&chunk);
            for piece in self.filter.feed(&chunk) {
                match piece {
                    Piece::Console(bytes) => {
                        if self.showing {
                            self.show(&mut out, &bytes);
                        }
                    }
                    Piece::Protocol(line) => {
                        if self.verbose {
                            self.show(&mut out, format!("{line}\n").as_bytes());
                        }
                    }
                    Piece::Kd(fields) => match session::verb(&fields) {
                        "ready" => self.showing = true,
                        "prompt" => {
                            interrupts.store(0, Ordering::SeqCst);
                            deadline = Instant::now() + self.timeout;
                            self.stuck_on = None;
                            let mut w = to_kernel.lock().unwrap_or_else(|e| e.into_inner());
                            self.next_command(&mut out, &mut *w)?;
                        }
                        "result" => {
                            self.commands += 1;
                            self.failed += session::failed(&fields) as usize;
                        }
                        // A script goes on after `g`: break in at once.
                        "running" if self.script.as_ref().is_some_and(|s| !s.is_empty()) => {
                            let mut w = to_kernel.lock().unwrap_or_else(|e| e.into_inner());
                            w.write_all(&[0x03])
                                .and_then(|()| w.flush())
                                .context("cannot write to QEMU")?;
                        }
                        _ => {}
                    },
                }
            }
        }
    }

    /// The script's comments after its last command, when the session has ended.
    fn leftover_comments(&mut self, out: &mut impl Write) {
        let rest: Vec<Step> = self
            .script
            .as_mut()
            .map(|s| s.drain(..).collect())
            .unwrap_or_default();
        for step in rest {
            if let Step::Comment(c) = step
                && (self.show_comment)(&c)
            {
                self.show(out, format!("{c}\n").as_bytes());
            }
        }
    }

    /// At a prompt: the script's comments up to its next command, then the
    /// command itself, for the kernel to echo and run.
    fn next_command(&mut self, out: &mut impl Write, to_kernel: &mut impl Write) -> Result<()> {
        let Some(script) = self.script.as_mut() else {
            return Ok(());
        };
        let mut comments = Vec::new();
        let mut command = None;
        while let Some(step) = script.pop_front() {
            match step {
                Step::Comment(c) => comments.push(c),
                Step::Command(c) => {
                    command = Some(c);
                    break;
                }
            }
        }
        for c in comments {
            if (self.show_comment)(&c) {
                self.show(out, format!("{c}\n").as_bytes());
            }
        }
        if let Some(command) = command {
            to_kernel
                .write_all(format!("{command}\n").as_bytes())
                .and_then(|()| to_kernel.flush())
                .context("cannot write to QEMU")?;
            self.stuck_on = Some(command);
        }
        Ok(())
    }
}
