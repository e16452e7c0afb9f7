# lab2's common mistakes: only the boot CPU programs its SYSENTER MSRs
# (mistakes/lab2-bsp-only.patch). Two CPUs, or there is no mistake.
book/transcripts/mistake lab2-bsp-only cargo grader lab2 --solutions | book/transcripts/excerpt lab2.msrs lab2.null_call
