//! The per-process handle table: from the handle values user code holds to
//! counted object references (NT: HANDLE_TABLE in ntos/ex/handle.c, with
//! ExCreateHandle, ExDestroyHandle and ObReferenceObjectByHandle).
//!
//! ## Handle values
//!
//! ```text
//!  63        32 31            18 17                2 1   0
//! +------------+----------------+-------------------+-----+
//! |  always 0  |   generation   |  slot index + 1   | 0 0 |
//! +------------+----------------+-------------------+-----+
//! ```
//!
//! - Bits 1:0 are 0: NT handles are multiples of 4, the low two bits being
//!   the "tag bits" (OBJ_HANDLE_TAGBITS). NT masks them off; we refuse a
//!   value with them set, so that more forgeries are caught.
//! - Bits 17:2 hold the slot index plus one, so no handle is 0 (NULL) and
//!   the first handle of a table is 4, as in NT.
//! - Bits 31:18 hold the slot's generation, which goes up by one each time
//!   the slot is freed: a closed handle (a double close, a use after close)
//!   no longer matches its slot, even after the slot is reused. It wraps
//!   after 2^14 reuses of one slot; only then can a stale handle match.
//! - Bits 63:32 are 0: handles fit in 32 bits, as NT guarantees so that
//!   32- and 64-bit programs can share them ("Interprocess Communication
//!   Between 32-bit and 64-bit Applications": only the lower 32 bits are
//!   significant).
//!
//! ## Slots
//!
//! Each slot is two words (16 bytes, four per cache line):
//!
//! - `state: AtomicU32` = generation << 2 | LOCKED (bit 1) | IN_USE (bit 0).
//!   A free slot has IN_USE clear and the generation its next handle gets.
//! - `object: AtomicPtr` = the reference the handle holds, when IN_USE.
//!
//! ## Why `reference` and a concurrent `close` of the same handle are safe
//!
//! The race: `reference` reads the object pointer, then increments its
//! count; if `close` dropped the last reference in between, the increment
//! would hit freed memory. NT's answer is a lock bit in each entry
//! (ExLockHandleTableEntry), and ours is the same:
//!
//! - `reference` sets LOCKED with a compare-exchange that expects exactly
//!   "this generation, IN_USE, unlocked"; it then reads the pointer, adds
//!   its reference and clears LOCKED. While LOCKED is set the slot's own
//!   reference cannot go away, so the object is alive throughout.
//! - `close` empties the slot with one compare-exchange that expects the
//!   same unlocked value and writes "next generation, free". If a reader
//!   holds LOCKED the compare fails and `close` waits a few instructions.
//!   Exactly one `close` can win; after it, no `reference` can lock the
//!   slot (the generation and IN_USE differ), so the winner alone owns the
//!   slot's reference and may drop it.
//! - `insert` owns its slot outright (it came off a free list): it stores
//!   the pointer, then publishes IN_USE with a Release store, which the
//!   Acquire of the others' compare-exchanges pairs with.
//!
//! ## Free slots
//!
//! Free slot indices live in one small cache per CPU (indexed by the `cpu`
//! argument, each in its own cache lines) over a shared stack of all other
//! free indices: the magazine scheme of pool.rs again. `insert` pops from
//! its CPU's cache and `close` pushes onto it; only when a cache runs empty
//! (refill) or over (spill) does it move [`SLOT_BATCH`] indices from or to
//! the shared stack under its lock. The shared stack starts with every
//! index in order, so each refill hands a CPU a run of adjacent slots, and
//! two CPUs creating and closing on their own do not share slot lines.
//! When both the cache and the shared stack are empty, `insert` looks in
//! the other CPUs' caches before it reports the table full.
//!
//! Each cache has a spin lock (lock.rs), which the owning CPU takes
//! uncontended (one `lock bts`): it keeps a wrong `cpu` hint, or another
//! CPU looking for a free slot, from corrupting the cache.
//!
//! With warm caches, `insert` costs one compare-exchange (the cache lock)
//! and plain stores; `close` two (the slot, the cache lock). A whole
//! NtCreateMutant + NtClose adds the object's side, the pool's cache lock
//! twice and one decrement: six atomic read-modify-writes, no allocation,
//! every line touched private to the CPU.

use super::lock::CacheLock;
use super::{CACHE_LINE, ObjectHeader, ObjectRef, cache_index};
use crate::percpu::MAX_CPUS;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use crossbeam_utils::CachePadded;
use spin::Mutex;
use syslab_abi::status::{NtStatus, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE};

// ANCHOR: layout
/// Bits 1:0 of a handle: NT's tag bits, which must be 0 here.
const TAG_BITS: u32 = 2;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// Bits 17:2: the slot index + 1.
const INDEX_SHIFT: u32 = TAG_BITS;
const INDEX_BITS: u32 = 16;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
/// Bits 31:18: the generation.
const GENERATION_SHIFT: u32 = INDEX_SHIFT + INDEX_BITS;
const GENERATION_BITS: u32 = 14;
const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;
/// Handles are 32-bit values.
const HANDLE_BITS: u32 = 32;
const _: () = assert!(TAG_BITS + INDEX_BITS + GENERATION_BITS == HANDLE_BITS);

/// The most slots a table can have: the index field holds index + 1, and
/// the value 0 is never used.
pub const MAX_CAPACITY: usize = (1 << INDEX_BITS) - 1;

/// Slot state bits.
const IN_USE: u32 = 1 << 0;
const LOCKED: u32 = 1 << 1;
const STATE_GENERATION_SHIFT: u32 = 2;
// ANCHOR_END: layout

/// Free indices one CPU keeps at most, and how many move at once between
/// a cache and the shared stack.
pub const SLOT_CACHE_SIZE: usize = 32;
pub const SLOT_BATCH: usize = SLOT_CACHE_SIZE / 2;

/// A handle value, as NtCreateMutant writes it for user code: a plain
/// `u64`, since that is what travels through the system-call registers.
/// See the module comment for its bits.
pub type Handle = u64;

/// The handle for slot `index` at `generation`.
const fn encode(index: usize, generation: u32) -> Handle {
    ((generation & GENERATION_MASK) as u64) << GENERATION_SHIFT
        | ((index as u64 + 1) << INDEX_SHIFT)
}

/// Splits a value into (slot index, generation) if it is shaped like a
/// handle of a table with `capacity` slots: non-zero, a multiple of 4,
/// 32 bits, index in range. Whether the slot holds that generation is the
/// caller's question.
fn decode(value: u64, capacity: usize) -> Result<(usize, u32), NtStatus> {
    if value >> HANDLE_BITS != 0 || value & TAG_MASK != 0 {
        return Err(STATUS_INVALID_HANDLE);
    }
    // The field holds the index + 1: a field of 0 (the handle was 0, or had
    // only generation bits) wraps to a huge index, refused with the rest.
    let index = (((value >> INDEX_SHIFT) & INDEX_MASK) as usize).wrapping_sub(1);
    if index >= capacity {
        return Err(STATUS_INVALID_HANDLE);
    }
    Ok((index, (value >> GENERATION_SHIFT) as u32))
}

/// The state word of a slot in use at `generation`, unlocked.
const fn in_use(generation: u32) -> u32 {
    generation << STATE_GENERATION_SHIFT | IN_USE
}

/// The state word of a free slot whose next handle gets `generation`.
const fn free(generation: u32) -> u32 {
    (generation & GENERATION_MASK) << STATE_GENERATION_SHIFT
}

/// The generation in a state word.
const fn generation_of(state: u32) -> u32 {
    state >> STATE_GENERATION_SHIFT
}

/// One handle-table entry (NT: HANDLE_TABLE_ENTRY).
struct Slot {
    /// Generation, LOCKED and IN_USE; see the module comment.
    state: AtomicU32,
    /// The handle's reference, from `ObjectRef::into_raw`. Written only by
    /// the slot's owner (`insert` before publishing, the winning `close`
    /// after emptying it); read by `reference` only under LOCKED.
    object: AtomicPtr<ObjectHeader>,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            state: AtomicU32::new(free(0)),
            object: AtomicPtr::new(core::ptr::null_mut()),
        }
    }
}

/// Slots per cache line.
const SLOTS_PER_LINE: usize = CACHE_LINE / core::mem::size_of::<Slot>();

/// A cache line of slots, aligned so that a line never straddles two
/// CPUs' runs of slots (`align(64)` = [`CACHE_LINE`]).
#[repr(C, align(64))]
struct SlotLine([Slot; SLOTS_PER_LINE]);
const _: () = assert!(core::mem::size_of::<SlotLine>() == CACHE_LINE);
const _: () = assert!(SLOT_BATCH.is_multiple_of(SLOTS_PER_LINE));

/// One CPU's free slot indices. Guarded by the lock around it.
struct SlotCache {
    /// `free[..len]` are free slots; the last is the most recently freed.
    free: [u32; SLOT_CACHE_SIZE],
    len: usize,
    /// Handles inserted minus handles closed through this cache; only the
    /// sum over the caches means anything (see `HandleTable::len`).
    live: isize,
}

impl SlotCache {
    const fn new() -> Self {
        SlotCache {
            free: [0; SLOT_CACHE_SIZE],
            len: 0,
            live: 0,
        }
    }

    /// The most recently freed index, counted live.
    fn pop(&mut self) -> Option<usize> {
        let index = *self.free.get(self.len.checked_sub(1)?)?;
        self.len -= 1;
        self.live += 1;
        Some(index as usize)
    }

    /// Keeps a freed index, if there is room, and counts it closed.
    fn push(&mut self, index: usize) -> bool {
        let Some(free) = self.free.get_mut(self.len) else {
            return false;
        };
        *free = index as u32;
        self.len += 1;
        self.live -= 1;
        true
    }
}

// ANCHOR: table
/// A process's handle table.
pub struct HandleTable {
    /// The slots, `capacity` of them used (the last line may have spares).
    lines: Box<[SlotLine]>,
    capacity: usize,
    /// Per-CPU caches of free slot indices, each in its own cache lines.
    caches: [CachePadded<CacheLock<SlotCache>>; MAX_CPUS],
    /// Every free index not in a cache, guarded by its lock. Allocated at
    /// full capacity up front, so a push never allocates under the lock.
    /// Lock order: a CPU's cache, then this.
    shared: Mutex<Vec<u32>>,
}
// ANCHOR_END: table

impl HandleTable {
    /// An empty table of `capacity` slots.
    ///
    /// # Panics
    /// If `capacity` is 0 or above [`MAX_CAPACITY`]: a kernel bug, not a
    /// user's doing.
    pub fn new(capacity: usize) -> Self {
        assert!(
            (1..=MAX_CAPACITY).contains(&capacity),
            "a handle table has 1 to {MAX_CAPACITY} slots, not {capacity}"
        );
        let lines = (0..capacity.div_ceil(SLOTS_PER_LINE))
            .map(|_| SlotLine([const { Slot::new() }; SLOTS_PER_LINE]))
            .collect();
        // Lowest index on top, so that refills hand out 0, 1, 2, ... in runs.
        let shared = (0..capacity as u32).rev().collect();
        HandleTable {
            lines,
            capacity,
            caches: [const { CachePadded::new(CacheLock::new(SlotCache::new())) }; MAX_CPUS],
            shared: Mutex::new(shared),
        }
    }

    /// Slot `index`, which `decode` or a free list has checked to be
    /// below `capacity`.
    #[inline]
    fn slot(&self, index: usize) -> &Slot {
        debug_assert!(index < self.capacity);
        // The lines are one array of slots (`SlotLine` is exactly its four
        // slots, no padding), so slot `index` is `index` slots in.
        let slots: *const Slot = self.lines.as_ptr().cast();
        // SAFETY: `lines` holds capacity.div_ceil(SLOTS_PER_LINE) lines
        // (`new`), so every index below `capacity` is in it.
        unsafe { &*slots.add(index) }
    }

    /// How many slots the table has.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Gives `obj` a handle (NT: ObInsertObject → ExCreateHandle). The
    /// handle holds the reference passed in. On a full table the answer is
    /// STATUS_INSUFFICIENT_RESOURCES and `obj` is dereferenced (the object
    /// is freed if that was its last reference).
    #[inline]
    pub fn insert(&self, cpu: usize, obj: ObjectRef) -> Result<Handle, NtStatus> {
        let Some(index) = self.caches[cache_index(cpu)].lock().pop() else {
            return self.insert_refilled(cpu, obj);
        };
        Ok(self.fill(index, obj))
    }

    /// Puts `obj` in free slot `index`, which is ours, and returns its handle.
    #[inline]
    fn fill(&self, index: usize, obj: ObjectRef) -> Handle {
        let slot = self.slot(index);
        // The slot is ours alone until the Release store below publishes it.
        let generation = generation_of(slot.state.load(Ordering::Relaxed));
        slot.object
            .store(obj.into_raw().as_ptr(), Ordering::Relaxed);
        slot.state.store(in_use(generation), Ordering::Release);
        encode(index, generation)
    }

    /// `insert` with `cpu`'s cache empty: refill it, or find a slot in
    /// another CPU's cache; on a full table the answer is
    /// STATUS_INSUFFICIENT_RESOURCES and `obj` is dereferenced.
    #[cold]
    #[inline(never)]
    fn insert_refilled(&self, cpu: usize, obj: ObjectRef) -> Result<Handle, NtStatus> {
        match self.refill(cpu) {
            Some(index) => Ok(self.fill(index, obj)),
            None => {
                obj.dereference(cpu);
                Err(STATUS_INSUFFICIENT_RESOURCES)
            }
        }
    }

    /// Closes handle `h` (NtClose: ExDestroyHandle, then dereferences the
    /// object). Anything but an open handle of this table is
    /// STATUS_INVALID_HANDLE: 0, a value with tag bits, out of range, a
    /// free slot, a stale generation (closed already).
    #[inline(always)]
    pub fn close(&self, cpu: usize, h: u64) -> Result<(), NtStatus> {
        let (index, generation) = decode(h, self.capacity)?;
        let open = in_use(generation);
        // Empty the slot and retire the generation in one step; wait out a
        // `reference` that holds the lock (see the module comment).
        if self
            .slot(index)
            .state
            .compare_exchange(
                open,
                free(generation + 1),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return self.close_contended(cpu, index, open);
        }
        self.emptied(cpu, index);
        Ok(())
    }

    /// `close`'s compare-exchange failed: the slot is locked by a
    /// `reference` (wait, then try again) or not this handle's.
    #[cold]
    #[inline(never)]
    fn close_contended(&self, cpu: usize, index: usize, open: u32) -> Result<(), NtStatus> {
        let closed = free(generation_of(open) + 1);
        let state = &self.slot(index).state;
        loop {
            match state.compare_exchange(open, closed, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) if now == open | LOCKED => core::hint::spin_loop(),
                Err(_) => return Err(STATUS_INVALID_HANDLE),
            }
        }
        self.emptied(cpu, index);
        Ok(())
    }

    /// The rest of a close that won slot `index`: its reference is ours.
    #[inline(always)]
    fn emptied(&self, cpu: usize, index: usize) {
        let slot = self.slot(index);
        let object = slot.object.load(Ordering::Relaxed);
        slot.object.store(core::ptr::null_mut(), Ordering::Relaxed);
        self.free_slot(cpu, index);
        let object = NonNull::new(object).expect("an open slot holds an object");
        // SAFETY: the pointer is the reference `insert` stored, and only the
        // winning `close` takes it.
        unsafe { ObjectRef::from_raw(object) }.dereference(cpu);
    }

    /// A new counted reference to the object behind `h` (NT:
    /// ObReferenceObjectByHandle). Invalid handles as for [`close`](Self::close).
    pub fn reference(&self, h: u64) -> Result<ObjectRef, NtStatus> {
        let (index, generation) = decode(h, self.capacity)?;
        let slot = self.slot(index);
        let open = in_use(generation);
        loop {
            match slot.state.compare_exchange(
                open,
                open | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                // Another `reference` holds the lock for a moment.
                Err(now) if now == open | LOCKED => core::hint::spin_loop(),
                Err(_) => return Err(STATUS_INVALID_HANDLE),
            }
        }
        let object = slot.object.load(Ordering::Relaxed);
        let object = NonNull::new(object).expect("an open slot holds an object");
        // SAFETY: LOCKED keeps `close` from taking the slot's reference, so
        // the object stays alive until we have our own.
        let obj = unsafe { ObjectRef::reference_raw(object) };
        slot.state.store(open, Ordering::Release);
        Ok(obj)
    }

    /// How many handles are open. Exact when no insert or close is in
    /// progress; a snapshot otherwise.
    pub fn len(&self) -> usize {
        let sum: isize = self.caches.iter().map(|c| c.lock().live).sum();
        sum.max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The handles open now, lowest first: a snapshot for the kernel
    /// debugger's `!handle`. A handle closed meanwhile makes
    /// [`reference`](Self::reference) fail, which is the safe way to look
    /// at its object.
    pub fn open_handles(&self) -> Vec<Handle> {
        (0..self.capacity)
            .filter_map(|index| {
                let state = self.slot(index).state.load(Ordering::Acquire);
                (state & IN_USE != 0).then(|| encode(index, generation_of(state)))
            })
            .collect()
    }

    /// Free indices in `cpu`'s cache (for tests and statistics).
    pub fn cached_free_slots(&self, cpu: usize) -> usize {
        self.caches[cache_index(cpu)].lock().len
    }

    /// Free indices on the shared stack (for tests and statistics).
    pub fn shared_free_slots(&self) -> usize {
        self.shared.lock().len()
    }

    /// A free slot for an insert on `cpu` whose cache is empty, counted
    /// live: refill the cache with a batch from the top of the shared
    /// stack, or, on a nearly full table, take a free slot from another
    /// CPU's cache.
    #[cold]
    fn refill(&self, cpu: usize) -> Option<usize> {
        let mut cache = self.caches[cache_index(cpu)].lock();
        if cache.len == 0 {
            let mut shared = self.shared.lock();
            let rest = shared.len().saturating_sub(SLOT_BATCH);
            // The stack's top comes out last, so it ends up on the cache's
            // top: a fresh table hands out slot 0 (handle 4) first.
            for index in shared.drain(rest..) {
                let len = cache.len;
                cache.free[len] = index;
                cache.len += 1;
            }
        }
        if let Some(index) = cache.pop() {
            return Some(index);
        }
        drop(cache);
        // The slow path of a nearly full table: free slots may sit in other
        // CPUs' caches. Take one cache lock at a time (no lock order needed).
        self.caches.iter().find_map(|other| other.lock().pop())
    }

    /// Returns slot `index`, just emptied by a close on `cpu`, to `cpu`'s
    /// cache, spilling a batch to the shared stack if the cache is full.
    #[inline]
    fn free_slot(&self, cpu: usize, index: usize) {
        if !self.caches[cache_index(cpu)].lock().push(index) {
            self.spill(cpu, index);
        }
    }

    /// `free_slot` with `cpu`'s cache full: spill its oldest batch (the
    /// bottom) to the shared stack, keeping the recently freed, cache-warm
    /// slots, then keep `index`.
    #[cold]
    fn spill(&self, cpu: usize, index: usize) {
        let mut cache = self.caches[cache_index(cpu)].lock();
        if cache.len == SLOT_CACHE_SIZE {
            self.shared
                .lock()
                .extend_from_slice(&cache.free[..SLOT_BATCH]);
            cache.free.copy_within(SLOT_BATCH.., 0);
            cache.len -= SLOT_BATCH;
        }
        let pushed = cache.push(index);
        debug_assert!(pushed, "a spilled cache has room");
    }
}

impl Drop for HandleTable {
    /// Closes every handle still open, as NT does when a process ends
    /// (ExSweepHandleTable from ObKillProcess).
    fn drop(&mut self) {
        for line in self.lines.iter_mut() {
            for slot in line.0.iter_mut() {
                let open = *slot.state.get_mut() & IN_USE != 0;
                if let (true, Some(object)) = (open, NonNull::new(*slot.object.get_mut())) {
                    // SAFETY: an open slot owns the reference it holds,
                    // and `&mut self` means nobody else is looking.
                    drop(unsafe { ObjectRef::from_raw(object) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ObjectBody, ObjectPool};
    use super::*;
    use crate::ob::Mutant;
    use std::sync::Arc;
    use std::vec::Vec;

    fn mutant(pool: &'static ObjectPool, cpu: usize) -> ObjectRef {
        ObjectRef::create(pool, cpu, ObjectBody::Mutant(Mutant::new(true, 42))).unwrap()
    }

    #[test]
    fn layout_matches_the_documented_bits() {
        assert_eq!(encode(0, 0), 4, "first handle is 4, as in NT");
        assert_eq!(encode(1, 0), 8);
        assert_eq!(encode(0, 1), 0x4_0004);
        assert_eq!(encode(MAX_CAPACITY - 1, GENERATION_MASK), 0xFFFF_FFFC);
        assert_eq!(decode(0x4_0008, 2), Ok((1, 1)));
        assert_eq!(SLOTS_PER_LINE, 4);
    }

    #[test]
    fn create_close_round_trip() {
        static POOL: ObjectPool = ObjectPool::new();
        let table = HandleTable::new(16);
        let h = table.insert(0, mutant(&POOL, 0)).unwrap();
        assert_eq!(h, 4, "the first handle is 4, as in NT");
        assert_eq!(table.len(), 1);
        let obj = table.reference(h).unwrap();
        assert_eq!(obj.as_mutant().unwrap().owner(), Some(42));
        assert_eq!(obj.header().pointer_count(), 2);
        drop(obj);
        assert_eq!(table.close(0, h), Ok(()));
        assert_eq!(table.len(), 0);
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn double_close_and_stale_handles_are_refused() {
        static POOL: ObjectPool = ObjectPool::new();
        let table = HandleTable::new(4);
        let h = table.insert(0, mutant(&POOL, 0)).unwrap();
        table.close(0, h).unwrap();
        assert_eq!(table.close(0, h), Err(STATUS_INVALID_HANDLE));
        assert_eq!(table.reference(h).unwrap_err(), STATUS_INVALID_HANDLE);
        // The slot is reused with the next generation; the old handle
        // still does not match.
        let h2 = table.insert(0, mutant(&POOL, 0)).unwrap();
        let (i1, _) = decode(h, 4).unwrap();
        let (i2, _) = decode(h2, 4).unwrap();
        assert_eq!(i1, i2, "LIFO reuse of the same slot");
        assert_ne!(h, h2);
        assert_eq!(table.close(0, h), Err(STATUS_INVALID_HANDLE));
        assert_eq!(table.len(), 1);
        table.close(0, h2).unwrap();
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn forged_handles_are_refused() {
        static POOL: ObjectPool = ObjectPool::new();
        let table = HandleTable::new(8);
        let h = table.insert(0, mutant(&POOL, 0)).unwrap();
        let wrong_generation = h + (1 << GENERATION_SHIFT);
        for forged in [
            0,
            1,
            3,
            h + 1,
            h + 2,
            u64::MAX,
            u64::MAX - 3,
            h | 1 << 32,
            1 << GENERATION_SHIFT, // index field 0
            wrong_generation,
            encode(5, 0), // in range, never used
        ] {
            assert_eq!(
                table.close(0, forged),
                Err(STATUS_INVALID_HANDLE),
                "{forged:#x}"
            );
            assert_eq!(
                table.reference(forged).unwrap_err(),
                STATUS_INVALID_HANDLE,
                "{forged:#x}"
            );
        }
        assert_eq!(table.len(), 1, "the real handle survived");
        table.close(0, h).unwrap();
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn out_of_range_handles_are_refused() {
        let table = HandleTable::new(5);
        for index in [5, 6, 7, 8, MAX_CAPACITY - 1] {
            let h = encode(index, 0);
            assert_eq!(table.close(0, h), Err(STATUS_INVALID_HANDLE), "{h:#x}");
            assert_eq!(table.reference(h).unwrap_err(), STATUS_INVALID_HANDLE);
        }
    }

    #[test]
    fn full_table_reports_and_recovers() {
        static POOL: ObjectPool = ObjectPool::new();
        const CAPACITY: usize = 3;
        let table = HandleTable::new(CAPACITY);
        let handles: Vec<u64> = (0..CAPACITY)
            .map(|_| table.insert(0, mutant(&POOL, 0)).unwrap())
            .collect();
        assert_eq!(
            table.insert(0, mutant(&POOL, 0)),
            Err(STATUS_INSUFFICIENT_RESOURCES)
        );
        assert_eq!(POOL.live(), CAPACITY, "the refused object was freed");
        assert_eq!(table.len(), CAPACITY);
        // Close one on another CPU: the free slot sits in CPU 1's cache,
        // and CPU 0 must find it there.
        table.close(1, handles[1]).unwrap();
        let h = table.insert(0, mutant(&POOL, 0)).unwrap();
        assert_eq!(
            table.insert(2, mutant(&POOL, 2)),
            Err(STATUS_INSUFFICIENT_RESOURCES)
        );
        for h in [handles[0], handles[2], h] {
            table.close(3, h).unwrap();
        }
        assert!(table.is_empty());
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn object_lives_until_its_last_reference() {
        static POOL: ObjectPool = ObjectPool::new();
        let table = HandleTable::new(8);
        let obj = mutant(&POOL, 0);
        let h1 = table.insert(0, obj.clone()).unwrap();
        let h2 = table.insert(0, obj.clone()).unwrap();
        let extra = table.reference(h1).unwrap();
        assert_eq!(obj.header().pointer_count(), 4);
        drop(obj);
        table.close(0, h1).unwrap();
        table.close(0, h2).unwrap();
        assert_eq!(POOL.live(), 1, "`extra` still holds it");
        assert_eq!(extra.as_mutant().unwrap().owner(), Some(42));
        extra.dereference(0);
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn dropping_the_table_closes_its_handles() {
        static POOL: ObjectPool = ObjectPool::new();
        let table = HandleTable::new(8);
        for _ in 0..5 {
            table.insert(0, mutant(&POOL, 0)).unwrap();
        }
        assert_eq!(POOL.live(), 5);
        drop(table);
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn cross_cpu_close_spills_and_refills() {
        static POOL: ObjectPool = ObjectPool::new();
        const CAPACITY: usize = 256;
        const ROUNDS: usize = 10_000;
        let table = HandleTable::new(CAPACITY);
        // Create on CPU 0, close on CPU 1: CPU 0's cache keeps running dry
        // (refills from the shared stack), CPU 1's keeps overflowing
        // (spills to it). The objects go the same way in the pool.
        for _ in 0..ROUNDS {
            let h = table.insert(0, mutant(&POOL, 0)).unwrap();
            table.close(1, h).unwrap();
        }
        assert!(table.is_empty());
        assert_eq!(POOL.live(), 0);
        assert_eq!(POOL.cached_blocks(0), 0);
        assert_eq!(
            POOL.cached_blocks(1),
            super::super::pool::OBJECT_CACHE_DEPTH
        );
        let (c0, c1, shared) = (
            table.cached_free_slots(0),
            table.cached_free_slots(1),
            table.shared_free_slots(),
        );
        assert!(c1 > SLOT_BATCH - 1 && c1 <= SLOT_CACHE_SIZE, "{c1}");
        assert_eq!(c0 + c1 + shared, CAPACITY, "no slot lost or duplicated");
        // The reverse direction drains CPU 1's cache and refills CPU 0's.
        let handles: Vec<u64> = (0..CAPACITY)
            .map(|_| table.insert(1, mutant(&POOL, 1)).unwrap())
            .collect();
        assert_eq!(table.len(), CAPACITY);
        let mut sorted = handles.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), CAPACITY, "every handle distinct");
        for h in handles {
            table.close(0, h).unwrap();
        }
        assert_eq!(POOL.live(), 0);
        assert_eq!(
            table.cached_free_slots(0) + table.cached_free_slots(1) + table.shared_free_slots(),
            CAPACITY
        );
    }

    #[test]
    fn threads_create_close_and_cross_close() {
        static POOL: ObjectPool = ObjectPool::new();
        const THREADS: usize = 4;
        const PAIRS: usize = 20_000;
        /// Every this many pairs a thread leaves a handle for its neighbour.
        const CROSS_EVERY: usize = 8;
        const MAILBOX_LIMIT: usize = 64;
        let table = Arc::new(HandleTable::new(1024));
        // One mailbox per thread: handles another thread left it to close.
        let mailboxes: Arc<Vec<std::sync::Mutex<Vec<u64>>>> = Arc::new(
            (0..THREADS)
                .map(|_| std::sync::Mutex::new(Vec::new()))
                .collect(),
        );
        // The handle each thread opened last, for others to poke at.
        let recent: Arc<Vec<std::sync::atomic::AtomicU64>> =
            Arc::new((0..THREADS).map(|_| Default::default()).collect());
        std::thread::scope(|s| {
            for cpu in 0..THREADS {
                let (table, mailboxes, recent) = (&table, &mailboxes, &recent);
                s.spawn(move || {
                    for i in 0..PAIRS {
                        let h = table.insert(cpu, mutant(&POOL, cpu)).unwrap();
                        recent[cpu].store(h, Ordering::Relaxed);
                        // Race a neighbour's handle: it may be open or closed
                        // by now, but it must never crash or leak.
                        let other = recent[(cpu + 1) % THREADS].load(Ordering::Relaxed);
                        match table.reference(other) {
                            Ok(obj) => assert!(obj.as_mutant().is_some()),
                            Err(e) => assert_eq!(e, STATUS_INVALID_HANDLE),
                        }
                        let mut next = mailboxes[(cpu + 1) % THREADS].lock().unwrap();
                        // Bounded, since the neighbour may have finished.
                        if i % CROSS_EVERY == 0 && next.len() < MAILBOX_LIMIT {
                            next.push(h);
                        } else {
                            drop(next);
                            table.close(cpu, h).unwrap();
                        }
                        let mine: Vec<u64> = core::mem::take(&mut *mailboxes[cpu].lock().unwrap());
                        for h in mine {
                            table.close(cpu, h).unwrap();
                        }
                    }
                });
            }
        });
        for (cpu, mailbox) in mailboxes.iter().enumerate() {
            for h in mailbox.lock().unwrap().drain(..) {
                table.close(cpu, h).unwrap();
            }
        }
        assert!(table.is_empty(), "{} handles left", table.len());
        assert_eq!(POOL.live(), 0);
        let free: usize = (0..MAX_CPUS).map(|c| table.cached_free_slots(c)).sum();
        assert_eq!(free + table.shared_free_slots(), table.capacity());
    }

    #[test]
    fn open_handles_lists_what_is_open() {
        let t = HandleTable::new(64);
        assert!(t.open_handles().is_empty());
        let a = t.insert(0, super::super::mutant::create(false, 1)).unwrap();
        let b = t.insert(0, super::super::mutant::create(false, 1)).unwrap();
        assert_eq!(t.open_handles(), [a.min(b), a.max(b)]);
        t.close(0, a).unwrap();
        assert_eq!(t.open_handles(), [b]);
        t.close(0, b).unwrap();
        assert!(t.open_handles().is_empty());
    }
}
