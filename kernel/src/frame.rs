//! The trap frame: the one layout every way into the kernel saves, and the
//! names of the values its `entry` field takes.
//!
//! A leaf module, below everything else: the per-CPU block, the user
//! copies, the threads and the system-call paths all hold frames, and the
//! entry code in `trap.rs` and `syscall/` builds them. The students import
//! it as `syslab_kernel::trap::KTrapFrame`, which `trap.rs` re-exports.

// ANCHOR: ktrap_frame
/// What the kernel saves on entry from user mode: NT's KTRAP_FRAME, cut
/// down to what an x86_64 kernel needs. The stub pushes it from the bottom
/// up, so the last push (R15) sits at the lowest address, where `rsp`
/// points when the stub calls Rust.
///
/// ```text
///   higher addresses
///   +----------------+
///   | ss             |  \
///   | rsp            |   |  pushed by the CPU for int n and exceptions;
///   | rflags         |   |  built by hand by KiFastCallEntry (SYSENTER)
///   | cs             |   |  and KiSystemCall64 (SYSCALL)
///   | rip            |  /
///   | error_code     |  CPU-pushed for some exceptions, else 0
///   | entry          |  how the kernel was entered (vector or ENTRY_*)
///   | rax ... r15    |  general registers, rax highest
///   +----------------+  <- rsp when the stub calls Rust
///   lower addresses
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KTrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// How the kernel was entered: an IDT vector (0..=255, 0x2E for
    /// `int 0x2e`), [`ENTRY_SYSENTER`], [`ENTRY_SYSCALL`] or [`ENTRY_SYSCALL32`].
    pub entry: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}
// ANCHOR_END: ktrap_frame

/// `KTrapFrame::entry` of a frame built by KiFastCallEntry (SYSENTER).
pub const ENTRY_SYSENTER: u64 = 0x100;
/// `KTrapFrame::entry` of a frame built by KiSystemCall64 (SYSCALL).
pub const ENTRY_SYSCALL: u64 = 0x101;
/// `KTrapFrame::entry` of a frame built by KiSystemCall32 (SYSCALL from
/// 32-bit code, through CSTAR).
pub const ENTRY_SYSCALL32: u64 = 0x102;

/// Size of the frame: 15 registers, entry, error code, 5 hardware words.
pub const KTRAP_FRAME_SIZE: usize = 22 * 8;
const _: () = assert!(size_of::<KTrapFrame>() == KTRAP_FRAME_SIZE);
/// Offset of the hardware part (rip) within the frame.
pub const KTRAP_FRAME_RIP: usize = core::mem::offset_of!(KTrapFrame, rip);
const _: () = assert!(KTRAP_FRAME_RIP == 17 * 8);

impl KTrapFrame {
    /// Whether the CPU was in ring 3 when it entered.
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// RFLAGS bits (Intel SDM Vol. 1 §3.4.3).
pub mod rflags {
    pub const CF: u64 = 1 << 0;
    /// Bit 1 always reads as 1.
    pub const RESERVED1: u64 = 1 << 1;
    /// Trap flag: single-step.
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const IOPL: u64 = 3 << 12;
    /// Nested task: IRET would try a task switch in legacy mode.
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    /// Alignment check (and SMAP override).
    pub const AC: u64 = 1 << 18;
}

/// The name of exception `vector`, as the SDM abbreviates it.
pub fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD error",
        20 => "#VE virtualization",
        21 => "#CP control protection",
        0x2E => "int 0x2e",
        ENTRY_SYSENTER => "sysenter",
        ENTRY_SYSCALL => "syscall",
        ENTRY_SYSCALL32 => "syscall (32-bit, CSTAR)",
        0xF0 => "watchdog (the LAPIC timer)",
        32..=255 => "interrupt",
        _ => "reserved",
    }
}

/// The short mnemonic ("#PF") for protocol lines.
pub fn vector_mnemonic(vector: u64) -> &'static str {
    vector_name(vector).split(' ').next().unwrap_or("?")
}
