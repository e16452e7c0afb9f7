# A deliberately broken SYSCALL entry (the hidden --inject clobber loses R10 for one
# input in sixteen), and the replay of one case the fuzzer caught it with.
cargo grader fuzz --solutions --path syscall --inject clobber --seed 0x5b50ae7813fd10b9
