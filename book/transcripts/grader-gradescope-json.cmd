# Using the grader: the beginning of the Gradescope results file, for Lab 1 on the skeleton.
cargo grader lab1 --json target/syslab/book-results.json > /dev/null 2>&1
head -n 17 target/syslab/book-results.json
