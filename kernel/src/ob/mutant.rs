//! The mutant: NT's mutex object (KMUTANT, ntos/ke/mutntobj.c), which
//! Win32 calls a mutex (CreateMutex → NtCreateMutant).
//!
//! A mutant is free (signalled) or owned by one thread. The owner may take
//! it again (it is recursive) and must release it as many times. A thread
//! that ends while owning it *abandons* it: the mutant becomes free, and
//! the next thread to take it is told so (STATUS_ABANDONED_WAIT_0), since
//! the data it protected may be half updated.
//!
//! NT keeps the recursion in the dispatcher header's SignalState (1 when
//! free, 1 − n when taken n times); we keep the count n itself, and give
//! SignalState back where NT's interface returns it.
//!
//! syslab has no waits yet, so taking a mutant is [`Mutant::try_acquire`]:
//! what a wait with a zero timeout does.

use super::ObjectRef;
use spin::Mutex;
use syslab_abi::status::{NtStatus, STATUS_SUCCESS};

/// A thread's identity, as the system services know it.
pub type ThreadId = u32;

/// NTSTATUS values only the mutant uses (the NT DDK's ntstatus.h).
pub mod status {
    use syslab_abi::status::NtStatus;
    /// A wait was satisfied by an abandoned mutant (0x80 + the object's index).
    pub const STATUS_ABANDONED_WAIT_0: NtStatus = 0x0000_0080;
    /// A wait timed out: with a zero timeout, "it was taken".
    pub const STATUS_TIMEOUT: NtStatus = 0x0000_0102;
    /// NtReleaseMutant by a thread that does not own the mutant.
    pub const STATUS_MUTANT_NOT_OWNED: NtStatus = 0xC000_0046;
    /// One recursive acquisition too many.
    pub const STATUS_MUTANT_LIMIT_EXCEEDED: NtStatus = 0xC000_0191;
}
use status::*;

/// Most times one owner may hold a mutant at once: NT's SignalState is a
/// LONG that counts down from 1, so it stops at MINLONG (mutntobj.c).
pub const MAX_RECURSION: u32 = i32::MAX as u32;

/// What [`Mutant::try_acquire`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// The caller owns the mutant now (or owns it once more).
    Acquired,
    /// The caller owns it now, but its last owner ended without releasing it.
    Abandoned,
    /// Another thread owns it; nothing changed.
    Busy,
}

impl Acquire {
    /// The status NtWaitForSingleObject with a zero timeout would return.
    pub const fn status(self) -> NtStatus {
        match self {
            Acquire::Acquired => STATUS_SUCCESS,
            Acquire::Abandoned => STATUS_ABANDONED_WAIT_0,
            Acquire::Busy => STATUS_TIMEOUT,
        }
    }
}

/// The mutant's fields. Guarded together by `Mutant::state` (in NT, by the
/// dispatcher database lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MutantState {
    /// The owning thread, or `None` when the mutant is free (signalled).
    owner: Option<ThreadId>,
    /// How many times `owner` holds it: 0 exactly when `owner` is `None`.
    recursion: u32,
    /// Its last owner ended while holding it; cleared by the next acquire.
    abandoned: bool,
}

/// A mutant object's body.
#[derive(Debug)]
pub struct Mutant {
    state: Mutex<MutantState>,
}

impl Mutant {
    /// A new mutant (KeInitializeMutant): owned once by `creator` if
    /// `initial_owner` (NtCreateMutant's InitialOwner), free otherwise.
    pub const fn new(initial_owner: bool, creator: ThreadId) -> Self {
        let state = if initial_owner {
            MutantState {
                owner: Some(creator),
                recursion: 1,
                abandoned: false,
            }
        } else {
            MutantState {
                owner: None,
                recursion: 0,
                abandoned: false,
            }
        };
        Mutant {
            state: Mutex::new(state),
        }
    }

    /// The owning thread, if any.
    pub fn owner(&self) -> Option<ThreadId> {
        self.state.lock().owner
    }

    /// How many times the owner holds it (0 when free).
    pub fn recursion(&self) -> u32 {
        self.state.lock().recursion
    }

    /// Whether its last owner ended without releasing it.
    pub fn abandoned(&self) -> bool {
        self.state.lock().abandoned
    }

    /// NT's SignalState: 1 when free, 1 − n when held n times
    /// (what NtQueryMutant reports as CurrentCount).
    pub fn signal_state(&self) -> i32 {
        1 - self.state.lock().recursion as i32
    }

    /// Takes the mutant for `thread` if it is free or already `thread`'s
    /// (KiWaitSatisfyMutant, reached here without waiting).
    pub fn try_acquire(&self, thread: ThreadId) -> Result<Acquire, NtStatus> {
        let mut s = self.state.lock();
        match s.owner {
            Some(owner) if owner != thread => Ok(Acquire::Busy),
            Some(_) if s.recursion >= MAX_RECURSION => Err(STATUS_MUTANT_LIMIT_EXCEEDED),
            Some(_) => {
                s.recursion += 1;
                Ok(Acquire::Acquired)
            }
            None => {
                let was_abandoned = s.abandoned;
                *s = MutantState {
                    owner: Some(thread),
                    recursion: 1,
                    abandoned: false,
                };
                Ok(if was_abandoned {
                    Acquire::Abandoned
                } else {
                    Acquire::Acquired
                })
            }
        }
    }

    /// Releases one hold by `thread` (KeReleaseMutant, NtReleaseMutant) and
    /// returns the SignalState before the release, as NT does. A thread
    /// that does not own the mutant gets STATUS_MUTANT_NOT_OWNED.
    pub fn release(&self, thread: ThreadId) -> Result<i32, NtStatus> {
        let mut s = self.state.lock();
        if s.owner != Some(thread) {
            return Err(STATUS_MUTANT_NOT_OWNED);
        }
        let previous = 1 - s.recursion as i32;
        s.recursion -= 1;
        if s.recursion == 0 {
            s.owner = None;
        }
        Ok(previous)
    }

    /// Marks the mutant abandoned and free if `thread` owns it; called as
    /// the thread ends (KeRundownThread walks the thread's mutant list).
    /// Returns whether it did.
    pub fn abandon(&self, thread: ThreadId) -> bool {
        let mut s = self.state.lock();
        if s.owner != Some(thread) {
            return false;
        }
        *s = MutantState {
            owner: None,
            recursion: 0,
            abandoned: true,
        };
        true
    }
}

/// Creates a mutant object on the running CPU (ObCreateObject, then
/// KeInitializeMutant), owned once by `creator` if `initial_owner`.
///
/// Like `Box::new`, this treats an exhausted heap as fatal
/// (`handle_alloc_error`); [`super::create_mutant`] returns
/// STATUS_INSUFFICIENT_RESOURCES instead.
pub fn create(initial_owner: bool, creator: ThreadId) -> ObjectRef {
    super::create_mutant(super::current_cpu(), initial_owner, creator)
        .unwrap_or_else(|_| alloc::alloc::handle_alloc_error(super::ObjectPool::block_layout()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_owner_owns_it_once() {
        let m = Mutant::new(true, 5);
        assert_eq!(m.owner(), Some(5));
        assert_eq!(m.recursion(), 1);
        assert_eq!(m.signal_state(), 0);
        assert!(!m.abandoned());
        let free = Mutant::new(false, 5);
        assert_eq!(free.owner(), None);
        assert_eq!(free.signal_state(), 1);
    }

    #[test]
    fn recursive_acquire_and_release() {
        let m = Mutant::new(false, 0);
        assert_eq!(m.try_acquire(1), Ok(Acquire::Acquired));
        assert_eq!(m.try_acquire(1), Ok(Acquire::Acquired));
        assert_eq!(m.try_acquire(2), Ok(Acquire::Busy));
        assert_eq!(Acquire::Busy.status(), STATUS_TIMEOUT);
        assert_eq!(m.release(2), Err(STATUS_MUTANT_NOT_OWNED));
        assert_eq!(m.release(1), Ok(-1));
        assert_eq!(m.release(1), Ok(0));
        assert_eq!(m.owner(), None);
        assert_eq!(m.release(1), Err(STATUS_MUTANT_NOT_OWNED));
    }

    #[test]
    fn abandoned_mutant_is_reported_once() {
        let m = Mutant::new(true, 1);
        assert!(!m.abandon(2), "only the owner can abandon it");
        assert!(m.abandon(1));
        assert!(m.abandoned());
        assert_eq!(m.try_acquire(2), Ok(Acquire::Abandoned));
        assert_eq!(Acquire::Abandoned.status(), STATUS_ABANDONED_WAIT_0);
        assert!(!m.abandoned());
        assert_eq!(m.release(2), Ok(0));
        assert_eq!(m.try_acquire(3), Ok(Acquire::Acquired));
    }
}
