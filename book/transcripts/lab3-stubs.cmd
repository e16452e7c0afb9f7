# Lab 3, three ways in: the SystemCallStub the kernel picks on each profile once SYSCALL is there.
cargo grader lab3 --solutions -v 2>&1 | grep -m1 '^SharedUserData:'
cargo grader lab3 --solutions --cpu amd -v 2>&1 | grep -m1 '^SharedUserData:'
