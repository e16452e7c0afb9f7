//! 4-level page tables and the address-space layout.
//!
//! One address space serves every CPU (one "process", as in the benchmark,
//! where both CPUs share a handle table):
//!
//! | range                          | what                                   | who    |
//! |--------------------------------|----------------------------------------|--------|
//! | 0 – 4 KiB                      | unmapped: catches null pointers        | –      |
//! | 4 KiB – end of RAM (< 768 MiB) | identity map: kernel image, heap, ACPI | ring 0 |
//! | `STACKS_BASE` – 1 GiB          | kernel stacks with guard pages, LAPIC  | ring 0 |
//! | `USER_BASE` (1 GiB) – `USER_TOP` | user program, stacks, SharedUserData | ring 3 |
//!
//! User space therefore covers XP's classic addresses (SharedUserData at
//! 0x7FFE0000). Pages are mapped with U/S clear unless they are user pages,
//! and with NX unless they hold code (Intel SDM Vol. 3A §5.5 "4-level paging";
//! EFER.NXE is set in boot.rs and the AP trampoline).

use super::heap::alloc_pages;

// ANCHOR: layout
/// Lowest user address. Everything below belongs to the kernel.
pub const USER_BASE: u64 = 0x4000_0000;
/// One past the highest user address: the end of the lower canonical half.
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;
/// Kernel stacks (with unmapped guard pages between them) live here.
pub const STACKS_BASE: u64 = 0x3000_0000;
/// Where the local APIC's registers are mapped (physical 0xFEE0_0000).
pub const LAPIC_VIRT: u64 = 0x3FE0_0000;
/// RAM above this is not mapped: it would run into the stack region.
pub const RAM_LIMIT: u64 = STACKS_BASE;
// ANCHOR_END: layout

pub const PAGE_SIZE: u64 = 4096;
/// Physical (and virtual) address of the APs' trampoline (smp.rs), SIPI
/// vector 0x08: mapped writable and executable, unlike the rest of low memory.
pub const TRAMPOLINE_ADDR: u64 = 0x8000;
const LARGE_PAGE: u64 = 2 << 20;

/// Page-table entry bits (Intel SDM Vol. 3A Table 5-20 and its neighbours).
pub mod flags {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    /// U/S: ring 3 may access the page (must be set at every level).
    pub const USER: u64 = 1 << 2;
    pub const WRITE_THROUGH: u64 = 1 << 3;
    pub const NO_CACHE: u64 = 1 << 4;
    /// PS: this PD entry maps a 2 MiB page.
    pub const HUGE: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    /// XD/NX: instruction fetches fault (needs IA32_EFER.NXE).
    pub const NO_EXECUTE: u64 = 1 << 63;
}
use flags::*;

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

// ANCHOR: is_user_range
/// Whether `[addr, addr + len)` lies wholly inside user space. Overflow and
/// empty ranges at the top are handled: nothing is added that could wrap.
pub const fn is_user_range(addr: u64, len: u64) -> bool {
    const SPAN: u64 = USER_TOP - USER_BASE;
    // The distance from USER_BASE must leave room for `len` bytes below
    // USER_TOP. An address below USER_BASE wraps to a distance above SPAN.
    len <= SPAN && addr.wrapping_sub(USER_BASE) <= SPAN - len
}

/// Whether `[addr, addr + len)` lies wholly inside the user space that a
/// 32-bit caller can address: user space below 4 GiB. Its pointers are
/// 32 bits wide, so a range reaching past 4 GiB is one it cannot mean.
pub const fn is_user_range32(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => addr >= USER_BASE && end <= syslab_abi::layout::FOUR_GIB,
        None => false,
    }
}
// ANCHOR_END: is_user_range

/// A page-table hierarchy rooted at a PML4.
pub struct AddressSpace {
    pml4: *mut u64,
}

// SAFETY: the tables are changed only during boot and while loading the user
// program, before other CPUs run user code; afterwards they are read-only.
unsafe impl Send for AddressSpace {}
unsafe impl Sync for AddressSpace {}

impl AddressSpace {
    pub fn new() -> Self {
        Self {
            pml4: alloc_pages(1).cast(),
        }
    }

    /// The value for CR3.
    pub fn cr3(&self) -> u64 {
        self.pml4 as u64
    }

    /// Returns the entry for `va` at the level whose index shift is `shift`,
    /// creating the intermediate tables on the way down.
    fn walk_create(&mut self, va: u64, stop_shift: u32, user: bool) -> *mut u64 {
        let mut table = self.pml4;
        for shift in [39u32, 30, 21, 12] {
            let idx = ((va >> shift) & 0x1ff) as usize;
            // SAFETY: `table` is a live page table and idx < 512.
            let entry = unsafe { table.add(idx) };
            if shift == stop_shift {
                return entry;
            }
            // SAFETY: as above.
            let e = unsafe { *entry };
            let next = if e & PRESENT == 0 {
                let t = alloc_pages(1) as u64;
                // Intermediate entries grant everything; the leaf decides.
                let f = PRESENT | WRITABLE | if user { USER } else { 0 };
                unsafe { *entry = t | f };
                t
            } else {
                assert!(e & HUGE == 0, "mapping {va:#x} inside a 2 MiB page");
                if user {
                    unsafe { *entry = e | USER };
                }
                e & ADDR_MASK
            };
            table = next as *mut u64;
        }
        unreachable!()
    }

    /// Maps the 4 KiB page at `va` to `pa`.
    pub fn map_4k(&mut self, va: u64, pa: u64, flags: u64) {
        let entry = self.walk_create(va, 12, flags & USER != 0);
        // SAFETY: walk_create returns a pointer into a live table.
        unsafe { *entry = (pa & ADDR_MASK) | flags | PRESENT };
    }

    /// Maps the 2 MiB page at `va` to `pa`.
    pub fn map_2m(&mut self, va: u64, pa: u64, flags: u64) {
        debug_assert!(va.is_multiple_of(LARGE_PAGE) && pa.is_multiple_of(LARGE_PAGE));
        let entry = self.walk_create(va, 21, flags & USER != 0);
        // SAFETY: as in map_4k.
        unsafe { *entry = (pa & ADDR_MASK) | flags | HUGE | PRESENT };
    }

    /// Allocates and maps `pages` zeroed pages at `va`; returns their kernel address.
    pub fn map_new(&mut self, va: u64, pages: usize, flags: u64) -> *mut u8 {
        let mem = alloc_pages(pages);
        for i in 0..pages as u64 {
            self.map_4k(va + i * PAGE_SIZE, mem as u64 + i * PAGE_SIZE, flags);
        }
        mem
    }

    /// The leaf entry mapping `va`, if any (for tests and diagnostics).
    pub fn translate(&self, va: u64) -> Option<u64> {
        let mut table = self.pml4;
        for shift in [39u32, 30, 21, 12] {
            let idx = ((va >> shift) & 0x1ff) as usize;
            // SAFETY: `table` is a live page table and idx < 512.
            let e = unsafe { *table.add(idx) };
            if e & PRESENT == 0 {
                return None;
            }
            if shift == 12 || e & HUGE != 0 {
                return Some(e);
            }
            table = (e & ADDR_MASK) as *mut u64;
        }
        None
    }
}

impl Default for AddressSpace {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the kernel half of the address space: the identity map with
/// per-section permissions, and the LAPIC window.
#[cfg(target_os = "none")]
pub fn build_kernel_space(ram_top: u64) -> AddressSpace {
    unsafe extern "C" {
        static __kernel_start: u8;
        static __rodata_start: u8;
        static __data_start: u8;
        static __kernel_end: u8;
    }
    let (text, rodata, data, end) = (
        &raw const __kernel_start as u64,
        &raw const __rodata_start as u64,
        &raw const __data_start as u64,
        &raw const __kernel_end as u64,
    );
    let ram_top = ram_top.min(RAM_LIMIT);
    let mut space = AddressSpace::new();
    let small_end = end.next_multiple_of(LARGE_PAGE);
    // Page 0 stays unmapped. Low memory holds the PVH structures and the AP
    // trampoline, which must stay executable because the APs run it.
    let mut va = PAGE_SIZE;
    while va < small_end {
        let f = if va == TRAMPOLINE_ADDR {
            WRITABLE // the APs run it; the boot CPU writes its parameters
        } else if (text..rodata).contains(&va) {
            0 // read + execute
        } else if (rodata..data).contains(&va) {
            NO_EXECUTE
        } else {
            WRITABLE | NO_EXECUTE
        };
        space.map_4k(va, va, f | GLOBAL);
        va += PAGE_SIZE;
    }
    while va < ram_top {
        space.map_2m(va, va, WRITABLE | NO_EXECUTE | GLOBAL);
        va += LARGE_PAGE;
    }
    space.map_4k(
        LAPIC_VIRT,
        0xFEE0_0000,
        WRITABLE | NO_EXECUTE | NO_CACHE | WRITE_THROUGH,
    );
    space
}

/// Loads CR3.
///
/// # Safety
/// `space` must map the running code, its stack and everything it touches.
#[cfg(target_os = "none")]
pub unsafe fn activate(space: &AddressSpace) {
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) space.cr3(), options(nostack)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_range_check_rejects_kernel_straddling_and_wrapping_ranges() {
        assert!(is_user_range(USER_BASE, 8));
        assert!(is_user_range(USER_TOP - 8, 8));
        assert!(!is_user_range(USER_TOP - 8, 16), "straddles the top");
        assert!(!is_user_range(USER_BASE - 8, 16), "starts in the kernel");
        assert!(!is_user_range(0x1000, 8), "kernel address");
        assert!(!is_user_range(u64::MAX - 4, 8), "wraps around");
        assert!(!is_user_range(0xffff_8000_0000_0000, 8), "upper half");
    }

    #[test]
    fn maps_and_translates_with_flags() {
        let mut s = AddressSpace::new();
        let page = alloc_pages(1) as u64;
        s.map_4k(USER_BASE, page, USER | WRITABLE | NO_EXECUTE);
        let e = s.translate(USER_BASE).unwrap();
        assert_eq!(e & ADDR_MASK, page);
        assert_ne!(e & USER, 0);
        assert_ne!(e & NO_EXECUTE, 0);
        assert!(s.translate(USER_BASE + PAGE_SIZE).is_none());
        s.map_2m(0x20_0000, 0x20_0000, WRITABLE);
        assert_ne!(s.translate(0x20_1234).unwrap() & HUGE, 0);
    }
}
