# Lab 1's common mistakes: the mutant grader/mutants/lab1-no-range-check.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab1-no-range-check --report --smp 1 | book/transcripts/excerpt lab1.bad_pointers
