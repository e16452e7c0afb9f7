//! `lab=fuzz`: random system calls from ring 3 on every CPU at once
//! (`cargo grader fuzz`).
//!
//! The calls are made and checked by the user program's fuzzer
//! (kernel/user/src/fuzz.rs), from the generator and model that both share
//! (`syslab_abi::fuzz`). This side runs that thread on every CPU for the
//! time asked, in slices, and judges what the thread cannot judge itself:
//! a call that ends it. Before each call the thread writes in its page how
//! the call must end (return, exit with a status, or a fault at an
//! address); when a thread ends, [`judge`] compares, reports a mismatch if
//! it did not end so, and starts the thread again to go on with the case.
//! At the end it checks that every object and handle the run made is gone.
//!
//! Protocol lines (grader/PROTOCOL.md, "Fuzzing"): `fuzz start`,
//! `fuzz unavailable`, `fuzz progress`, `fuzz mismatch`, `fuzz end`.

use crate::cmdline::Cmdline;
use crate::percpu::{MAX_CPUS, PerCpu};
use crate::thread::ThreadExit;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use syslab_abi::fuzz::page::{self, End, Mismatch, Page, check, check_name};
use syslab_abi::fuzz::{FUZZ_TEST, Path, Paths, model};
use syslab_abi::user_test::EXIT_OK_STATUS;

// The model's picture of the address space is the kernel's.
const _: () = assert!(model::USER_BASE == crate::mm::paging::USER_BASE);
const _: () = assert!(model::USER_TOP == crate::mm::paging::USER_TOP);
const _: () = assert!(model::SYSEXIT_RETURN == crate::shared_user_data::KI_FAST_SYSTEM_CALL_RET64);
const _: () = assert!(
    MAX_CPUS == 8,
    "kernel/user/src/fuzz.rs keeps state for 8 CPUs"
);

/// How long a user thread runs before it ends its slice (at the next case
/// boundary), so that the watchdog never fires and progress shows.
const SLICE_MS: u64 = 50;
/// How often CPU 0 prints a `fuzz progress` line.
const PROGRESS_MS: u64 = 1000;
/// Mismatches of one kind (path, check) printed in full; the rest are counted.
const SHOWN_PER_KIND: u64 = 3;
/// Past this many mismatches the run stops: a kernel that fails this often
/// has told all it will.
const MAX_MISMATCHES: u64 = 1000;
/// Kinds of mismatch told apart; more are counted with the last.
const KINDS: usize = 32;

/// The paths `paths=` asks for (PROTOCOL.md): `all`, or names joined by commas.
fn requested(words: &str) -> Paths {
    Paths::parse(words).unwrap_or(Paths::ALL)
}

/// Which labs' code a fuzz boot needs: every path runs Lab 1's dispatcher;
/// SYSENTER needs Lab 2; SYSCALL needs Lab 3 and Lab 2's exit choice. So
/// a student who has done Lab 1 can fuzz `int 0x2e` alone.
pub fn uses_lab(n: u32, words: &str) -> bool {
    let paths = requested(words);
    match n {
        0 | 1 => true,
        2 => paths.contains(Path::Sysenter) || paths.contains(Path::Syscall),
        3 => paths.contains(Path::Syscall),
        _ => false,
    }
}

/// Why a path cannot be fuzzed on this CPU, if it cannot.
#[cfg(target_os = "none")]
fn unavailable(path: Path) -> Option<&'static str> {
    use crate::shared_user_data::{StubKind, chosen, cpu_features};
    match path {
        Path::Int2e => None,
        Path::Sysenter if chosen() == Some(StubKind::Sysenter) => None,
        Path::Sysenter => Some("SYSENTER raises #UD in 64-bit mode on this CPU's vendor"),
        Path::Syscall if cpu_features().syscall => None,
        Path::Syscall => Some("this CPU has no SYSCALL (CPUID.80000001H:EDX.SYSCALL = 0)"),
    }
}

/// Calls made so far, per CPU (each CPU's runner stores its own).
static CALLS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static MISMATCHES: AtomicU64 = AtomicU64::new(0);
/// Each kind of mismatch seen (path, check) and how often.
static TALLY: spin::Mutex<[(Kind, u64); KINDS]> = spin::Mutex::new([((0, 0), 0); KINDS]);

/// A kind of mismatch: the path and the check's protocol name, as numbers.
type Kind = (u64, u64);
/// Thread ends that were the calls' due (an exit, a fault where expected).
static ENDS: AtomicU64 = AtomicU64::new(0);
/// Set when the run must stop early (too many mismatches).
static STOP: AtomicBool = AtomicBool::new(false);

fn path_name(path: u64) -> &'static str {
    Path::ALL.get(path as usize).map_or("?", |p| p.name())
}

fn total_calls() -> u64 {
    CALLS.iter().map(|c| c.load(Relaxed)).sum()
}

/// How a thread ended, as a protocol token (`exit:0x1`, `killed:#PF@0x...`).
fn describe_exit(exit: &ThreadExit) -> crate::test::LineBuf {
    let mut s = crate::test::LineBuf::new();
    let _ = match exit {
        ThreadExit::Exited(status) => write!(s, "exit:{status:#x}"),
        ThreadExit::Killed(f) => write!(
            s,
            "killed:{}@{:#x}",
            crate::frame::vector_mnemonic(f.vector),
            f.rip
        ),
    };
    s
}

/// Counts one mismatch, and prints it if it is one of the first
/// [`SHOWN_PER_KIND`] of its kind; for a thread that died, `exit` is how,
/// and a killed one's fault is printed first as the kernel would report it.
fn report(cpu: u32, p: &Page, m: &Mismatch, exit: Option<&ThreadExit>) {
    if MISMATCHES.fetch_add(1, Relaxed) + 1 >= MAX_MISMATCHES {
        STOP.store(true, Relaxed);
    }
    let index = if m.check == check::REGISTER {
        m.index
    } else {
        0
    };
    let kind = (p.path, m.check << 8 | index);
    let seen = {
        let mut tally = TALLY.lock();
        let slot = tally
            .iter()
            .position(|&(k, n)| k == kind || n == 0)
            .unwrap_or(KINDS - 1);
        tally[slot].0 = if tally[slot].1 == 0 {
            kind
        } else {
            tally[slot].0
        };
        tally[slot].1 += 1;
        tally[slot].1
    };
    if seen > SHOWN_PER_KIND {
        return;
    }
    #[cfg(target_os = "none")]
    if let Some(ThreadExit::Killed(f)) = exit {
        crate::kprintln!(
            "!! fuzz: the thread on CPU {cpu} was {}",
            crate::test::user::describe_fault(f)
        );
    }
    let got_end = exit.map(describe_exit);
    let mut line = crate::test::LineBuf::new();
    let path = path_name(p.path);
    let _ = write!(
        line,
        "fuzz mismatch cpu={cpu} case={:#x} call={} path={path} eax={:#x} check={}",
        p.case,
        p.call,
        p.number,
        check_name(m.check, m.index)
    );
    let _ = match (m.check, got_end) {
        (check::END | check::OUTSIDE, got) => {
            let expected = if m.check == check::OUTSIDE || p.state == page::STATE_CLEANING {
                End::RETURN
            } else {
                p.expect
            };
            let got = got.as_ref().map_or("return", |g| g.as_str());
            write!(line, " expected={expected} got={got}")
        }
        (check::MEMORY, _) => write!(
            line,
            " at={} expected={:#x} got={:#x}",
            m.index as i64, m.expected, m.got
        ),
        _ => write!(line, " expected={:#x} got={:#x}", m.expected, m.got),
    };
    if p.state == page::STATE_CLEANING {
        let _ = write!(line, " cleaning=1");
    }
    crate::proto!("{}", line.as_str());
}

// ANCHOR: judge
/// Judges how this CPU's fuzzer thread ended, against what its page says
/// it was doing, and writes the verdict back for the next thread.
fn judge(cpu: u32, p: &mut Page, exit: ThreadExit) {
    let died = |m: u64| Mismatch {
        check: m,
        ..Mismatch::default()
    };
    match p.state {
        page::STATE_SLICE_DONE | page::STATE_FINISHED => {
            if p.mismatch.check != check::NONE {
                let m = p.mismatch;
                report(cpu, p, &m, None);
                p.mismatch = Mismatch::default();
            }
            if exit != ThreadExit::Exited(EXIT_OK_STATUS) {
                report(cpu, p, &died(check::OUTSIDE), Some(&exit));
            }
        }
        page::STATE_IN_CALL => {
            let expected = match exit {
                ThreadExit::Exited(status) => p.expect.matches_exit(status),
                ThreadExit::Killed(f) => f.cs & 3 == 3 && p.expect.matches_kill(f.vector, f.rip),
            };
            if expected {
                ENDS.fetch_add(1, Relaxed);
                p.verdict = page::VERDICT_EXPECTED;
            } else {
                report(cpu, p, &died(check::END), Some(&exit));
                p.verdict = page::VERDICT_UNEXPECTED;
            }
        }
        page::STATE_CLEANING => {
            report(cpu, p, &died(check::END), Some(&exit));
            p.verdict = page::VERDICT_UNEXPECTED;
        }
        _ => {
            report(cpu, p, &died(check::OUTSIDE), Some(&exit));
            p.verdict = page::VERDICT_UNEXPECTED;
        }
    }
}
// ANCHOR_END: judge

/// The fuzzer's shared page on CPU `cpu`.
fn page(cpu: u32) -> &'static mut Page {
    // SAFETY: the report page is mapped for every CPU and big enough (page.rs
    // asserts it); the user thread that writes it has ended when this runs.
    unsafe { &mut *(syslab_abi::layout::report_page(cpu as u64) as *mut Page) }
}

/// What one CPU's runner hands back.
#[derive(Clone, Copy, Default)]
struct CpuRun {
    cases: u64,
}

/// Runs the fuzzer thread on this CPU until `end` (TSC) or the replay is over.
#[cfg(target_os = "none")]
fn run_cpu(me: &PerCpu, c: &Cmdline, paths: Paths, start: u64, end: u64) -> CpuRun {
    use crate::time::{rdtsc, tsc_khz};
    let image = crate::process::image().expect("the user program is loaded before fuzzing");
    let p = page(me.cpu);
    *p = Page {
        run_seed: c.seed,
        replay: if c.replay { c.seed.max(1) } else { 0 },
        paths: paths.0,
        ..Page::default()
    };
    let mut next_progress = start + PROGRESS_MS * tsc_khz();
    loop {
        let now = rdtsc();
        p.slice_end = if STOP.load(Relaxed) {
            0
        } else {
            end.min(now + SLICE_MS * tsc_khz())
        };
        let exit = crate::thread::run_user(&crate::thread::UserStart {
            rip: image.entry,
            rsp: syslab_abi::layout::user_stack_top(me.cpu as u64),
            rflags: crate::test::user::USER_RFLAGS,
            args: [FUZZ_TEST, me.cpu as u64, 0],
            watchdog_ms: crate::thread::WATCHDOG_MS.load(Relaxed),
            mode: crate::mode::UserMode::Long,
            system: crate::os::current(),
        });
        judge(me.cpu, p, exit);
        CALLS[me.cpu as usize].store(p.calls, Relaxed);
        let now = rdtsc();
        if me.cpu == 0 && now >= next_progress {
            next_progress = now + PROGRESS_MS * tsc_khz();
            crate::proto!(
                "fuzz progress calls={} mismatches={} ms={}",
                total_calls(),
                MISMATCHES.load(Relaxed),
                (now - start) / tsc_khz().max(1)
            );
        }
        let over = now >= end || STOP.load(Relaxed);
        match p.state {
            page::STATE_FINISHED => break,
            page::STATE_SLICE_DONE if over => break,
            _ => {}
        }
    }
    CpuRun { cases: p.cases }
}

// ANCHOR: run
/// Fuzzes the paths on the command line on every CPU, then reports and ends the run.
#[cfg(target_os = "none")]
pub fn run(c: &Cmdline) -> ! {
    use crate::time::{rdtsc, tsc_khz};
    let asked = requested(c.paths);
    let mut paths = Paths(0);
    for path in asked.iter() {
        match unavailable(path) {
            None => paths = paths.with(path),
            Some(why) => crate::proto!("fuzz unavailable path={} {why}", path.name()),
        }
    }
    if paths.contains(Path::Int2e) {
        crate::syscall::int2e::install();
    }
    crate::thread::REPORT_KILLS.store(false, Relaxed);
    static NAME: &str = "fuzz";
    for cpu in crate::percpu::all() {
        cpu.current_test
            .store(&NAME as *const &str as *mut &str, Relaxed);
    }
    let objects = crate::ob::live_objects();
    let handles = crate::ob::process_handles().len();
    crate::proto!(
        "fuzz start paths={paths} seconds={} cpus={} replay={}",
        c.seconds,
        crate::percpu::online(),
        c.replay as u8
    );
    if let Some(inject) = c.inject {
        crate::test::inject_failure(inject);
    }
    let start = rdtsc();
    let end = start + c.seconds * 1000 * tsc_khz();
    let runs = if paths.is_empty() {
        alloc::vec::Vec::new()
    } else {
        crate::test::user::on_each_cpu(|me: &PerCpu| run_cpu(me, c, paths, start, end))
    };
    let ms = (rdtsc() - start) / tsc_khz().max(1);
    for &((path, code), n) in TALLY.lock().iter().filter(|(_, n)| *n > 0) {
        crate::proto!(
            "fuzz tally path={} check={} count={n}",
            path_name(path),
            check_name(code >> 8, code & 0xFF)
        );
    }
    crate::proto!(
        "fuzz end calls={} cases={} ends={} mismatches={} ms={ms} objects={objects}/{} handles={handles}/{}",
        total_calls(),
        runs.iter().map(|(_, r)| r.cases).sum::<u64>(),
        ENDS.load(Relaxed),
        MISMATCHES.load(Relaxed),
        crate::ob::live_objects(),
        crate::ob::process_handles().len(),
    );
    crate::proto!("done");
    crate::arch::qemu_exit(crate::arch::ExitCode::Done)
}
// ANCHOR_END: run

// ANCHOR: clobber
/// Where [`clobbering_syscall`] goes on: the student's KiSystemCall64.
static SYSCALL_ENTRY: AtomicU64 = AtomicU64::new(0);

/// `inject=clobber`: an entry in front of KiSystemCall64 that zeroes R10
/// when R8's low four bits are 0, as a stub that forgot a register on one
/// of its branches would. One SYSCALL in sixteen loses R10: a test that
/// calls once with fixed registers may pass; a fuzzer does not.
#[cfg(target_os = "none")]
#[unsafe(naked)]
unsafe extern "C" fn clobbering_syscall() {
    core::arch::naked_asm!(
        // RFLAGS is the kernel's here (SYSCALL saved the user's in R11).
        "test r8b, 0xF",
        "jnz 2f",
        "xor r10d, r10d",
        "2:",
        "jmp qword ptr [rip + {entry}]",
        entry = sym SYSCALL_ENTRY,
    );
}

/// Puts [`clobbering_syscall`] in front of the SYSCALL entry on every CPU.
#[cfg(target_os = "none")]
pub fn clobber_syscall_entry() {
    let entry = crate::student::student().lab3.ki_system_call64 as *const () as u64;
    SYSCALL_ENTRY.store(entry, Relaxed);
    crate::test::user::on_each_cpu(|_: &PerCpu| {
        // SAFETY: the stub ends in the student's entry with every register
        // but R10 as SYSCALL left them.
        unsafe {
            crate::msr::write(
                crate::msr::IA32_LSTAR,
                clobbering_syscall as *const () as u64,
            )
        }
    });
}
// ANCHOR_END: clobber

#[cfg(not(target_os = "none"))]
pub fn clobber_syscall_entry() {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::table::KI_SERVICE_TABLE;

    #[test]
    fn the_model_knows_every_services_argument_count() {
        for (number, entry) in KI_SERVICE_TABLE.iter().enumerate() {
            assert_eq!(
                model::arg_count(number as u32),
                Some(entry.arg_count as u64),
                "{}",
                entry.name
            );
        }
        assert_eq!(model::arg_count(KI_SERVICE_TABLE.len() as u32), None);
    }

    #[test]
    fn each_path_needs_its_labs() {
        assert!(uses_lab(1, "int2e") && !uses_lab(2, "int2e") && !uses_lab(3, "int2e"));
        assert!(uses_lab(2, "sysenter") && !uses_lab(3, "sysenter"));
        assert!(uses_lab(2, "syscall") && uses_lab(3, "syscall"));
        assert!(uses_lab(3, "all") && uses_lab(3, "nonsense"));
    }

    #[test]
    fn thread_ends_print_as_tokens() {
        let f = crate::thread::Fault {
            vector: 14,
            error_code: 4,
            rip: 0x7ffe_0305,
            cs: 0x2b,
            rsp: 0,
            rflags: 0x202,
            cr2: 0,
            mode: crate::mode::UserMode::Long,
        };
        assert_eq!(
            describe_exit(&ThreadExit::Killed(f)).as_str(),
            "killed:#PF@0x7ffe0305"
        );
        assert_eq!(
            describe_exit(&ThreadExit::Exited(0x600d)).as_str(),
            "exit:0x600d"
        );
    }
}
