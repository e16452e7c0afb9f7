# Lab 1's common mistakes: the mutant grader/mutants/lab1-gate-dpl0.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab1-gate-dpl0 --report --smp 1 | book/transcripts/excerpt lab1.gate lab1.null_call
