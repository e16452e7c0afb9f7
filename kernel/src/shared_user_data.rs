//! SharedUserData: a page the kernel fills and every process sees, read-only
//! and executable, at Windows XP's address 0x7FFE0000.
//!
//! It holds two `SystemCallStub`s, which the kernel picks at boot from
//! CPUID and the vendor: at offset 0x300, where XP had it, the 32-bit stub
//! that the 32-bit ntdll calls (`mov eax, N; mov edx, 0x7FFE0300; call
//! edx`), and at 0x310 the 64-bit one that the 64-bit ntdll calls. One
//! ntdll of each kind then serves every CPU:
//!
//! | kind       | 32-bit stub at 0x7FFE0300                  | 64-bit stub at 0x7FFE0310           |
//! |------------|--------------------------------------------|-------------------------------------|
//! | `sysenter` | `mov edx, esp; sysenter; ret` (the article's, XP's KiFastSystemCall) | `mov rdx, rsp; sysenter; ret` |
//! | `syscall`  | `mov edx, esp; syscall; ret` (through CSTAR) | `lea rdx, [rsp + 16]; syscall; ret` |
//! | `int2e`    | `lea edx, [esp + 8]; int 0x2e; ret` (XP's KiIntSystemCall) | `lea rdx, [rsp + 16]; int 0x2e; ret` |
//!
//! In the SYSENTER and SYSCALL stubs of the 32-bit side, EDX is the caller's
//! ESP, so the arguments start two 4-byte return addresses above it, at
//! EDX + 8; in every `int 0x2e` stub, and in the 64-bit SYSCALL stub, RDX
//! points at the arguments themselves. The 64-bit SYSENTER stub passes RSP,
//! with the arguments at RDX + 16. SYSEXIT returns to the stub's `ret`:
//! [`KI_FAST_SYSTEM_CALL_RET`] (0x7FFE0304, as on XP) for 32-bit code,
//! [`KI_FAST_SYSTEM_CALL_RET64`] for 64-bit code.

// ANCHOR: addresses
pub use syslab_abi::layout::{SHARED_USER_DATA, SYSTEM_CALL_STUB, SYSTEM_CALL_STUB64};
/// The `ret` after `sysenter` in the 32-bit stub, where the 32-bit SYSEXIT
/// returns: XP's KiFastSystemCallRet.
pub const KI_FAST_SYSTEM_CALL_RET: u64 = syslab_abi::layout::SYSTEM_CALL_RETURN;
/// The `ret` after `sysenter` in the 64-bit stub, where `sysexitq` returns.
pub const KI_FAST_SYSTEM_CALL_RET64: u64 = syslab_abi::layout::SYSTEM_CALL_RETURN64;
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

/// Which of a kind's two stubs: for 32-bit or for 64-bit callers.
pub use crate::mode::UserMode;

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
/// report SEP too, but raise #UD for SYSENTER in long mode, in 64-bit and
/// compatibility mode alike (QEMU does the same), so the vendor decides as
/// much as the bit. From Lab 3 on, AMD CPUs get SYSCALL, their native fast
/// call, which they also run from 32-bit code (through CSTAR, as Linux's
/// 32-bit vDSO does on AMD); before, `int 0x2e`. One kind serves both
/// stubs: the CPU that runs one runs the other.
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
    // The six stubs, assembled here and copied into the page at boot. The
    // 32-bit ones are assembled as 32-bit code: they run in compatibility
    // mode, and their bytes are the article's and XP's. (`mov.s` picks the
    // other encoding of a register-to-register MOV, 8B /r, which XP's
    // `8b d4` is; the assembler's default is 89 /r.)
    core::arch::global_asm!(
        ".pushsection .rodata.system_call_stubs, \"a\"",
        ".global scs32_sysenter, scs32_sysenter_ret, scs32_syscall, scs32_int2e",
        ".global scs_sysenter, scs_sysenter_ret, scs_syscall, scs_int2e, scs_end",
        ".code32",
        "scs32_sysenter:",
        "    mov.s edx, esp",
        "    sysenter",
        "scs32_sysenter_ret:",
        "    ret",
        "scs32_syscall:",
        "    mov.s edx, esp",
        "    syscall",
        "    ret",
        "scs32_int2e:",
        "    lea edx, [esp + 8]",
        "    int 0x2e",
        "    ret",
        ".code64",
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
        pub static scs32_sysenter: u8;
        pub static scs32_sysenter_ret: u8;
        static scs32_syscall: u8;
        static scs32_int2e: u8;
        pub static scs_sysenter: u8;
        pub static scs_sysenter_ret: u8;
        static scs_syscall: u8;
        static scs_int2e: u8;
        static scs_end: u8;
    }

    /// The bytes of one stub.
    pub fn code(kind: super::StubKind, mode: super::UserMode) -> &'static [u8] {
        use super::StubKind::*;
        use super::UserMode::*;
        let (start, end) = match (mode, kind) {
            (Compat, Sysenter) => (&raw const scs32_sysenter, &raw const scs32_syscall),
            (Compat, Syscall) => (&raw const scs32_syscall, &raw const scs32_int2e),
            (Compat, Int2e) => (&raw const scs32_int2e, &raw const scs_sysenter),
            (Long, Sysenter) => (&raw const scs_sysenter, &raw const scs_syscall),
            (Long, Syscall) => (&raw const scs_syscall, &raw const scs_int2e),
            (Long, Int2e) => (&raw const scs_int2e, &raw const scs_end),
        };
        // SAFETY: the labels bound the stub's bytes in .rodata.
        unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) }
    }

    /// Where a label lies, as a number: folded into one constant with the
    /// stub's address, a difference of two labels would not fit the 32-bit
    /// immediates of the static code model.
    pub fn address(label: *const u8) -> u64 {
        core::hint::black_box(label as u64)
    }
}

/// The bytes of stub `kind` for `mode`'s callers, as the page holds them
/// at `SYSTEM_CALL_STUB` (32-bit) or `SYSTEM_CALL_STUB64`.
#[cfg(target_os = "none")]
pub fn stub_code(kind: StubKind, mode: UserMode) -> &'static [u8] {
    imp::code(kind, mode)
}

/// Where `mode`'s stub lives in the page.
pub const fn stub_address(mode: UserMode) -> u64 {
    match mode {
        UserMode::Compat => SYSTEM_CALL_STUB,
        UserMode::Long => SYSTEM_CALL_STUB64,
    }
}

/// Maps the page into `space`, writes the chosen stubs and reports the choice.
#[cfg(target_os = "none")]
pub fn install(space: &mut crate::mm::paging::AddressSpace, syscall_path_ready: bool) -> StubKind {
    use crate::mm::paging::flags::USER;
    // The SYSENTER stubs' `ret`s must be where the kernel's frames say.
    let ret32 = imp::address(&raw const imp::scs32_sysenter_ret)
        - imp::address(&raw const imp::scs32_sysenter);
    let ret64 =
        imp::address(&raw const imp::scs_sysenter_ret) - imp::address(&raw const imp::scs_sysenter);
    assert_eq!(SYSTEM_CALL_STUB + ret32, KI_FAST_SYSTEM_CALL_RET);
    assert_eq!(SYSTEM_CALL_STUB64 + ret64, KI_FAST_SYSTEM_CALL_RET64);
    let cpu = cpu_features();
    let (kind, why) = choose_stub(cpu, syscall_path_ready);
    let page = space.map_new(SHARED_USER_DATA, 1, USER); // read-only, executable
    for mode in [UserMode::Compat, UserMode::Long] {
        let code = imp::code(kind, mode);
        let offset = (stub_address(mode) - SHARED_USER_DATA) as usize;
        // SAFETY: `page` is a fresh 4 KiB page; each stub is a few bytes in
        // its own 16-byte slot.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), page.add(offset), code.len()) };
    }
    CHOSEN.call_once(|| kind);
    crate::kprintln!(
        "SharedUserData: SystemCallStub at {SYSTEM_CALL_STUB:#x} (32-bit) and {SYSTEM_CALL_STUB64:#x} \
         (64-bit) use {} ({why})",
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
