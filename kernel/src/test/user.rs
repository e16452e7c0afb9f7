//! Helpers for tests that run a user thread.

use crate::mode::UserMode;
use crate::os::Os;
use crate::percpu::PerCpu;
use crate::thread::{Fault, ThreadExit};
use alloc::format;
use alloc::string::String;
use syslab_abi::layout;
use syslab_abi::status::*;
use syslab_abi::user_test::{
    FLAGS_CHECK, P_FLAGS, P_GS_LOOP, P_KERNEL_FLAGS, P_NULL, PATH_INT2E, PATH_SHARED, PATH_SYSCALL,
};

/// User RFLAGS: IF set (interrupts would be allowed), bit 1 always set.
pub const USER_RFLAGS: u64 = crate::frame::rflags::IF | crate::frame::rflags::RESERVED1;

/// Runs user test `test` with `arg` on the calling CPU, with a clean report page.
#[cfg(target_os = "none")]
pub fn run(cpu: &PerCpu, test: u64, arg: u64) -> ThreadExit {
    run_with_input(cpu, test, arg, &[])
}

/// Like [`run`], with `input` in the first words of the report page.
#[cfg(target_os = "none")]
pub fn run_with_input(cpu: &PerCpu, test: u64, arg: u64, input: &[u64]) -> ThreadExit {
    let watchdog = crate::thread::WATCHDOG_MS.load(core::sync::atomic::Ordering::Relaxed);
    run_limited(cpu, test, arg, input, watchdog)
}

/// Like [`run_with_input`], with the watchdog set to `watchdog_ms` (0: none).
#[cfg(target_os = "none")]
pub fn run_limited(
    cpu: &PerCpu,
    test: u64,
    arg: u64,
    input: &[u64],
    watchdog_ms: u64,
) -> ThreadExit {
    run_thread(cpu, UserMode::Long, test, arg, input, watchdog_ms)
}

/// Runs the 32-bit user test `test` (`C_*`, or `BENCH`) on `cpu` in a
/// 32-bit thread, with `input`; `path` is its argument and picks its
/// system: `PATH_INT2E` is a Windows 2000 program, anything else an XP one.
#[cfg(target_os = "none")]
pub fn run32(cpu: &PerCpu, test: u64, path: u64, input: &[u64]) -> ThreadExit {
    let watchdog = crate::thread::WATCHDOG_MS.load(core::sync::atomic::Ordering::Relaxed);
    run_thread(cpu, UserMode::Compat, test, path, input, watchdog)
}

/// The system of a 32-bit thread on `path`: the one whose ntdll takes it.
pub fn system_of_path(path: u64) -> Os {
    match path {
        PATH_INT2E => Os::Windows2000,
        _ => Os::WindowsXp,
    }
}

/// Starts a thread of `mode` with a clean report page holding `input`.
#[cfg(target_os = "none")]
pub fn run_thread(
    cpu: &PerCpu,
    mode: UserMode,
    test: u64,
    arg: u64,
    input: &[u64],
    watchdog_ms: u64,
) -> ThreadExit {
    let image = crate::process::image().expect("the user program is loaded before tests run");
    let report = crate::process::report(cpu.cpu);
    *report = syslab_abi::Report::default();
    report.words[..input.len()].copy_from_slice(input);
    let (rip, rsp, system) = match mode {
        UserMode::Long => (
            image.entry,
            layout::user_stack_top(cpu.cpu as u64),
            crate::os::current(),
        ),
        UserMode::Compat => (
            image.entry32,
            layout::user32_stack_top(cpu.cpu as u64),
            system_of_path(arg),
        ),
    };
    let start = crate::thread::UserStart {
        rip,
        rsp,
        rflags: USER_RFLAGS,
        args: [test, cpu.cpu as u64, arg],
        watchdog_ms,
        mode,
        system,
    };
    crate::thread::run_user(&start)
}

/// Like [`report_of`], in a 32-bit thread.
#[cfg(target_os = "none")]
pub fn report32_of(c: &PerCpu, test: u64, path: u64, input: &[u64]) -> Result<[u64; 32], String> {
    match run32(c, test, path, input) {
        ThreadExit::Exited(syslab_abi::user_test::EXIT_OK_STATUS) => {
            Ok(crate::process::report(c.cpu).words)
        }
        other => Err(format!(
            "the 32-bit user thread, calling through {}, {}",
            stub_of_path32(path),
            describe(&other)
        )),
    }
}

/// The student's entry stub behind a 32-bit thread's path in this boot.
pub fn stub_of_path32(path: u64) -> &'static str {
    use crate::shared_user_data::{StubKind, chosen};
    match (path, chosen()) {
        (PATH_SHARED, Some(StubKind::Syscall)) => "KiSystemCall32",
        (PATH_SHARED, Some(StubKind::Sysenter)) => "KiFastCallEntry",
        _ => "KiSystemService",
    }
}

/// Runs user test `test` on `c` with `arg` and `input`; returns its report
/// page if the thread exited normally, or why it did not (naming the entry
/// stub of the path a path-generic test used).
#[cfg(target_os = "none")]
pub fn report_of(c: &PerCpu, test: u64, arg: u64, input: &[u64]) -> Result<[u64; 32], String> {
    match run_with_input(c, test, arg, input) {
        ThreadExit::Exited(syslab_abi::user_test::EXIT_OK_STATUS) => {
            Ok(crate::process::report(c.cpu).words)
        }
        other if (P_NULL..=P_GS_LOOP).contains(&test) => Err(format!(
            "the user thread, calling through {}, {}",
            stub_of_path(arg),
            describe(&other)
        )),
        other => Err(format!("the user thread {}", describe(&other))),
    }
}

/// The student's entry stub behind path `path` (`PATH_*`) in this boot.
pub fn stub_of_path(path: u64) -> &'static str {
    use crate::shared_user_data::{StubKind, chosen};
    match (path, chosen()) {
        (PATH_SYSCALL, _) | (PATH_SHARED, Some(StubKind::Syscall)) => "KiSystemCall64",
        (PATH_SHARED, Some(StubKind::Sysenter)) => "KiFastCallEntry",
        _ => "KiSystemService",
    }
}

/// The CPU's exit counters: how many returns took iretq, sysexitq,
/// sysretq, and the 32-bit sysexit and sysretl (the `EXIT_*` indices).
pub fn exits(c: &PerCpu) -> [u64; 5] {
    use crate::student::SystemCallExit::*;
    [Iretq, Sysexit, Sysret, Sysexit32, Sysret32]
        .map(|exit| c.counters.exits[exit as usize].load(core::sync::atomic::Ordering::Relaxed))
}

/// The indices of [`exits`].
pub const EXIT_IRETQ: usize = 0;
pub const EXIT_SYSEXIT: usize = 1;
pub const EXIT_SYSRET: usize = 2;
pub const EXIT_SYSEXIT32: usize = 3;
pub const EXIT_SYSRET32: usize = 4;

/// Describes an exit for a failure message.
pub fn describe(exit: &ThreadExit) -> String {
    match exit {
        ThreadExit::Exited(s) => format!("exited with status {s:#x}"),
        ThreadExit::Killed(f) => describe_fault(f),
    }
}

pub fn describe_fault(f: &Fault) -> String {
    let mut s = format!(
        "killed by {} at RIP {:#x}, error code {:#x}",
        crate::frame::vector_name(f.vector),
        f.rip,
        f.error_code
    );
    if f.vector == 14 {
        s += &format!(", CR2 {:#x}", f.cr2);
    }
    if f.vector == 1 && f.rflags & crate::frame::rflags::TF != 0 {
        s += &format!(
            ", single-stepped (RFLAGS {:#x} has TF): unless the thread set TF itself, the \
             exit that returned it to ring 3 gave it wrong RFLAGS",
            f.rflags
        );
    }
    if let Some(stub) = returned_from(f.rip) {
        s += &format!(
            ", on the first instruction after a return from the kernel: check the RIP, RSP and \
             RFLAGS that {stub} sent the thread back with"
        );
    }
    let entry_marker = f.vector >= crate::frame::ENTRY_SYSENTER;
    let compat = f.cs & !3 == (crate::gdt::USER_CS32 & !3) as u64;
    if compat && f.mode == UserMode::Long && !entry_marker {
        s += &format!(
            ", in 32-bit compatibility mode (CS {:#x}): a 32-bit sysexit or sysret returned \
             it to the 32-bit user code (SYSENTER_CS + 16, STAR[63:48]); 64-bit code needs \
             sysexitq in KiFastCallEntry and sysretq in KiSystemCall64",
            f.cs
        );
    }
    s
}

/// The entry stub whose return lands at `rip`, if the user code just before
/// it is an entry instruction: `int 0x2e`, `sysenter` (SharedUserData's
/// stub, where SYSEXIT returns) or `syscall`.
pub fn returned_from(rip: u64) -> Option<&'static str> {
    let mut before = [0u8; 2];
    crate::usercopy::copy_from_user(&mut before, rip.checked_sub(2)?).ok()?;
    match before {
        [0xCD, 0x2E] => Some("KiSystemService"),
        [0x0F, 0x34] => Some("KiFastCallEntry"),
        [0x0F, 0x05] => Some("KiSystemCall64"),
        _ => None,
    }
}

/// Why the last SYSENTER or SYSCALL frame that CPU `c` sent back through
/// `iretq` could not take its fast exit, by the book's rules; or that every
/// rule held, so the student's check refused a frame it should accept.
pub fn why_fallback(c: &PerCpu) -> String {
    use crate::frame::rflags::{IF, RF, TF};
    use crate::gdt::{USER_CS, USER_CS32, USER_DS, USER_SS};
    use crate::syscall::exit::{is_user_address, is_user_address32};
    // SAFETY: the CPU is between threads; nothing writes its copy now.
    let f = unsafe { *c.last_fallback.get() };
    let compat = f.cs == USER_CS32 as u64;
    let (rule, stub, reasons): (&str, &str, alloc::vec::Vec<&str>) = match f.entry {
        crate::frame::ENTRY_SYSENTER if compat => (
            "sysexit32_safe",
            "KiFastCallEntry",
            [
                (
                    !is_user_address32(f.rip),
                    "RIP is not a user address below 4 GiB",
                ),
                (
                    !is_user_address32(f.rsp),
                    "RSP is not a user address below 4 GiB",
                ),
                (f.ss != USER_DS as u64, "SS is not USER_DS"),
                (f.rflags & TF != 0, "TF is set"),
                (f.rflags & IF == 0, "IF is clear"),
            ]
            .into_iter()
            .filter_map(|(bad, why)| bad.then_some(why))
            .collect(),
        ),
        crate::frame::ENTRY_SYSCALL32 => (
            "sysret32_safe",
            "KiSystemCall32",
            [
                (f.rcx != f.rip, "RCX != RIP"),
                (f.r11 != f.rflags, "R11 != RFLAGS"),
                (
                    !is_user_address32(f.rip),
                    "RIP is not a user address below 4 GiB",
                ),
                (f.rflags & (TF | RF) != 0, "TF or RF is set"),
                (!compat, "CS is not USER_CS32"),
                (f.ss != USER_DS as u64, "SS is not USER_DS"),
            ]
            .into_iter()
            .filter_map(|(bad, why)| bad.then_some(why))
            .collect(),
        ),
        crate::frame::ENTRY_SYSENTER => (
            "sysexit_safe",
            "KiFastCallEntry",
            [
                (!is_user_address(f.rip), "RIP is not a user address"),
                (!is_user_address(f.rsp), "RSP is not a user address"),
                (f.cs != USER_CS as u64, "CS is not USER_CS"),
                (f.ss != USER_SS as u64, "SS is not USER_SS"),
                (f.rflags & TF != 0, "TF is set"),
                (f.rflags & IF == 0, "IF is clear"),
            ]
            .into_iter()
            .filter_map(|(bad, why)| bad.then_some(why))
            .collect(),
        ),
        crate::frame::ENTRY_SYSCALL => (
            "sysret_safe",
            "KiSystemCall64",
            [
                (f.rcx != f.rip, "RCX != RIP"),
                (f.r11 != f.rflags, "R11 != RFLAGS"),
                (!is_user_address(f.rip), "RIP is not a user address"),
                (f.rflags & (TF | RF) != 0, "TF or RF is set"),
                (f.cs != USER_CS as u64, "CS is not USER_CS"),
                (f.ss != USER_DS as u64, "SS is not USER_DS"),
            ]
            .into_iter()
            .filter_map(|(bad, why)| bad.then_some(why))
            .collect(),
        ),
        _ => return String::new(),
    };
    let frame = format!(
        "rip {:#x} rsp {:#x} cs {:#x} ss {:#x} rflags {:#x} rcx {:#x} r11 {:#x}",
        f.rip, f.rsp, f.cs, f.ss, f.rflags, f.rcx, f.r11
    );
    if reasons.is_empty() {
        format!(
            "; the last frame sent to iretq ({frame}) meets every condition of {rule}: \
             {rule} or choose_exit refused a frame that may take the fast exit"
        )
    } else {
        format!(
            "; the last frame sent to iretq ({frame}), as {stub} built it, fails {rule} because {}",
            reasons.join(", ")
        )
    }
}

/// Collects one result per CPU from a closure run on all CPUs at once.
#[cfg(target_os = "none")]
pub fn on_each_cpu<T: Send>(f: impl Fn(&PerCpu) -> T + Sync) -> alloc::vec::Vec<(u32, T)> {
    let slots: alloc::vec::Vec<spin::Mutex<Option<T>>> = (0..crate::percpu::MAX_CPUS)
        .map(|_| spin::Mutex::new(None))
        .collect();
    crate::smp::run_on_all(&|c: &PerCpu| {
        let r = f(c);
        *slots[c.cpu as usize].lock() = Some(r);
    });
    slots
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.into_inner().map(|r| (i as u32, r)))
        .collect()
}

/// Joins per-CPU results: Ok only if every CPU passed.
pub fn all_cpus(results: alloc::vec::Vec<(u32, Result<String, String>)>) -> Result<String, String> {
    let mut ok = alloc::vec::Vec::new();
    let mut bad = alloc::vec::Vec::new();
    for (cpu, r) in results {
        match r {
            Ok(m) => ok.push(format!("CPU {cpu}: {m}")),
            Err(m) => bad.push(format!("CPU {cpu}: {m}")),
        }
    }
    if bad.is_empty() {
        Ok(ok.join("; "))
    } else {
        Err(bad.join("; "))
    }
}

/// An NTSTATUS for a message: `0xc0000005 (STATUS_ACCESS_VIOLATION)`.
pub fn status_name(s: u64) -> String {
    let name = match s as u32 {
        STATUS_SUCCESS => "STATUS_SUCCESS",
        STATUS_ACCESS_VIOLATION => "STATUS_ACCESS_VIOLATION",
        STATUS_INVALID_HANDLE => "STATUS_INVALID_HANDLE",
        STATUS_INVALID_PARAMETER => "STATUS_INVALID_PARAMETER",
        STATUS_INVALID_SYSTEM_SERVICE => "STATUS_INVALID_SYSTEM_SERVICE",
        STATUS_INSUFFICIENT_RESOURCES => "STATUS_INSUFFICIENT_RESOURCES",
        _ => "",
    };
    if s >> 32 != 0 || name.is_empty() {
        format!("{s:#x}")
    } else {
        format!("{s:#x} ({name})")
    }
}

pub fn expect_status(what: &str, got: u64, want: NtStatus) -> Result<(), String> {
    if got == want as u64 {
        return Ok(());
    }
    // What an unexpected status usually means in these labs.
    let hint = match got as u32 {
        STATUS_INVALID_PARAMETER => {
            " (the service got the wrong arguments: dispatch_system_service copies arg_count \
             of them from [RDX])"
        }
        STATUS_INVALID_SYSTEM_SERVICE => " (dispatch_system_service misread the number in EAX)",
        STATUS_ACCESS_VIOLATION => {
            " (a copy from or to user memory failed: dispatch_system_service's copy of the \
             arguments, or the service's own)"
        }
        _ => "",
    };
    Err(format!(
        "{what}: expected RAX = {}, got {}{hint}",
        status_name(want as u64),
        status_name(got)
    ))
}

/// NtTestKernelFlags through `path` with `set` also set in the user's
/// RFLAGS: the RFLAGS the service ran with and those saved in the frame,
/// once the status and the check word say the copy can be trusted.
#[cfg(target_os = "none")]
pub fn kernel_flags(c: &PerCpu, path: u64, set: u64) -> Result<(u64, u64), String> {
    let r = report_of(c, P_KERNEL_FLAGS, path, &[set])?;
    let df = "with DF set in the kernel every rep movsb runs backwards";
    expect_status(
        &format!(
            "NtTestKernelFlags with RFLAGS {set:#x} set ({df}: does {} clear DF?)",
            stub_of_path(path)
        ),
        r[0],
        STATUS_SUCCESS,
    )?;
    if r[1] ^ r[2] ^ FLAGS_CHECK != r[3] {
        return Err(format!(
            "NtTestKernelFlags's copy to user memory arrived corrupted ({:#x}, {:#x}, {:#x}): \
             {df} ({})",
            r[1],
            r[2],
            r[3],
            stub_of_path(path)
        ));
    }
    Ok((r[1], r[2]))
}

/// A null call through `path` with `set` in RFLAGS: Err unless it succeeded
/// and the user had the flags back after it; `exit` names the stub's return.
#[cfg(target_os = "none")]
pub fn flags_come_back(c: &PerCpu, path: u64, set: u64, exit: &str) -> Result<u64, String> {
    let r = report_of(c, P_FLAGS, path, &[set])?;
    expect_status(
        &format!("NtNull with RFLAGS {set:#x} set"),
        r[0],
        STATUS_SUCCESS,
    )?;
    if r[1] & set != set {
        return Err(format!(
            "RFLAGS after the call is {:#x}: the user's {set:#x} were not restored ({exit})",
            r[1]
        ));
    }
    Ok(r[1])
}
