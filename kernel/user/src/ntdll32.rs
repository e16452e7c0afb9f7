//! The 32-bit ntdll and kernel32: the article's own instructions, in
//! 32-bit code that runs in compatibility mode.
//!
//! Two families of stubs, one per system, each with that system's service
//! numbers (`syslab_abi::service::numbers32`):
//!
//! ```text
//! ntdll32!nt::ZwCreateMutant (Windows 2000)   ntdll32!xp::ZwCreateMutant (Windows XP)
//!   b8 25 00 00 00  mov eax, 0x25               b8 2b 00 00 00  mov eax, 0x2b
//!   8d 54 24 04     lea edx, [esp+4]            ba 00 03 fe 7f  mov edx, 0x7ffe0300
//!   cd 2e           int 0x2e                    ff d2           call edx
//!   c2 10 00        ret 0x10                    c2 10 00        ret 0x10
//! ```
//!
//! The convention is 32-bit NT's: `stdcall`, every argument a 4-byte slot
//! on the stack, pushed right to left, popped by the stub's `ret 4*n`.
//! Windows 2000's stub points EDX at the arguments; XP's calls
//! SharedUserData's 32-bit SystemCallStub, which passes the stack pointer
//! instead. The status comes back in EAX.
//!
//! This is assembled by the user crate itself, as `.code32` assembly in the
//! section `.text.code32`, which user.ld places between the labels
//! `syslab_code32_start` and `syslab_code32_end` (the `kd>` prompt
//! disassembles that range as 32-bit code). The labels are `dll.family.name`
//! (`ntdll32.xp.ZwCreateMutant`), which the prompt shows as
//! `ntdll32!xp::ZwCreateMutant`. The kernel's `lab0.article_bytes` compares
//! the bytes with the article's.

use syslab_abi::service::numbers32::{WINDOWS_2000, WINDOWS_XP};
use syslab_abi::service::*;
use syslab_abi::user_test::PATH_INT2E;

/// One 32-bit stub: its label, then `body` with `{n}` the service number,
/// then `ret` or `ret 4*args`.
macro_rules! stub32 {
    ($family:literal, $numbers:ident, [$($line:literal),*], $name:literal, $service:path, $args:literal) => {
        core::arch::global_asm!(
            ".pushsection .text.code32, \"ax\"",
            ".code32",
            concat!(".global ntdll32.", $family, ".", $name),
            concat!(".type ntdll32.", $family, ".", $name, ", @function"),
            concat!("ntdll32.", $family, ".", $name, ":"),
            $($line,)*
            // A stub without arguments ends in a plain `ret`, as NT's did.
            ".if {pop} == 0",
            "ret",
            ".else",
            "ret {pop}",
            ".endif",
            concat!(".size ntdll32.", $family, ".", $name, ", . - ntdll32.", $family, ".", $name),
            ".code64",
            ".popsection",
            n = const $numbers[$service as usize],
            pop = const 4 * $args,
        );
    };
}

/// The stubs of one family, and its kernel32 (CreateMutex and CloseHandle).
macro_rules! family32 {
    ($family:literal, $numbers:ident, $body:tt) => {
        stub32!($family, $numbers, $body, "ZwNull", NT_NULL, 0);
        stub32!($family, $numbers, $body, "ZwCreateMutant", NT_CREATE_MUTANT, 4);
        stub32!($family, $numbers, $body, "ZwClose", NT_CLOSE, 1);
        stub32!($family, $numbers, $body, "ZwGetCurrentProcessorNumber", NT_GET_CURRENT_PROCESSOR_NUMBER, 0);
        stub32!($family, $numbers, $body, "ZwTerminateThread", NT_TERMINATE_THREAD, 2);
        stub32!($family, $numbers, $body, "ZwTestEcho", NT_TEST_ECHO, 8);
        stub32!($family, $numbers, $body, "ZwTestStatus", NT_TEST_STATUS, 1);
        stub32!($family, $numbers, $body, "ZwTestSetReturn", NT_TEST_SET_RETURN, 2);
        stub32!($family, $numbers, $body, "ZwTestKernelFlags", NT_TEST_KERNEL_FLAGS, 1);
        stub32!($family, $numbers, $body, "ZwTestCheckGs", NT_TEST_CHECK_GS, 0);
        // ANCHOR: kernel32
        // kernel32's CreateMutex(lpMutexAttributes, bInitialOwner, lpName)
        // and CloseHandle(hObject), stdcall, over this family's stubs.
        core::arch::global_asm!(
            ".pushsection .text.code32, \"ax\"",
            ".code32",
            concat!(".global kernel32_32.", $family, ".CreateMutex"),
            concat!(".type kernel32_32.", $family, ".CreateMutex, @function"),
            concat!("kernel32_32.", $family, ".CreateMutex:"),
            "mov eax, [esp + 4]",
            "or eax, [esp + 12]",
            "jnz 2f",                 // no security descriptors, no names: NULL
            "push 0",                 // the HANDLE, on the stack
            "mov eax, esp",
            "push dword ptr [esp + 12]", // InitialOwner (bInitialOwner, past the HANDLE)
            "push 0",                 // ObjectAttributes
            "push {access}",          // MUTANT_ALL_ACCESS
            "push eax",               // &handle
            concat!("call ntdll32.", $family, ".ZwCreateMutant"),
            "test eax, eax",
            "pop eax",                // the handle; POP leaves the flags alone
            "js 2f",                  // !NT_SUCCESS: NULL
            "ret 12",
            "2:",
            "xor eax, eax",
            "ret 12",
            concat!(".size kernel32_32.", $family, ".CreateMutex, . - kernel32_32.", $family, ".CreateMutex"),
            concat!(".global kernel32_32.", $family, ".CloseHandle"),
            concat!(".type kernel32_32.", $family, ".CloseHandle, @function"),
            concat!("kernel32_32.", $family, ".CloseHandle:"),
            "push dword ptr [esp + 4]",
            concat!("call ntdll32.", $family, ".ZwClose"),
            "xor ecx, ecx",
            "test eax, eax",
            "setns cl",               // TRUE when NT_SUCCESS(status)
            "mov eax, ecx",
            "ret 4",
            concat!(".size kernel32_32.", $family, ".CloseHandle, . - kernel32_32.", $family, ".CloseHandle"),
            ".code64",
            ".popsection",
            access = const MUTANT_ALL_ACCESS,
        );
        // ANCHOR_END: kernel32
    };
}

// ANCHOR: families
// Windows 2000: `int 0x2e` from the stub itself, EDX -> the arguments.
family32!(
    "nt",
    WINDOWS_2000,
    ["mov eax, {n}", "lea edx, [esp + 4]", "int 0x2e"]
);
// Windows XP: SharedUserData's 32-bit SystemCallStub, at 0x7FFE0300.
family32!(
    "xp",
    WINDOWS_XP,
    ["mov eax, {n}", "mov edx, 0x7ffe0300", "call edx"]
);
// ANCHOR_END: families

/// The addresses of one family's stubs (32-bit code, so below 4 GiB).
#[derive(Clone, Copy)]
pub struct Table32 {
    pub null: u32,
    pub create_mutant: u32,
    pub close: u32,
    pub echo: u32,
    pub set_return: u32,
    pub kernel_flags: u32,
    /// kernel32's CreateMutex and CloseHandle over these stubs.
    pub create_mutex: u32,
    pub close_handle: u32,
}

/// The address of a label of the 32-bit code, by its name.
macro_rules! label32 {
    ($name:expr) => {{
        unsafe extern "C" {
            #[link_name = $name]
            static LABEL: u8;
        }
        &raw const LABEL as u64 as u32
    }};
}

macro_rules! table32 {
    ($family:literal) => {
        Table32 {
            null: label32!(concat!("ntdll32.", $family, ".ZwNull")),
            create_mutant: label32!(concat!("ntdll32.", $family, ".ZwCreateMutant")),
            close: label32!(concat!("ntdll32.", $family, ".ZwClose")),
            echo: label32!(concat!("ntdll32.", $family, ".ZwTestEcho")),
            set_return: label32!(concat!("ntdll32.", $family, ".ZwTestSetReturn")),
            kernel_flags: label32!(concat!("ntdll32.", $family, ".ZwTestKernelFlags")),
            create_mutex: label32!(concat!("kernel32_32.", $family, ".CreateMutex")),
            close_handle: label32!(concat!("kernel32_32.", $family, ".CloseHandle")),
        }
    };
}

/// The family of a 32-bit thread's path: Windows 2000's for `PATH_INT2E`,
/// XP's for everything else (SharedUserData picks the instruction).
pub fn table32(path: u64) -> Table32 {
    match path {
        PATH_INT2E => table32!("nt"),
        _ => table32!("xp"),
    }
}

/// NtNull's number in both 32-bit systems (a syslab service: the same in both).
pub const NULL32: u32 = WINDOWS_XP[NT_NULL as usize];
const _: () = assert!(NULL32 == WINDOWS_2000[NT_NULL as usize]);
/// NtTestEcho's number in both 32-bit systems.
pub const ECHO32: u32 = WINDOWS_XP[NT_TEST_ECHO as usize];
const _: () = assert!(ECHO32 == WINDOWS_2000[NT_TEST_ECHO as usize]);
