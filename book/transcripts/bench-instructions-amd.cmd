# The same on the amd profile, which has no sysenter rows.
cargo grader bench --solutions --cpu amd --count instructions
