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
//! Each cache sits behind its own spin lock, in its own cache lines
//! (`CachePadded`). The lock is not there for speed but for safety: the
//! `cpu` number is a caller's hint, and a wrong one must not corrupt the
//! cache. Uncontended, it costs one compare-exchange and one store. No
//! interrupt handler may create or free objects: one that did so while its
//! CPU held the lock would spin forever (Linux's per-CPU allocators disable
//! interrupts around the same steps for that reason).

use super::{ObjectHeader, cache_index};
use crate::percpu::MAX_CPUS;
use core::alloc::Layout;
use core::ptr::NonNull;
use crossbeam_utils::CachePadded;
use spin::Mutex;
use syslab_abi::status::{NtStatus, STATUS_INSUFFICIENT_RESOURCES};

/// Most free blocks one CPU keeps (32 × 64 bytes = 2 KiB per CPU).
pub const OBJECT_CACHE_DEPTH: usize = 32;

/// One CPU's free blocks. Every field is guarded by the `Mutex` around it.
struct BlockCache {
    /// `blocks[..len]` are free, uninitialised object blocks; the last one
    /// was freed most recently and is the likeliest to be in the cache.
    blocks: [*mut ObjectHeader; OBJECT_CACHE_DEPTH],
    len: usize,
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
            blocks: [core::ptr::null_mut(); OBJECT_CACHE_DEPTH],
            len: 0,
            live: 0,
        }
    }
}

/// A source of object blocks: one `BlockCache` per CPU over the heap.
pub struct ObjectPool {
    cpus: [CachePadded<Mutex<BlockCache>>; MAX_CPUS],
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
            cpus: [const { CachePadded::new(Mutex::new(BlockCache::new())) }; MAX_CPUS],
        }
    }

    /// The heap layout of one block.
    pub fn block_layout() -> Layout {
        Layout::new::<ObjectHeader>()
    }

    /// An uninitialised block for an object made on `cpu`, counted live.
    pub(super) fn alloc_block(&self, cpu: usize) -> Result<NonNull<ObjectHeader>, NtStatus> {
        let mut cache = self.cpus[cache_index(cpu)].lock();
        let block = if cache.len > 0 {
            cache.len -= 1;
            cache.blocks[cache.len]
        } else {
            // SAFETY: the layout has a non-zero size.
            unsafe { alloc::alloc::alloc(Self::block_layout()) }.cast::<ObjectHeader>()
        };
        // A null pointer here means the heap is exhausted: a status for the
        // caller (NT: ExAllocatePoolWithTag returns NULL), not a panic.
        let block = NonNull::new(block).ok_or(STATUS_INSUFFICIENT_RESOURCES)?;
        cache.live += 1;
        Ok(block)
    }

    /// Takes back a block whose object was destroyed on `cpu`.
    ///
    /// # Safety
    /// `block` came from this pool's `alloc_block` and its object has been
    /// dropped; nobody uses it any more.
    pub(super) unsafe fn free_block(&self, block: NonNull<ObjectHeader>, cpu: usize) {
        let mut cache = self.cpus[cache_index(cpu)].lock();
        cache.live -= 1;
        if cache.len < OBJECT_CACHE_DEPTH {
            let len = cache.len;
            cache.blocks[len] = block.as_ptr();
            cache.len += 1;
        } else {
            // SAFETY: per the contract, allocated by `alloc` with this layout.
            unsafe { alloc::alloc::dealloc(block.as_ptr().cast(), Self::block_layout()) };
        }
    }

    /// Objects created from this pool and not yet freed. Exact when no
    /// create or free is in progress; a snapshot otherwise.
    pub fn live(&self) -> usize {
        let sum: isize = self.cpus.iter().map(|c| c.lock().live).sum();
        sum.max(0) as usize
    }

    /// How many free blocks `cpu`'s cache holds (for tests and statistics).
    pub fn cached_blocks(&self, cpu: usize) -> usize {
        self.cpus[cache_index(cpu)].lock().len
    }
}
