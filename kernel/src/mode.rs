//! A user thread's mode: 64-bit code (long mode) or 32-bit code
//! (compatibility mode), fixed when the thread starts, as Linux's TIF_IA32
//! and Windows' WoW64 flag are per task.
//!
//! The CPU tells the kernel which mode a caller was in on two of the three
//! paths: `int 0x2e` pushes the caller's CS, and SYSCALL enters through
//! LSTAR from 64-bit code and through CSTAR from 32-bit code. SYSENTER
//! saves nothing at all, CS included. So the mode a SYSENTER caller is
//! taken to be in is its thread's: KiFastCallEntry builds the frame from
//! this CPU's [`ThreadMode`], which [`crate::thread::run_user`] writes
//! before the thread starts:
//!
//! | what SYSENTER loses | 64-bit thread | 32-bit thread |
//! |---------------------|---------------|---------------|
//! | CS                  | 0x2B `USER_CS` | 0x1B `USER_CS32` |
//! | SS                  | 0x33 `USER_SS` | 0x23 `USER_DS` |
//! | RIP (the stub's `ret`) | 0x7FFE0315 | 0x7FFE0304 (XP's KiFastSystemCallRet) |
//! | arguments, past RDX | 16 (two 8-byte returns) | 8 (two 4-byte returns) |
//!
//! A thread whose code and mode disagree (a 64-bit thread that far-jumps
//! to the 32-bit selector and runs `sysenter`, or a 32-bit thread that
//! calls the 32-bit stub from 64-bit code) is served in its thread's mode
//! and returned in it, through the exit that mode's frame allows. Nothing
//! it does can make the kernel return it with another CS than its frame
//! holds, or make it trust a register the mode does not define: a 32-bit
//! frame's RIP and RSP must lie below 4 GiB to leave through SYSEXIT.
//! Whatever becomes of such a thread afterwards is its own business.

use crate::gdt::{USER_CS, USER_CS32, USER_DS, USER_SS};
use crate::os::Os;
use syslab_abi::layout::{FOUR_GIB, SYSTEM_CALL_RETURN, SYSTEM_CALL_RETURN64};

/// Which code a user thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserMode {
    /// 64-bit code: CS = `USER_CS`, stacks above 4 GiB.
    Long,
    /// 32-bit code in compatibility mode: CS = `USER_CS32`, everything
    /// below 4 GiB.
    Compat,
}

impl UserMode {
    /// The mode a frame's CS says the caller was in (the CPU pushed it,
    /// or the entry stub did from the thread's mode).
    pub const fn of_cs(cs: u64) -> UserMode {
        if cs == USER_CS32 as u64 {
            UserMode::Compat
        } else {
            UserMode::Long
        }
    }

    /// 64 or 32, as the benchmark's `bits=` and the disassembler say it.
    pub const fn bits(self) -> u32 {
        match self {
            UserMode::Long => 64,
            UserMode::Compat => 32,
        }
    }

    /// The user code selector of this mode.
    pub const fn cs(self) -> u16 {
        match self {
            UserMode::Long => USER_CS,
            UserMode::Compat => USER_CS32,
        }
    }

    /// The user stack selector that this mode's SYSEXIT loads (SYSENTER_CS
    /// + 40 for `sysexitq`, + 24 for the 32-bit `sysexit`).
    pub const fn ss(self) -> u16 {
        match self {
            UserMode::Long => USER_SS,
            UserMode::Compat => USER_DS,
        }
    }

    /// The size of one argument slot on the user stack, and of a pointer.
    pub const fn slot(self) -> u64 {
        match self {
            UserMode::Long => 8,
            UserMode::Compat => 4,
        }
    }

    /// One past the highest address this mode can name: a 32-bit caller's
    /// pointers, stack and return addresses all lie below 4 GiB.
    pub const fn address_limit(self) -> u64 {
        match self {
            UserMode::Long => crate::mm::paging::USER_TOP,
            UserMode::Compat => FOUR_GIB,
        }
    }
}

// ANCHOR: thread_mode
/// The parts of a SYSENTER frame that the CPU does not save, as this CPU's
/// current thread needs them. KiFastCallEntry pushes them from `gs:` (the
/// offsets are [`crate::percpu::PERCPU_SYSENTER_SS`] and its neighbours).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysenterFrame {
    /// `KTrapFrame::ss`.
    pub ss: u64,
    /// `KTrapFrame::cs`: the thread's mode, as the exit decision reads it.
    pub cs: u64,
    /// `KTrapFrame::rip`: the `ret` of the thread's SharedUserData stub.
    pub rip: u64,
    /// What to add to the caller's RDX (its stack pointer at the stub) to
    /// find its arguments: past the stub's return address and the ntdll
    /// stub's, two slots.
    pub args: u64,
}

impl SysenterFrame {
    pub const fn of(mode: UserMode) -> Self {
        SysenterFrame {
            ss: mode.ss() as u64,
            cs: mode.cs() as u64,
            rip: match mode {
                UserMode::Long => SYSTEM_CALL_RETURN64,
                UserMode::Compat => SYSTEM_CALL_RETURN,
            },
            args: 2 * mode.slot(),
        }
    }
}

/// The mode of the user thread a CPU runs, kept in its per-CPU block.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadMode {
    /// First, at a fixed offset: what KiFastCallEntry reads.
    pub sysenter: SysenterFrame,
    pub mode: UserMode,
    /// For a 32-bit thread, the system its ntdll was built for, whose
    /// service numbers it uses (`syslab_abi::service::numbers32`).
    pub system: Os,
}

impl ThreadMode {
    pub const fn new(mode: UserMode, system: Os) -> Self {
        ThreadMode {
            sysenter: SysenterFrame::of(mode),
            mode,
            system,
        }
    }
}
// ANCHOR_END: thread_mode

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_has_its_selectors_return_and_slots() {
        let long = SysenterFrame::of(UserMode::Long);
        assert_eq!((long.cs, long.ss, long.args), (0x2B, 0x33, 16));
        assert_eq!(long.rip, 0x7FFE_0315);
        let compat = SysenterFrame::of(UserMode::Compat);
        assert_eq!((compat.cs, compat.ss, compat.args), (0x1B, 0x23, 8));
        assert_eq!(compat.rip, 0x7FFE_0304, "XP's KiFastSystemCallRet");
        assert_eq!(UserMode::of_cs(0x1B), UserMode::Compat);
        assert_eq!(UserMode::of_cs(0x2B), UserMode::Long);
        assert_eq!(
            UserMode::of_cs(0x18),
            UserMode::Long,
            "RPL 0: not a ring-3 32-bit caller"
        );
        assert_eq!(UserMode::Compat.address_limit(), 1 << 32);
    }
}
