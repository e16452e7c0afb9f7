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
//! so `[rdx + 8*i]` is argument i. [`call`] pushes the arguments that way.
//! `int 0x2e` preserves every register but RAX.
//!
//! The stubs keep their NT names (ZwCreateMutant, not zw_create_mutant).
#![allow(non_snake_case)]

// ANCHOR: stubs
/// The stubs of one system-call path, by service.
pub struct Table {
    pub null: Stub,
    pub create_mutant: Stub,
    pub close: Stub,
    pub which_cpu: Stub,
    pub echo: Stub,
    pub set_return: Stub,
    pub check_frame: Stub,
    pub kernel_flags: Stub,
    pub kernel_fault: Stub,
    pub check_gs: Stub,
    pub scratch: Stub,
}

/// Generates a module of stubs with the given body (`{n}` is the number).
macro_rules! stub_family {
    ($module:ident, $doc:literal, [$($line:literal),*]) => {
        #[doc = $doc]
        #[allow(dead_code)] // every family has every service; not every test uses each
        pub mod $module {
            use syslab_abi::service::*;
            macro_rules! one {
                ($name:ident, $number:path) => {
                    #[unsafe(naked)]
                    pub unsafe extern "C" fn $name() {
                        core::arch::naked_asm!($($line),*, n = const $number);
                    }
                };
            }
            one!(ZwNull, NT_NULL);
            one!(ZwCreateMutant, NT_CREATE_MUTANT);
            one!(ZwClose, NT_CLOSE);
            one!(ZwGetCurrentProcessorNumber, NT_GET_CURRENT_PROCESSOR_NUMBER);
            one!(ZwTestEcho, NT_TEST_ECHO);
            one!(ZwTestSetReturn, NT_TEST_SET_RETURN);
            one!(ZwTestCheckFrame, NT_TEST_CHECK_FRAME);
            one!(ZwTestKernelFlags, NT_TEST_KERNEL_FLAGS);
            one!(ZwTestKernelFault, NT_TEST_KERNEL_FAULT);
            one!(ZwTestStatus, NT_TEST_STATUS);
            one!(ZwTerminateThread, NT_TERMINATE_THREAD);
            one!(ZwTestCheckGs, NT_TEST_CHECK_GS);
            one!(ZwTestScratch, NT_TEST_SCRATCH);

            /// This family's stubs.
            pub const TABLE: super::Table = super::Table {
                null: ZwNull,
                create_mutant: ZwCreateMutant,
                close: ZwClose,
                which_cpu: ZwGetCurrentProcessorNumber,
                echo: ZwTestEcho,
                set_return: ZwTestSetReturn,
                check_frame: ZwTestCheckFrame,
                kernel_flags: ZwTestKernelFlags,
                kernel_fault: ZwTestKernelFault,
                check_gs: ZwTestCheckGs,
                scratch: ZwTestScratch,
            };
        }
    };
}

// ANCHOR: xp_family
stub_family!(
    xp,
    "XP's stubs: through SharedUserData's 64-bit SystemCallStub (`mov eax, N; mov rdx, 0x7FFE0310; call rdx; ret`). \
     RCX, RDX and R11 may change: SYSEXIT loads RCX and RDX, SYSCALL loads RCX and R11.",
    ["mov eax, {n}", "mov rdx, 0x7FFE0310", "call rdx", "ret"] // SYSTEM_CALL_STUB64
);
// ANCHOR_END: xp_family

// ANCHOR: nt_family
stub_family!(
    nt,
    "NT 4/2000's stubs: `int 0x2e` directly. Only RAX changes.",
    ["mov eax, {n}", "lea rdx, [rsp + 8]", "int 0x2e", "ret"]
);
// ANCHOR_END: nt_family

// ANCHOR: sc_family
stub_family!(
    sc,
    "Direct SYSCALL stubs (what x64 ntdll does today). RCX and R11 change: SYSCALL \
     saves RIP and RFLAGS in them.",
    ["mov eax, {n}", "lea rdx, [rsp + 8]", "syscall", "ret"]
);
// ANCHOR_END: sc_family

/// The stubs of path `path` (`syslab_abi::user_test::PATH_*`).
pub fn table(path: u64) -> &'static Table {
    match path {
        syslab_abi::user_test::PATH_INT2E => &nt::TABLE,
        syslab_abi::user_test::PATH_SYSCALL => &sc::TABLE,
        _ => &xp::TABLE,
    }
}

// ANCHOR_END: stubs

/// A stub, as a value.
pub type Stub = unsafe extern "C" fn();

// ANCHOR: call
/// Calls `stub` with up to eight arguments and returns RAX.
///
/// The stub finds argument i at `[rsp + 8 + 8*i]` on entry, just above its
/// return address, so the arguments are pushed last one first, as NT's
/// callers push them, and popped off again after the call: one `push` per
/// argument, the `call`, one `add`. A call without arguments is a single
/// `call` instruction.
#[inline(always)]
pub fn call<const N: usize>(stub: Stub, args: &[u64; N]) -> u64 {
    const { assert!(N <= 8, "a service takes at most eight arguments") };
    let rax: u64;
    // One asm block per argument count, pushing `$arg`s in the order
    // listed (the last argument first). No `nostack`: the block pushes,
    // and RSP is back where it was when it ends. The kernel preserves
    // every register but RAX, RCX, RDX and R11.
    macro_rules! pushed {
        ($($arg:ident),*) => {
            // SAFETY: the stub reads its arguments and returns; the pushes
            // are undone before the block ends.
            unsafe {
                core::arch::asm!(
                    $(concat!("push {", stringify!($arg), "}"),)*
                    "call {stub}",
                    "add rsp, {bytes}",
                    $($arg = in(reg) $arg,)*
                    stub = in(reg) stub,
                    bytes = const 8 * N,
                    out("rax") rax, out("rcx") _, out("rdx") _, out("r11") _,
                )
            }
        };
    }
    match *args.as_slice() {
        // SAFETY: the stub reads no argument and returns.
        [] => unsafe {
            core::arch::asm!(
                "call {stub}",
                stub = in(reg) stub,
                out("rax") rax, out("rcx") _, out("rdx") _, out("r11") _,
            )
        },
        [a0] => pushed!(a0),
        [a0, a1] => pushed!(a1, a0),
        [a0, a1, a2] => pushed!(a2, a1, a0),
        [a0, a1, a2, a3] => pushed!(a3, a2, a1, a0),
        [a0, a1, a2, a3, a4] => pushed!(a4, a3, a2, a1, a0),
        [a0, a1, a2, a3, a4, a5] => pushed!(a5, a4, a3, a2, a1, a0),
        [a0, a1, a2, a3, a4, a5, a6] => pushed!(a6, a5, a4, a3, a2, a1, a0),
        [a0, a1, a2, a3, a4, a5, a6, a7] => pushed!(a7, a6, a5, a4, a3, a2, a1, a0),
        _ => unreachable!(),
    }
    rax
}
// ANCHOR_END: call
