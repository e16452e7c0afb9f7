# lab1's common mistakes: the reference answers with mistakes/lab1-frame-not-dropped.patch,
# on one CPU so that the report is the same at every run.
book/transcripts/mistake lab1-frame-not-dropped cargo grader lab1 --solutions --smp 1 | book/transcripts/excerpt lab1.null_call
