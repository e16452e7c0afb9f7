//! Copying to and from user memory without trusting it.
//!
//! Two defences, as in NT's ProbeForRead plus its exception handler, and
//! Linux's access_ok() plus its exception table:
//!
//! 1. a range check: the whole range must lie in user space
//!    ([`paging::is_user_range`]), so a user cannot make the kernel read or
//!    write kernel memory on its behalf;
//! 2. a fault fixup: every instruction that touches user memory (a `rep
//!    movsq` for whole words, a `rep movsb` for the rest, [`put_user`]'s
//!    `mov`) has an entry in the kernel's exception table, the section
//!    `.syslab_extable`: its address and where to resume. A page fault
//!    (unmapped user page) or a general protection fault (non-canonical
//!    address) at one of them resumes there, and the copy returns an error,
//!    instead of being a kernel fault. The instructions are inline in their
//!    callers (the dispatcher's argument copy is one `rep movsq`), so a
//!    copy costs no call.

use crate::frame::KTrapFrame;
use crate::mm::paging;
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
    use super::UserFault;

    // ANCHOR: copy_routine
    /// Runs one instruction that may fault on a user address, with an entry
    /// for it in the exception table: the instruction's address, and the
    /// `fault` label to resume at, which makes the enclosing function return
    /// `Err(UserFault)`. The section is `.syslab_extable` (kernel.ld).
    macro_rules! user_access {
        ($insn:literal, $($operands:tt)*) => {
            core::arch::asm!(
                concat!("2: ", $insn),
                ".pushsection .syslab_extable, \"a\"",
                ".balign 8",
                ".quad 2b, {fault}",
                ".popsection",
                $($operands)*
                fault = label { return Err(UserFault) },
                options(nostack, preserves_flags),
            )
        };
    }

    /// Copies `len` bytes from `src` to `dst`. Words first: a system call's
    /// arguments and handles are whole words, and one `rep movsq` iteration
    /// moves eight bytes where `rep movsb` moves one. For a length the
    /// compiler knows is whole words (the dispatcher's `8 * count`), the
    /// byte part is compiled away.
    ///
    /// # Safety
    /// `dst` is `len` bytes of kernel memory; `src` may fault.
    #[inline(always)]
    pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) -> Result<(), UserFault> {
        let words = len / 8;
        if words != 0 {
            // SAFETY: per the contract; a fault on src is fixed up.
            unsafe {
                user_access!(
                    "rep movsq",
                    inout("rdi") dst => _, inout("rsi") src => _, inout("rcx") words => _,
                )
            };
        }
        let tail = len % 8;
        if tail != 0 {
            // SAFETY: as above, for the bytes after the words.
            unsafe {
                user_access!(
                    "rep movsb",
                    inout("rdi") dst.add(len - tail) => _,
                    inout("rsi") src.add(len - tail) => _,
                    inout("rcx") tail => _,
                )
            };
        }
        Ok(())
    }

    /// Stores `value` at `dst`: one `mov`. One word is what a service hands
    /// back most often (NtCreateMutant's handle).
    ///
    /// # Safety
    /// `dst` may fault, and must not be kernel memory.
    #[inline(always)]
    pub unsafe fn put(dst: *mut u64, value: u64) -> Result<(), UserFault> {
        // SAFETY: per the contract; a fault is fixed up.
        unsafe { user_access!("mov [{dst}], {value}", dst = in(reg) dst, value = in(reg) value,) };
        Ok(())
    }
    // ANCHOR_END: copy_routine

    /// One entry of the exception table, as `user_access!` writes it.
    #[repr(C)]
    pub struct Entry {
        pub insn: u64,
        pub resume: u64,
    }

    /// The exception table: every entry of every copy in the kernel.
    pub fn entries() -> &'static [Entry] {
        unsafe extern "C" {
            static __extable_start: Entry;
            static __extable_end: Entry;
        }
        let start = &raw const __extable_start;
        let end = &raw const __extable_end;
        // SAFETY: the linker script puts every entry between the two
        // symbols, 16 bytes each (`.balign 8` and two `.quad`s).
        unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) }
    }
}

// ANCHOR: fixup
/// If a ring-0 #PF or #GP happened at an instruction of the exception
/// table, resume at its entry's address and return true. Called by the trap
/// handler.
pub fn fixup(frame: &mut KTrapFrame) -> bool {
    #[cfg(target_os = "none")]
    if (frame.entry == 14 || frame.entry == 13)
        && let Some(entry) = imp::entries().iter().find(|e| e.insn == frame.rip)
    {
        frame.rip = entry.resume;
        return true;
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
        unsafe { imp::copy(dst.as_mut_ptr(), src as *const u8, dst.len()) }
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
        unsafe { imp::copy(dst as *mut u8, src.as_ptr(), src.len()) }
    }
    #[cfg(not(target_os = "none"))]
    Err(UserFault)
}

/// Writes one word to user space (Linux's put_user): the range check, then
/// a single store that survives a fault.
#[inline]
pub fn put_user(dst: u64, value: u64) -> Result<(), UserFault> {
    if !paging::is_user_range(dst, 8) {
        return Err(UserFault);
    }
    #[cfg(target_os = "none")]
    {
        // SAFETY: the word lies in user space; a fault is fixed up.
        unsafe { imp::put(dst as *mut u64, value) }
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = value;
        Err(UserFault)
    }
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
