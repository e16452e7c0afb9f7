//! System calls: one service table and one trap frame for three entry paths.
//!
//! | path                 | entry stub (student)  | exit          | file          |
//! |----------------------|-----------------------|---------------|---------------|
//! | `int 0x2e` (NT 4/2000) | `KiSystemService`   | `iretq`       | [`int2e`]     |
//! | `sysenter` (XP)      | `KiFastCallEntry`     | `sysexitq` or `iretq` | [`sysenter`] |
//! | `syscall` (AMD64)    | `KiSystemCall64`      | `sysretq` or `iretq`  | [`syscall`]  |
//!
//! After the dispatcher, the SYSENTER and SYSCALL stubs ask
//! [`exit::KiSystemServiceExit`] which exit to take.
//!
//! Each stub saves the user's registers as a [`crate::frame::KTrapFrame`]
//! and calls the student's dispatcher, which looks the number in EAX up in
//! [`table::KI_SERVICE_TABLE`], copies the arguments from the user stack
//! that RDX points at, and calls the service in [`services`].

pub mod exit;
pub mod int2e;
pub mod services;
#[allow(clippy::module_inception)] // named for the instruction, like sysenter.rs
pub mod syscall;
pub mod sysenter;
pub mod table;
