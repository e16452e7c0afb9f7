# Lab 3: what a passing run says about the MSRs, the exits and the bad returns.
cargo grader lab3 --solutions | book/transcripts/excerpt lab3.msrs lab3.null_call lab3.registers lab3.bad_return
