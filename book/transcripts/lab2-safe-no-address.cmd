# Lab 2's common mistakes: the mutant grader/mutants/lab2-safe-no-address.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab2-safe-no-address --report --smp 1 | book/transcripts/excerpt lab2.bad_registers lab2.bad_return lab2.host_tests
