//! A user thread's record, and how a thread ended: the types the per-CPU
//! block holds for the thread running on its CPU. A leaf module, so that
//! `percpu` does not depend on the code that runs threads (`thread/mod.rs`).

use crate::frame::KTrapFrame;
use crate::mode::UserMode;

/// A fault that killed a user thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rsp: u64,
    /// RFLAGS when it faulted.
    pub rflags: u64,
    /// CR2 for a page fault, else 0.
    pub cr2: u64,
    /// The mode the thread was started in (set when it is killed).
    pub mode: UserMode,
}

impl Fault {
    pub fn from_frame(frame: &KTrapFrame, cr2: u64) -> Self {
        Fault {
            vector: frame.entry,
            error_code: frame.error_code,
            rip: frame.rip,
            cs: frame.cs,
            rsp: frame.rsp,
            rflags: frame.rflags,
            cr2: if frame.entry == 14 { cr2 } else { 0 },
            mode: UserMode::Long,
        }
    }
}

/// How a user thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadExit {
    /// It exited with this status (the exit trap or NtTerminateThread).
    Exited(u64),
    /// A fault, or the kernel on its behalf, killed it.
    Killed(Fault),
}

/// The kernel's record of the thread running on a CPU.
#[derive(Clone, Copy, Debug)]
pub struct Thread {
    pub exit: Option<ThreadExit>,
}
