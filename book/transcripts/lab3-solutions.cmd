# Lab 3: what a passing run says about the MSRs, the exits and the bad returns.
# The reference kernel (solutions/) is a workspace of its own, so its
# functions and statics land where the hashes of its symbols put them, and
# those depend on the checkout's path: its addresses are not compared.
# mask: \b(0x)?0*1[0-9a-f]{5}\b
cargo grader lab3 --solutions | book/transcripts/excerpt lab3.msrs lab3.null_call lab3.registers lab3.bad_return
