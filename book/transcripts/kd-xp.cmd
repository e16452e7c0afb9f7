# mask: (GenuineIntel|AuthenticAMD) +[0-9]+
# mask: \([0-9.]+ per system call\)
cargo grader kd --solutions --os xp --script book/transcripts/kd-xp.kd
# mask: (GenuineIntel|AuthenticAMD) +[0-9]+
# mask: \([0-9.]+ per system call\)
