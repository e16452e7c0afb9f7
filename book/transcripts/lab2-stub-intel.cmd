# Lab 2, SharedUserData: the kernel's choice of SystemCallStub on the intel profile.
cargo grader lab2 --solutions -v 2>&1 | grep -m2 -E '^SharedUserData:|info stub='
