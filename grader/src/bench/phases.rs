//! The eight phases of a system call, cut from a single-step trace by the
//! kernel's and the user program's symbols (`bench --anatomy`).
//!
//! A trace is every instruction one call executed, from the first of its
//! user-side function to its `ret`, each with RIP, RSP and whether the CPU
//! was in ring 3. The cut:
//! - **user stub**: every ring-3 instruction but the entry instruction
//!   (kernel32, ntdll's stub, SharedUserData's SystemCallStub, and the
//!   `ret`s after the kernel);
//! - **entry instruction**: the last ring-3 instruction before the kernel
//!   (`int 0x2e`, `sysenter`, `syscall`);
//! - **entry stub**: the instructions of the entry stub (the function the
//!   kernel was entered at: KiSystemService, KiFastCallEntry, KiSystemCall64)
//!   before it first calls out;
//! - **dispatcher**: kernel code outside the stub, the service and the exit
//!   decision: the student's dispatcher and what it calls to find the
//!   service and copy its arguments;
//! - **service**: the service routine and everything it calls (a function
//!   of `syslab_kernel::syscall::services`, entered and left by RSP);
//! - **exit decision**: KiSystemServiceExit, `choose_exit` and what they call;
//! - **exit stub**: the stub's instructions after it first called out,
//!   restoring the frame (KiSystemCallExit included);
//! - **exit instruction**: the last kernel instruction (`iretq`,
//!   `sysexitq`, `sysretq`).
//!
//! The names are the ones the labs give the stubs and the exit decision,
//! so a student's own code is cut the same way as the reference answers.

use std::fmt;

/// One phase of a round trip, in the order a call passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    UserStub,
    EntryInstruction,
    EntryStub,
    Dispatcher,
    Service,
    ExitDecision,
    ExitStub,
    ExitInstruction,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::UserStub,
        Phase::EntryInstruction,
        Phase::EntryStub,
        Phase::Dispatcher,
        Phase::Service,
        Phase::ExitDecision,
        Phase::ExitStub,
        Phase::ExitInstruction,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Phase::UserStub => "user stub",
            Phase::EntryInstruction => "entry instruction",
            Phase::EntryStub => "entry stub",
            Phase::Dispatcher => "dispatcher",
            Phase::Service => "service",
            Phase::ExitDecision => "exit decision",
            Phase::ExitStub => "exit stub",
            Phase::ExitInstruction => "exit instruction",
        }
    }

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Phase::UserStub => "user_stub",
            Phase::EntryInstruction => "entry_instruction",
            Phase::EntryStub => "entry_stub",
            Phase::Dispatcher => "dispatcher",
            Phase::Service => "service",
            Phase::ExitDecision => "exit_decision",
            Phase::ExitStub => "exit_stub",
            Phase::ExitInstruction => "exit_instruction",
        }
    }

    fn index(self) -> usize {
        Phase::ALL.iter().position(|&p| p == self).unwrap_or(0)
    }
}

/// What a kernel function is to the cut, from its demangled name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    EntryStub,
    Service,
    ExitDecision,
}

/// The entry stubs and exit labels of Labs 1-3 (their `no_mangle` names).
const STUBS: [&str; 6] = [
    "KiSystemService",
    "KiSystemCallExit",
    "KiFastCallEntry",
    "KiSystemCallExit2",
    "KiSystemCall64",
    "KiSystemCallExit3",
];

pub fn role(name: &str) -> Option<Role> {
    if STUBS.contains(&name) {
        Some(Role::EntryStub)
    } else if name.starts_with("syslab_kernel::syscall::services::") {
        Some(Role::Service)
    } else if name == "KiSystemServiceExit"
        || name.starts_with("syslab_kernel::syscall::exit::")
        || ["::choose_exit", "::sysexit_safe", "::sysret_safe"]
            .iter()
            .any(|tail| name.ends_with(tail))
    {
        Some(Role::ExitDecision)
    } else {
        None
    }
}

/// The path a call took, from the stub the kernel was entered at.
pub fn path_of(stub: &str) -> Option<&'static str> {
    match stub {
        "KiSystemService" => Some("int2e"),
        "KiFastCallEntry" => Some("sysenter"),
        "KiSystemCall64" => Some("syscall"),
        _ => None,
    }
}

/// One executed instruction: where it was and the stack before it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub rip: u64,
    pub rsp: u64,
    pub user: bool,
}

/// The function an address is in: its first byte and demangled name.
pub type Place = (u64, String);

/// Instructions per phase of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; 8]);

impl Counts {
    pub fn get(&self, phase: Phase) -> u64 {
        self.0[phase.index()]
    }

    fn add(&mut self, phase: Phase, n: u64) {
        self.0[phase.index()] += n;
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// One call, cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// `int2e`, `sysenter` or `syscall`.
    pub path: &'static str,
    pub counts: Counts,
    /// Instructions per function (the kernel's and the user program's),
    /// in the order the call first reached each; `?` for an address in no
    /// function (SharedUserData's stub).
    pub by_function: Vec<(String, u64)>,
}

/// Why a trace could not be cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutError(pub String);

impl fmt::Display for CutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Cuts `trace` into phases; `place` names the function of an address.
pub fn cut(trace: &[Step], place: impl Fn(u64) -> Option<Place>) -> Result<Cut, CutError> {
    let fail = |text: String| Err(CutError(text));
    let Some(enter) = trace.iter().position(|s| !s.user) else {
        return fail("the call never entered the kernel".into());
    };
    let Some(back) = trace[enter..]
        .iter()
        .position(|s| s.user)
        .map(|n| enter + n)
    else {
        return fail("the call entered the kernel and never came back to ring 3".into());
    };
    if trace[back..].iter().any(|s| !s.user) {
        return fail(
            "the call entered the kernel more than once (an exception or interrupt in between?)"
                .into(),
        );
    }
    if enter == 0 {
        return fail("the trace starts in the kernel".into());
    }
    let stub = place(trace[enter].rip);
    let Some(path) = stub.as_ref().and_then(|(_, name)| path_of(name)) else {
        return fail(format!(
            "the kernel was entered at {:#x} ({}), not at an entry stub ({})",
            trace[enter].rip,
            stub.map_or_else(|| "in no function".to_owned(), |(_, name)| name),
            STUBS.join(", ")
        ));
    };

    let mut counts = Counts::default();
    counts.add(Phase::UserStub, (enter - 1 + trace.len() - back) as u64);
    counts.add(Phase::EntryInstruction, 1);
    counts.add(Phase::ExitInstruction, 1);
    // The roles entered and not yet left, innermost last, each with the RSP
    // at its first instruction (pointing at its return address): it is
    // left once RSP is above that.
    let mut inside: Vec<(Role, u64)> = Vec::new();
    let mut called_out = false;
    for step in &trace[enter..back - 1] {
        while inside.last().is_some_and(|&(_, at)| step.rsp > at) {
            inside.pop();
        }
        let here = place(step.rip);
        let role = here.as_ref().and_then(|(_, name)| role(name));
        if let (Some((start, _)), Some(r @ (Role::Service | Role::ExitDecision))) = (&here, role)
            && *start == step.rip
            && inside.last() != Some(&(r, step.rsp))
        {
            inside.push((r, step.rsp));
        }
        let phase = match inside.last() {
            Some((Role::Service, _)) => Phase::Service,
            Some(_) => Phase::ExitDecision,
            None if role == Some(Role::EntryStub) && !called_out => Phase::EntryStub,
            None if role == Some(Role::EntryStub) => Phase::ExitStub,
            None => Phase::Dispatcher,
        };
        if role != Some(Role::EntryStub) {
            called_out = true;
        }
        counts.add(phase, 1);
    }

    let mut by_function: Vec<(String, u64)> = Vec::new();
    for step in trace {
        let name = place(step.rip).map_or_else(|| "?".to_owned(), |(_, name)| name);
        match by_function.iter_mut().find(|(n, _)| *n == name) {
            Some((_, n)) => *n += 1,
            None => by_function.push((name, 1)),
        }
    }
    Ok(Cut {
        path,
        counts,
        by_function,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up address space: each function 0x100 bytes at its start.
    const FUNCTIONS: [(u64, &str); 8] = [
        (0x4000_0000, "syslab_user::kernel32::close_handle"),
        (0x4000_0100, "syslab_user::ntdll::sc::ZwClose"),
        (0x10_0000, "KiSystemCall64"),
        (0x10_0100, "syslab_solutions::lab1::dispatch_system_service"),
        (0x10_0200, "syslab_kernel::syscall::services::nt_close"),
        (0x10_0300, "syslab_kernel::ob::handles::HandleTable::close"),
        (0x10_0400, "KiSystemServiceExit"),
        (0x10_0500, "syslab_solutions::lab2::choose_exit"),
    ];

    fn place(rip: u64) -> Option<Place> {
        FUNCTIONS
            .iter()
            .find(|(start, _)| (*start..start + 0x100).contains(&rip))
            .map(|(start, name)| (*start, (*name).to_owned()))
    }

    /// A trace builder: `at` steps `n` instructions from a function's start
    /// (or from `offset` into it) at one RSP.
    struct Trace(Vec<Step>);

    impl Trace {
        fn at(&mut self, function: u64, offset: u64, n: u64, rsp: u64) -> &mut Self {
            let user = function >= 0x4000_0000;
            self.0.extend((0..n).map(|i| Step {
                rip: function + offset + i,
                rsp,
                user,
            }));
            self
        }
    }

    /// NtClose through SYSCALL: kernel32 (3) calls ZwClose (4, its third
    /// the `syscall`); KiSystemCall64 (25 until its call) calls the
    /// dispatcher (6), which calls nt_close (2), which calls
    /// HandleTable::close (9, back at nt_close's RSP by a `jmp`), back in
    /// the dispatcher (3); the stub (2) calls KiSystemServiceExit (3),
    /// which calls choose_exit (12) and records (2); the stub restores
    /// (18, its last `sysretq`); ZwClose's `ret` and kernel32 (2).
    fn nt_close() -> Vec<Step> {
        let f = |i: usize| FUNCTIONS[i].0;
        let (user, kernel) = (0x6fff_ff00, 0x3002_2000);
        let mut t = Trace(Vec::new());
        t.at(f(0), 0, 3, user)
            .at(f(1), 0, 3, user - 8)
            .at(f(2), 0, 25, kernel)
            .at(f(3), 0, 6, kernel - 0xb8)
            .at(f(4), 0, 2, kernel - 0xc0)
            .at(f(5), 0, 9, kernel - 0xc0)
            .at(f(3), 0x40, 3, kernel - 0xb8)
            .at(f(2), 0x40, 2, kernel - 0xb0)
            .at(f(6), 0, 3, kernel - 0xb8)
            .at(f(7), 0, 12, kernel - 0xc0)
            .at(f(6), 0x10, 2, kernel - 0xb8)
            .at(f(2), 0x60, 18, kernel - 0xb0)
            .at(f(1), 0x10, 1, user - 8)
            .at(f(0), 0x10, 2, user);
        t.0
    }

    #[test]
    fn a_syscall_is_cut_into_its_phases() {
        let trace = nt_close();
        let cut = cut(&trace, place).unwrap();
        assert_eq!(cut.path, "syscall");
        let c = cut.counts;
        assert_eq!(c.get(Phase::UserStub), 3 + 2 + 1 + 2);
        assert_eq!(c.get(Phase::EntryInstruction), 1);
        assert_eq!(c.get(Phase::EntryStub), 25);
        assert_eq!(c.get(Phase::Dispatcher), 6 + 3);
        assert_eq!(c.get(Phase::Service), 2 + 9);
        assert_eq!(c.get(Phase::ExitDecision), 3 + 12 + 2);
        assert_eq!(c.get(Phase::ExitStub), 2 + 17);
        assert_eq!(c.get(Phase::ExitInstruction), 1);
        assert_eq!(c.total(), trace.len() as u64);
        assert_eq!(
            cut.by_function[..3],
            [
                ("syslab_user::kernel32::close_handle".to_owned(), 5),
                ("syslab_user::ntdll::sc::ZwClose".to_owned(), 4),
                ("KiSystemCall64".to_owned(), 45),
            ]
        );
    }

    #[test]
    fn a_tail_called_service_ends_when_it_returns_to_the_stub() {
        // The dispatcher jumps to the service (same RSP) and the service
        // returns straight to the stub: everything after is the exit stub.
        let f = |i: usize| FUNCTIONS[i].0;
        let mut t = Trace(Vec::new());
        t.at(f(1), 0, 3, 0x6fff_ff00)
            .at(f(2), 0, 10, 0x3000_0100)
            .at(f(3), 0, 4, 0x3000_00f8)
            .at(f(4), 0, 2, 0x3000_00f8)
            .at(f(2), 0x40, 6, 0x3000_0100)
            .at(f(1), 0x10, 1, 0x6fff_ff00);
        let c = cut(&t.0, place).unwrap().counts;
        assert_eq!((c.get(Phase::Dispatcher), c.get(Phase::Service)), (4, 2));
        assert_eq!((c.get(Phase::ExitStub), c.get(Phase::ExitDecision)), (5, 0));
    }

    #[test]
    fn traces_that_cannot_be_cut_say_why() {
        let user = |rip| Step {
            rip,
            rsp: 0x6fff_ff00,
            user: true,
        };
        let kernel = |rip| Step {
            rip,
            rsp: 0x3000_0000,
            user: false,
        };
        let why = |t: &[Step]| cut(t, place).unwrap_err().0;
        assert!(why(&[user(0x4000_0000)]).contains("never entered"));
        assert!(why(&[user(0x4000_0000), kernel(0x10_0000)]).contains("never came back"));
        assert!(
            why(&[
                user(0x4000_0000),
                kernel(0x10_0000),
                user(0x4000_0001),
                kernel(0x10_0001),
                user(0x4000_0002),
            ])
            .contains("more than once")
        );
        assert!(why(&[kernel(0x10_0000), user(0x4000_0000)]).contains("starts in the kernel"));
        assert!(
            why(&[user(0x4000_0000), kernel(0x10_0100), user(0x4000_0001)])
                .contains("not at an entry stub")
        );
    }

    #[test]
    fn roles_and_paths_from_names() {
        assert_eq!(role("KiFastCallEntry"), Some(Role::EntryStub));
        assert_eq!(role("KiSystemCallExit"), Some(Role::EntryStub));
        assert_eq!(
            role("syslab_kernel::syscall::services::nt_null"),
            Some(Role::Service)
        );
        assert_eq!(role("KiSystemServiceExit"), Some(Role::ExitDecision));
        assert_eq!(
            role("syslab_labs::lab2::choose_exit"),
            Some(Role::ExitDecision)
        );
        assert_eq!(
            role("syslab_labs::lab3::sysret_safe"),
            Some(Role::ExitDecision)
        );
        assert_eq!(role("syslab_labs::lab1::dispatch_system_service"), None);
        assert_eq!(path_of("KiSystemService"), Some("int2e"));
        assert_eq!(path_of("KiSystemCallExit"), None);
        assert_eq!(Phase::ALL.map(Phase::key).len(), 8);
        assert_eq!(Phase::ExitDecision.label(), "exit decision");
    }
}
