# Setup: cargo grader doctor. The KVM, gdb and mdbook lines depend on the
# machine, so they are masked when compared; the book shows the machine that
# wrote the transcript.
# mask: (?m)^(ok|optional) +(KVM|gdb|mdbook) +.*$
# (and QEMU's exact version: a distribution update changes its last number)
# mask: \b[0-9]+\.[0-9]+\.[0-9]+ at /
# mask: (?m)^ +(install:)? +(Debian/Ubuntu|Fedora|macOS|WSL|cargo install).*$
cargo grader doctor
