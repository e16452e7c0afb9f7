//! Copying from user memory without trusting it.
//!
//! Filled in by Lab 1's kernel side: a range check plus a fault fixup.

use crate::trap::KTrapFrame;

/// If the fault at `frame.rip` happened inside a user-copy routine, resume
/// it at its error exit and return true.
pub fn fixup(_frame: &mut KTrapFrame) -> bool {
    false
}
