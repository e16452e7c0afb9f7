//! The lock of the object manager's per-CPU caches (pool.rs, handles.rs).
//!
//! Each cache is its own CPU's, so its lock is almost never contended: it
//! is there so that a wrong `cpu` hint, or another CPU looking for a free
//! slot in a nearly full table, cannot corrupt the cache. What it costs
//! uncontended is therefore what matters, and NtCreateMutant + NtClose take
//! four of them. `spin::Mutex` takes its lock with a compare-exchange
//! (five instructions with its setup and the branch around its wait loop);
//! this one is a single bit taken with `lock bts` and tested with one
//! branch (Intel SDM Vol. 2A, BTS: the old bit goes to CF), and given back
//! with one store.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

/// A spin lock around a `T`, for data that is nearly always taken by one
/// CPU at a time.
pub struct CacheLock<T> {
    /// Bit 0: held. A 32-bit word, since BTS has no 8-bit form.
    held: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out the value to one holder at a time, as
// `spin::Mutex` does.
unsafe impl<T: Send> Sync for CacheLock<T> {}
unsafe impl<T: Send> Send for CacheLock<T> {}

/// Bit 0 of `held`.
const HELD: u32 = 1;

impl<T> CacheLock<T> {
    pub const fn new(value: T) -> Self {
        CacheLock {
            held: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock: `lock bts` and one branch when it is free.
    #[inline(always)]
    pub fn lock(&self) -> CacheGuard<'_, T> {
        // Acquire, paired with the Release of the last unlock: the last
        // holder's writes to the value are visible to us.
        while self.held.fetch_or(HELD, Ordering::Acquire) & HELD != 0 {
            // Held: spin, reading only, until it is free, then try again
            // (test-and-test-and-set, which leaves the line shared while it
            // waits). Inline, not a call, so that the callers keep their
            // values in the registers a call would clobber.
            core::hint::cold_path();
            while self.held.load(Ordering::Relaxed) & HELD != 0 {
                core::hint::spin_loop();
            }
        }
        CacheGuard { lock: self }
    }
}

/// The value of a held [`CacheLock`]; dropping it releases the lock.
pub struct CacheGuard<'a, T> {
    lock: &'a CacheLock<T>,
}

impl<T> Deref for CacheGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for CacheGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock, and `&mut self` is the only way in.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for CacheGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release: our writes to the value happen before the next holder's
        // Acquire sees the bit clear.
        self.lock.held.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_holder_at_a_time() {
        const THREADS: usize = 4;
        const ROUNDS: u64 = 20_000;
        let lock = Arc::new(CacheLock::new(0u64));
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let lock = &lock;
                s.spawn(move || {
                    for _ in 0..ROUNDS {
                        // A read and a write apart: lost updates show up
                        // if two threads ever hold the lock at once.
                        let mut v = lock.lock();
                        let seen = *v;
                        std::hint::spin_loop();
                        *v = seen + 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), THREADS as u64 * ROUNDS);
    }

    #[test]
    fn the_guard_releases_the_lock() {
        let lock = CacheLock::new(1);
        *lock.lock() += 1;
        assert_eq!(lock.held.load(Ordering::Relaxed), 0);
        assert_eq!(*lock.lock(), 2);
    }
}
