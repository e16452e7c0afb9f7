//! SharedUserData: a page the kernel fills and every process sees, read-only
//! and executable, at Windows XP's address 0x7FFE0000.
//!
//! At offset 0x300 it holds `SystemCallStub`, which the kernel picks at boot
//! from CPUID. ntdll's stubs do `mov eax, N; mov rdx, 0x7FFE0300; call rdx`,
//! so one ntdll serves every CPU: on XP the stub was `mov edx, esp;
//! sysenter; ret` on a CPU with SEP and `lea edx, [esp+8]; int 2e; ret`
//! otherwise. The 64-bit stubs here are:
//!
//! | stub       | code                                         | RDX on entry to the kernel |
//! |------------|----------------------------------------------|----------------------------|
//! | `sysenter` | `mov rdx, rsp; sysenter; ret`                | the user RSP               |
//! | `syscall`  | `lea rdx, [rsp + 16]; syscall; ret`          | the arguments              |
//! | `int2e`    | `lea rdx, [rsp + 16]; int 0x2e; ret`         | the arguments              |
//!
//! At the stub, `[rsp]` returns into the ntdll stub and `[rsp + 8]` into
//! its caller, so the arguments start at `[rsp + 16]`. SYSEXIT returns to the
//! stub's `ret` at [`KI_FAST_SYSTEM_CALL_RET`], as XP's KiFastCallEntry
//! returned to 0x7FFE0304.

// ANCHOR: addresses
/// Where the page lives in every address space.
pub const SHARED_USER_DATA: u64 = 0x7FFE_0000;
/// The `SystemCallStub` that ntdll calls.
pub const SYSTEM_CALL_STUB: u64 = SHARED_USER_DATA + 0x300;
/// The `ret` after `sysenter` in the sysenter stub: where SYSEXIT returns.
pub const KI_FAST_SYSTEM_CALL_RET: u64 = SYSTEM_CALL_STUB + 5;
// ANCHOR_END: addresses

/// Which instruction `SystemCallStub` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StubKind {
    Sysenter,
    Syscall,
    Int2e,
}

impl StubKind {
    pub fn name(self) -> &'static str {
        match self {
            StubKind::Sysenter => "sysenter",
            StubKind::Syscall => "syscall",
            StubKind::Int2e => "int2e",
        }
    }
}

/// What the choice depends on.
#[derive(Clone, Copy, Debug)]
pub struct CpuFeatures {
    /// The vendor string is "GenuineIntel".
    pub intel: bool,
    /// CPUID.01H:EDX[11], SEP: SYSENTER/SYSEXIT present.
    pub sep: bool,
    /// CPUID.80000001H:EDX[11]: SYSCALL/SYSRET present in 64-bit mode.
    pub syscall: bool,
}

// ANCHOR: policy
/// The policy, as XP's: SYSENTER where the CPU runs it, on Intel. AMD CPUs
/// report SEP too, but raise #UD for SYSENTER in 64-bit mode (QEMU does the
/// same), so the vendor decides as much as the bit. From Lab 3 on, AMD
/// CPUs get SYSCALL, their native fast call; before, `int 0x2e`.
pub fn choose_stub(cpu: CpuFeatures, syscall_path_ready: bool) -> (StubKind, &'static str) {
    if cpu.intel && cpu.sep {
        (StubKind::Sysenter, "Intel CPU with CPUID.01H:EDX.SEP = 1")
    } else if cpu.syscall && syscall_path_ready {
        (
            StubKind::Syscall,
            "not Intel (SYSENTER is #UD in 64-bit mode), CPUID.80000001H:EDX.SYSCALL = 1",
        )
    } else if cpu.sep {
        (
            StubKind::Int2e,
            "SEP = 1, but SYSENTER is #UD in 64-bit mode on this vendor; SYSCALL comes in Lab 3",
        )
    } else {
        (StubKind::Int2e, "no fast system-call instruction")
    }
}
// ANCHOR_END: policy

/// Reads the CPU's features.
pub fn cpu_features() -> CpuFeatures {
    let leaf1 = core::arch::x86_64::__cpuid(1);
    let ext = core::arch::x86_64::__cpuid(0x8000_0001);
    CpuFeatures {
        intel: &crate::arch::cpu_vendor() == b"GenuineIntel",
        sep: leaf1.edx & (1 << 11) != 0,
        syscall: ext.edx & (1 << 11) != 0,
    }
}

static CHOSEN: spin::Once<StubKind> = spin::Once::new();

/// The stub chosen at boot, if the page exists.
pub fn chosen() -> Option<StubKind> {
    CHOSEN.get().copied()
}

#[cfg(target_os = "none")]
mod imp {
    // ANCHOR: stubs
    // The three stubs, assembled here and copied into the page at boot.
    core::arch::global_asm!(
        ".pushsection .rodata.system_call_stubs, \"a\"",
        ".global scs_sysenter, scs_sysenter_ret, scs_syscall, scs_int2e, scs_end",
        "scs_sysenter:",
        "    mov rdx, rsp",
        "    sysenter",
        "scs_sysenter_ret:",
        "    ret",
        "scs_syscall:",
        "    lea rdx, [rsp + 16]",
        "    syscall",
        "    ret",
        "scs_int2e:",
        "    lea rdx, [rsp + 16]",
        "    int 0x2e",
        "    ret",
        "scs_end:",
        ".popsection",
    );
    // ANCHOR_END: stubs

    unsafe extern "C" {
        pub static scs_sysenter: u8;
        pub static scs_sysenter_ret: u8;
        pub static scs_syscall: u8;
        pub static scs_int2e: u8;
        pub static scs_end: u8;
    }

    /// The bytes of one stub.
    pub fn code(kind: super::StubKind) -> &'static [u8] {
        let (start, end) = match kind {
            super::StubKind::Sysenter => (&raw const scs_sysenter, &raw const scs_syscall),
            super::StubKind::Syscall => (&raw const scs_syscall, &raw const scs_int2e),
            super::StubKind::Int2e => (&raw const scs_int2e, &raw const scs_end),
        };
        // SAFETY: the labels bound the stub's bytes in .rodata.
        unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) }
    }
}

/// The bytes of stub `kind`, as the page holds them at SYSTEM_CALL_STUB.
#[cfg(target_os = "none")]
pub fn stub_code(kind: StubKind) -> &'static [u8] {
    imp::code(kind)
}

/// Maps the page into `space`, writes the chosen stub and reports the choice.
#[cfg(target_os = "none")]
pub fn install(space: &mut crate::mm::paging::AddressSpace, syscall_path_ready: bool) -> StubKind {
    use crate::mm::paging::flags::USER;
    // The labels' addresses as numbers: folded into one constant with the
    // stub's address, their difference would not fit the 32-bit immediates
    // of the static code model.
    let ret_offset = core::hint::black_box(&raw const imp::scs_sysenter_ret as u64)
        - &raw const imp::scs_sysenter as u64;
    assert_eq!(
        SYSTEM_CALL_STUB + ret_offset as u64,
        KI_FAST_SYSTEM_CALL_RET
    );
    let cpu = cpu_features();
    let (kind, why) = choose_stub(cpu, syscall_path_ready);
    let page = space.map_new(SHARED_USER_DATA, 1, USER); // read-only, executable
    let code = imp::code(kind);
    // SAFETY: `page` is a fresh 4 KiB page; the stub is a few bytes at 0x300.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), page.add(0x300), code.len()) };
    CHOSEN.call_once(|| kind);
    crate::kprintln!(
        "SharedUserData: SystemCallStub at {SYSTEM_CALL_STUB:#x} uses {} ({why})",
        kind.name()
    );
    crate::proto!(
        "info stub={} sep={} syscall={} intel={}",
        kind.name(),
        cpu.sep as u8,
        cpu.syscall as u8,
        cpu.intel as u8
    );
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn cpu(intel: bool, sep: bool, syscall: bool) -> CpuFeatures {
        CpuFeatures {
            intel,
            sep,
            syscall,
        }
    }

    #[test]
    fn intel_with_sep_gets_sysenter() {
        assert_eq!(
            choose_stub(cpu(true, true, true), true).0,
            StubKind::Sysenter
        );
        assert_eq!(
            choose_stub(cpu(true, true, true), false).0,
            StubKind::Sysenter
        );
    }

    #[test]
    fn amd_never_gets_sysenter_even_with_sep() {
        assert_eq!(
            choose_stub(cpu(false, true, true), false).0,
            StubKind::Int2e
        );
        assert_eq!(
            choose_stub(cpu(false, true, true), true).0,
            StubKind::Syscall
        );
    }

    #[test]
    fn nothing_fast_means_int2e() {
        assert_eq!(
            choose_stub(cpu(true, false, false), true).0,
            StubKind::Int2e
        );
        assert_eq!(
            choose_stub(cpu(false, false, false), true).0,
            StubKind::Int2e
        );
    }
}
