//! What the kernel and the user program agree on, like NT's ntstatus.h and
//! the service numbers baked into ntdll's stubs. Both sides depend on this
//! crate, so the two can never disagree about a number.
#![no_std]

/// NTSTATUS values (the NT DDK's ntstatus.h), as the kernel returns them in RAX.
pub mod status {
    pub type NtStatus = u32;
    pub const STATUS_SUCCESS: NtStatus = 0x0000_0000;
    pub const STATUS_ACCESS_VIOLATION: NtStatus = 0xC000_0005;
    pub const STATUS_INVALID_HANDLE: NtStatus = 0xC000_0008;
    pub const STATUS_INVALID_PARAMETER: NtStatus = 0xC000_000D;
    pub const STATUS_INVALID_SYSTEM_SERVICE: NtStatus = 0xC000_001C;
    pub const STATUS_INSUFFICIENT_RESOURCES: NtStatus = 0xC000_009A;
    pub const STATUS_NOT_IMPLEMENTED: NtStatus = 0xC000_0002;

    /// NT_SUCCESS(): severity "success" or "informational".
    pub const fn nt_success(s: NtStatus) -> bool {
        (s as i32) >= 0
    }
}

/// User address-space layout shared with the user program.
pub mod layout {
    /// Each CPU's user thread gets its own stack, below this, 64 KiB apart.
    pub const USER_STACKS_TOP: u64 = 0x7000_0000;
    /// Size of one user stack (a guard page separates neighbours).
    pub const USER_STACK_SIZE: u64 = 60 * 1024;
    pub const USER_STACK_STRIDE: u64 = 64 * 1024;
    /// Each CPU's report page, where a user test leaves its findings.
    pub const REPORTS_BASE: u64 = 0x6000_0000;

    /// The top of CPU `cpu`'s user stack.
    pub const fn user_stack_top(cpu: u64) -> u64 {
        USER_STACKS_TOP - cpu * USER_STACK_STRIDE
    }
    /// CPU `cpu`'s report page.
    pub const fn report_page(cpu: u64) -> u64 {
        REPORTS_BASE + cpu * 0x1000
    }
}

/// A user test's findings, at `layout::report_page(cpu)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// Words whose meaning each test defines.
    pub words: [u64; 32],
}

/// The user-mode halves of the tests. The kernel starts a user thread with
/// RDI = one of these, RSI = the CPU number, RDX = an argument.
pub mod user_test {
    /// Exit at once with `EXIT_OK`.
    pub const EXIT_OK: u64 = 1;
    /// Read the byte at the address in the argument.
    pub const READ: u64 = 2;
    /// Write a byte at the address in the argument.
    pub const WRITE: u64 = 3;
    /// Run privileged instruction number `arg` (see `PRIVILEGED`).
    pub const PRIVILEGED: u64 = 4;
    /// Jump to the address in the argument.
    pub const JUMP: u64 = 5;
    /// `int 0x2d`: a gate ring 3 may not use.
    pub const INT_2D: u64 = 6;
    /// Write RSP and a few registers to the report page, then exit.
    pub const WHOAMI: u64 = 7;

    /// The status a user test exits with when all went well.
    pub const EXIT_OK_STATUS: u64 = 0x600D;

    /// The privileged instructions tried by `PRIVILEGED`.
    pub const PRIVILEGED_NAMES: [&str; 5] =
        ["hlt", "cli", "mov cr3", "wrmsr", "in from port 0x3f8"];
}
