# Lab 1's common mistakes: the mutant grader/mutants/lab1-no-swapgs.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab1-no-swapgs --report --smp 1 | book/transcripts/excerpt lab1.which_cpu
