# Debugging: a whole gdb session for Lab 2, against the real QEMU, with the
# commands in gdb-lab2.gdb (one CPU, so that it is the same at every run).
book/transcripts/gdb-session book/transcripts/gdb-lab2.gdb cargo grader gdb lab2 --solutions --smp 1
