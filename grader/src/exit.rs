//! The grader's exit statuses.

/// Grading: every test of every lab passed. demo/gdb: the kernel ended
/// normally. bench: every row was measured and the files were written.
pub const FULL_MARKS: u8 = 0;
/// Grading: some test failed or did not run. demo/gdb: the kernel stopped
/// abnormally (fault, triple fault, QEMU error). bench: the same, or a row
/// failed (`bench-error`); the table shows what was measured.
pub const NOT_FULL_MARKS: u8 = 1;
/// Nothing trustworthy was graded or measured: a usage error (clap also
/// exits with 2), a missing tool, a failed build, an accelerator that
/// cannot run ring 3, or a file that could not be written.
pub const NOT_GRADED: u8 = 2;
