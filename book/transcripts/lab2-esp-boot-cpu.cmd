# Lab 2's common mistakes: the mutant grader/mutants/lab2-esp-boot-cpu.patch
# (one SYSENTER stack for both CPUs) on the intel profile, where SYSENTER runs.
# Two CPUs; only lab2.msrs fails the same way every time, the other tests fail
# at random, so the score is masked.
# mask: (?m)^(Score|Total): [0-9]+/[0-9]+$
cargo grader mutants lab2-esp-boot-cpu --report --cpu intel | book/transcripts/excerpt lab2.msrs
