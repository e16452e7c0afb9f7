//! The kernel heap: a fixed arena in .bss handed to the `talc` allocator.
//!
//! Page tables, kernel stacks and the user program's pages come from here
//! too (4 KiB-aligned allocations): the kernel is identity-mapped, so an
//! allocation's address is also its physical address.

use talc::{TalcLock, source::Claim};

/// 32 MiB: page tables, three stacks per CPU, the user image and objects.
pub const HEAP_SIZE: usize = 32 << 20;

#[cfg(all(target_os = "none", not(test)))]
#[global_allocator]
static HEAP: TalcLock<spin::Mutex<()>, Claim> = TalcLock::new(unsafe {
    static mut ARENA: [u8; HEAP_SIZE] = [0; HEAP_SIZE];
    // SAFETY: the arena is used by nothing else.
    Claim::array(&raw mut ARENA)
});

/// Allocates `pages` zeroed, 4 KiB-aligned pages that live forever.
pub fn alloc_pages(pages: usize) -> *mut u8 {
    let layout = core::alloc::Layout::from_size_align(pages * 4096, 4096).expect("page layout");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        alloc::alloc::handle_alloc_error(layout);
    }
    p
}
