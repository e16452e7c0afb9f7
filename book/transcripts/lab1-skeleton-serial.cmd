# Lab 1: the serial log of the skeleton's first boot (-v echoes it).
cargo grader lab1 -v 2>&1 | sed -n '/^--- lab1 boot 1: serial output ---$/,/^--- end of lab1 boot 1 ---$/p'
