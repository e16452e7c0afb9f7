# lab2's common mistakes: the reference answers with mistakes/lab2-no-if-in-frame.patch,
# on one CPU so that the report is the same at every run.
book/transcripts/mistake lab2-no-if-in-frame cargo grader lab2 --solutions --smp 1 | book/transcripts/excerpt lab2.null_call
