# Setup: cargo grader doctor. The KVM, gdb and mdbook lines depend on the
# machine, so they are masked when compared; the book shows the machine that
# wrote the transcript.
# mask: (?m)^(ok|optional) +(KVM|gdb|mdbook) +.*$
# mask: (?m)^ +(install:)? +(Debian/Ubuntu|Fedora|macOS|WSL|cargo install).*$
cargo grader doctor
