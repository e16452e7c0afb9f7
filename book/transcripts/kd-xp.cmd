# mask: (GenuineIntel|AuthenticAMD) +[0-9]+
# mask: \([0-9.]+ per system call\)
# The reference kernel (solutions/) is a workspace of its own, so its
# functions and statics land where the hashes of its symbols put them, and
# those depend on the checkout's path: its addresses are not compared.
# mask: \b(0x)?0*1[0-9a-f]{5}\b
cargo grader kd --solutions --os xp --script book/transcripts/kd-xp.kd
