# Lab 3's common mistakes: the mutant grader/mutants/lab3-star-user-cs.patch,
# on one CPU so that the report is the same at every run.
cargo grader mutants lab3-star-user-cs --report --smp 1 | book/transcripts/excerpt lab3.msrs
