# Debugging: the gdb script cargo grader gdb writes (QEMU is stopped again at once).
book/transcripts/gdb-session - cargo grader gdb lab2 --solutions > /dev/null
cat target/syslab/gdb/lab2.gdb
