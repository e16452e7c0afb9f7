# One call of each service on each path, single-stepped and cut into phases.
cargo grader bench --solutions --anatomy --count instructions
