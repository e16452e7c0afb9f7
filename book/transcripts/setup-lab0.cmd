# Setup: the first run of the grader, Lab 0 on the skeleton.
cargo grader lab0
