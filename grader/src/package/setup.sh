#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image
# (`cargo grader package gradescope` wrote it). It installs QEMU and the
# pinned Rust toolchain, builds the grader, and grades the untouched
# skeleton once, so that each submission then rebuilds only its own crate.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
course=/autograder/source/course

apt-get update -qq
apt-get install -y -qq qemu-system-x86 curl ca-certificates build-essential git >/dev/null
qemu=$(qemu-system-x86_64 --version | head -n1)
echo "$qemu"
version=$(echo "$qemu" | sed -E 's/.*version ([0-9]+)\.([0-9]+).*/\1 \2/')
read -r major minor <<<"$version"
if [ "$major" -lt 7 ] || { [ "$major" -eq 7 ] && [ "$minor" -lt 2 ]; }; then
    echo "syslab needs QEMU 7.2 or newer, and this base image has $qemu;" >&2
    echo "choose a newer Ubuntu base image (24.04 has QEMU 8.2) in the autograder settings" >&2
    exit 1
fi

# rustup, then the toolchain, target and components that rust-toolchain.toml pins.
curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --profile minimal --default-toolchain none
# shellcheck disable=SC1091
. "$HOME/.cargo/env"
cd "$course"
rustup show active-toolchain || rustup toolchain install
rustup target add x86_64-unknown-none
cargo build --release --locked -p syslab-grader

# The first batch builds the scratch tree the submissions are built in.
warm=$(mktemp -d)
mkdir -p "$warm/submissions/skeleton"
cp -R labs "$warm/submissions/skeleton/labs"
target/release/syslab-grader batch "$warm/submissions" --labs @LABS@ --cpu @CPU@ \
    --jobs 1 --out "$warm/out"
rm -rf "$warm"
