//! Reading any address the user types without ever faulting the kernel.
//!
//! Two checks, the same pair as a user copy's (usercopy.rs):
//! 1. before reading, the page tables must map every page of the range
//!    (the address must be canonical first, or the walk would see a
//!    different address), and device memory (an uncached mapping such as
//!    the local APIC's registers, where a read can have effects) is refused;
//! 2. the copy itself is usercopy's (`rep movsq` and `rep movsb`, each in
//!    the kernel's exception table), whose faults the trap handler turns
//!    into an error return, so a page unmapped in between still cannot
//!    crash the kernel.

use alloc::format;
use alloc::string::String;

/// Why a byte could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    NotCanonical,
    NotMapped,
    Device,
    Faulted,
}

/// A failed read: where, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    pub address: u64,
    pub why: Unreadable,
}

impl AccessError {
    /// `memory access error at ADDR (why)`, the line the prompt prints.
    pub fn line(&self) -> String {
        let why = match self.why {
            Unreadable::NotCanonical => "not a canonical address",
            Unreadable::NotMapped => "not mapped",
            Unreadable::Device => "device memory, not read",
            Unreadable::Faulted => "the read faulted",
        };
        format!("memory access error at {:08x} ({why})", self.address)
    }
}

/// Bits 63:47 all equal: the only addresses a 48-bit x86_64 CPU accepts.
pub const fn is_canonical(address: u64) -> bool {
    let top = address >> 47;
    top == 0 || top == 0x1_ffff
}

/// Reads as much of `buf.len()` bytes at `address` as can be read, in
/// order, stopping at the first byte that cannot. Returns how many were
/// read and, if not all, why the next one could not be.
#[cfg(target_os = "none")]
pub fn read(address: u64, buf: &mut [u8]) -> (usize, Option<AccessError>) {
    use crate::mm::paging::{PAGE_SIZE, flags};
    let mut done = 0;
    while done < buf.len() {
        let at = address.wrapping_add(done as u64);
        let fail = |why| (done, Some(AccessError { address: at, why }));
        if !is_canonical(at) || (done > 0 && at < address) {
            return fail(Unreadable::NotCanonical);
        }
        let entry = crate::kernel_space().translate(at);
        match entry {
            None => return fail(Unreadable::NotMapped),
            Some(e) if e & flags::NO_CACHE != 0 => return fail(Unreadable::Device),
            Some(_) => {}
        }
        let page_left = (PAGE_SIZE - at % PAGE_SIZE) as usize;
        let chunk = page_left.min(buf.len() - done);
        // SAFETY: the page is mapped, ordinary memory; a fault (a mapping
        // removed meanwhile) is fixed up into an error. The kernel debugger
        // reads kernel memory on purpose, so there is no user-range check.
        let copied =
            unsafe { crate::usercopy::copy_from_user_unchecked(&mut buf[done..done + chunk], at) };
        if copied.is_err() {
            return fail(Unreadable::Faulted);
        }
        done += chunk;
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_addresses() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(!is_canonical(0xdead_0000_0010_1000));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(is_canonical(u64::MAX));
    }

    #[test]
    fn error_lines() {
        let e = AccessError {
            address: 0,
            why: Unreadable::NotMapped,
        };
        assert_eq!(e.line(), "memory access error at 00000000 (not mapped)");
    }
}
