//! `cargo grader doctor`: check every tool the course uses, the way the
//! grader uses it, and say how to install what is missing.
//!
//! ```text
//! This machine: Debian/Ubuntu
//! ok        QEMU      7.2.22 at /usr/bin/qemu-system-x86_64: the grader runs this one
//! ok        target    x86_64-unknown-none is installed
//! optional  gdb       no gdb that debugs x86-64 (tried gdb, x86_64-elf-gdb, gdb-multiarch); ...
//!           install:  sudo apt-get install gdb
//! ...
//! ```
//!
//! - checks: the probes (QEMU, the Rust target, gdb, mdbook, KVM, the terminal)
//! - install: which platform this is, and each tool's install command there

mod checks;
mod install;

use std::io::Write;

use anyhow::{Context, Result};

use crate::exit;
use crate::paths::Workspace;
use crate::report::Styles;
use checks::{Finding, State};
use install::Platform;

pub fn run() -> Result<u8> {
    let ws = Workspace::locate()?;
    let platform = Platform::detect();
    let mut out = std::io::stdout().lock();
    let st = Styles::for_stdout();
    let this = platform.map_or_else(
        || "not one the course lists (Debian/Ubuntu, Fedora, macOS, WSL)".to_owned(),
        |p| p.to_string(),
    );
    writeln!(out, "This machine: {this}")?;
    // Each line as soon as its probe is done: the KVM one builds the kernel.
    let mut findings = Vec::new();
    let qemu = checks::qemu();
    let qemu_ok = qemu.state == State::Ok;
    for finding in [
        qemu,
        checks::target(&ws.root),
        checks::gdb(),
        checks::mdbook(),
    ] {
        write_finding(&mut out, &finding, platform, &st)?;
        findings.push(finding);
    }
    out.flush()?;
    for finding in [checks::kvm(&ws, qemu_ok), checks::terminal()] {
        write_finding(&mut out, &finding, platform, &st)?;
        findings.push(finding);
    }
    let needed: Vec<&str> = findings
        .iter()
        .filter(|f| f.state == State::Needed)
        .map(|f| f.what)
        .collect();
    if needed.is_empty() {
        writeln!(
            out,
            "Everything the grader needs is here: run `cargo grader lab0`."
        )
        .context("cannot write the report")?;
        Ok(exit::FULL_MARKS)
    } else {
        writeln!(
            out,
            "The grader cannot run until {} {} fixed (see above).",
            needed.join(" and "),
            if needed.len() == 1 { "is" } else { "are" }
        )
        .context("cannot write the report")?;
        Ok(exit::NOT_GRADED)
    }
}

/// `STATE  WHAT  detail`, then the install lines when something is missing.
fn write_finding(
    out: &mut dyn Write,
    f: &Finding,
    platform: Option<Platform>,
    st: &Styles,
) -> std::io::Result<()> {
    let state = match f.state {
        State::Ok => st.pass.apply_to("ok      "),
        State::Needed => st.fail.apply_to("MISSING "),
        State::Optional => st.note.apply_to("optional"),
    };
    writeln!(out, "{state}  {:<8}  {}", f.what, f.detail)?;
    if let Some(tool) = f.install.filter(|_| f.state != State::Ok) {
        let lines = install::lines(tool, platform);
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { "install:" } else { "" };
            writeln!(out, "{:10}{label:<10}{line}", "")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use install::Tool;

    #[test]
    fn a_missing_tool_comes_with_its_install_commands() {
        let finding = Finding {
            what: "gdb",
            state: State::Optional,
            detail: "no gdb that debugs x86-64".into(),
            install: Some(Tool::Gdb),
        };
        let mut out = Vec::new();
        write_finding(
            &mut out,
            &finding,
            Some(Platform::MacOs),
            &Styles::new(false),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "optional  gdb       no gdb that debugs x86-64");
        assert!(
            lines[1].starts_with("          install:  macOS (Homebrew, Intel or Apple Silicon) (this machine): brew install x86_64-elf-gdb"),
            "{text}"
        );
        assert_eq!(lines.len(), 5, "{text}");

        let ok = Finding {
            what: "QEMU",
            state: State::Ok,
            detail: "7.2.22 at /usr/bin/qemu-system-x86_64".into(),
            install: Some(Tool::Qemu),
        };
        let mut out = Vec::new();
        write_finding(&mut out, &ok, None, &Styles::new(false)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ok        QEMU      7.2.22 at /usr/bin/qemu-system-x86_64\n"
        );
    }
}
