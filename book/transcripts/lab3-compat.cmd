# Lab 3, three ways in: a 64-bit thread's SYSCALL from 32-bit code, on each profile.
cargo grader lab3.compat --solutions --smp 1 | book/transcripts/excerpt lab3.compat
cargo grader lab3.compat --solutions --cpu amd --smp 1 | book/transcripts/excerpt lab3.compat
