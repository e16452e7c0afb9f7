cargo grader kd --solutions --script book/transcripts/kd-help.kd
