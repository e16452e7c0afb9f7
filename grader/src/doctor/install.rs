//! Which system this is, and the command that installs each tool there.

use std::fmt;

/// The systems the course supports, each with its own package manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Debian, Ubuntu and their derivatives (apt).
    Debian,
    /// Fedora, RHEL and their derivatives (dnf).
    Fedora,
    /// macOS with Homebrew, on Intel and on Apple Silicon alike.
    MacOs,
    /// Windows Subsystem for Linux (Ubuntu by default, so apt).
    Wsl,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Debian,
        Platform::Fedora,
        Platform::MacOs,
        Platform::Wsl,
    ];

    /// This machine's platform, if it is one of the four.
    pub fn detect() -> Option<Platform> {
        if cfg!(target_os = "macos") {
            return Some(Platform::MacOs);
        }
        if !cfg!(target_os = "linux") {
            return None;
        }
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Platform::from_linux(&kernel, &os_release)
    }

    /// From the kernel release (WSL's says `microsoft`) and /etc/os-release.
    pub fn from_linux(kernel_release: &str, os_release: &str) -> Option<Platform> {
        if kernel_release.to_ascii_lowercase().contains("microsoft") {
            return Some(Platform::Wsl);
        }
        let ids: Vec<String> = os_release
            .lines()
            .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
            .flat_map(|v| {
                v.trim_matches('"')
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let has = |id: &str| ids.iter().any(|i| i == id);
        if has("debian") || has("ubuntu") {
            Some(Platform::Debian)
        } else if has("fedora") || has("rhel") {
            Some(Platform::Fedora)
        } else {
            None
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Debian => "Debian/Ubuntu",
            Platform::Fedora => "Fedora",
            Platform::MacOs => "macOS (Homebrew, Intel or Apple Silicon)",
            Platform::Wsl => "WSL",
        })
    }
}

/// What the doctor may tell a student to install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Qemu,
    Rustup,
    Target,
    Gdb,
    Mdbook,
}

/// The command that installs `tool` on `platform`, with a remark where the
/// command alone is not the whole story.
pub fn command(tool: Tool, platform: Platform) -> &'static str {
    use Platform::*;
    match (tool, platform) {
        (Tool::Qemu, Debian | Wsl) => "sudo apt-get install qemu-system-x86",
        (Tool::Qemu, Fedora) => "sudo dnf install qemu-system-x86-core",
        (Tool::Qemu, MacOs) => "brew install qemu",
        (Tool::Rustup, _) => "curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh",
        (Tool::Target, _) => "rustup target add x86_64-unknown-none",
        (Tool::Gdb, Debian | Wsl) => "sudo apt-get install gdb",
        (Tool::Gdb, Fedora) => "sudo dnf install gdb",
        // Homebrew's `gdb` does not run on Apple Silicon; this cross gdb
        // runs on both kinds of Mac and debugs x86-64 targets.
        (Tool::Gdb, MacOs) => "brew install x86_64-elf-gdb   (then run it as x86_64-elf-gdb)",
        (Tool::Mdbook, _) => "cargo install --locked mdbook@0.5.4",
    }
}

/// The install lines for `tool`: this platform's first, then the others.
pub fn lines(tool: Tool, this: Option<Platform>) -> Vec<String> {
    let mut platforms: Vec<Platform> = this.into_iter().collect();
    platforms.extend(Platform::ALL.iter().filter(|p| Some(**p) != this));
    // One line when the command is the same everywhere.
    let first = command(tool, platforms[0]);
    if platforms.iter().all(|p| command(tool, *p) == first) {
        return vec![first.to_owned()];
    }
    let labels: Vec<String> = platforms
        .iter()
        .map(|p| {
            let mark = if Some(*p) == this {
                " (this machine)"
            } else {
                ""
            };
            format!("{p}{mark}:")
        })
        .collect();
    let width = labels.iter().map(String::len).max().unwrap_or(0);
    labels
        .iter()
        .zip(&platforms)
        .map(|(label, p)| format!("{label:<width$} {}", command(tool, *p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_from_os_release() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        let ubuntu = "ID=ubuntu\nID_LIKE=debian\n";
        let fedora = "ID=fedora\n";
        let rocky = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
        let kernel = "6.1.0-17-amd64";
        assert_eq!(Platform::from_linux(kernel, debian), Some(Platform::Debian));
        assert_eq!(Platform::from_linux(kernel, ubuntu), Some(Platform::Debian));
        assert_eq!(Platform::from_linux(kernel, fedora), Some(Platform::Fedora));
        assert_eq!(Platform::from_linux(kernel, rocky), Some(Platform::Fedora));
        assert_eq!(Platform::from_linux(kernel, "ID=arch\n"), None);
        assert_eq!(
            Platform::from_linux("5.15.153.1-microsoft-standard-WSL2", ubuntu),
            Some(Platform::Wsl)
        );
    }

    #[test]
    fn every_tool_has_a_command_on_every_platform() {
        for tool in [
            Tool::Qemu,
            Tool::Rustup,
            Tool::Target,
            Tool::Gdb,
            Tool::Mdbook,
        ] {
            for platform in Platform::ALL {
                assert!(!command(tool, platform).is_empty());
            }
        }
        assert_eq!(
            command(Tool::Qemu, Platform::Wsl),
            "sudo apt-get install qemu-system-x86"
        );
        assert!(command(Tool::Gdb, Platform::MacOs).starts_with("brew install x86_64-elf-gdb"));
    }

    #[test]
    fn this_platform_comes_first_and_one_command_is_one_line() {
        let qemu = lines(Tool::Qemu, Some(Platform::Fedora));
        assert_eq!(qemu.len(), 4);
        assert!(qemu[0].starts_with("Fedora (this machine): "), "{qemu:?}");
        // The commands line up.
        let column = qemu[0].find("sudo dnf").unwrap();
        assert!(
            qemu.iter()
                .all(|l| l.len() > column && l.as_bytes()[column - 1] == b' ')
        );
        assert!(
            qemu.iter()
                .any(|l| l[column..].starts_with("brew install qemu")),
            "{qemu:?}"
        );
        assert!(qemu.iter().any(|l| l.contains("brew install qemu")));
        assert_eq!(
            lines(Tool::Target, None),
            ["rustup target add x86_64-unknown-none"]
        );
    }
}
