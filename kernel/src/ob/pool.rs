//! Where object blocks come from: a small cache of free blocks per CPU,
//! in front of the kernel heap.
//!
//! NT allocates objects from pool, and small pool allocations are served
//! first from per-processor lookaside lists in each CPU's KPRCB (the
//! "PPLookasideList"s), so the common allocation touches only the CPU's own
//! memory. Bonwick's slab allocator calls the same idea a magazine ("Magazines
//! and Vmem", USENIX 2001). Here:
//!
//! - allocating on CPU `c` pops a block from cache `c`, or asks the heap;
//! - freeing on CPU `c` pushes the block onto cache `c`, or, when that
//!   holds [`OBJECT_CACHE_DEPTH`] blocks already, gives it back to the heap.
//!
//! A block is freed into the cache of the CPU that frees it, not the one
//! that made it, so a CPU that only frees fills its cache to the bound and
//! a CPU that only creates always reaches the heap; both stay correct.
//!
//! Each cache sits behind its own spin lock (lock.rs), in its own cache
//! lines (`CachePadded`). The lock is not there for speed but for safety:
//! the `cpu` number is a caller's hint, and a wrong one must not corrupt
//! the cache. Uncontended, it costs one `lock bts` and one store. No
//! interrupt handler may create or free objects: one that did so while its
//! CPU held the lock would spin forever (Linux's per-CPU allocators disable
//! interrupts around the same steps for that reason).

use super::lock::CacheLock;
use super::{ObjectHeader, cache_index};
use crate::percpu::MAX_CPUS;
use core::alloc::Layout;
use core::ptr::NonNull;
use crossbeam_utils::CachePadded;

/// Most free blocks one CPU keeps (32 × 64 bytes = 2 KiB per CPU).
pub const OBJECT_CACHE_DEPTH: usize = 32;

/// A free block, as its cache sees it: its first word links it to the
/// next free block (NT's lookaside lists link their free entries the same
/// way, through a SINGLE_LIST_ENTRY at the start of each).
#[repr(C)]
struct FreeBlock {
    next: *mut FreeBlock,
}
const _: () = assert!(core::mem::size_of::<FreeBlock>() <= core::mem::size_of::<ObjectHeader>());

/// One CPU's free blocks. Every field is guarded by the lock around it.
struct BlockCache {
    /// The free, uninitialised object blocks, linked through their first
    /// word; the first was freed most recently and is the likeliest to be
    /// in the cache. Null when the cache is empty.
    head: *mut FreeBlock,
    /// How many blocks the list holds: at most [`OBJECT_CACHE_DEPTH`].
    depth: usize,
    /// Objects created on this CPU minus objects freed on it. One CPU's
    /// value can be negative; the sum over all CPUs is the live count. (A
    /// count per CPU, like Linux's percpu_counter, so that counting adds no
    /// shared cache line to the common path.)
    live: isize,
}

// SAFETY: the pointers are free blocks owned by the cache, not shared data.
unsafe impl Send for BlockCache {}

impl BlockCache {
    const fn new() -> Self {
        BlockCache {
            head: core::ptr::null_mut(),
            depth: 0,
            live: 0,
        }
    }
}

/// A source of object blocks: one `BlockCache` per CPU over the heap.
pub struct ObjectPool {
    cpus: [CachePadded<CacheLock<BlockCache>>; MAX_CPUS],
}

impl core::fmt::Debug for ObjectPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ObjectPool")
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl Default for ObjectPool {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectPool {
    /// An empty pool (const, so a pool can be a `static`).
    pub const fn new() -> Self {
        ObjectPool {
            cpus: [const { CachePadded::new(CacheLock::new(BlockCache::new())) }; MAX_CPUS],
        }
    }

    /// The heap layout of one block.
    pub fn block_layout() -> Layout {
        Layout::new::<ObjectHeader>()
    }

    /// An uninitialised block for an object made on `cpu`, counted live;
    /// `None` if the cache is empty and the heap exhausted (NT:
    /// ExAllocatePoolWithTag returns NULL), which the caller reports.
    #[inline]
    pub(super) fn alloc_block(&self, cpu: usize) -> Option<NonNull<ObjectHeader>> {
        let mut cache = self.cpus[cache_index(cpu)].lock();
        let block = match NonNull::new(cache.head) {
            Some(free) => {
                // SAFETY: a block on the list is free and starts with its link.
                cache.head = unsafe { free.as_ref().next };
                cache.depth -= 1;
                free.cast()
            }
            None => heap_block()?,
        };
        cache.live += 1;
        Some(block)
    }

    /// Takes back a block whose object was destroyed on `cpu`.
    ///
    /// # Safety
    /// `block` came from this pool's `alloc_block` and its object has been
    /// dropped; nobody uses it any more.
    #[inline]
    pub(super) unsafe fn free_block(&self, block: NonNull<ObjectHeader>, cpu: usize) {
        let mut cache = self.cpus[cache_index(cpu)].lock();
        cache.live -= 1;
        if cache.depth == OBJECT_CACHE_DEPTH {
            drop(cache);
            // SAFETY: per the contract, the block is ours to give back.
            return unsafe { heap_free(block) };
        }
        let free = block.cast::<FreeBlock>();
        // SAFETY: the block is free, 64 bytes, and aligned for a pointer.
        unsafe { free.write(FreeBlock { next: cache.head }) };
        cache.head = free.as_ptr();
        cache.depth += 1;
    }

    /// Objects created from this pool and not yet freed. Exact when no
    /// create or free is in progress; a snapshot otherwise.
    pub fn live(&self) -> usize {
        let sum: isize = self.cpus.iter().map(|c| c.lock().live).sum();
        sum.max(0) as usize
    }

    /// How many free blocks `cpu`'s cache holds (for tests and statistics).
    pub fn cached_blocks(&self, cpu: usize) -> usize {
        self.cpus[cache_index(cpu)].lock().depth
    }
}

/// A new block from the heap, for an empty cache: out of line, since a
/// warm cache never gets here.
#[cold]
fn heap_block() -> Option<NonNull<ObjectHeader>> {
    // SAFETY: the layout has a non-zero size.
    NonNull::new(unsafe { alloc::alloc::alloc(ObjectPool::block_layout()) }.cast())
}

/// Gives a block back to the heap, for a full cache.
///
/// # Safety
/// `block` came from [`heap_block`] (possibly through other caches) and is
/// no longer used.
#[cold]
unsafe fn heap_free(block: NonNull<ObjectHeader>) {
    // SAFETY: per the contract, allocated by `alloc` with this layout.
    unsafe { alloc::alloc::dealloc(block.as_ptr().cast(), ObjectPool::block_layout()) };
}
