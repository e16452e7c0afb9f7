# Debugging: a whole gdb session for Lab 2, against the real QEMU, with the
# commands in gdb-lab2.gdb (one CPU, so that it is the same at every run).
# The reference kernel (solutions/) is a workspace of its own, so its
# functions and statics land where the hashes of its symbols put them, and
# those depend on the checkout's path: its addresses are not compared.
# mask: \b(0x)?0*1[0-9a-f]{5}\b
book/transcripts/gdb-session book/transcripts/gdb-lab2.gdb cargo grader gdb lab2 --solutions --smp 1
