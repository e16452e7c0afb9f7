# Debugging: what cargo grader gdb prints (QEMU is stopped again at once).
book/transcripts/gdb-session - cargo grader gdb lab2 --solutions --smp 1
