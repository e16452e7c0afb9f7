//! Lab 3: SYSCALL/SYSRET, AMD's fast system call and today's 64-bit path.
//!
//! 1. [`program_syscall_msrs`]: EFER.SCE, STAR, LSTAR, CSTAR and SFMASK, on every CPU;
//! 2. [`KiSystemCall64`]: swapgs, the per-CPU stack, the same trap frame, and
//!    `KiSystemCallExit3` (`sysretq`) or the iretq fallback;
//! 3. [`sysret_safe`]: when `sysretq` may return a frame (CVE-2012-0217);
//! 4. [`KiSystemCall32`] and [`sysret32_safe`]: SYSCALL from 32-bit code (CSTAR)
//!    and its `sysretl`.

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS};
use syslab_kernel::msr::{self, efer};
use syslab_kernel::percpu::{PERCPU_KERNEL_STACK, PERCPU_USER_RSP, PerCpu};
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::syscall::exit::{is_user_address, is_user_address32};
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSCALL32, KTrapFrame, rflags};

// ANCHOR: msrs
/// The RFLAGS bits SYSCALL clears on entry: no interrupt before the stack
/// switch, no single-stepping the kernel, and no user AC, DF or NT.
pub const SFMASK: u64 = rflags::IF | rflags::TF | rflags::DF | rflags::AC | rflags::NT;

/// STAR: SYSCALL loads CS = STAR[47:32] and SS = CS + 8; 64-bit SYSRET
/// loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8, and the 32-bit
/// SYSRET CS = STAR[63:48] and the same SS (AMD APM Vol. 2 §6.1.1).
pub const fn star() -> u64 {
    ((USER_CS32 as u64) << 48) | ((KERNEL_CS as u64) << 32)
}

/// Programs this CPU's SYSCALL MSRs. Called on every CPU as it comes up.
pub fn program_syscall_msrs(cpu: &PerCpu) {
    // The SYSRET rule, checked against this CPU's GDT.
    let base = USER_CS32 & !3;
    let ss = SegmentDescriptor(cpu.gdt.0[(base + 8) as usize / 8]);
    let cs = SegmentDescriptor(cpu.gdt.0[(base + 16) as usize / 8]);
    assert!(
        ss.is_data() && ss.dpl() == 3 && base + 8 == USER_DS & !3,
        "SYSRET's SS (STAR[63:48] + 8) is not ring-3 data"
    );
    assert!(
        cs.is_code() && cs.is_long_mode() && cs.dpl() == 3,
        "SYSRET's CS (STAR[63:48] + 16) is not ring-3 64-bit code"
    );
    assert_eq!(base + 16, USER_CS & !3);
    // SAFETY: the entry points and selectors are the kernel's.
    unsafe {
        msr::write(msr::IA32_EFER, msr::read(msr::IA32_EFER) | efer::SCE);
        msr::write(msr::IA32_STAR, star());
        msr::write(msr::IA32_LSTAR, KiSystemCall64 as *const () as u64);
        msr::write(msr::IA32_CSTAR, KiSystemCall32 as *const () as u64);
        msr::write(msr::IA32_FMASK, SFMASK);
    }
}
// ANCHOR_END: msrs

// ANCHOR: stub
/// KiSystemCall64: the target of LSTAR.
///
/// On entry (AMD APM Vol. 3, SYSCALL): RCX = the user RIP (the instruction
/// after `syscall`), R11 = the user RFLAGS, RFLAGS &= !SFMASK, CS = 0x08,
/// SS = 0x10. RSP is still the user's and GS the user's: SYSCALL switches
/// neither. RAX = the service number, RDX = the arguments (the stub's `lea`).
///
/// # Safety
/// Only the CPU enters it, through SYSCALL; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemCall64() {
    core::arch::naked_asm!(
        "swapgs",                            // GS -> this CPU's block
        "mov gs:[{user_rsp}], rsp",          // park the user RSP
        "mov rsp, gs:[{kernel_stack}]",      // this CPU's kernel stack
        "push {user_ds}",                    // KTrapFrame::ss: what SYSRET loads
        "push qword ptr gs:[{user_rsp}]",    // KTrapFrame::rsp
        "push r11",                          // KTrapFrame::rflags
        "push {user_cs}",                    // KTrapFrame::cs
        "push rcx",                          // KTrapFrame::rip
        "push 0",                            // KTrapFrame::error_code
        "push {entry}",                      // KTrapFrame::entry: SYSCALL
        "push rax",
        "push rbx",
        "push rcx",
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rdi, rsp",
        "call {dispatch}",
        "mov rdi, rsp",
        "call KiSystemServiceExit",
        "cmp rax, {sysret}",
        "jne KiSystemCallExit", // the iretq fallback (Lab 1)
        // KiSystemCallExit3: sysret_safe checked RCX == RIP and R11 == RFLAGS.
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        // [rsp]: entry, error_code, rip, cs, rflags, rsp, ss. From here on
        // there is no kernel stack: IF is 0 (SFMASK), so nothing interrupts.
        "mov rsp, [rsp + 40]",
        "swapgs",
        "sysretq",
        user_rsp = const PERCPU_USER_RSP,
        kernel_stack = const PERCPU_KERNEL_STACK,
        user_ds = const USER_DS as u64,
        user_cs = const USER_CS as u64,
        entry = const ENTRY_SYSCALL,
        sysret = const SystemCallExit::Sysret as u64,
        dispatch = sym crate::lab1::dispatch_system_service,
    );
}
// ANCHOR_END: stub

// ANCHOR: sysret_safe
/// Whether `sysretq` can return this frame, one reason per line (after
/// Linux's do_syscall_64). Anything else goes back through `iretq`.
pub fn sysret_safe(frame: &KTrapFrame) -> bool {
    // SYSRET takes RIP from RCX: the frame must still say what SYSCALL saved.
    frame.rcx == frame.rip
    // ...and RFLAGS from R11.
        && frame.r11 == frame.rflags
    // A non-canonical RCX makes Intel CPUs raise #GP in ring 0, on the user's
    // stack, after RSP was switched back: CVE-2012-0217. A kernel RIP would
    // run kernel addresses at CPL 3. Only user addresses may go.
        && is_user_address(frame.rip)
    // SYSRET cannot restore RF, and TF would trap on the first user
    // instruction in a way iretq handles precisely.
        && frame.rflags & (rflags::TF | rflags::RF) == 0
    // SYSRET forces these selectors.
        && frame.cs == USER_CS as u64
        && frame.ss == USER_DS as u64
}
// ANCHOR_END: sysret_safe

// ANCHOR: stub32
/// KiSystemCall32: the target of CSTAR, SYSCALL from 32-bit code in
/// compatibility mode (only AMD CPUs run it there; Intel's raise #UD).
///
/// On entry (AMD APM Vol. 3, SYSCALL): as for KiSystemCall64, RCX = the
/// return EIP, R11 = the user EFLAGS, RSP still the user's ESP, GS the
/// user's. SharedUserData's 32-bit stub did `mov edx, esp`, so the
/// arguments are at EDX + 8, past two 4-byte return addresses.
///
/// # Safety
/// Only the CPU enters it, through SYSCALL from 32-bit code; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiSystemCall32() {
    core::arch::naked_asm!(
        "swapgs",                         // GS -> this CPU's block
        "mov gs:[{user_rsp}], rsp",       // park the user ESP
        "mov rsp, gs:[{kernel_stack}]",   // this CPU's kernel stack
        "push {user_ds}",                 // KTrapFrame::ss: what sysretl loads (STAR[63:48] + 8)
        "push qword ptr gs:[{user_rsp}]", // KTrapFrame::rsp
        "push r11",                       // KTrapFrame::rflags
        "push {user_cs32}",               // KTrapFrame::cs: 32-bit code (STAR[63:48])
        "push rcx",                       // KTrapFrame::rip
        "push 0",                         // KTrapFrame::error_code
        "push {entry}",                   // KTrapFrame::entry: SYSCALL from 32-bit code
        "push rax",
        "push rbx",
        "push rcx",
        "add rdx, 8",                     // the arguments: past the two return addresses
        "push rdx",
        "push rsi",
        "push rdi",
        "push rbp",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov rdi, rsp",
        "call {dispatch}",
        "mov rdi, rsp",
        "call KiSystemServiceExit",
        "cmp rax, {sysret32}",
        "jne KiSystemCallExit", // the iretq fallback (Lab 1), back to 32-bit code too
        // sysret32_safe checked ECX == EIP, R11 == EFLAGS, both below 4 GiB.
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rbp",
        "pop rdi",
        "pop rsi",
        "pop rdx",
        "pop rcx",
        "pop rbx",
        "pop rax",
        "mov rsp, [rsp + 40]",
        "swapgs",
        "sysret", // sysretl: no REX.W, so CS = STAR[63:48], SS = + 8, EIP = ECX
        user_rsp = const PERCPU_USER_RSP,
        kernel_stack = const PERCPU_KERNEL_STACK,
        user_ds = const USER_DS as u64,
        user_cs32 = const USER_CS32 as u64,
        entry = const ENTRY_SYSCALL32,
        sysret32 = const SystemCallExit::Sysret32 as u64,
        dispatch = sym crate::lab1::dispatch_system_service,
    );
}
// ANCHOR_END: stub32

// ANCHOR: sysret32_safe
/// Whether `sysretl` can return this frame to 32-bit code.
pub fn sysret32_safe(frame: &KTrapFrame) -> bool {
    // As for sysretq: the frame must still say what SYSCALL saved.
    frame.rcx == frame.rip
        && frame.r11 == frame.rflags
    // The 32-bit SYSRET loads EIP from ECX: a RIP above 4 GiB would come back
    // as another address, and a kernel one must never go.
        && is_user_address32(frame.rip)
    // RF and TF, as for sysretq.
        && frame.rflags & (rflags::TF | rflags::RF) == 0
    // It forces CS = STAR[63:48] and SS = STAR[63:48] + 8.
        && frame.cs == USER_CS32 as u64
        && frame.ss == USER_DS as u64
}
// ANCHOR_END: sysret32_safe
