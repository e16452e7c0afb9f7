# A deliberately broken SYSCALL entry (the hidden --inject clobber loses R10 for one
# input in sixteen), and the replay of one case that catches it.
cargo grader fuzz --solutions --path syscall --inject clobber --seed 0xd8013ba0973c70b4
