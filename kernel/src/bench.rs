//! The benchmark: the article's CreateMutex loop, through each way of
//! entering the kernel, on one CPU and on two at once (`lab=bench`), and
//! one call of each service for the grader to single-step (`lab=anatomy`).
//!
//! Each row times `iterations` operations in ring 3 with RDTSC, split into
//! batches; the kernel prints the median, min and max cycles per operation
//! of the batches in a `bench` protocol line, and the grader makes the
//! table, JSON, CSV and chart. The rows split the cost:
//!
//! | kind           | what runs                                                   |
//! |----------------|-------------------------------------------------------------|
//! | `bare`         | the entry instruction and a kernel stub that returns at once |
//! | `null`         | the whole path: stub, trap frame, dispatcher, NtNull, exit   |
//! | `create_close` | CreateMutex(NULL, FALSE, NULL) + CloseHandle: two calls      |
//!
//! and the `call` row is a plain call/ret in ring 3, the floor.
//!
//! Each row is timed for 64-bit callers and for 32-bit ones (`bits=`): a
//! 32-bit thread runs the same loop in 32-bit code through the 32-bit
//! stubs, the article's own instructions. Its `int2e` rows are Windows
//! 2000's `lea edx,[esp+4]; int 0x2e` and its fast rows XP's `mov edx,
//! 0x7ffe0300; call edx` into SharedUserData's 32-bit stub (SYSENTER on
//! Intel, SYSCALL through CSTAR on AMD).
//!
//! The kernel counts whatever the TSC counts: cycles, or with the grader's
//! `-icount shift=0` guest instructions (`count=` on the command line names
//! which, and the `info bench` line repeats it as `unit=`).

use crate::mode::UserMode;
use crate::percpu::PerCpu;
use crate::thread::ThreadExit;
use alloc::vec::Vec;
use syslab_abi::user_test::*;

/// One path to time: its name in the report, the user program's path id,
/// and the mode of the thread that calls through it.
#[derive(Clone, Copy)]
struct Path {
    name: &'static str,
    id: u64,
    mode: UserMode,
}

const KINDS: [(&str, u64); 3] = [
    ("bare", BENCH_BARE),
    ("null", BENCH_NULL),
    ("create_close", BENCH_CREATE_CLOSE),
];

/// Cycles per operation of each batch, over every CPU in the row.
struct Samples(Vec<f64>);

impl Samples {
    fn stats(mut self) -> (f64, f64, f64) {
        self.0.sort_by(|a, b| a.total_cmp(b));
        let n = self.0.len();
        let median = if n % 2 == 1 {
            self.0[n / 2]
        } else {
            (self.0[n / 2 - 1] + self.0[n / 2]) / 2.0
        };
        (median, self.0[0], self.0[n - 1])
    }
}

#[cfg(target_os = "none")]
pub use imp::{anatomy, run, time_on};

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::gdt::KERNEL_CS;
    use crate::idt::{Gate, GateType, VECTOR_SYSTEM_SERVICE};
    use crate::msr;

    // ANCHOR: bare_stubs
    // The bare stubs: each returns at once with the instruction that pairs
    // with its entry. They touch no memory and no GS, so they need no swapgs.
    #[unsafe(naked)]
    unsafe extern "C" fn bare_int2e() {
        core::arch::naked_asm!("iretq");
    }
    #[unsafe(naked)]
    unsafe extern "C" fn bare_sysenter() {
        // SYSENTER cleared IF; the user's RIP and RSP are in RDX and RCX.
        core::arch::naked_asm!("sti", "sysexitq");
    }
    #[unsafe(naked)]
    unsafe extern "C" fn bare_syscall() {
        // RCX and R11 still hold the user's RIP and RFLAGS.
        core::arch::naked_asm!("sysretq");
    }
    #[unsafe(naked)]
    unsafe extern "C" fn bare_sysenter32() {
        // The same for 32-bit code: EIP from EDX, ESP from ECX, CS = SYSENTER_CS + 16.
        core::arch::naked_asm!("sti", "sysexit");
    }
    #[unsafe(naked)]
    unsafe extern "C" fn bare_syscall32() {
        // sysretl: EIP from ECX, back to 32-bit code (the entry was CSTAR's).
        core::arch::naked_asm!("sysret");
    }
    // ANCHOR_END: bare_stubs

    /// Points `path`'s entry at its bare stub on every CPU (`bare = true`),
    /// or back at the student's entry, for callers of `mode`.
    fn set_bare(path: u64, mode: UserMode, bare: bool) {
        let student = crate::student::student();
        match path {
            PATH_INT2E => {
                let target = if bare {
                    bare_int2e as *const () as u64
                } else {
                    student.lab1.ki_system_service as *const () as u64
                };
                crate::idt::with_idt(|idt| {
                    idt[VECTOR_SYSTEM_SERVICE] =
                        Gate::new(target, KERNEL_CS, GateType::Interrupt, 3, 0)
                });
            }
            BENCH_PATH_SYSENTER | PATH_SYSCALL => {
                let (msr, stub, entry) = match (path, mode) {
                    (PATH_SYSCALL, UserMode::Long) => (
                        msr::IA32_LSTAR,
                        bare_syscall as *const () as u64,
                        student.lab3.ki_system_call64 as *const () as u64,
                    ),
                    (PATH_SYSCALL, UserMode::Compat) => (
                        msr::IA32_CSTAR,
                        bare_syscall32 as *const () as u64,
                        student.lab3.ki_system_call32 as *const () as u64,
                    ),
                    (_, UserMode::Long) => (
                        msr::IA32_SYSENTER_EIP,
                        bare_sysenter as *const () as u64,
                        student.lab2.ki_fast_call_entry as *const () as u64,
                    ),
                    (_, UserMode::Compat) => (
                        msr::IA32_SYSENTER_EIP,
                        bare_sysenter32 as *const () as u64,
                        student.lab2.ki_fast_call_entry as *const () as u64,
                    ),
                };
                let value = if bare { stub } else { entry };
                // SAFETY: both targets are entry points for this MSR.
                crate::test::user::on_each_cpu(|_: &PerCpu| unsafe { msr::write(msr, value) });
            }
            _ => {}
        }
    }

    // ANCHOR: time_on
    /// Runs `n` operations of `kind` (`BENCH_*`) through `path` in ring 3,
    /// in a thread of `mode`, on every online CPU that `on` picks, all at
    /// once, and returns each one's TSC ticks. The benchmark's rows and the
    /// `kd>` prompt's `bench` both time through this.
    pub fn time_on(
        mode: UserMode,
        path: u64,
        kind: u64,
        n: u64,
        on: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, u64)>, alloc::string::String> {
        let results = crate::test::user::on_each_cpu(|c: &PerCpu| {
            if !on(c.cpu) {
                return None;
            }
            let watchdog = crate::thread::WATCHDOG_MS.load(core::sync::atomic::Ordering::Relaxed);
            let exit = crate::test::user::run_thread(c, mode, BENCH, path, &[kind, n], watchdog);
            let r = crate::process::report(c.cpu).words;
            Some((exit, r[0], r[1]))
        });
        let mut out = Vec::new();
        for (cpu, r) in results {
            let Some((exit, ticks, failures)) = r else {
                continue;
            };
            if exit != ThreadExit::Exited(EXIT_OK_STATUS) {
                return Err(alloc::format!(
                    "CPU {cpu}: the benchmark thread {}",
                    crate::test::user::describe(&exit)
                ));
            }
            if failures != 0 {
                return Err(alloc::format!(
                    "CPU {cpu}: {failures} of {n} operations failed"
                ));
            }
            out.push((cpu, ticks));
        }
        Ok(out)
    }
    // ANCHOR_END: time_on

    /// Runs one batch of `n` operations on each of the first `cpus` CPUs at
    /// once; returns cycles per operation for each CPU that ran.
    fn batch(p: &Path, kind: u64, n: u64, cpus: u32) -> Result<Vec<f64>, alloc::string::String> {
        let ticks = time_on(p.mode, p.id, kind, n, &|cpu| cpu < cpus)?;
        Ok(ticks.iter().map(|&(_, t)| t as f64 / n as f64).collect())
    }

    /// The paths this boot can time for callers of `mode`, in the report's
    /// order: the call floor, `int 0x2e`, then SYSENTER (on Intel) and
    /// SYSCALL. A 32-bit caller's fast path is SharedUserData's 32-bit
    /// stub, which is one of the two.
    fn paths(mode: UserMode) -> Vec<Path> {
        use crate::shared_user_data::{StubKind, chosen};
        let path = |name, id| Path { name, id, mode };
        let stub = chosen();
        let mut paths = alloc::vec![path("call", BENCH_PATH_CALL), path("int2e", PATH_INT2E)];
        match mode {
            UserMode::Long => {
                if stub == Some(StubKind::Sysenter) {
                    paths.push(path("sysenter", BENCH_PATH_SYSENTER));
                }
                paths.push(path("syscall", PATH_SYSCALL));
            }
            UserMode::Compat => match stub {
                Some(StubKind::Sysenter) => paths.push(path("sysenter", BENCH_PATH_SYSENTER)),
                Some(StubKind::Syscall) => paths.push(path("syscall", PATH_SYSCALL)),
                _ => {}
            },
        }
        paths
    }

    /// Runs every row and ends the run.
    pub fn run(iterations: u64, batches: u64) -> ! {
        crate::thread::WATCHDOG_MS.store(0, core::sync::atomic::Ordering::Relaxed);
        let batches = batches.clamp(1, 99);
        let per_batch = (iterations / batches).max(1);
        let tsc_khz = crate::time::tsc_khz();
        let bits = crate::cmdline().bits;
        let modes: Vec<UserMode> = [UserMode::Long, UserMode::Compat]
            .into_iter()
            .filter(|m| bits.includes(m.bits()))
            .collect();
        let sysenter = paths(UserMode::Long)
            .iter()
            .any(|p| p.id == BENCH_PATH_SYSENTER);
        let max_cpus = crate::percpu::online().min(2);
        crate::proto!(
            "info bench tsc_khz={tsc_khz} iterations={} batches={batches} sysenter={} unit={} bits={}",
            per_batch * batches,
            sysenter as u8,
            crate::cmdline().count,
            bits.name()
        );
        for cpus in 1..=max_cpus {
            let mut rows: Vec<(Path, &str, u64)> = Vec::new();
            for &mode in &modes {
                for p in paths(mode) {
                    if p.id == BENCH_PATH_CALL {
                        rows.push((p, "bare", BENCH_BARE));
                        continue;
                    }
                    for (kind_name, kind) in KINDS {
                        rows.push((p, kind_name, kind));
                    }
                }
            }
            for (p, kind_name, kind) in rows {
                let (name, bits) = (p.name, p.mode.bits());
                let bare = kind == BENCH_BARE && p.id != BENCH_PATH_CALL;
                if bare {
                    set_bare(p.id, p.mode, true);
                }
                let _ = batch(&p, kind, per_batch.min(1000), cpus); // warm up caches and TLBs
                let mut samples = Samples(Vec::new());
                let mut error = None;
                for _ in 0..batches {
                    match batch(&p, kind, per_batch, cpus) {
                        Ok(v) => samples.0.extend(v),
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                if bare {
                    set_bare(p.id, p.mode, false);
                }
                if let Some(e) = error {
                    crate::proto!(
                        "bench-error path={name} kind={kind_name} cpus={cpus} bits={bits} {e}"
                    );
                    continue;
                }
                let (median, min, max) = samples.stats();
                crate::proto!(
                    "bench path={name} kind={kind_name} cpus={cpus} bits={bits} median={median:.1} min={min:.1} max={max:.1} n={per_batch} batches={batches}"
                );
            }
        }
        crate::proto!("done");
        crate::arch::qemu_exit(crate::arch::ExitCode::Done)
    }

    /// `lab=anatomy`: on CPU 0, for each path, the user program's
    /// `BENCH_ANATOMY` run: it warms the path up, calls its marker function,
    /// then makes one call of each measured service, which the grader
    /// single-steps through QEMU's gdb stub.
    pub fn anatomy() -> ! {
        crate::thread::WATCHDOG_MS.store(0, core::sync::atomic::Ordering::Relaxed);
        for p in paths(UserMode::Long)
            .iter()
            .filter(|p| p.id != BENCH_PATH_CALL)
        {
            crate::proto!("info anatomy path={}", p.name);
            let results = crate::test::user::on_each_cpu(|c: &PerCpu| {
                (c.cpu == 0)
                    .then(|| crate::test::user::run_with_input(c, BENCH, p.id, &[BENCH_ANATOMY, 0]))
            });
            for (_, exit) in results {
                match exit {
                    Some(ThreadExit::Exited(EXIT_OK_STATUS)) | None => {}
                    Some(other) => crate::proto!(
                        "bench-error path={} kind=anatomy cpus=1 the thread {}",
                        p.name,
                        crate::test::user::describe(&other)
                    ),
                }
            }
        }
        crate::proto!("done");
        crate::arch::qemu_exit(crate::arch::ExitCode::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(Samples(alloc::vec![3.0, 1.0, 2.0]).stats(), (2.0, 1.0, 3.0));
        assert_eq!(
            Samples(alloc::vec![4.0, 1.0, 2.0, 3.0]).stats(),
            (2.5, 1.0, 4.0)
        );
    }
}
