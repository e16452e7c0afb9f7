//! ntdll: one stub per system service, in the form of NT 4/2000's
//! ZwCreateMutant:
//!
//! ```text
//! ZwCreateMutant:
//!     mov  eax, 1            ; the service number
//!     lea  rdx, [rsp + 8]    ; RDX -> the arguments on the caller's stack
//!     int  0x2e              ; into KiSystemService
//!     ret                    ; the status is in RAX
//! ```
//!
//! The convention, as on 32-bit NT: every argument of a service is an
//! 8-byte slot on the stack, the first one just above the return address,
//! so `[rdx + 8*i]` is argument i. [`call`] lays the arguments out that way.
//! `int 0x2e` preserves every register but RAX.
//!
//! The stubs keep their NT names (ZwCreateMutant, not zw_create_mutant).
#![allow(non_snake_case)]

use syslab_abi::service::*;

macro_rules! int2e_stubs {
    ($($name:ident = $number:path;)*) => {$(
        #[doc = concat!("The `int 0x2e` stub for service `", stringify!($number), "`.")]
        #[unsafe(naked)]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "mov eax, {n}",
                "lea rdx, [rsp + 8]",
                "int 0x2e",
                "ret",
                n = const $number,
            );
        }
    )*};
}

int2e_stubs! {
    ZwNull = NT_NULL;
    ZwCreateMutant = NT_CREATE_MUTANT;
    ZwClose = NT_CLOSE;
    ZwGetCurrentProcessorNumber = NT_GET_CURRENT_PROCESSOR_NUMBER;
    ZwTerminateThread = NT_TERMINATE_THREAD;
    ZwTestEcho = NT_TEST_ECHO;
    ZwTestStatus = NT_TEST_STATUS;
}

/// A stub, as a value.
pub type Stub = unsafe extern "C" fn();

/// Calls `stub` with up to eight arguments laid out on the stack, and
/// returns RAX.
pub fn call(stub: Stub, args: &[u64]) -> u64 {
    let mut slots = [0u64; 8];
    slots[..args.len()].copy_from_slice(args);
    let rax: u64;
    // SAFETY: the stub only reads its argument slots and returns; the
    // kernel preserves every register but RAX (RDX is set by the stub).
    unsafe {
        core::arch::asm!(
            "sub rsp, 64",
            "mov rax, [{src}]",      "mov [rsp], rax",
            "mov rax, [{src} + 8]",  "mov [rsp + 8], rax",
            "mov rax, [{src} + 16]", "mov [rsp + 16], rax",
            "mov rax, [{src} + 24]", "mov [rsp + 24], rax",
            "mov rax, [{src} + 32]", "mov [rsp + 32], rax",
            "mov rax, [{src} + 40]", "mov [rsp + 40], rax",
            "mov rax, [{src} + 48]", "mov [rsp + 48], rax",
            "mov rax, [{src} + 56]", "mov [rsp + 56], rax",
            "call {stub}",
            "add rsp, 64",
            src = in(reg) slots.as_ptr(),
            stub = in(reg) stub,
            out("rax") rax,
            out("rdx") _,
        );
    }
    rax
}
