//! The page the kernel and the fuzzer's user thread share on each CPU
//! (`layout::report_page(cpu)`), and the words written into it.
//!
//! The user thread makes the calls and checks every one that returns. A
//! call that ends the thread (NtTerminateThread, a single-step trap, a
//! return to a bad address) cannot check itself: before each call the
//! thread writes here how the call must end, and the kernel, which sees the
//! thread end, compares, restarts the thread and writes its verdict back.

use core::fmt;

/// [`Page::state`]: between calls.
pub const STATE_IDLE: u64 = 0;
/// A call is in flight: [`Page::case`], [`Page::call`] and
/// [`Page::expect`] describe it.
pub const STATE_IN_CALL: u64 = 1;
/// The thread ended its time slice at a case boundary (any mismatch it
/// found is in [`Page::mismatch`]).
pub const STATE_SLICE_DONE: u64 = 2;
/// Replay: the one case ran; the thread will not start another.
pub const STATE_FINISHED: u64 = 3;
/// Closing the handles of a case abandoned after a mismatch.
pub const STATE_CLEANING: u64 = 4;

/// [`Page::verdict`]: the kernel has not judged a thread end.
pub const VERDICT_NONE: u64 = 0;
/// The thread ended exactly as [`Page::expect`] said.
pub const VERDICT_EXPECTED: u64 = 1;
/// It did not: the kernel reported the mismatch; abandon the case.
pub const VERDICT_UNEXPECTED: u64 = 2;

/// [`End::kind`]: the call returns to the user.
pub const END_RETURN: u64 = 0;
/// The thread exits with status [`End::value`] (NtTerminateThread).
pub const END_EXIT: u64 = 1;
/// A fault in ring 3 kills the thread: a vector in [`End::vectors`], at
/// RIP [`End::value`].
pub const END_KILL: u64 = 2;

/// Exception vectors the fuzzer expects to see (Intel SDM Vol. 3A §6.3.1).
pub const DB: u64 = 1;
pub const SS: u64 = 12;
pub const GP: u64 = 13;
pub const PF: u64 = 14;
/// The bit of [`End::vectors`] for `vector`, 0 if it has none.
const fn vector_bit(vector: u64) -> u64 {
    if vector < 64 { 1 << vector } else { 0 }
}

/// How a call must end, or how a thread ended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct End {
    pub kind: u64,
    /// The exit status, or the RIP of the fault.
    pub value: u64,
    /// Bit v: vector v is the expected fault.
    pub vectors: u64,
}

impl End {
    pub const RETURN: End = End {
        kind: END_RETURN,
        value: 0,
        vectors: 0,
    };

    pub const fn exit(status: u64) -> End {
        End {
            kind: END_EXIT,
            value: status,
            vectors: 0,
        }
    }

    pub const fn kill(vectors: u64, rip: u64) -> End {
        End {
            kind: END_KILL,
            value: rip,
            vectors,
        }
    }

    /// Whether a thread that exited with `status` ended as expected.
    pub fn matches_exit(&self, status: u64) -> bool {
        self.kind == END_EXIT && self.value == status
    }

    /// Whether a thread killed by `vector` at `rip` in ring 3 ended as expected.
    pub fn matches_kill(&self, vector: u64, rip: u64) -> bool {
        self.kind == END_KILL && self.vectors & vector_bit(vector) != 0 && self.value == rip
    }
}

/// The mnemonic of a vector the fuzzer names.
pub fn vector_mnemonic(vector: u64) -> &'static str {
    match vector {
        DB => "#DB",
        SS => "#SS",
        GP => "#GP",
        PF => "#PF",
        _ => "#?",
    }
}

/// `return`, `exit:0x1234` or `killed:#GP/#SS@0x7ffe0305`: one token, as
/// the protocol line carries it (grader/PROTOCOL.md, "Fuzzing").
impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            END_RETURN => f.write_str("return"),
            END_EXIT => write!(f, "exit:{:#x}", self.value),
            _ => {
                f.write_str("killed:")?;
                let mut first = true;
                for v in (0..64).filter(|v| self.vectors & (1 << v) != 0) {
                    if !first {
                        f.write_str("/")?;
                    }
                    first = false;
                    f.write_str(vector_mnemonic(v))?;
                }
                write!(f, "@{:#x}", self.value)
            }
        }
    }
}

/// What a mismatch is about ([`Mismatch::check`]).
pub mod check {
    /// No mismatch.
    pub const NONE: u64 = 0;
    /// RAX, the status.
    pub const STATUS: u64 = 1;
    /// A register the path must preserve (index: its number in
    /// `user_test::REGISTER_NAMES`), or that it must set (RCX, R11 of SYSCALL).
    pub const REGISTER: u64 = 2;
    /// RFLAGS after the call.
    pub const FLAGS: u64 = 3;
    /// The bytes of the user buffer (index: the word, from the pointer the
    /// call was given): echoed data, a handle, or a write where none belongs.
    pub const MEMORY: u64 = 4;
    /// NtCreateMutant wrote a value that is not a new handle.
    pub const HANDLE: u64 = 5;
    /// RFLAGS while the service ran (NtTestKernelFlags' first word).
    pub const KERNEL_FLAGS: u64 = 6;
    /// The user RFLAGS the kernel saved in the frame (its second word).
    pub const FRAME_FLAGS: u64 = 7;
    /// How the call ended (the thread returned, exited or was killed).
    pub const END: u64 = 8;
    /// The thread died between calls, in the fuzzer's own code.
    pub const OUTSIDE: u64 = 9;
}

/// The first thing found wrong in a case.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mismatch {
    pub check: u64,
    pub index: u64,
    pub expected: u64,
    pub got: u64,
}

/// The protocol name of a check (`status`, `rbx`, `memory`, ...).
pub fn check_name(check: u64, index: u64) -> &'static str {
    match check {
        check::STATUS => "status",
        check::REGISTER => crate::user_test::REGISTER_NAMES
            .get(index as usize)
            .copied()
            .unwrap_or("register"),
        check::FLAGS => "rflags",
        check::MEMORY => "memory",
        check::HANDLE => "handle",
        check::KERNEL_FLAGS => "kernel-rflags",
        check::FRAME_FLAGS => "frame-rflags",
        check::END => "end",
        check::OUTSIDE => "outside",
        _ => "unknown",
    }
}

// ANCHOR: page
/// One CPU's shared page.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Page {
    // Written by the kernel before it starts the thread.
    /// The run's seed: the thread's cases are derived from it.
    pub run_seed: u64,
    /// Non-zero: replay: run the case with this seed once, then finish.
    pub replay: u64,
    /// The paths to fuzz (`Paths` bits).
    pub paths: u64,
    /// TSC value after which the thread ends its slice, at a case boundary.
    pub slice_end: u64,
    /// The kernel's verdict on the last thread end (`VERDICT_*`).
    pub verdict: u64,
    // Written by the user thread.
    /// `STATE_*`.
    pub state: u64,
    /// The case in flight (its seed) and the call in it.
    pub case: u64,
    pub call: u64,
    /// The path and EAX of the call in flight.
    pub path: u64,
    pub number: u64,
    /// How the call in flight must end.
    pub expect: End,
    /// System calls made so far by this CPU's threads, and cases finished.
    pub calls: u64,
    pub cases: u64,
    /// How many cases were derived from the run seed so far.
    pub next_case: u64,
    /// The mismatch the thread found, for the kernel to report.
    pub mismatch: Mismatch,
}
// ANCHOR_END: page

const _: () = assert!(core::mem::size_of::<Page>() <= 4096);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn ends_print_as_one_token() {
        assert_eq!(End::RETURN.to_string(), "return");
        assert_eq!(End::exit(0x600d).to_string(), "exit:0x600d");
        let k = End::kill(1 << GP | 1 << SS, 0x7ffe0305);
        assert_eq!(k.to_string(), "killed:#SS/#GP@0x7ffe0305");
        assert!(k.matches_kill(GP, 0x7ffe0305));
        assert!(!k.matches_kill(PF, 0x7ffe0305));
        assert!(!k.matches_kill(GP, 0x7ffe0306));
        assert!(!k.matches_kill(200, 0x7ffe0305));
        assert!(End::exit(5).matches_exit(5) && !End::exit(5).matches_exit(6));
        assert!(!End::RETURN.matches_exit(0));
    }

    #[test]
    fn check_names() {
        assert_eq!(check_name(check::REGISTER, 1), "rbx");
        assert_eq!(check_name(check::REGISTER, 14), "r15");
        assert_eq!(check_name(check::STATUS, 0), "status");
        assert_eq!(check_name(check::END, 0), "end");
    }
}
