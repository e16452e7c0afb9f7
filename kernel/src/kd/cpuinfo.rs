//! `!cpuinfo`: one line per CPU in WinDbg's layout, whose Features column
//! is NT's kernel feature flags (KF_*), not CPUID.
//!
//! The article reads its `00002fff` as CPUID.01H:EDX and finds SEP in bit
//! 11. It is the KF word NT computes from CPUID at boot (the KF_ constants
//! of the DDK's and ReactOS's headers): 0x0FFF is KF_V86_VIS through
//! KF_FXSR, 0x2000 is KF_XMMI (SSE), and KF_FAST_SYSCALL (0x1000) is clear:
//! Windows 2000 saying it does not use SYSENTER. A Pentium III's CPUID.1:EDX
//! could not be 0x2FFF (bit 10 is reserved; MMX, FXSR and SSE are bits
//! 23–25). So the command prints both: the KF word in the table, the CPUID
//! bits it came from below it.

use alloc::string::String;
use core::fmt::Write;

/// NT's kernel feature flags, by name (the DDK's x86 `KF_*` values).
pub const KF_FLAGS: [(u32, &str); 14] = [
    (0x0000_0001, "KF_V86_VIS"),
    (0x0000_0002, "KF_RDTSC"),
    (0x0000_0004, "KF_CR4"),
    (0x0000_0008, "KF_CMOV"),
    (0x0000_0010, "KF_GLOBAL_PAGE"),
    (0x0000_0020, "KF_LARGE_PAGE"),
    (0x0000_0040, "KF_MTRR"),
    (0x0000_0080, "KF_CMPXCHG8B"),
    (0x0000_0100, "KF_MMX"),
    (0x0000_0200, "KF_WORKING_PTE"),
    (0x0000_0400, "KF_PAT"),
    (0x0000_0800, "KF_FXSR"),
    (KF_FAST_SYSCALL, "KF_FAST_SYSCALL"),
    (0x0000_2000, "KF_XMMI"),
];

/// The kernel uses SYSENTER (or SYSCALL) for system calls.
pub const KF_FAST_SYSCALL: u32 = 0x1000;

/// CPUID.01H:EDX bits, and the KF bits NT derives from each.
const FROM_CPUID: [(u32, u32); 11] = [
    (1 << 1, 0x1 | 0x4),   // VME -> KF_V86_VIS | KF_CR4
    (1 << 3, 0x20 | 0x4),  // PSE -> KF_LARGE_PAGE | KF_CR4
    (1 << 4, 0x2),         // TSC -> KF_RDTSC
    (1 << 8, 0x80),        // CX8 -> KF_CMPXCHG8B
    (1 << 12, 0x40),       // MTRR -> KF_MTRR
    (1 << 13, 0x10 | 0x4), // PGE -> KF_GLOBAL_PAGE | KF_CR4
    (1 << 15, 0x8),        // CMOV -> KF_CMOV
    (1 << 16, 0x400),      // PAT -> KF_PAT
    (1 << 23, 0x100),      // MMX -> KF_MMX
    (1 << 24, 0x800),      // FXSR -> KF_FXSR
    (1 << 25, 0x2000),     // SSE -> KF_XMMI
];

/// CPUID.01H:EDX[11], SEP: SYSENTER/SYSEXIT present.
pub const CPUID_SEP: u32 = 1 << 11;
/// CPUID.80000001H:EDX[11]: SYSCALL/SYSRET present in 64-bit mode.
pub const CPUID_SYSCALL: u32 = 1 << 11;

/// The KF word NT computes from CPUID.01H:EDX. KF_WORKING_PTE is always
/// set; KF_FAST_SYSCALL only when the kernel uses a fast system call
/// (`fast_syscall`): Windows 2000 never did, whatever SEP said.
pub const fn kernel_feature_bits(leaf1_edx: u32, fast_syscall: bool) -> u32 {
    let mut bits = 0x200; // KF_WORKING_PTE
    let mut i = 0;
    while i < FROM_CPUID.len() {
        let (cpuid, kf) = FROM_CPUID[i];
        if leaf1_edx & cpuid != 0 {
            bits |= kf;
        }
        i += 1;
    }
    if fast_syscall {
        bits |= KF_FAST_SYSCALL;
    }
    bits
}

/// The names of the flags set in `bits`.
pub fn kf_names(bits: u32) -> String {
    let mut out = String::new();
    for (bit, name) in KF_FLAGS {
        if bits & bit != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
        }
    }
    out
}

/// Display family, model and stepping from CPUID.01H:EAX (Intel SDM Vol. 2A, CPUID).
pub const fn family_model_stepping(eax: u32) -> (u32, u32, u32) {
    let family = (eax >> 8) & 0xf;
    let model = (eax >> 4) & 0xf;
    let display_family = if family == 0xf {
        family + ((eax >> 20) & 0xff)
    } else {
        family
    };
    let display_model = if family == 0x6 || family == 0xf {
        model | ((eax >> 16) & 0xf) << 4
    } else {
        model
    };
    (display_family, display_model, eax & 0xf)
}

/// What one CPU reported.
#[derive(Clone, Copy, Debug)]
pub struct CpuIdentity {
    pub cpu: u32,
    pub vendor: [u8; 12],
    pub leaf1_eax: u32,
    pub leaf1_edx: u32,
    pub ext_edx: u32,
    pub mhz: u64,
    /// IA32_BIOS_SIGN_ID (0x8B): the microcode revision in bits 63:32.
    pub update_signature: u64,
}

/// The table, the KF decode and the CPUID bits. `current` is the CPU of
/// the prompt (its row is marked `>...<`, as WinDbg marks it).
pub fn format(cpus: &[CpuIdentity], current: u32, fast_syscall: bool, why: &str) -> String {
    let mut out = String::from("CP F/M/S     Manufacturer   MHz Update Signature Features\n");
    for c in cpus {
        let (f, m, s) = family_model_stepping(c.leaf1_eax);
        let fms = alloc::format!("{f},{m},{s}");
        let vendor = core::str::from_utf8(&c.vendor).unwrap_or("?");
        let (open, close) = if c.cpu == current {
            ('>', '<')
        } else {
            (' ', ' ')
        };
        let kf = kernel_feature_bits(c.leaf1_edx, fast_syscall);
        let _ = writeln!(
            out,
            "{:>2} {fms:<9} {vendor:<12} {:>5}{open}{:016x}{close}{kf:08x}",
            c.cpu, c.mhz, c.update_signature
        );
    }
    let Some(c) = cpus.iter().find(|c| c.cpu == current).or(cpus.first()) else {
        return out;
    };
    let kf = kernel_feature_bits(c.leaf1_edx, fast_syscall);
    let _ = writeln!(
        out,
        "\nFeatures is NT's kernel feature word (KF_*), computed from CPUID as NT does:"
    );
    let _ = writeln!(out, "  {kf:08x} = {}", kf_names(kf));
    let _ = writeln!(
        out,
        "  KF_FAST_SYSCALL (0x1000) is {}: {why}",
        if kf & KF_FAST_SYSCALL != 0 {
            "set"
        } else {
            "clear"
        }
    );
    let leaves = [
        (
            "CPUID.01H:EDX",
            c.leaf1_edx,
            "SEP",
            CPUID_SEP,
            "SYSENTER/SYSEXIT",
        ),
        (
            "CPUID.80000001H:EDX",
            c.ext_edx,
            "SYSCALL",
            CPUID_SYSCALL,
            "SYSCALL/SYSRET in 64-bit mode",
        ),
    ];
    for (leaf, value, name, bit, what) in leaves {
        let set = value & bit != 0;
        let _ = writeln!(
            out,
            "{leaf} = {value:#010x}: {name} (bit 11) = {}, {}{what}",
            set as u8,
            if set { "the CPU has " } else { "no " }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Pentium III (Coppermine) CPUID.01H:EDX: fpu vme de pse tsc msr pae
    /// mce cx8 sep mtrr pge mca cmov pat pse36 mmx fxsr sse.
    const PENTIUM_III_EDX: u32 = 0x0383_f9ff;

    #[test]
    fn the_articles_features_are_kf_bits_without_fast_syscall() {
        assert_eq!(PENTIUM_III_EDX & CPUID_SEP, CPUID_SEP, "the CPU has SEP");
        assert_eq!(kernel_feature_bits(PENTIUM_III_EDX, false), 0x2fff);
        assert_eq!(kernel_feature_bits(PENTIUM_III_EDX, true), 0x3fff);
        assert_eq!(kernel_feature_bits(0, false), 0x200, "KF_WORKING_PTE only");
        assert_eq!(kf_names(0x2fff).split(' ').count(), 13);
        assert!(!kf_names(0x2fff).contains("KF_FAST_SYSCALL"));
        assert!(kf_names(0x3fff).contains("KF_FAST_SYSCALL KF_XMMI"));
    }

    #[test]
    fn family_model_stepping_of_known_cpus() {
        assert_eq!(family_model_stepping(0x0000_0683), (6, 8, 3), "Pentium III");
        assert_eq!(
            family_model_stepping(0x0006_0fb1),
            (15, 107, 1),
            "QEMU's qemu64"
        );
        assert_eq!(
            family_model_stepping(0x0009_06ea),
            (6, 158, 10),
            "Coffee Lake"
        );
    }

    #[test]
    fn the_table_marks_the_current_cpu() {
        let cpu = |n| CpuIdentity {
            cpu: n,
            vendor: *b"GenuineIntel",
            leaf1_eax: 0x683,
            leaf1_edx: PENTIUM_III_EDX,
            ext_edx: 0,
            mhz: 797,
            update_signature: 0x13_0000_0000,
        };
        let text = format(&[cpu(0), cpu(1)], 0, false, "Windows 2000 mode");
        let lines: alloc::vec::Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            " 0 6,8,3     GenuineIntel   797>0000001300000000<00002fff"
        );
        assert_eq!(
            lines[2],
            " 1 6,8,3     GenuineIntel   797 0000001300000000 00002fff"
        );
        assert!(text.contains("KF_FAST_SYSCALL (0x1000) is clear: Windows 2000 mode"));
        assert!(text.contains("CPUID.01H:EDX = 0x0383f9ff: SEP (bit 11) = 1"));
        assert!(text.contains("CPUID.80000001H:EDX = 0x00000000: SYSCALL (bit 11) = 0"));
        assert!(format(&[], 0, true, "").lines().count() == 1);
    }
}
