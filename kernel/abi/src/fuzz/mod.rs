//! The system-call fuzzer's shared half (`cargo grader fuzz`, `lab=fuzz`):
//! what it throws, and what each throw must get back.
//!
//! Three programs use it. The user program (kernel/user/src/fuzz.rs) draws
//! every call from here, makes it from ring 3 and checks what came back;
//! the kernel (kernel/src/fuzz.rs) runs that program on every CPU at once,
//! judges the calls that end the thread, and prints the results; the
//! grader (grader/src/fuzz/) draws a mismatching call again from its seed,
//! to say in words what it was.
//!
//! - rng.rs: SplitMix64, so that a seed names a case
//! - case.rs: a case's calls, as classes (path, service, kind of pointer,
//!   handle, flags, stack)
//! - model.rs: a call's classes made concrete, and the outcome the kernel
//!   owes it; the checks of what came back
//! - page.rs: the page the kernel and the user thread share on each CPU

pub mod case;
pub mod model;
pub mod page;
pub mod rng;
pub mod sim;

pub use case::{Call, Case, Path, Paths};

/// The user test id of the fuzzer (`user_test` ids below 200 are the
/// labs' tests).
pub const FUZZ_TEST: u64 = 200;
