//! The object manager: NT's Ob, cut down to what NtCreateMutant and NtClose
//! need.
//!
//! Every kernel object is a block that starts with an [`ObjectHeader`]
//! (NT's OBJECT_HEADER, which sits just before the body), holding a
//! reference count and the body. Code holds an object through an
//! [`ObjectRef`], one counted reference: cloning it is ObReferenceObject,
//! dropping it is ObDereferenceObject, and the last dereference frees the
//! block. A process names objects through handles in its [`HandleTable`].
//!
//! The modules:
//! - this file: the header, [`ObjectRef`], [`create_mutant`], [`live_objects`];
//! - `pool.rs`: where object blocks come from (per-CPU caches of free blocks);
//! - `lock.rs`: the lock of those per-CPU caches, one `lock bts` to take;
//! - `handles.rs`: the per-process handle table;
//! - `mutant.rs`: the mutant body (NT's KMUTANT).
//!
//! NtCreateMutant is [`create_mutant`] (or [`mutant::create`]) then
//! `process_handles().insert`; NtClose is `process_handles().close`, which
//! drops the table's reference.
//!
//! **The `cpu` arguments.** Allocation and freeing take the number of the
//! CPU doing them, so that each CPU works in its own cache lines. The
//! number is only a hint for speed: any value is safe (it is reduced modulo
//! `MAX_CPUS`), and two threads passing the same number merely share a
//! cache. On the host the unit tests pass a distinct number per thread.

pub mod handles;
mod lock;
pub mod mutant;
pub mod pool;

pub use handles::{Handle, HandleTable};
pub use mutant::{Mutant, ThreadId};
pub use pool::ObjectPool;

use crate::percpu::MAX_CPUS;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering, fence};
use syslab_abi::status::NtStatus;

/// Bytes in a cache line on every x86_64 CPU (Intel SDM Vol. 3A, "Memory
/// Cache Control", table "Characteristics of the Caches": 64-byte lines;
/// CPUID.01H:EBX bits 15:8, times 8, report it). Object blocks and handle-table
/// lines are aligned to it so that two CPUs never share one by accident.
pub const CACHE_LINE: usize = 64;

/// Past this many references the count is corrupt: we panic where NT would
/// bug-check (REFERENCE_BY_POINTER, 0x18). Every reference costs a handle
/// or kernel memory, so no program can get here honestly.
const MAX_POINTER_COUNT: u32 = i32::MAX as u32;

/// What kind of object a header heads (NT: OBJECT_HEADER.Type points at an
/// OBJECT_TYPE such as ExMutantObjectType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Mutant,
}

impl ObjectType {
    /// The type's name, as NT's object directory `\ObjectTypes` lists it.
    pub const fn name(self) -> &'static str {
        match self {
            ObjectType::Mutant => "Mutant",
        }
    }
}

/// An object's body: the part after the header. One variant per type.
#[derive(Debug)]
pub enum ObjectBody {
    Mutant(Mutant),
}

// ANCHOR: header
/// The header every object block starts with (NT: OBJECT_HEADER).
///
/// One block per cache line (`align(64)` = [`CACHE_LINE`]): a CPU updating
/// its own object's count never steals the line of another CPU's object.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct ObjectHeader {
    /// References outstanding: one per [`ObjectRef`], including the one each
    /// handle holds. Atomic; the block is freed by whoever takes it to zero.
    /// (NT's PointerCount; NT also keeps a separate HandleCount, which we
    /// fold in, since a handle table entry owns an ordinary reference.)
    pointer_count: AtomicU32,
    /// The pool the block came from and goes back to. Immutable.
    pool: &'static ObjectPool,
    /// The object itself. Immutable as a whole; the body's own locks guard
    /// its fields.
    body: ObjectBody,
}
// ANCHOR_END: header

const _: () = assert!(core::mem::align_of::<ObjectHeader>() == CACHE_LINE);

impl ObjectHeader {
    /// The object's type, from its body.
    pub fn object_type(&self) -> ObjectType {
        match self.body {
            ObjectBody::Mutant(_) => ObjectType::Mutant,
        }
    }

    pub fn body(&self) -> &ObjectBody {
        &self.body
    }

    /// The current reference count: a snapshot, for tests and debugging.
    pub fn pointer_count(&self) -> u32 {
        self.pointer_count.load(Ordering::Relaxed)
    }
}

/// One counted reference to an object, like an `Arc`.
///
/// `clone` is ObReferenceObject (count + 1), `drop` is ObDereferenceObject
/// (count − 1, and the one that reaches zero destroys the body and returns
/// the block to its pool). [`ObjectRef::dereference`] is the same as `drop`
/// but says which CPU's cache the block should go back to.
pub struct ObjectRef {
    header: NonNull<ObjectHeader>,
}

// SAFETY: the header's count is atomic and the body is `Sync` (its state
// sits behind a lock), so references may move and be shared between CPUs,
// exactly as with `Arc<ObjectHeader>`.
unsafe impl Send for ObjectRef {}
unsafe impl Sync for ObjectRef {}

impl ObjectRef {
    /// Creates an object with a reference count of 1 (NT: ObCreateObject).
    ///
    /// The block comes from `pool`'s cache for `cpu` when it has one, else
    /// from the heap; if the heap is exhausted the answer is
    /// STATUS_INSUFFICIENT_RESOURCES.
    #[inline]
    pub fn create(
        pool: &'static ObjectPool,
        cpu: usize,
        body: ObjectBody,
    ) -> Result<ObjectRef, NtStatus> {
        let block = pool
            .alloc_block(cpu)
            .ok_or(syslab_abi::status::STATUS_INSUFFICIENT_RESOURCES)?;
        // SAFETY: the block is ours, uninitialised, and laid out for a header.
        unsafe {
            block.write(ObjectHeader {
                pointer_count: AtomicU32::new(1),
                pool,
                body,
            })
        };
        Ok(ObjectRef { header: block })
    }

    /// The header (and through it the body).
    pub fn header(&self) -> &ObjectHeader {
        // SAFETY: our reference keeps the block alive.
        unsafe { self.header.as_ref() }
    }

    /// The mutant body, if this is a mutant.
    pub fn as_mutant(&self) -> Option<&Mutant> {
        match self.header().body() {
            ObjectBody::Mutant(m) => Some(m),
        }
    }

    /// Whether two references name the same object.
    pub fn ptr_eq(a: &ObjectRef, b: &ObjectRef) -> bool {
        a.header == b.header
    }

    /// Gives up this reference, returning the block to `cpu`'s cache if it
    /// was the last one (NT: ObDereferenceObject).
    #[inline]
    pub fn dereference(self, cpu: usize) {
        let header = self.header;
        core::mem::forget(self);
        // SAFETY: we owned one reference and have forgotten its `drop`.
        unsafe { release(header, cpu) }
    }

    /// Turns the reference into a raw pointer that still owns it (for the
    /// handle table's slots). [`ObjectRef::from_raw`] takes it back.
    pub fn into_raw(self) -> NonNull<ObjectHeader> {
        let header = self.header;
        core::mem::forget(self);
        header
    }

    /// Takes back a reference made by [`ObjectRef::into_raw`].
    ///
    /// # Safety
    /// `header` came from `into_raw`, and its reference is adopted only once.
    pub unsafe fn from_raw(header: NonNull<ObjectHeader>) -> ObjectRef {
        ObjectRef { header }
    }

    /// Makes a new reference to an object someone else holds a reference to
    /// (NT: ObReferenceObject on a pointer).
    ///
    /// # Safety
    /// The caller must know the object has a reference that cannot be
    /// dropped until this returns (the handle table holds a slot lock).
    pub unsafe fn reference_raw(header: NonNull<ObjectHeader>) -> ObjectRef {
        // SAFETY: per the contract the block is alive.
        let count = unsafe { &header.as_ref().pointer_count };
        // Relaxed, as in `Arc::clone`: the new reference is made from an
        // existing one, which already orders us after the object's creation.
        let old = count.fetch_add(1, Ordering::Relaxed);
        assert!(old < MAX_POINTER_COUNT, "object reference count overflow");
        ObjectRef { header }
    }
}

impl Clone for ObjectRef {
    /// ObReferenceObject.
    fn clone(&self) -> Self {
        // SAFETY: `self` is a reference that outlives this call.
        unsafe { ObjectRef::reference_raw(self.header) }
    }
}

impl Drop for ObjectRef {
    /// ObDereferenceObject, freeing into the running CPU's cache.
    fn drop(&mut self) {
        // SAFETY: we own one reference, given up exactly once here.
        unsafe { release(self.header, current_cpu()) }
    }
}

impl core::fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let h = self.header();
        f.debug_struct("ObjectRef")
            .field("at", &self.header)
            .field("type", &h.object_type().name())
            .field("pointer_count", &h.pointer_count())
            .finish()
    }
}

/// Drops one reference; the last one destroys the body and frees the block
/// into `cpu`'s cache.
///
/// # Safety
/// The caller owns one reference to `header` and gives it up.
#[inline]
unsafe fn release(header: NonNull<ObjectHeader>, cpu: usize) {
    // SAFETY: our reference keeps the block alive until the decrement.
    let count = unsafe { &header.as_ref().pointer_count };
    // Release, then Acquire on the last one, as `Arc::drop` does: every
    // other holder's use of the body happens before the body is destroyed.
    if count.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: the count reached zero, so nobody else can reach the block
    // (the handle table takes references only from slots that hold one).
    unsafe {
        let pool = header.as_ref().pool;
        core::ptr::drop_in_place(header.as_ptr());
        pool.free_block(header, cpu);
    }
}

/// The CPU a plain `drop` frees into. In the kernel that is the running
/// CPU; on the host (unit tests) every drop uses cache 0, which is correct,
/// only shared.
fn current_cpu() -> usize {
    #[cfg(target_os = "none")]
    {
        crate::percpu::cpu_id() as usize
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// Reduces a CPU hint to a cache index.
const fn cache_index(cpu: usize) -> usize {
    cpu % MAX_CPUS
}

/// The kernel's object pool. Tests make their own, so that their counts
/// are not disturbed by tests running beside them.
static OBJECT_POOL: ObjectPool = ObjectPool::new();

/// Creates a mutant in the kernel's pool (NtCreateMutant's object half:
/// ObCreateObject, then KeInitializeMutant). With `initial_owner` the
/// thread `creator` owns it at once.
#[inline]
pub fn create_mutant(
    cpu: usize,
    initial_owner: bool,
    creator: ThreadId,
) -> Result<ObjectRef, NtStatus> {
    ObjectRef::create(
        &OBJECT_POOL,
        cpu,
        ObjectBody::Mutant(Mutant::new(initial_owner, creator)),
    )
}

/// Slots in the process's handle table: 20 bytes each (a 16-byte slot and
/// 4 bytes on the free stack), 80 KiB in all. NT allows 2^24 handles per
/// process; a teaching kernel's tests need a few thousand at most.
pub const HANDLE_TABLE_CAPACITY: usize = 4096;

static PROCESS_HANDLES: spin::Once<HandleTable> = spin::Once::new();

/// Makes the process's handle table. The kernel calls it once at boot,
/// before any CPU runs a user thread (lib.rs); later calls return it.
pub fn init() -> &'static HandleTable {
    PROCESS_HANDLES.call_once(|| HandleTable::new(HANDLE_TABLE_CAPACITY))
}

/// The handle table of the one process syslab runs (every CPU's user
/// thread belongs to it: see mm/paging.rs). In the kernel it was made at
/// boot, so a system call does not ask each time whether it exists (three
/// instructions on every NtCreateMutant and NtClose); on the host, on first
/// use.
#[inline]
pub fn process_handles() -> &'static HandleTable {
    #[cfg(target_os = "none")]
    {
        debug_assert!(PROCESS_HANDLES.is_completed(), "ob::init has not run");
        // SAFETY: kmain_bsp calls `init` before the other CPUs start and
        // before any user thread, and the table is never replaced.
        unsafe { PROCESS_HANDLES.get_unchecked() }
    }
    #[cfg(not(target_os = "none"))]
    init()
}

/// How many objects of the kernel's pool are alive (created and not yet
/// freed). Zero after every handle is closed and every reference dropped.
pub fn live_objects() -> usize {
    OBJECT_POOL.live()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutant(pool: &'static ObjectPool, cpu: usize) -> ObjectRef {
        ObjectRef::create(pool, cpu, ObjectBody::Mutant(Mutant::new(false, 1))).unwrap()
    }

    #[test]
    fn last_reference_frees_the_object() {
        static POOL: ObjectPool = ObjectPool::new();
        let a = mutant(&POOL, 0);
        assert_eq!(POOL.live(), 1);
        assert_eq!(a.header().object_type(), ObjectType::Mutant);
        let b = a.clone();
        assert_eq!(a.header().pointer_count(), 2);
        assert!(ObjectRef::ptr_eq(&a, &b));
        drop(a);
        assert_eq!(POOL.live(), 1, "one reference is left");
        assert_eq!(b.header().pointer_count(), 1);
        b.dereference(3);
        assert_eq!(POOL.live(), 0);
        assert_eq!(POOL.cached_blocks(3), 1, "freed into CPU 3's cache");
    }

    #[test]
    fn blocks_are_reused_from_the_cpu_cache() {
        static POOL: ObjectPool = ObjectPool::new();
        let a = mutant(&POOL, 2);
        let first = a.header() as *const ObjectHeader;
        a.dereference(2);
        let b = mutant(&POOL, 2);
        assert_eq!(b.header() as *const ObjectHeader, first);
        assert_eq!(POOL.cached_blocks(2), 0);
        b.dereference(2);
        assert_eq!(POOL.live(), 0);
    }

    #[test]
    fn cache_is_bounded_and_overflows_to_the_heap() {
        static POOL: ObjectPool = ObjectPool::new();
        // Create on CPU 0, free on CPU 1: 0's cache stays empty (every
        // create goes to the heap), 1's fills up to its bound and the rest
        // go back to the heap.
        let objects: std::vec::Vec<_> = (0..3 * pool::OBJECT_CACHE_DEPTH)
            .map(|_| mutant(&POOL, 0))
            .collect();
        assert_eq!(POOL.live(), 3 * pool::OBJECT_CACHE_DEPTH);
        for o in objects {
            o.dereference(1);
        }
        assert_eq!(POOL.live(), 0);
        assert_eq!(POOL.cached_blocks(0), 0);
        assert_eq!(POOL.cached_blocks(1), pool::OBJECT_CACHE_DEPTH);
        // CPU 1 now creates from its cache.
        let o = mutant(&POOL, 1);
        assert_eq!(POOL.cached_blocks(1), pool::OBJECT_CACHE_DEPTH - 1);
        // A CPU number past MAX_CPUS is only a hint: it wraps.
        o.dereference(1 + MAX_CPUS);
        assert_eq!(POOL.cached_blocks(1), pool::OBJECT_CACHE_DEPTH);
    }

    #[test]
    fn global_pool_counts_live_objects() {
        // Other tests may use the kernel pool at the same time, so exact
        // counts are checked on test-local pools; here only that ours shows.
        let m = create_mutant(0, true, 7).unwrap();
        assert!(live_objects() >= 1);
        assert_eq!(m.as_mutant().unwrap().owner(), Some(7));
        drop(m);
    }

    #[test]
    fn process_table_round_trip() {
        let m = mutant::create(false, 3);
        let h = process_handles().insert(5, m).unwrap();
        let r = process_handles().reference(h).unwrap();
        assert_eq!(r.as_mutant().unwrap().owner(), None);
        drop(r);
        assert_eq!(process_handles().close(5, h), Ok(()));
        assert_eq!(
            process_handles().close(5, h),
            Err(syslab_abi::status::STATUS_INVALID_HANDLE)
        );
    }
}
