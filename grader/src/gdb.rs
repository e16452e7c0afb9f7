//! `cargo grader gdb LAB`: boot LAB paused under QEMU's gdb stub, write a
//! gdb script that loads the kernel's symbols, attaches and sets a
//! breakpoint at the lab's entry point, and print the command that runs it.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cli::Target;
use crate::cmdline::{KernelCmdline, Lab, Nonce, Program, Selection};
use crate::paths::{Workspace, show};
use crate::qemu::{self, BootSpec, Serial};
use crate::{builder, diagnose, preflight};

/// Where each lab's code is first entered.
pub fn breakpoint(lab: Lab) -> &'static str {
    match lab {
        Lab::Lab0 => "kmain_bsp",
        Lab::Lab1 => "KiSystemService",
        Lab::Lab2 => "KiFastCallEntry",
        Lab::Lab3 => "KiSystemCall64",
    }
}

/// The names gdb goes by: the host's own, Homebrew's cross gdb for x86-64
/// (the one that runs on Apple Silicon), and Debian's multi-architecture one.
pub const GDB_NAMES: [&str; 3] = ["gdb", "x86_64-elf-gdb", "gdb-multiarch"];

/// An installed gdb that debugs x86-64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundGdb {
    pub name: &'static str,
    /// The first line of `--version`.
    pub version: String,
}

/// The first of [`GDB_NAMES`] that is installed and knows x86-64.
pub fn find_gdb() -> Option<FoundGdb> {
    GDB_NAMES.iter().find_map(|&name| {
        let knows_x86_64 = Command::new(name)
            .args(["-batch", "-nx", "-ex", "set architecture i386:x86-64"])
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?
            .status
            .success();
        let version = Command::new(name).arg("--version").output().ok()?;
        let version = String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or(name)
            .to_owned();
        knows_x86_64.then_some(FoundGdb { name, version })
    })
}

/// A TCP port that is free now: bind port 0 and let the OS choose.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free TCP port for QEMU's gdb stub")?;
    Ok(listener.local_addr()?.port())
}

pub fn script(kernel: &Path, user: &Path, port: u16, lab: Lab) -> String {
    let symbol = breakpoint(lab);
    format!(
        "# Written by `cargo grader gdb {lab}`; QEMU waits, paused, on port {port}.\n\
         # Intel syntax, as in the book, the SDM and the article.\n\
         set disassembly-flavor intel\n\
         set print asm-demangle on\n\
         file {kernel}\n\
         # The user program's symbols too, so that ring-3 addresses have names\n\
         # (ZwNull, ntdll::call): it is linked at its own fixed addresses.\n\
         set confirm off\n\
         add-symbol-file {user}\n\
         set confirm on\n\
         target remote localhost:{port}\n\
         # Each CPU is a gdb thread. Keep the others stopped while you step: else\n\
         # `stepi` lets them run too, and when another CPU reaches the breakpoint\n\
         # gdb switches to it. `continue` still runs them all.\n\
         set scheduler-locking step\n\
         # A hardware breakpoint, not `break`: gdb attaches before the guest has\n\
         # run, and a software breakpoint is an int3 byte written into guest\n\
         # memory, which the loader overwrites when it copies the kernel in (and\n\
         # the kernel's addresses are not even mapped until it turns paging on).\n\
         # A hardware breakpoint is kept by the CPU (here: by QEMU) and matches\n\
         # the address whenever it executes.\n\
         hbreak {symbol}\n\
         # Type `continue` (or `c`) to run to {symbol}.\n",
        kernel = kernel.display(),
        user = user.display(),
    )
}

pub fn run(target: Target, lab: Lab) -> Result<u8> {
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, target.variant)?;

    let port = free_port()?;
    let dir = ws.gdb_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let script_path = dir.join(format!("{lab}.gdb"));
    std::fs::write(
        &script_path,
        script(&images.kernel, &images.user, port, lab),
    )
    .with_context(|| format!("cannot write {}", script_path.display()))?;

    let qemu_log = ws.fresh_log(&format!(
        "{lab}-{}-{}-gdb.qemu.log",
        target.machine.profile.file_label(),
        target.machine.accel.as_str()
    ))?;
    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: KernelCmdline {
            nonce: &nonce,
            program: Program::Lab(lab),
            tests: &Selection::All,
            machine: &target.machine,
            inject: target.inject,
            verbose: false,
        }
        .to_string(),
        machine: &target.machine,
        serial: Serial::Terminal,
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: Some(port),
    };
    let args = spec.args();
    println!("{}", qemu::display_command(&args));
    println!("QEMU is paused, waiting for gdb on port {port}. In another terminal, run:");
    println!();
    let gdb = find_gdb();
    let name = gdb.as_ref().map_or("gdb", |g| g.name);
    println!("    {name} -x {}", show(&script_path).display());
    println!();
    if gdb.is_none() {
        println!(
            "(no gdb that debugs x86-64 is installed; `cargo grader doctor` says how to install \
             one here)"
        );
    }
    if target.machine.smp > 1 {
        println!(
            "(each of the {} CPUs is a gdb thread; the script keeps the others stopped while you \
             step)",
            target.machine.smp
        );
    }
    println!("(the serial port follows; Ctrl-C ends QEMU)");
    let ending = qemu::run_interactive(&args)?;
    Ok(diagnose::explain_interactive(&ending, &qemu_log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_attaches_and_sets_a_hardware_breakpoint() {
        let text = script(
            Path::new("/w/target/x86_64-unknown-none/release/syslab-labs"),
            Path::new("/w/target/x86_64-unknown-none/release/syslab-user"),
            4321,
            Lab::Lab3,
        );
        let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            commands,
            [
                "set disassembly-flavor intel",
                "set print asm-demangle on",
                "file /w/target/x86_64-unknown-none/release/syslab-labs",
                "set confirm off",
                "add-symbol-file /w/target/x86_64-unknown-none/release/syslab-user",
                "set confirm on",
                "target remote localhost:4321",
                "set scheduler-locking step",
                "hbreak KiSystemCall64",
            ]
        );
    }

    #[test]
    fn breakpoints_per_lab() {
        assert_eq!(breakpoint(Lab::Lab0), "kmain_bsp");
        assert_eq!(breakpoint(Lab::Lab1), "KiSystemService");
        assert_eq!(breakpoint(Lab::Lab2), "KiFastCallEntry");
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().unwrap(), 0);
    }
}
