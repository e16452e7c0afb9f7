cargo grader kd --solutions --os xp --script book/transcripts/kd-xp.kd
