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

/// A TCP port that is free now: bind port 0 and let the OS choose.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free TCP port for QEMU's gdb stub")?;
    Ok(listener.local_addr()?.port())
}

pub fn script(kernel: &Path, port: u16, lab: Lab) -> String {
    let symbol = breakpoint(lab);
    format!(
        "# Written by `cargo grader gdb {lab}`; QEMU waits, paused, on port {port}.\n\
         file {kernel}\n\
         target remote localhost:{port}\n\
         # A hardware breakpoint, not `break`: gdb attaches before the guest has\n\
         # run, and a software breakpoint is an int3 byte written into guest\n\
         # memory, which the loader overwrites when it copies the kernel in (and\n\
         # the kernel's addresses are not even mapped until it turns paging on).\n\
         # A hardware breakpoint is kept by the CPU (here: by QEMU) and matches\n\
         # the address whenever it executes.\n\
         hbreak {symbol}\n\
         # Type `continue` (or `c`) to run to {symbol}.\n",
        kernel = kernel.display(),
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
    std::fs::write(&script_path, script(&images.kernel, port, lab))
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
    println!("    gdb -x {}", show(&script_path).display());
    println!();
    if Command::new("gdb").arg("--version").output().is_err() {
        println!(
            "(gdb is not installed: sudo apt-get install gdb on Debian/Ubuntu, sudo dnf install \
             gdb on Fedora, brew install x86_64-elf-gdb on macOS and use that name)"
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
            4321,
            Lab::Lab3,
        );
        let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            commands,
            [
                "file /w/target/x86_64-unknown-none/release/syslab-labs",
                "target remote localhost:4321",
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
