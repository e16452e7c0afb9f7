# Lab 2, the rdmsr experiment: what lab2.msrs prints on the serial port.
cargo grader lab2 --solutions -v 2>&1 | grep 'kd> rdmsr'
