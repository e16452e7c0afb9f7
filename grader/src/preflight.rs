//! Checks before building: the tools the grader needs, with the command
//! that installs each one that is missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::profile::Accel;
use crate::qemu::{self, QEMU_ENV};

/// The oldest QEMU the course was measured on (FACTS.md).
pub const MIN_QEMU: (u32, u32) = (7, 2);
/// The kernel's target.
pub const TARGET: &str = "x86_64-unknown-none";

pub const INSTALL_QEMU: &str = "install it with one of:\n  \
    Debian/Ubuntu: sudo apt-get install qemu-system-x86\n  \
    Fedora:        sudo dnf install qemu-system-x86-core\n  \
    macOS:         brew install qemu";

pub fn install_target() -> String {
    format!("install it with: rustup target add {TARGET}")
}

/// `QEMU emulator version 7.2.22 (Debian ...)` -> (7, 2, 22).
pub fn parse_qemu_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = &text[text.find("version ")? + "version ".len()..];
    let number = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// QEMU (`SYSLAB_QEMU`, or qemu-system-x86_64 on PATH) runs and is new enough.
pub fn check_qemu() -> Result<()> {
    let binary = qemu::binary();
    let shown = binary.display();
    let output = match Command::new(&binary).arg("--version").output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var_os(QEMU_ENV).is_some_and(|v| !v.is_empty()) {
                bail!(
                    "{QEMU_ENV}={shown} does not exist; unset it to use qemu-system-x86_64 from PATH"
                )
            }
            bail!("{shown} is not installed (or not on PATH); {INSTALL_QEMU}")
        }
        Err(err) => bail!("cannot run `{shown} --version`: {err}"),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let Some((major, minor, patch)) = parse_qemu_version(&text) else {
        bail!(
            "`{shown} --version` printed no version the grader understands ({:?}); syslab needs \
             QEMU {}.{} or newer; {INSTALL_QEMU}",
            text.lines().next().unwrap_or(""),
            MIN_QEMU.0,
            MIN_QEMU.1
        );
    };
    if (major, minor) < MIN_QEMU {
        bail!(
            "QEMU {major}.{minor}.{patch} is too old: syslab needs {}.{} or newer; {INSTALL_QEMU}",
            MIN_QEMU.0,
            MIN_QEMU.1
        );
    }
    Ok(())
}

/// With rustup, the kernel's target is installed for the workspace's
/// toolchain. Without rustup, or when rustup cannot answer, the build's own
/// error is recognised instead (see builder.rs).
pub fn check_target(root: &Path) -> Result<()> {
    let Ok(output) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
    else {
        return Ok(());
    };
    if !output.status.success() {
        return Ok(());
    }
    let listed = String::from_utf8_lossy(&output.stdout);
    if listed.lines().any(|line| line.trim() == TARGET) {
        Ok(())
    } else {
        bail!(
            "the Rust target {TARGET} is not installed; {}",
            install_target()
        )
    }
}

/// `--accel kvm` needs /dev/kvm.
pub fn check_accel(accel: Accel) -> Result<()> {
    if accel == Accel::Kvm && !Path::new("/dev/kvm").exists() {
        bail!("--accel kvm needs /dev/kvm, which this machine does not have; use --accel tcg");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_qemu_version(
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright"
            ),
            Some((7, 2, 22))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 9.1.0\n"),
            Some((9, 1, 0))
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 8\n"),
            Some((8, 0, 0))
        );
        assert_eq!(parse_qemu_version("nonsense"), None);
        assert!((7, 1) < MIN_QEMU && (7, 2) >= MIN_QEMU && (10, 0) >= MIN_QEMU);
    }

    #[test]
    fn advice_names_every_platform() {
        for needle in [
            "sudo apt-get install qemu-system-x86",
            "sudo dnf install qemu-system-x86-core",
            "brew install qemu",
        ] {
            assert!(INSTALL_QEMU.contains(needle));
        }
        assert_eq!(
            install_target(),
            "install it with: rustup target add x86_64-unknown-none"
        );
    }
}
