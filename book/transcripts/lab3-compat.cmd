# Lab 3, three ways in: a SYSCALL from 32-bit code, as the kernel reports it.
cargo grader lab3 --solutions --smp 1 -v 2>&1 | grep -m1 '^!! SYSCALL from 32-bit compatibility mode'
