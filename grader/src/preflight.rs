//! Checks before building: the tools the grader needs, with the command
//! that installs each one that is missing.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use crate::profile::Accel;
use crate::qemu;

/// The oldest QEMU the course was measured on (FACTS.md).
pub const MIN_QEMU: (u32, u32) = (7, 2);
/// The kernel's target.
pub const TARGET: &str = "x86_64-unknown-none";

pub const INSTALL_QEMU: &str = "install it with one of:\n  \
    Debian/Ubuntu/WSL: sudo apt-get install qemu-system-x86\n  \
    Fedora:            sudo dnf install qemu-system-x86-core\n  \
    macOS:             brew install qemu\n\
    (`cargo grader doctor` checks every tool the course uses)";

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

/// What `qemu-system-x86_64 --version` said: the version, and its first
/// line; or why there is none.
pub fn qemu_version() -> Result<((u32, u32, u32), String), String> {
    let shown = qemu::binary_shown();
    let output = match Command::new(qemu::binary()).arg("--version").output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{shown} is not installed (or not on PATH)"));
        }
        Err(err) => return Err(format!("cannot run `{shown} --version`: {err}")),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or("").to_owned();
    match parse_qemu_version(&text) {
        Some(version) => Ok((version, first)),
        None => Err(format!(
            "`{shown} --version` printed no version the grader understands ({first:?}); syslab \
             needs QEMU {}.{} or newer",
            MIN_QEMU.0, MIN_QEMU.1
        )),
    }
}

/// QEMU is there (on PATH, or where SYSLAB_QEMU says) and new enough.
pub fn check_qemu() -> Result<()> {
    let ((major, minor, patch), _) = match qemu_version() {
        Ok(found) => found,
        Err(why) => bail!("{why}; {INSTALL_QEMU}"),
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

/// Whether the workspace's toolchain has the kernel's target, by asking
/// `rustup`; `None` when there is no rustup or it cannot answer.
pub fn target_installed(rustup: &OsStr, root: &Path) -> Option<bool> {
    let output = Command::new(rustup)
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let listed = String::from_utf8_lossy(&output.stdout);
    Some(listed.lines().any(|line| line.trim() == TARGET))
}

/// The kernel's target is installed for the workspace's toolchain. When it
/// is not and rustup is there, the grader runs `rustup target add` itself,
/// says so, and goes on (the toolchain file asks for the target, but rustup
/// adds it only when it installs the toolchain, not to one that was already
/// there). Without rustup, or when rustup cannot answer, the build's own
/// error is recognised instead (see builder.rs).
pub fn check_target(root: &Path) -> Result<()> {
    ensure_target(OsStr::new("rustup"), root, &mut std::io::stderr())
}

fn ensure_target(rustup: &OsStr, root: &Path, say: &mut dyn Write) -> Result<()> {
    if target_installed(rustup, root) != Some(false) {
        return Ok(());
    }
    let _ = writeln!(
        say,
        "the Rust target {TARGET} is missing; installing it: rustup target add {TARGET}"
    );
    let status = Command::new(rustup)
        .args(["target", "add", TARGET])
        .current_dir(root)
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() && target_installed(rustup, root) == Some(true) => {
            let _ = writeln!(say, "installed {TARGET}; going on");
            Ok(())
        }
        Ok(status) => bail!(
            "`rustup target add {TARGET}` did not install the target ({status}); its messages are \
             above; {}",
            install_target()
        ),
        Err(err) => bail!(
            "cannot run `rustup target add {TARGET}`: {err}; {}",
            install_target()
        ),
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

    /// A fake `rustup` that lists the target only once `target add` ran.
    #[cfg(unix)]
    fn fake_rustup(dir: &Path, add_works: bool) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("rustup");
        let installed = dir.join("installed");
        let add = if add_works {
            format!("touch {}", installed.display())
        } else {
            "exit 1".to_owned()
        };
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> {log}\ncase \"$2\" in\n  list) echo x86_64-unknown-linux-gnu; \
                 [ -e {installed} ] && echo {TARGET}; exit 0;;\n  add) {add};;\nesac\n",
                log = dir.join("calls").display(),
                installed = installed.display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_target_is_added_with_rustup_and_said() {
        let dir = std::env::temp_dir().join(format!("syslab-rustup-{}", std::process::id()));
        for add_works in [true, false] {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let rustup = fake_rustup(&dir, add_works);
            let mut said = Vec::new();
            let result = ensure_target(rustup.as_os_str(), &dir, &mut said);
            let said = String::from_utf8(said).unwrap();
            assert!(
                said.starts_with(
                    "the Rust target x86_64-unknown-none is missing; installing it: rustup target \
                     add x86_64-unknown-none\n"
                ),
                "{said}"
            );
            let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
            assert!(calls.contains("target add x86_64-unknown-none"), "{calls}");
            if add_works {
                assert!(result.is_ok());
                assert!(said.ends_with("going on\n"), "{said}");
                // Installed now: nothing more is run or said.
                let mut again = Vec::new();
                ensure_target(rustup.as_os_str(), &dir, &mut again).unwrap();
                assert!(again.is_empty());
            } else {
                let err = format!("{:#}", result.unwrap_err());
                assert!(err.contains("did not install the target"), "{err}");
                assert!(
                    err.contains("rustup target add x86_64-unknown-none"),
                    "{err}"
                );
            }
        }
        // No rustup at all: nothing to do here, the build will say.
        let mut said = Vec::new();
        assert!(ensure_target(OsStr::new("/no/such/rustup"), &dir, &mut said).is_ok());
        assert!(said.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
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
