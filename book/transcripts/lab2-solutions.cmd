# Lab 2: what a passing run says about the MSRs, the exits and the bad returns.
cargo grader lab2 --solutions | book/transcripts/excerpt lab2.msrs lab2.null_call lab2.bad_return
