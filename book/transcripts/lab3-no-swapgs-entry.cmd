# lab3's common mistakes: the reference answers with mistakes/lab3-no-swapgs-entry.patch,
# on one CPU so that the report is the same at every run.
book/transcripts/mistake lab3-no-swapgs-entry cargo grader lab3 --solutions --smp 1 | book/transcripts/excerpt lab3.null_call
