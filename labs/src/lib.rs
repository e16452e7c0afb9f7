//! The labs: one module per lab. The kernel image (main.rs) hands these
//! functions to the kernel; tests/ checks the pure ones on the host.
#![cfg_attr(target_os = "none", no_std)]
#![allow(non_snake_case)] // the NT names: KiSystemService, KiFastCallEntry, ...

pub mod lab1;
pub mod lab2;
pub mod lab3;
