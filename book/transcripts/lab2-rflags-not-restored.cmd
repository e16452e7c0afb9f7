# Lab 2's common mistakes: the mutant grader/mutants/lab2-rflags-not-restored.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab2-rflags-not-restored --report --smp 1 | book/transcripts/excerpt lab2.flags
