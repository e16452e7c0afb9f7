//! `cargo grader demo`: boot `lab=demo` with the serial port copied to this
//! terminal as it arrives, and no timeout; Ctrl-C ends it. When QEMU has
//! exited, the benchmark rows the demo printed become the bench table.

use anyhow::Result;

use crate::cli::Target;
use crate::cmdline::{KernelCmdline, Nonce, Program, Selection};
use crate::paths::Workspace;
use crate::qemu::{self, BootSpec, Serial};
use crate::{bench, builder, diagnose, preflight};

pub fn run(target: Target) -> Result<u8> {
    let ws = Workspace::locate()?;
    preflight::check_qemu()?;
    preflight::check_target(&ws.root)?;
    let images = builder::build(&ws, target.variant)?;

    let qemu_log = ws.fresh_log(&format!(
        "demo-{}-{}.qemu.log",
        target.machine.profile.file_label(),
        target.machine.accel.as_str()
    ))?;
    let nonce = Nonce::fresh();
    let spec = BootSpec {
        kernel: &images.kernel,
        initrd: &images.user,
        cmdline: KernelCmdline {
            nonce: &nonce,
            program: Program::Demo,
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
        gdb_port: None,
    };
    let args = spec.args();
    println!("{}", qemu::display_command(&args));
    println!("(the serial port follows; Ctrl-C ends the demo)");
    let (ending, serial) = qemu::run_echoed(&args, &mut std::io::stdout())?;
    bench::report_demo(&serial, &nonce, &target.machine);
    Ok(diagnose::explain_interactive(&ending, &qemu_log))
}
