//! The test plan in the kernel image (PROTOCOL.md, "The test plan in the
//! image"): every lab's tests and points, read from the ELF section
//! `.syslab_plan` before anything boots. With it a boot that never reaches
//! the test runner scores 0 out of the lab's full points, `--list` needs no
//! boot, and test names on the command line are checked before building
//! anything else.

use std::path::Path;

use anyhow::{Context, Result, bail};
use object::{Object, ObjectSection};

use crate::cmdline::Lab;
use crate::profile::Profile;
use crate::score::Planned;

/// The section the kernel's test tables are encoded into (kernel/src/test/plan.rs).
pub const SECTION: &str = ".syslab_plan";
const MAGIC: &str = "syslab-plan 1";
const END: &str = "end";

/// One lab's tests for one CPU vendor (`any` for most labs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    pub lab: Lab,
    /// `any`, `intel` or `amd`.
    pub vendor: String,
    pub tests: Vec<Planned>,
}

/// Every list of the image, in the kernel's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePlan {
    pub lists: Vec<List>,
}

impl ImagePlan {
    /// Reads the plan from a kernel ELF file.
    pub fn read(kernel: &Path) -> Result<ImagePlan> {
        let bytes = std::fs::read(kernel)
            .with_context(|| format!("cannot read the kernel image {}", kernel.display()))?;
        let file = object::File::parse(&*bytes)
            .with_context(|| format!("{} is not an ELF file", kernel.display()))?;
        let Some(section) = file.section_by_name(SECTION) else {
            bail!(
                "the kernel image {} has no {SECTION} section, so the grader cannot know its \
                 tests before booting; kernel/src/test/plan.rs and kernel/kernel.ld put it there \
                 (was the kernel built from another tree?)",
                kernel.display()
            );
        };
        let data = section
            .data()
            .with_context(|| format!("cannot read {SECTION} of {}", kernel.display()))?;
        ImagePlan::parse(data).with_context(|| {
            format!(
                "the {SECTION} section of {} is not one valid test plan",
                kernel.display()
            )
        })
    }

    /// Parses the section's bytes: the magic line, `test` lines, `end`.
    /// Two plans linked into one section (code that adds bytes to it) are
    /// refused, not merged.
    pub fn parse(data: &[u8]) -> Result<ImagePlan> {
        let text = std::str::from_utf8(data).context("it is not UTF-8")?;
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(MAGIC) {
            bail!("it does not start with `{MAGIC}`");
        }
        let mut lists: Vec<List> = Vec::new();
        let mut ended = false;
        for (number, line) in lines.enumerate() {
            let number = number + 2;
            if ended {
                bail!("line {number} comes after `{END}`: more than one plan was linked in");
            }
            if line == END {
                ended = true;
                continue;
            }
            let mut words = line.splitn(6, ' ');
            let (Some("test"), Some(lab), Some(vendor), Some(name), Some(points)) = (
                words.next(),
                words.next(),
                words.next(),
                words.next(),
                words.next(),
            ) else {
                bail!("line {number} is not `test LAB VENDOR NAME POINTS DESCRIPTION`: {line:?}");
            };
            let description = words.next().unwrap_or("");
            let Some(lab) = Lab::ALL.into_iter().find(|l| l.as_str() == lab) else {
                bail!("line {number} names an unknown lab `{lab}`");
            };
            let Ok(points) = points.parse() else {
                bail!("line {number}: `{points}` is not a number of points");
            };
            let test = Planned {
                name: name.to_owned(),
                points,
                description: description.to_owned(),
            };
            match lists.last_mut() {
                Some(list) if list.lab == lab && list.vendor == vendor => list.tests.push(test),
                _ => {
                    if lists.iter().any(|l| l.lab == lab && l.vendor == vendor) {
                        bail!("line {number}: the list of {lab} ({vendor}) appears twice");
                    }
                    lists.push(List {
                        lab,
                        vendor: vendor.to_owned(),
                        tests: vec![test],
                    });
                }
            }
        }
        if !ended {
            bail!("it does not end with `{END}`");
        }
        Ok(ImagePlan { lists })
    }

    /// The lists of `lab`: one, or one per vendor.
    pub fn lists(&self, lab: Lab) -> impl Iterator<Item = &List> {
        self.lists.iter().filter(move |l| l.lab == lab)
    }

    /// The tests `lab` runs on `profile`. For a CPU model whose vendor the
    /// grader cannot tell, the first list; the boot's own `plan` lines
    /// then settle it (see `matching`).
    pub fn for_lab(&self, lab: Lab, profile: &Profile) -> Vec<Planned> {
        let vendor = vendor_of(profile);
        let mut lists = self.lists(lab);
        let first = lists.next();
        first
            .into_iter()
            .chain(lists)
            .find(|l| l.vendor == "any" || Some(l.vendor.as_str()) == vendor)
            .or(first)
            .map(|l| l.tests.clone())
            .unwrap_or_default()
    }

    /// The list of `lab` that is exactly `announced` (what a boot printed).
    pub fn matching(&self, lab: Lab, announced: &[Planned]) -> Option<Vec<Planned>> {
        self.lists(lab)
            .find(|l| l.tests == announced)
            .map(|l| l.tests.clone())
    }
}

/// The CPU vendor a profile boots, as the plan names it, when the grader
/// can tell: the named profiles, a `vendor=` in the model string, or one
/// of QEMU's named models.
pub fn vendor_of(profile: &Profile) -> Option<&'static str> {
    let model = match profile {
        Profile::Intel => return Some("intel"),
        Profile::Amd => return Some("amd"),
        Profile::Model(model) => model,
    };
    if model.contains("vendor=GenuineIntel") {
        return Some("intel");
    }
    if model.contains("vendor=AuthenticAMD") {
        return Some("amd");
    }
    let name = model.split(',').next().unwrap_or_default();
    const INTEL: [&str; 24] = [
        "486",
        "pentium",
        "pentium2",
        "pentium3",
        "coreduo",
        "core2duo",
        "n270",
        "kvm32",
        "kvm64",
        "Conroe",
        "Penryn",
        "Nehalem",
        "Westmere",
        "SandyBridge",
        "IvyBridge",
        "Haswell",
        "Broadwell",
        "Skylake",
        "Cascadelake",
        "Cooperlake",
        "Icelake",
        "SapphireRapids",
        "GraniteRapids",
        "Snowridge",
    ];
    const AMD: [&str; 7] = [
        "qemu64", "qemu32", "athlon", "phenom", "Opteron", "EPYC", "Dhyana",
    ];
    let family = |names: &[&str]| {
        names.iter().any(|n| {
            name == *n
                || name
                    .strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with(['-', '_']))
        })
    };
    if family(&INTEL) {
        Some("intel")
    } else if family(&AMD) {
        Some("amd")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "syslab-plan 1\n\
        test lab0 any lab0.boot 5 the kernel boots\n\
        test lab2 intel lab2.msrs 10 rdmsr 174/175/176 on each CPU\n\
        test lab2 intel lab2.stub_choice 5 SYSENTER on Intel\n\
        test lab2 amd lab2.msrs 10 rdmsr 174/175/176 on each CPU\n\
        test lab2 amd lab2.sysenter_ud 10 \n\
        end\n";

    #[test]
    fn parses_lists_in_order() {
        let plan = ImagePlan::parse(TEXT.as_bytes()).unwrap();
        assert_eq!(plan.lists.len(), 3);
        assert_eq!(plan.lists[0].tests[0].name, "lab0.boot");
        assert_eq!(plan.lists[0].tests[0].points, 5);
        assert_eq!(plan.lists[0].tests[0].description, "the kernel boots");
        assert_eq!(plan.lists[1].vendor, "intel");
        assert_eq!(plan.lists[2].tests[1].description, "");
        let intel = plan.for_lab(Lab::Lab2, &Profile::Intel);
        assert_eq!(intel[1].name, "lab2.stub_choice");
        let amd = plan.for_lab(Lab::Lab2, &Profile::Amd);
        assert_eq!(amd[1].name, "lab2.sysenter_ud");
        assert_eq!(plan.for_lab(Lab::Lab0, &Profile::Amd).len(), 1);
        assert!(plan.for_lab(Lab::Lab3, &Profile::Intel).is_empty());
        // A model the grader cannot place gets the first list until a boot says.
        let unknown = Profile::Model("mystery".into());
        assert_eq!(plan.for_lab(Lab::Lab2, &unknown), intel);
        assert_eq!(plan.matching(Lab::Lab2, &amd), Some(amd.clone()));
        assert_eq!(plan.matching(Lab::Lab2, &amd[..1]), None);
    }

    #[test]
    fn refuses_what_is_not_exactly_one_plan() {
        let twice = format!("{TEXT}{TEXT}");
        let forged = TEXT.replace("end\n", "end\ntest lab0 any lab0.free 100 x\n");
        let repeated = TEXT.replace("end\n", "test lab0 any lab0.late 1 x\nend\n");
        for (bad, why) in [
            ("", "does not start"),
            ("syslab-plan 2\nend\n", "does not start"),
            (
                "syslab-plan 1\ntest lab0 any lab0.boot 5 x\n",
                "does not end",
            ),
            (twice.as_str(), "after `end`"),
            (forged.as_str(), "after `end`"),
            (repeated.as_str(), "appears twice"),
            (
                "syslab-plan 1\ntest lab9 any lab9.x 1 x\nend\n",
                "unknown lab",
            ),
            (
                "syslab-plan 1\ntest lab0 any lab0.x many x\nend\n",
                "not a number",
            ),
            (
                "syslab-plan 1\nplan lab0 any lab0.x 1 x\nend\n",
                "is not `test",
            ),
        ] {
            let err = format!("{:#}", ImagePlan::parse(bad.as_bytes()).unwrap_err());
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn vendors_of_profiles_and_models() {
        let model = |m: &str| vendor_of(&Profile::Model(m.into()));
        assert_eq!(vendor_of(&Profile::Intel), Some("intel"));
        assert_eq!(vendor_of(&Profile::Amd), Some("amd"));
        assert_eq!(model("Skylake-Client"), Some("intel"));
        assert_eq!(model("Nehalem"), Some("intel"));
        assert_eq!(model("EPYC-Rome,+sep"), Some("amd"));
        assert_eq!(model("qemu64"), Some("amd"));
        assert_eq!(model("qemu64,vendor=GenuineIntel"), Some("intel"));
        assert_eq!(model("max,vendor=AuthenticAMD"), Some("amd"));
        assert_eq!(model("max"), None);
        assert_eq!(model("Skylakeish"), None);
    }
}
