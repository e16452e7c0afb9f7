# Debugging: QEMU's -d int log of a Lab 1 boot with the reference answers,
# run by hand as the debugging appendix shows: the summary lines of the first
# int 0x2e from ring 3 and of the refused int 0x2d. The running count at the
# start of each line depends on timing, so it is masked.
# mask: (?m)^ *[0-9]+: v=
cargo grader lab1 --solutions --smp 1 > /dev/null
qemu-system-x86_64 -machine pc -accel tcg -cpu qemu64,vendor=GenuineIntel -smp 1 -m 256M \
    -kernel target/x86_64-unknown-none/release/syslab-solutions \
    -initrd target/x86_64-unknown-none/release/syslab-user \
    -append "nonce=0123456789abcdef lab=lab1 tests=lab1.int2d_refused,lab1.null_call profile=intel accel=tcg" \
    -display none -no-reboot -monitor none -serial null \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -d int,cpu_reset -D target/syslab/qemu-int.log
grep -m1 -E ' v=2e .*cpl=3' target/syslab/qemu-int.log
grep -m1 -E ' v=0d e=02d2 ' target/syslab/qemu-int.log
