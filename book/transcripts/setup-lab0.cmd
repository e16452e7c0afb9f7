# Setup: the first run of the grader, Lab 0 on the skeleton.
cargo grader lab0
# mask: [0-9]+ threads; [0-9]+ NMIs sent, [0-9]+ taken, [0-9]+ in ring 0
