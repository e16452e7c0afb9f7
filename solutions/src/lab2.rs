//! Lab 2: SYSENTER/SYSEXIT, the Windows XP way.
//!
//! 1. [`check_sysenter_gdt`]: the selector rule SYSENTER and SYSEXIT impose on the GDT;
//! 2. [`program_sysenter_msrs`]: IA32_SYSENTER_CS/ESP/EIP, on every CPU, each with its own stack;
//! 3. [`KiFastCallEntry`]: builds the same trap frame as `int 0x2e`, for a 64-bit or a
//!    32-bit caller, and leaves through `KiSystemCallExit2` (`sysexitq`, or the 32-bit
//!    `sysexit`) or the iretq fallback;
//! 4. [`choose_exit`], [`sysexit_safe`] and [`sysexit32_safe`]: KiSystemServiceExit's
//!    decision (the article's Table 3).

use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS, USER_SS};
use syslab_kernel::msr;
use syslab_kernel::percpu::{
    PERCPU_SYSENTER_ARGS, PERCPU_SYSENTER_CS, PERCPU_SYSENTER_RIP, PERCPU_SYSENTER_SS, PerCpu,
};
use syslab_kernel::student::{GdtRuleError, SystemCallExit};
use syslab_kernel::syscall::exit::{is_user_address, is_user_address32};
use syslab_kernel::trap::{ENTRY_SYSCALL, ENTRY_SYSCALL32, ENTRY_SYSENTER, KTrapFrame, rflags};

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
/// saved, not even its CS, so not which mode it ran in. SharedUserData's
/// stub did `mov rdx, rsp` (64-bit) or `mov edx, esp` (32-bit), so RDX =
/// the user stack pointer, with the arguments two return addresses above
/// it; EAX = the service number. GS is still the user's. TF, NT, AC and DF
/// are as the user left them: SYSENTER clears none of them.
///
/// # Safety
/// Only the CPU enters it, through SYSENTER; never call it from Rust.
#[unsafe(no_mangle)]
#[unsafe(naked)]
pub unsafe extern "C" fn KiFastCallEntry() {
    core::arch::naked_asm!(
        "swapgs", // GS -> this CPU's block, which knows the thread's mode
        // The hardware part of the frame, by hand, from what this CPU's
        // thread is (64-bit or 32-bit): the user returns to the `ret` of
        // its SharedUserData stub, on the stack it had.
        "push qword ptr gs:[{ss}]",  // KTrapFrame::ss: 0x33, or 0x23 for 32-bit code
        "push rdx",                  // KTrapFrame::rsp: RSP (or ESP) at the stub
        "pushfq",                    // KTrapFrame::rflags: the user's, but IF is now 0...
        "bts qword ptr [rsp], 9",    // ...and was 1 in ring 3 (RFLAGS.IF is bit 9)
        "push qword ptr gs:[{cs}]",  // KTrapFrame::cs: 0x2b, or 0x1b for 32-bit code
        "push qword ptr gs:[{rip}]", // KTrapFrame::rip: KiFastSystemCallRet of that stub
        "push 0",                    // KTrapFrame::error_code
        "push {entry}",              // KTrapFrame::entry: entered through SYSENTER
        // Kernel flags: clear TF, NT, AC and DF that SYSENTER let through
        // (Linux does the same, pushq $X86_EFLAGS_FIXED; popfq).
        "push 2",
        "popfq",
        "push rax",
        "push rbx",
        "push rcx",
        // The dispatcher reads the arguments at [RDX]: skip the two return
        // addresses, 16 bytes for 64-bit code and 8 for 32-bit code.
        "add rdx, gs:[{args}]",
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
        "cmp rax, {sysexit}",
        "jne 3f",
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
        "sysexitq", // REX.W: CS = SYSENTER_CS + 32, SS = + 40, 64-bit code
        "3:",
        "cmp rax, {sysexit32}",
        "jne KiSystemCallExit", // the iretq exit of Lab 1, for either mode
        // The same for 32-bit code: every register back (a 32-bit thread can
        // still far-jump to 64-bit code and read R8-R15), then EIP from EDX
        // and ESP from ECX, which sysexit32_safe checked lie below 4 GiB.
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
        "mov edx, [rsp + 16]",
        "mov ecx, [rsp + 40]",
        "push qword ptr [rsp + 32]",
        "btr qword ptr [rsp], 9",
        "popfq",
        "swapgs",
        "sti",
        "sysexit", // no REX.W: CS = SYSENTER_CS + 16, SS = + 24, 32-bit code
        ss = const PERCPU_SYSENTER_SS,
        cs = const PERCPU_SYSENTER_CS,
        rip = const PERCPU_SYSENTER_RIP,
        args = const PERCPU_SYSENTER_ARGS,
        entry = const ENTRY_SYSENTER,
        sysexit = const SystemCallExit::Sysexit as u64,
        sysexit32 = const SystemCallExit::Sysexit32 as u64,
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
        _ => choose_exit32(frame),
    }
}

/// The rest of the choice: a frame that neither 64-bit fast exit takes may
/// be a 32-bit caller's. Apart and cold, so that the compiler lays out the
/// 64-bit decision as a straight line that returns without this call.
#[cold]
#[inline(never)]
fn choose_exit32(frame: &KTrapFrame) -> SystemCallExit {
    match frame.entry {
        ENTRY_SYSENTER if sysexit32_safe(frame) => SystemCallExit::Sysexit32,
        ENTRY_SYSCALL32 if crate::lab3::sysret32_safe(frame) => SystemCallExit::Sysret32,
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

// ANCHOR: exit32
/// Whether the 32-bit `sysexit` can return this frame to 32-bit code.
pub fn sysexit32_safe(frame: &KTrapFrame) -> bool {
    // The 32-bit SYSEXIT loads EIP from EDX and ESP from ECX and zeroes the
    // upper halves: a RIP or RSP above 4 GiB would come back as another
    // address. Both must be user addresses that 32-bit code can hold.
    is_user_address32(frame.rip) && is_user_address32(frame.rsp)
    // It forces CS = SYSENTER_CS + 16 and SS = SYSENTER_CS + 24.
        && frame.cs == USER_CS32 as u64
        && frame.ss == USER_DS as u64
    // TF and IF, as for sysexitq.
        && frame.rflags & rflags::TF == 0
        && frame.rflags & rflags::IF != 0
}
// ANCHOR_END: exit32
