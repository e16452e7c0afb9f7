# Lab 2, SharedUserData: the kernel's choice of SystemCallStub on the amd profile.
cargo grader lab2 --solutions --cpu amd -v 2>&1 | grep -m2 -E '^SharedUserData:|info stub='
