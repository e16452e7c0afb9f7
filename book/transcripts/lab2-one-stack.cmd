# lab2's common mistakes: one SYSENTER stack for both CPUs
# (mistakes/lab2-one-stack.patch). Two CPUs; only lab2.msrs fails the same
# way every time, the other tests fail at random, so the score is masked.
# mask: (?m)^(Score|Total): [0-9]+/85$
book/transcripts/mistake lab2-one-stack cargo grader lab2 --solutions | book/transcripts/excerpt lab2.msrs
