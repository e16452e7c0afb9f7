//! CPU profiles and accelerators, and the QEMU arguments they become
//! (PROTOCOL.md, "Booting").

use std::fmt;

use clap::ValueEnum;

/// `--cpu`: a named profile or any QEMU CPU model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `qemu64,vendor=GenuineIntel`: SYSENTER works in 64-bit mode.
    Intel,
    /// `qemu64` (AuthenticAMD): SYSENTER raises #UD in 64-bit mode.
    Amd,
    /// Passed to `-cpu` as it is.
    Model(String),
}

impl Profile {
    /// Parses `--cpu`; any string that is not `intel` or `amd` is a model.
    pub fn parse(text: &str) -> Result<Profile, String> {
        match text {
            "intel" => Ok(Profile::Intel),
            "amd" => Ok(Profile::Amd),
            "" => Err("the CPU model is empty; use intel, amd, or a QEMU model such as Skylake-Client (see `qemu-system-x86_64 -cpu help`)".into()),
            model if model.contains(char::is_whitespace) => Err(format!(
                "`{model}` contains a space; QEMU CPU models look like Skylake-Client or qemu64,+sep"
            )),
            model => Ok(Profile::Model(model.to_owned())),
        }
    }

    /// The value of `profile=` on the kernel command line. A model becomes
    /// `other`: PROTOCOL.md allows only intel|amd|other, and a model string
    /// may hold `=` and `,` that the kernel's key=value parser would trip on.
    pub fn cmdline_name(&self) -> &'static str {
        match self {
            Profile::Intel => "intel",
            Profile::Amd => "amd",
            Profile::Model(_) => "other",
        }
    }

    /// A short name for headers and log file names.
    pub fn label(&self) -> String {
        match self {
            Profile::Intel => "intel".into(),
            Profile::Amd => "amd".into(),
            Profile::Model(model) => model.clone(),
        }
    }

    /// The same name with only characters that are safe in a file name.
    pub fn file_label(&self) -> String {
        self.label()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The argument of `-cpu`.
    pub fn cpu_arg(&self, accel: Accel) -> String {
        let base = match self {
            Profile::Intel => "qemu64,vendor=GenuineIntel".to_owned(),
            Profile::Amd => "qemu64".to_owned(),
            Profile::Model(model) => model.clone(),
        };
        // FACTS.md: under this machine's KVM, `host` and `max` fail to start
        // ("failed to set MSR 0x10a") unless arch-capabilities is off.
        let model_name = base.split(',').next().unwrap_or_default();
        let needs_fix = accel == Accel::Kvm
            && matches!(model_name, "host" | "max")
            && !base.contains("arch-capabilities");
        if needs_fix {
            base + ",arch-capabilities=off"
        } else {
            base
        }
    }
}

/// `--accel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    Tcg,
    Kvm,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }

    /// The default `--timeout`, in seconds.
    pub fn default_timeout_secs(self) -> u64 {
        match self {
            Accel::Tcg => 20,
            Accel::Kvm => 15,
        }
    }
}

/// The virtual machine a lab runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    pub profile: Profile,
    pub accel: Accel,
    pub smp: u32,
}

impl Machine {
    /// The machine-specific QEMU arguments: `-accel`, `-cpu`, `-smp`.
    pub fn qemu_args(&self) -> Vec<String> {
        vec![
            "-accel".into(),
            self.accel.as_str().into(),
            "-cpu".into(),
            self.profile.cpu_arg(self.accel),
            "-smp".into(),
            self.smp.to_string(),
        ]
    }
}

impl fmt::Display for Machine {
    /// `intel, tcg, -smp 2`, as in the report's lab headers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, -smp {}",
            self.profile.label(),
            self.accel.as_str(),
            self.smp
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(profile: Profile, accel: Accel) -> Machine {
        Machine {
            profile,
            accel,
            smp: 2,
        }
    }

    #[test]
    fn named_profiles_map_to_protocol_cpu_strings() {
        assert_eq!(
            machine(Profile::Intel, Accel::Tcg).qemu_args(),
            [
                "-accel",
                "tcg",
                "-cpu",
                "qemu64,vendor=GenuineIntel",
                "-smp",
                "2"
            ]
        );
        assert_eq!(
            machine(Profile::Amd, Accel::Tcg).qemu_args(),
            ["-accel", "tcg", "-cpu", "qemu64", "-smp", "2"]
        );
    }

    #[test]
    fn other_models_pass_through() {
        let p = Profile::parse("Skylake-Client").unwrap();
        assert_eq!(p.cpu_arg(Accel::Tcg), "Skylake-Client");
        assert_eq!(p.cpu_arg(Accel::Kvm), "Skylake-Client");
        assert_eq!(p.cmdline_name(), "other");
        assert_eq!(
            Profile::parse("qemu64,+sep").unwrap().file_label(),
            "qemu64__sep"
        );
    }

    #[test]
    fn host_and_max_get_arch_capabilities_off_under_kvm_only() {
        for model in ["host", "max", "max,vendor=GenuineIntel"] {
            let p = Profile::parse(model).unwrap();
            assert_eq!(p.cpu_arg(Accel::Tcg), model);
            assert_eq!(
                p.cpu_arg(Accel::Kvm),
                format!("{model},arch-capabilities=off")
            );
        }
        let given = Profile::parse("max,arch-capabilities=on").unwrap();
        assert_eq!(given.cpu_arg(Accel::Kvm), "max,arch-capabilities=on");
        assert_eq!(
            machine(Profile::Intel, Accel::Kvm).qemu_args()[..4],
            ["-accel", "kvm", "-cpu", "qemu64,vendor=GenuineIntel"]
        );
    }

    #[test]
    fn bad_models_are_refused_with_advice() {
        assert!(Profile::parse("").unwrap_err().contains("-cpu help"));
        assert!(Profile::parse("a b").is_err());
    }

    #[test]
    fn header_label() {
        assert_eq!(
            machine(Profile::Intel, Accel::Tcg).to_string(),
            "intel, tcg, -smp 2"
        );
    }
}
