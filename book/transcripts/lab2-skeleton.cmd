# Lab 2, grading and debugging: the untouched skeleton.
cargo grader lab2
