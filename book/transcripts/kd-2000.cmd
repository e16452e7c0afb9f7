# mask: (GenuineIntel|AuthenticAMD) +[0-9]+
# mask: \([0-9.]+ per system call\)
cargo grader kd --solutions --os 2000 --script book/transcripts/kd-2000.kd
# mask: (GenuineIntel|AuthenticAMD) +[0-9]+
# mask: \([0-9.]+ per system call\)
