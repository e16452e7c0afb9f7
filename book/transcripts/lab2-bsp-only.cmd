# Lab 2's common mistakes: the mutant grader/mutants/lab2-bsp-only.patch,
# on two CPUs, or there is no mistake.
cargo grader mutants lab2-bsp-only --report | book/transcripts/excerpt lab2.msrs lab2.null_call
