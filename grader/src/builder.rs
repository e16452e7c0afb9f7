//! Building the user program and the kernel image (PROTOCOL.md,
//! "Building") with cargo, showing a spinner with the crate being compiled
//! and passing the compiler's diagnostics through as they come.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::paths::Workspace;
use crate::preflight::{TARGET, install_target};

/// The ring-3 program, handed to the kernel as its initrd.
pub const USER_PACKAGE: &str = "syslab-user";

/// Which kernel image to build: the students' code or the answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Labs,
    Solutions,
}

impl Variant {
    /// The package, and binary, that is the kernel image.
    pub fn package(self) -> &'static str {
        match self {
            Variant::Labs => "syslab-labs",
            Variant::Solutions => "syslab-solutions",
        }
    }
}

/// The two ELF files QEMU boots.
#[derive(Clone, Debug)]
pub struct Images {
    pub kernel: PathBuf,
    pub user: PathBuf,
}

/// The messages rustc and cargo give when the target's `core` is missing.
const MISSING_TARGET_SIGNS: [&str; 3] = [
    "can't find crate for `core`",
    "target may not be installed",
    "rustup target add",
];

/// Cargo's own status verbs; such lines feed the spinner instead of the terminal.
const STATUS_VERBS: [&str; 14] = [
    "Compiling",
    "Checking",
    "Fresh",
    "Finished",
    "Blocking",
    "Updating",
    "Downloading",
    "Downloaded",
    "Locking",
    "Adding",
    "Building",
    "Dirty",
    "Running",
    "Waiting",
];

pub fn build(ws: &Workspace, variant: Variant) -> Result<Images> {
    let solutions = ws.root.join("solutions");
    if variant == Variant::Solutions && !solutions.join("Cargo.toml").is_file() {
        bail!(
            "--solutions: this checkout has no {} (a course hands out labs/ only); \
             run without --solutions to grade labs/",
            crate::paths::show(&solutions).display()
        );
    }
    let kernel_manifest = match variant {
        Variant::Solutions if own_workspace(&solutions.join("Cargo.toml")) => Some(
            solutions
                .strip_prefix(&ws.root)
                .unwrap_or(&solutions)
                .join("Cargo.toml"),
        ),
        _ => None,
    };
    let spinner = spinner();
    let built = cargo_build(ws, USER_PACKAGE, None, &spinner).and_then(|user| {
        let kernel = cargo_build(ws, variant.package(), kernel_manifest.as_deref(), &spinner)?;
        Ok((user, kernel))
    });
    spinner.finish_and_clear();
    let (user, kernel) = built?;
    Ok(Images { kernel, user })
}

fn spinner() -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} [{pos}] {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    spinner.set_style(style);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// Whether a manifest declares a `[workspace]` of its own. solutions/ does,
/// so that a course can delete it without breaking the root workspace; it
/// is then built through its manifest rather than as a root member.
fn own_workspace(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest)
        .map(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        .unwrap_or(false)
}

/// A `--config` value that has rustc write the checkout's paths relative
/// to it (`--remap-path-prefix ROOT/=`, appended to the target's rustflags
/// in .cargo/config.toml). The root workspace's members get relative paths
/// anyway; a workspace of its own, such as solutions/, gets the kernel's
/// absolute ones, which its panic messages would then print, and whose
/// lengths change the code (a location's length is an immediate, one or
/// four bytes). (The order of its functions and statics still follows the
/// hashes of its symbols, which cargo derives from the kernel's absolute
/// path for a workspace that does not contain it.) gdb, run from the root,
/// finds the sources through its `$cwd` search path.
fn checkout_relative_paths(root: &Path) -> String {
    let prefix = format!("{}/", root.display());
    let escaped = prefix.replace('\\', "\\\\").replace('"', "\\\"");
    format!("target.{TARGET}.rustflags=[\"--remap-path-prefix={escaped}=\"]")
}

/// `cargo build --release -p PACKAGE --target x86_64-unknown-none`, from
/// the workspace root (with `--manifest-path` for a package that is a
/// workspace of its own); returns the path of the executable it produced.
/// The compiler's messages go to stderr as they come.
fn cargo_build(
    ws: &Workspace,
    package: &str,
    manifest: Option<&Path>,
    spinner: &ProgressBar,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let color = std::io::stderr().is_terminal();
    let mut args: Vec<String> = vec!["build".into(), "--release".into()];
    if let Some(manifest) = manifest {
        // Into the root's target/ too: the kernel's dependencies are then
        // built once for both workspaces.
        args.extend([
            "--manifest-path".into(),
            manifest.display().to_string(),
            "--target-dir".into(),
            ws.target.display().to_string(),
        ]);
        args.extend(["--config".into(), checkout_relative_paths(&ws.root)]);
    }
    args.extend([
        "-p".into(),
        package.into(),
        "--target".into(),
        TARGET.into(),
    ]);
    let shown = format!("cargo {}", args.join(" "));
    args.push("--message-format=json-diagnostic-rendered-ansi".into());
    args.push(
        if color {
            "--color=always"
        } else {
            "--color=never"
        }
        .into(),
    );
    spinner.set_prefix(format!("building {package}"));
    spinner.set_position(0);

    let mut child = Command::new(&cargo)
        .args(args)
        .current_dir(&ws.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{shown}`; is cargo on PATH?"))?;

    let missing_target = Arc::new(AtomicBool::new(false));
    let stderr = child.stderr.take().map(|pipe| {
        let spinner = spinner.clone();
        let missing_target = Arc::clone(&missing_target);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                note_missing_target(&line, &missing_target);
                let plain = console::strip_ansi_codes(&line);
                let trimmed = plain.trim();
                let is_status = STATUS_VERBS.iter().any(|verb| {
                    trimmed
                        .strip_prefix(verb)
                        .is_some_and(|r| r.starts_with(' '))
                });
                if is_status {
                    spinner.set_message(trimmed.to_owned());
                } else {
                    let shown = if color {
                        line.clone()
                    } else {
                        plain.into_owned()
                    };
                    spinner.suspend(|| eprintln!("{shown}"));
                }
            }
        })
    });

    let mut executable = None;
    let mut finished_ok = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                spinner.suspend(|| eprintln!("{line}"));
                continue;
            };
            match message["reason"].as_str() {
                Some("compiler-message") => {
                    if let Some(rendered) = message["message"]["rendered"].as_str() {
                        note_missing_target(rendered, &missing_target);
                        let text = if color {
                            rendered.to_owned()
                        } else {
                            console::strip_ansi_codes(rendered).into_owned()
                        };
                        spinner.suspend(|| eprint!("{text}"));
                    }
                }
                Some("compiler-artifact") => {
                    spinner.inc(1);
                    if let Some(name) = message["target"]["name"].as_str() {
                        spinner.set_message(format!("compiled {name}"));
                        if name == package
                            && let Some(path) = message["executable"].as_str()
                        {
                            executable = Some(PathBuf::from(path));
                        }
                    }
                }
                Some("build-finished") => finished_ok = message["success"].as_bool(),
                _ => {}
            }
        }
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{shown}`"))?;
    if let Some(reader) = stderr {
        let _ = reader.join();
    }

    if !status.success() || finished_ok == Some(false) {
        if missing_target.load(Ordering::Relaxed) {
            bail!(
                "the Rust target {TARGET} is not installed; {}",
                install_target()
            );
        }
        return Err(anyhow!("`{shown}` failed ({status})")
            .context("the kernel did not build; the compiler's errors are above"));
    }
    // Where cargo puts it when the JSON did not say.
    let path = executable.unwrap_or_else(|| default_executable(&ws.target, package));
    if !path.is_file() {
        bail!(
            "`{shown}` succeeded but {} is not there; does the package have a binary named \
             {package}?",
            path.display()
        );
    }
    Ok(path)
}

fn note_missing_target(text: &str, flag: &AtomicBool) {
    if MISSING_TARGET_SIGNS.iter().any(|sign| text.contains(sign)) {
        flag.store(true, Ordering::Relaxed);
    }
}

/// `target/x86_64-unknown-none/release/PACKAGE`, where cargo puts the binary.
pub fn default_executable(target: &Path, package: &str) -> PathBuf {
    target.join(TARGET).join("release").join(package)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_prefix_is_remapped_to_nothing_in_toml() {
        assert_eq!(
            checkout_relative_paths(Path::new("/home/ann/syslab")),
            "target.x86_64-unknown-none.rustflags=[\"--remap-path-prefix=/home/ann/syslab/=\"]"
        );
        // A quote or a backslash in the path stays inside the TOML string.
        assert_eq!(
            checkout_relative_paths(Path::new("/tmp/a\"b")),
            "target.x86_64-unknown-none.rustflags=[\"--remap-path-prefix=/tmp/a\\\"b/=\"]"
        );
    }

    #[test]
    fn missing_target_is_recognised_from_rustc_and_cargo() {
        for text in [
            "error[E0463]: can't find crate for `core`\n  = note: the `x86_64-unknown-none` target may not be installed",
            "help: consider downloading the target with `rustup target add x86_64-unknown-none`",
        ] {
            let flag = AtomicBool::new(false);
            note_missing_target(text, &flag);
            assert!(flag.load(Ordering::Relaxed), "{text}");
        }
        let flag = AtomicBool::new(false);
        note_missing_target("error[E0308]: mismatched types", &flag);
        assert!(!flag.load(Ordering::Relaxed));
    }

    #[test]
    fn a_manifest_with_its_own_workspace_is_recognised() {
        let dir = std::env::temp_dir().join(format!("syslab-grader-ws-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("Cargo.toml");
        std::fs::write(
            &manifest,
            "# answers\n[workspace]\n\n[package]\nname = \"x\"\n",
        )
        .unwrap();
        assert!(own_workspace(&manifest));
        std::fs::write(&manifest, "[package]\nname = \"x\"\nworkspace = \"..\"\n").unwrap();
        assert!(!own_workspace(&manifest));
        assert!(!own_workspace(&dir.join("missing.toml")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn packages_and_paths() {
        assert_eq!(Variant::Labs.package(), "syslab-labs");
        assert_eq!(Variant::Solutions.package(), "syslab-solutions");
        assert_eq!(
            default_executable(Path::new("/w/target"), "syslab-user"),
            Path::new("/w/target/x86_64-unknown-none/release/syslab-user")
        );
    }
}
