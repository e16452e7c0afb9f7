# lab1's common mistakes: the reference answers with mistakes/lab1-swapped-pops.patch,
# on one CPU so that the report is the same at every run.
book/transcripts/mistake lab1-swapped-pops cargo grader lab1 --solutions --smp 1 | book/transcripts/excerpt lab1.null_call lab1.preserved
