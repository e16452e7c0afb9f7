//! The user runtime: entry point, exit trap and report page.

use syslab_abi::{Report, layout};

/// Entry: the kernel's iretq lands here with a 16-byte aligned RSP.
#[unsafe(no_mangle)]
#[unsafe(naked)]
#[unsafe(link_section = ".text.entry")]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "call {main}", // RDI, RSI, RDX pass straight through
        "mov rdi, rax",
        "jmp {exit}",
        main = sym crate::tests::user_main,
        exit = sym exit,
    );
}

/// Ends the thread with `status`: the kernel recognises the `int3` at
/// `syslab_exit_trap` (a #BP from ring 3 at that address) as an exit.
#[unsafe(naked)]
pub extern "C" fn exit(status: u64) -> ! {
    core::arch::naked_asm!(
        "mov rax, rdi",
        ".global syslab_exit_trap",
        "syslab_exit_trap:",
        "int3",
        "ud2",
    );
}

/// Where NtTestSetReturn sends a thread in the "changed frame" tests: it
/// exits at once with `LANDED_STATUS`, proving the kernel returned to the
/// RIP in the frame rather than to the one SYSCALL saved in RCX.
#[unsafe(no_mangle)]
#[unsafe(naked)]
#[unsafe(link_section = ".text.entry")] // kept: only the kernel refers to it
pub extern "C" fn syslab_landing() -> ! {
    core::arch::naked_asm!("mov edi, {s}", "jmp {exit}", s = const syslab_abi::user_test::LANDED_STATUS, exit = sym exit);
}

/// This CPU's report page.
pub fn report(cpu: u64) -> &'static mut Report {
    // SAFETY: the kernel maps one report page per CPU and only this CPU's
    // thread writes it.
    unsafe { &mut *(layout::report_page(cpu) as *mut Report) }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(0xBAD)
}
