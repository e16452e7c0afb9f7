//! Copying to and from user memory without trusting it.
//!
//! Two defences, as in NT's ProbeForRead plus its exception handler, and
//! Linux's access_ok() plus its exception table:
//!
//! 1. a range check: the whole range must lie in user space
//!    ([`paging::is_user_range`]), so a user cannot make the kernel read or
//!    write kernel memory on its behalf;
//! 2. a fault fixup: the copy itself is a `rep movsq` for the whole words
//!    and a `rep movsb` for the rest, whose addresses the trap handler
//!    knows. A page fault (unmapped user page) or a general protection
//!    fault (non-canonical address) at either instruction resumes at the
//!    routine's error exit instead of being a kernel fault.

use crate::mm::paging;
use crate::trap::KTrapFrame;
use syslab_abi::status::{NtStatus, STATUS_ACCESS_VIOLATION};

/// The copy faulted on a user address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserFault;

impl From<UserFault> for NtStatus {
    fn from(_: UserFault) -> NtStatus {
        STATUS_ACCESS_VIOLATION
    }
}

#[cfg(target_os = "none")]
mod imp {
    // ANCHOR: copy_routine
    /// Copies `len` bytes from `src` to `dst`; returns 0, or 1 if the copy
    /// faulted. Only the two `rep` moves may fault. Words first: a system
    /// call's arguments and handles are whole words, and one `rep movsq`
    /// iteration moves eight bytes where `rep movsb` moves one.
    #[unsafe(naked)]
    pub unsafe extern "C" fn copy_bytes(dst: *mut u8, src: *const u8, len: usize) -> u64 {
        core::arch::naked_asm!(
            "mov rcx, rdx", // RDI = dst and RSI = src already, as movs wants
            "shr rcx, 3",   // whole words
            ".global usercopy_insn",
            "usercopy_insn:",
            "rep movsq",
            "mov rcx, rdx",
            "and rcx, 7", // the bytes left over
            ".global usercopy_insn_tail",
            "usercopy_insn_tail:",
            "rep movsb",
            "xor eax, eax",
            "ret",
            ".global usercopy_fixup",
            "usercopy_fixup:", // trap.rs resumes here after a fault
            "mov eax, 1",
            "ret",
        );
    }
    // ANCHOR_END: copy_routine

    unsafe extern "C" {
        pub static usercopy_insn: u8;
        pub static usercopy_insn_tail: u8;
        pub static usercopy_fixup: u8;
    }
}

// ANCHOR: fixup
/// If a ring-0 #PF or #GP happened at a copy instruction, resume the copy
/// routine at its error exit and return true. Called by the trap handler.
pub fn fixup(frame: &mut KTrapFrame) -> bool {
    #[cfg(target_os = "none")]
    {
        let insns = [
            &raw const imp::usercopy_insn as u64,
            &raw const imp::usercopy_insn_tail as u64,
        ];
        if (frame.entry == 14 || frame.entry == 13) && insns.contains(&frame.rip) {
            frame.rip = &raw const imp::usercopy_fixup as u64;
            return true;
        }
    }
    let _ = frame;
    false
}
// ANCHOR_END: fixup

/// Copies `dst.len()` bytes from user address `src` without a range check.
/// The caller must have checked the range with `paging::is_user_range`;
/// this only survives faults.
///
/// # Safety
/// `src..src+len` must not be kernel memory (the range check's job).
#[inline]
pub unsafe fn copy_from_user_unchecked(dst: &mut [u8], src: u64) -> Result<(), UserFault> {
    #[cfg(target_os = "none")]
    {
        // SAFETY: dst is a valid kernel buffer; faults on src are fixed up.
        match unsafe { imp::copy_bytes(dst.as_mut_ptr(), src as *const u8, dst.len()) } {
            0 => Ok(()),
            _ => Err(UserFault),
        }
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (dst, src);
        Err(UserFault)
    }
}

/// Copies from user space, with the range check.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), UserFault> {
    if !paging::is_user_range(src, dst.len() as u64) {
        return Err(UserFault);
    }
    // SAFETY: the range lies in user space.
    unsafe { copy_from_user_unchecked(dst, src) }
}

/// Copies to user space, with the range check.
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), UserFault> {
    if !paging::is_user_range(dst, src.len() as u64) {
        return Err(UserFault);
    }
    #[cfg(target_os = "none")]
    {
        // SAFETY: the range lies in user space; faults are fixed up.
        match unsafe { imp::copy_bytes(dst as *mut u8, src.as_ptr(), src.len()) } {
            0 => Ok(()),
            _ => Err(UserFault),
        }
    }
    #[cfg(not(target_os = "none"))]
    Err(UserFault)
}

/// Copies to the user space of a 32-bit caller: the whole range must lie
/// below 4 GiB, which is all that caller can address, before anything is
/// written.
pub fn copy_to_user32(dst: u64, src: &[u8]) -> Result<(), UserFault> {
    if !paging::is_user_range32(dst, src.len() as u64) {
        return Err(UserFault);
    }
    copy_to_user(dst, src)
}
