//! The kernel image with your code in it. You do not need to change this file.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the syslab kernel runs under QEMU: use `cargo grader`");
}

#[cfg(target_os = "none")]
use syslab_kernel as _;
