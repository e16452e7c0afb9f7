# Lab 3's common mistakes: the mutant grader/mutants/lab3-safe-no-rcx.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab3-safe-no-rcx --report --smp 1 | book/transcripts/excerpt lab3.bad_return lab3.host_tests
