# lab2's common mistakes: the reference answers with mistakes/lab2-rflags-not-restored.patch,
# on one CPU so that the report is the same at every run.
book/transcripts/mistake lab2-rflags-not-restored cargo grader lab2 --solutions --smp 1 | book/transcripts/excerpt lab2.flags
