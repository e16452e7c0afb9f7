cargo grader kd --solutions --os 2000 --script book/transcripts/kd-2000.kd
