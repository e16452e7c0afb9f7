//! The students' code, as the kernel image hands it to the kernel.
//!
//! `labs/src/main.rs` (or `solutions/src/main.rs`) defines the static
//! `SYSLAB_STUDENT` with a pointer to each function the labs ask for. The
//! kernel calls them through this table, so it never knows whether it was
//! linked with the skeleton or with the reference answers.

use crate::idt::Idt;
use crate::trap::KTrapFrame;

// ANCHOR: student
/// Lab 1: system calls through `int 0x2e`.
pub struct Lab1 {
    /// Installs IDT gate 0x2E so that ring 3 reaches `ki_system_service`.
    pub install_int2e_gate: fn(&mut Idt),
    /// `KiSystemService`: the entry stub behind gate 0x2E.
    pub ki_system_service: unsafe extern "C" fn(),
    /// The system-service dispatcher that every entry stub calls.
    pub dispatch: extern "C" fn(&mut KTrapFrame),
}

/// Everything the labs implement.
pub struct Student {
    pub lab1: Lab1,
}
// ANCHOR_END: student

/// The student's table, defined by the kernel image's main.rs.
#[cfg(target_os = "none")]
pub fn student() -> &'static Student {
    unsafe extern "Rust" {
        static SYSLAB_STUDENT: Student;
    }
    // SAFETY: the image defines the static; it is immutable.
    unsafe { &SYSLAB_STUDENT }
}

/// Stops the kernel with the message the grader shows for unfinished work:
/// `not implemented: lab1::install_int2e_gate (labs/src/lab1.rs:42)`.
#[cold]
pub fn not_implemented(function: &str, module: &str, file: &str, line: u32) -> ! {
    // "syslab_labs::lab1" -> "lab1"
    let module = module.split_once("::").map_or(module, |(_, rest)| rest);
    panic!("not implemented: {module}::{function} ({file}:{line})")
}

/// Marks a function of the lab skeleton that the student has yet to write.
#[macro_export]
macro_rules! not_implemented {
    ($function:literal) => {
        $crate::student::not_implemented($function, module_path!(), file!(), line!())
    };
}
