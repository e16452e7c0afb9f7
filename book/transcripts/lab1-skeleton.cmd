# Lab 1, grading and debugging: the untouched skeleton.
cargo grader lab1
