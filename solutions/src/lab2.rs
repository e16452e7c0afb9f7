//! Lab 2: SYSENTER/SYSEXIT, the Windows XP way.
//!
//! 1. [`check_sysenter_gdt`]: the selector rule SYSENTER and SYSEXIT impose on the GDT;
//! 2. [`program_sysenter_msrs`]: IA32_SYSENTER_CS/ESP/EIP, on every CPU, each with its own stack;
//! 3. [`KiFastCallEntry`]: builds the same trap frame as `int 0x2e` and leaves through
//!    `KiSystemCallExit2` (`sysexitq`) or the iretq fallback;
//! 4. [`choose_exit`] and [`sysexit_safe`]: KiSystemServiceExit's decision (the article's Table 3).

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_SS};
use syslab_kernel::msr;
use syslab_kernel::percpu::PerCpu;
use syslab_kernel::shared_user_data::KI_FAST_SYSTEM_CALL_RET;
use syslab_kernel::student::{GdtRuleError, SystemCallExit};
use syslab_kernel::syscall::exit::is_user_address;
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSENTER, KTrapFrame, rflags};

// ANCHOR: gdt_rule
/// Checks the GDT against the selectors SYSENTER and SYSEXIT compute from
/// IA32_SYSENTER_CS (Intel SDM Vol. 2B, SYSENTER and SYSEXIT):
///
/// | selector | SYSENTER | 32-bit SYSEXIT | 64-bit SYSEXIT |
/// |----------|----------|----------------|----------------|
/// | CS       | CS       |                |                |
/// | CS + 8   | SS       |                |                |
/// | CS + 16  |          | CS (ring 3)    |                |
/// | CS + 24  |          | SS (ring 3)    |                |
/// | CS + 32  |          |                | CS (ring 3)    |
/// | CS + 40  |          |                | SS (ring 3)    |
///
/// The CPU never reads these descriptors: it loads fixed values into the
/// hidden parts of CS and SS. The GDT must still agree with them, or the
/// next `iretq` or segment reload would load something else.
pub fn check_sysenter_gdt(gdt: &[u64], sysenter_cs: u16) -> Result<(), GdtRuleError> {
    if sysenter_cs & 7 != 0 || sysenter_cs == 0 {
        return Err(GdtRuleError::BadSelector(sysenter_cs));
    }
    type Rule = (u16, &'static str, fn(SegmentDescriptor) -> bool);
    let rules: [Rule; 6] = [
        (0, "ring-0 64-bit code (SYSENTER's CS)", |d| {
            d.is_code() && d.is_long_mode() && d.dpl() == 0
        }),
        (8, "ring-0 writable data (SYSENTER's SS = CS + 8)", |d| {
            d.is_data() && d.is_writable() && d.dpl() == 0
        }),
        (
            16,
            "ring-3 32-bit code (32-bit SYSEXIT's CS = CS + 16)",
            |d| d.is_code() && !d.is_long_mode() && d.dpl() == 3,
        ),
        (
            24,
            "ring-3 writable data (32-bit SYSEXIT's SS = CS + 24)",
            |d| d.is_data() && d.is_writable() && d.dpl() == 3,
        ),
        (
            32,
            "ring-3 64-bit code (64-bit SYSEXIT's CS = CS + 32)",
            |d| d.is_code() && d.is_long_mode() && d.dpl() == 3,
        ),
        (
            40,
            "ring-3 writable data (64-bit SYSEXIT's SS = CS + 40)",
            |d| d.is_data() && d.is_writable() && d.dpl() == 3,
        ),
    ];
    for (offset, role, ok) in rules {
        let selector = sysenter_cs + offset;
        let Some(&raw) = gdt.get(selector as usize / 8) else {
            return Err(GdtRuleError::Missing { selector, role });
        };
        let d = SegmentDescriptor(raw);
        if !(d.is_present() && ok(d)) {
            return Err(GdtRuleError::Wrong {
                selector,
                role,
                descriptor: raw,
            });
        }
    }
    Ok(())
}
// ANCHOR_END: gdt_rule

// ANCHOR: msrs
/// Programs this CPU's SYSENTER MSRs. Called on every CPU as it comes up:
/// MSRs are per CPU, and each CPU must enter on its own kernel stack.
pub fn program_sysenter_msrs(cpu: &PerCpu) {
    // SAFETY: the values point at the kernel CS, this CPU's own kernel
    // stack and the entry stub below.
    unsafe {
        msr::write(msr::IA32_SYSENTER_CS, KERNEL_CS as u64);
        msr::write(msr::IA32_SYSENTER_ESP, cpu.kernel_stack_top);
        msr::write(msr::IA32_SYSENTER_EIP, KiFastCallEntry as *const () as u64);
    }
}
// ANCHOR_END: msrs

// ANCHOR: stub
/// KiFastCallEntry: the target of IA32_SYSENTER_EIP.
///
/// On entry (SDM Vol. 2B, SYSENTER): RSP = IA32_SYSENTER_ESP (this CPU's
/// kernel stack), CS = 0x08, SS = 0x10, IF = 0; nothing of the user's was
/// saved. SharedUserData's stub did `mov rdx, rsp`, so RDX = the user RSP,
/// with the arguments 16 bytes above it (past the two return addresses);
/// EAX = the service number. GS is still the user's. TF, NT, AC and DF are
/// as the user left them: SYSENTER clears none of them.
///
/// # Safety
/// Only the CPU enters it, through SYSENTER; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiFastCallEntry() {
    core::arch::naked_asm!(
        // The hardware part of the frame, by hand: the user returns to the
        // `ret` after `sysenter` in SharedUserData, on the stack it had.
        "push {user_ss}",     // KTrapFrame::ss
        "push rdx",           // KTrapFrame::rsp
        "pushfq",             // KTrapFrame::rflags: the user's, but IF is now 0...
        "bts qword ptr [rsp], 9", // ...and was 1 in ring 3 (RFLAGS.IF is bit 9)
        "push {user_cs}",     // KTrapFrame::cs
        "push {ret}",         // KTrapFrame::rip: KiFastSystemCallRet
        "push 0",             // KTrapFrame::error_code
        "push {entry}",       // KTrapFrame::entry: entered through SYSENTER
        // Kernel flags: clear TF, NT, AC and DF that SYSENTER let through
        // (Linux does the same, pushq $X86_EFLAGS_FIXED; popfq).
        "push 2",
        "popfq",
        "swapgs",
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
        // The dispatcher reads the arguments at [RDX]: skip the two return addresses.
        "add qword ptr [rsp + {rdx}], 16",
        "mov rdi, rsp",
        "call {dispatch}",
        "mov rdi, rsp",
        "call KiSystemServiceExit",
        "cmp rax, {sysexit}",
        "jne KiSystemCallExit", // the iretq exit of Lab 1
        // KiSystemCallExit2: SYSEXIT takes RIP from RDX and RSP from RCX.
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
        // [rsp]: rdx, rcx, rbx, rax, entry, error_code, rip, cs, rflags, rsp, ss.
        // The user's RDX and RCX are lost to SYSEXIT: load, not pop, the rest.
        "mov rbx, [rsp + 16]", // KTrapFrame::rbx
        "mov rax, [rsp + 24]", // KTrapFrame::rax: the status
        "mov rdx, [rsp + 48]", // KTrapFrame::rip, SYSEXIT's RIP
        "mov rcx, [rsp + 72]", // KTrapFrame::rsp, SYSEXIT's RSP
        // The user's RFLAGS, which SYSEXIT does not load, from the frame
        // (no longer needed) with IF cleared: IF stays off until the sti,
        // whose one-instruction shadow covers sysexit.
        "btr qword ptr [rsp + 64], 9", // RFLAGS.IF
        "lea rsp, [rsp + 64]",         // KTrapFrame::rflags (lea keeps the flags)
        "popfq",
        "swapgs",
        "sti",
        "sysexitq",
        user_ss = const USER_SS as u64,
        user_cs = const USER_CS as u64,
        ret = const KI_FAST_SYSTEM_CALL_RET,
        entry = const ENTRY_SYSENTER,
        rdx = const core::mem::offset_of!(KTrapFrame, rdx),
        sysexit = const SystemCallExit::Sysexit as u64,
        dispatch = sym crate::lab1::dispatch_system_service,
    );
}
// ANCHOR_END: stub

// ANCHOR: exit
/// KiSystemServiceExit's choice (the article's Table 3): each entry has its
/// fast exit, taken only when it is safe; `iretq` works for any frame.
pub fn choose_exit(frame: &KTrapFrame) -> SystemCallExit {
    match frame.entry {
        ENTRY_SYSENTER if sysexit_safe(frame) => SystemCallExit::Sysexit,
        ENTRY_SYSCALL if crate::lab3::sysret_safe(frame) => SystemCallExit::Sysret,
        _ => SystemCallExit::Iretq,
    }
}

/// Whether `sysexitq` can return this frame to ring 3.
pub fn sysexit_safe(frame: &KTrapFrame) -> bool {
    // SYSEXIT loads RIP from RDX and RSP from RCX; a non-canonical one
    // raises #GP in ring 0 on Intel (SDM SYSEXIT), and a kernel one would
    // hand ring 3 a kernel address. Both must be user addresses.
    is_user_address(frame.rip) && is_user_address(frame.rsp)
    // SYSEXIT forces these selectors: the frame must want them.
        && frame.cs == USER_CS as u64
        && frame.ss == USER_SS as u64
    // TF: the popfq before sysexit would single-step the kernel.
        && frame.rflags & rflags::TF == 0
    // The exit re-enables interrupts with sti.
        && frame.rflags & rflags::IF != 0
}
// ANCHOR_END: exit
