//! The students' code, as the kernel image hands it to the kernel.
//!
//! `labs/src/main.rs` (or `solutions/src/main.rs`) defines the static
//! `SYSLAB_STUDENT` with a pointer to each function the labs ask for. The
//! kernel calls them through this table, so it never knows whether it was
//! linked with the skeleton or with the reference answers.

use crate::frame::KTrapFrame;
use crate::idt::Idt;
use crate::percpu::PerCpu;

// ANCHOR: student
/// Lab 1: system calls through `int 0x2e`.
pub struct Lab1 {
    /// Installs IDT gate 0x2E so that ring 3 reaches `ki_system_service`.
    pub install_int2e_gate: fn(&mut Idt),
    /// `KiSystemService`: the entry stub behind gate 0x2E. (The stubs call
    /// the student's dispatcher themselves, so it needs no entry here.)
    pub ki_system_service: unsafe extern "C" fn(),
}

/// Lab 2: SYSENTER/SYSEXIT.
pub struct Lab2 {
    /// Checks that a GDT satisfies the selector rule of SYSENTER/SYSEXIT
    /// for the selector in IA32_SYSENTER_CS.
    pub check_sysenter_gdt: fn(gdt: &[u64], sysenter_cs: u16) -> Result<(), GdtRuleError>,
    /// Programs IA32_SYSENTER_CS/ESP/EIP on the running CPU (`cpu` is its block).
    pub program_sysenter_msrs: fn(cpu: &PerCpu),
    /// `KiFastCallEntry`: the target of IA32_SYSENTER_EIP.
    pub ki_fast_call_entry: unsafe extern "C" fn(),
    /// KiSystemServiceExit's decision: how this frame goes back to ring 3
    /// (the article's Table 3).
    pub choose_exit: fn(frame: &KTrapFrame) -> SystemCallExit,
}

/// Lab 3: SYSCALL/SYSRET.
pub struct Lab3 {
    /// Sets EFER.SCE and programs STAR, LSTAR, CSTAR and SFMASK on the running CPU.
    pub program_syscall_msrs: fn(cpu: &PerCpu),
    /// `KiSystemCall64`: the target of LSTAR.
    pub ki_system_call64: unsafe extern "C" fn(),
    /// `KiSystemCall32`: the target of CSTAR, SYSCALL from 32-bit code.
    pub ki_system_call32: unsafe extern "C" fn(),
}

/// Everything the labs implement.
pub struct Student {
    pub lab1: Lab1,
    pub lab2: Lab2,
    pub lab3: Lab3,
}
// ANCHOR_END: student

// ANCHOR: exit
/// The ways back to ring 3: KiSystemCallExit, KiSystemCallExit2 and
/// KiSystemCallExit3 in the article's Table 3, and the 32-bit forms of the
/// two fast ones for 32-bit callers. The entry stubs compare the value in
/// RAX after KiSystemServiceExit with these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum SystemCallExit {
    /// `iretq`: restores everything from the frame, in either mode; always safe.
    Iretq = 1,
    /// `sysexitq`: RIP from RDX, RSP from RCX; CS = SYSENTER_CS + 32 (64-bit code).
    Sysexit = 2,
    /// `sysretq`: RIP from RCX, RFLAGS from R11; CS = STAR[63:48] + 16 (64-bit code).
    Sysret = 3,
    /// `sysexit` (no REX.W): EIP from EDX, ESP from ECX; CS = SYSENTER_CS + 16
    /// (32-bit code), SS = SYSENTER_CS + 24.
    Sysexit32 = 4,
    /// `sysretl` (`sysret` without REX.W): EIP from ECX, EFLAGS from R11;
    /// CS = STAR[63:48] (32-bit code), SS = STAR[63:48] + 8.
    Sysret32 = 5,
}
// ANCHOR_END: exit

/// Why a GDT breaks the SYSENTER/SYSEXIT selector rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GdtRuleError {
    /// IA32_SYSENTER_CS must select a GDT entry with RPL 0 and TI 0.
    BadSelector(u16),
    /// The descriptor that `role` needs lies past the end of the table.
    Missing { selector: u16, role: &'static str },
    /// The descriptor at `selector` is not what `role` needs.
    Wrong {
        selector: u16,
        role: &'static str,
        descriptor: u64,
    },
}

impl core::fmt::Display for GdtRuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Self::BadSelector(s) => {
                write!(f, "IA32_SYSENTER_CS {s:#x} is not a ring-0 GDT selector")
            }
            Self::Missing { selector, role } => {
                write!(f, "no descriptor at {selector:#x} for {role}")
            }
            Self::Wrong {
                selector,
                role,
                descriptor,
            } => {
                write!(
                    f,
                    "the descriptor at {selector:#x} ({descriptor:#018x}) is not {role}"
                )
            }
        }
    }
}

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
