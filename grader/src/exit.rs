//! The grader's exit statuses.

/// Grading: every test of every lab passed. demo/gdb: the kernel ended normally.
pub const FULL_MARKS: u8 = 0;
/// Grading: some test failed or did not run. demo/gdb: the kernel stopped
/// abnormally (fault, triple fault, QEMU error).
pub const NOT_FULL_MARKS: u8 = 1;
/// Nothing trustworthy was graded: a usage error (clap also exits with 2),
/// a missing tool, a failed build, or an accelerator that cannot run ring 3.
pub const NOT_GRADED: u8 = 2;
