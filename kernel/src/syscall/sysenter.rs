//! The SYSENTER/SYSEXIT path, Windows XP's fast system call.
//!
//! SYSENTER (Intel SDM Vol. 2B, SYSENTER) reads no descriptor from memory:
//! it loads CS from IA32_SYSENTER_CS with a fixed flat ring-0 shape, SS from
//! the next GDT slot (CS + 8), RSP from IA32_SYSENTER_ESP and RIP from
//! IA32_SYSENTER_EIP, and clears IF (and VM, RF). It saves nothing: not the
//! user RIP, RSP, RFLAGS or CS, so not even which mode the caller ran in.
//! 64-bit SYSEXIT (`sysexitq`) loads CS = SYSENTER_CS + 32 and SS =
//! SYSENTER_CS + 40 (ring 3, 64-bit code), RIP from RDX and RSP from RCX;
//! the 32-bit SYSEXIT loads CS = SYSENTER_CS + 16 and SS = + 24 (32-bit
//! code), EIP from EDX and ESP from ECX. The kernel takes a SYSENTER
//! caller to be in its thread's mode (mode.rs).
//!
//! So the user side must tell the kernel where its stack is (XP's stub does
//! `mov edx, esp` first), the kernel returns to a fixed address (the `ret`
//! in SharedUserData's stub), and each CPU needs its own kernel stack in its
//! own IA32_SYSENTER_ESP: MSRs are per CPU, and two CPUs entering on one
//! stack would overwrite each other's frames.
//!
//! The student writes `program_sysenter_msrs`, `KiFastCallEntry`, the GDT
//! rule check and the exit choice; this file has the kernel's side.

use crate::msr;

/// IA32_SYSENTER_CS, IA32_SYSENTER_ESP and IA32_SYSENTER_EIP of the running CPU.
pub fn read_msrs() -> [u64; 3] {
    // SAFETY: the three MSRs exist on every x86_64 CPU (AMD included).
    unsafe {
        [
            msr::read(msr::IA32_SYSENTER_CS),
            msr::read(msr::IA32_SYSENTER_ESP),
            msr::read(msr::IA32_SYSENTER_EIP),
        ]
    }
}

// ANCHOR: single_step
/// SYSENTER does not clear TF. A user that single-steps into it takes a
/// debug trap in ring 0 right after the `sysenter`, on KiFastCallEntry's
/// first instruction, still with the user's GS, and then one after every
/// instruction of the stub until the stub's own `popfq` clears TF (the
/// trap after that `popfq` comes too: TF was set when it began).
///
/// The kernel lets those traps through, as Linux's `is_sysenter_singlestep`
/// does: the #DB handler (paranoid.rs) returns at once for a single-step
/// trap whose RIP lies in this region, leaving TF set. The stub's `pushfq`
/// therefore records TF in *this call's* frame, `sysexit_safe` sees it and
/// the call leaves through `iretq`, which gives the user its trap on the
/// instruction after the return. Nothing about the trap is kept outside the
/// frame: a thread that ends inside the call (NtTerminateThread) takes it
/// with it. (ReactOS redirects the trap to a second entry instead; a
/// student's stub has no second entry.)
///
/// The region runs from the stub's first instruction to its `call
/// KiSystemServiceExit`, which every stub makes after the dispatcher and
/// before its exit: everything before it is entry code, where only the
/// user's TF can be set; the exit path after it must never run with TF,
/// and a trap there is a kernel fault with its own hint.
pub fn in_single_step_region(rip: u64) -> bool {
    #[cfg(target_os = "none")]
    {
        static REGION: spin::Once<core::ops::Range<u64>> = spin::Once::new();
        let region = REGION.call_once(|| {
            let entry = crate::student::student().lab2.ki_fast_call_entry as *const () as u64;
            let exit = super::exit::ki_system_service_exit();
            // SAFETY: the stub is kernel text, and the bytes after it are
            // mapped text or read-only data of the same image.
            let code = unsafe { core::slice::from_raw_parts(entry as *const u8, REGION_SCAN) };
            // Without that call, only the trap on the first instruction.
            entry..entry + find_call(code, entry, exit).unwrap_or(1)
        });
        return region.contains(&rip);
    }
    #[allow(unreachable_code)]
    {
        let _ = rip;
        false
    }
}
// ANCHOR_END: single_step

/// How far past KiFastCallEntry the kernel looks for its `call KiSystemServiceExit`.
const REGION_SCAN: usize = 1024;

/// The offset in `code` (which starts at address `base`) of the first
/// `call rel32` (opcode E8) whose target is `target`. Five bytes that
/// decode to a call landing exactly on `target` do not happen by chance.
pub fn find_call(code: &[u8], base: u64, target: u64) -> Option<u64> {
    (0..code.len().saturating_sub(4)).find_map(|i| {
        let rel = i32::from_le_bytes(code.get(i + 1..i + 5)?.try_into().ok()?);
        let next = base.wrapping_add(i as u64 + 5);
        (code[i] == 0xE8 && next.wrapping_add(rel as i64 as u64) == target).then_some(i as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_call_to_the_exact_target() {
        // 0x1000: push 0x33; call 0x2000 (E8 rel32 = 0x2000 - 0x1007 = 0xFF9).
        let code = [0x6A, 0x33, 0xE8, 0xF9, 0x0F, 0x00, 0x00, 0xC3];
        assert_eq!(find_call(&code, 0x1000, 0x2000), Some(2));
        assert_eq!(find_call(&code, 0x1000, 0x2001), None);
        // A backward call: rel32 negative.
        let back = [0xE8, 0xFB, 0xFF, 0xFF, 0xFF];
        assert_eq!(find_call(&back, 0x1000, 0x1000), Some(0));
        assert_eq!(find_call(&[0xE8, 0, 0], 0, 3), None, "too short to decode");
    }
}
