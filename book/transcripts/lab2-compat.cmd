# Lab 2, the 32-bit caller: the article's stub from 32-bit code, on both CPUs, and the mode rule.
cargo grader lab2.compat_null_call lab2.compat_smp lab2.mode_mismatch --solutions | book/transcripts/excerpt lab2.compat_null_call lab2.compat_smp lab2.mode_mismatch
