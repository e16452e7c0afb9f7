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
//! The kernel counts whatever the TSC counts: cycles, or with the grader's
//! `-icount shift=0` guest instructions (`count=` on the command line names
//! which, and the `info bench` line repeats it as `unit=`).

use crate::percpu::PerCpu;
use crate::thread::ThreadExit;
use alloc::vec::Vec;
use syslab_abi::user_test::*;

/// One path to time: its name in the report and the user program's path id.
struct Path {
    name: &'static str,
    id: u64,
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
    // ANCHOR_END: bare_stubs

    /// Points `path`'s entry at its bare stub on every CPU (`bare = true`),
    /// or back at the student's entry.
    fn set_bare(path: u64, bare: bool) {
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
                let (msr, stub, entry) = if path == PATH_SYSCALL {
                    (
                        msr::IA32_LSTAR,
                        bare_syscall as *const () as u64,
                        student.lab3.ki_system_call64 as *const () as u64,
                    )
                } else {
                    (
                        msr::IA32_SYSENTER_EIP,
                        bare_sysenter as *const () as u64,
                        student.lab2.ki_fast_call_entry as *const () as u64,
                    )
                };
                let value = if bare { stub } else { entry };
                // SAFETY: both targets are entry points for this MSR.
                crate::test::user::on_each_cpu(|_: &PerCpu| unsafe { msr::write(msr, value) });
            }
            _ => {}
        }
    }

    // ANCHOR: time_on
    /// Runs `n` operations of `kind` (`BENCH_*`) through `path` in ring 3 on
    /// every online CPU that `on` picks, all at once, and returns each one's
    /// TSC ticks. The benchmark's rows and the `kd>` prompt's `bench` both
    /// time through this.
    pub fn time_on(
        path: u64,
        kind: u64,
        n: u64,
        on: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, u64)>, alloc::string::String> {
        let results = crate::test::user::on_each_cpu(|c: &PerCpu| {
            if !on(c.cpu) {
                return None;
            }
            let exit = crate::test::user::run_with_input(c, BENCH, path, &[kind, n]);
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
    fn batch(path: u64, kind: u64, n: u64, cpus: u32) -> Result<Vec<f64>, alloc::string::String> {
        let ticks = time_on(path, kind, n, &|cpu| cpu < cpus)?;
        Ok(ticks.iter().map(|&(_, t)| t as f64 / n as f64).collect())
    }

    /// The paths this boot can time, in the report's order.
    fn paths() -> Vec<Path> {
        let sysenter =
            crate::shared_user_data::chosen() == Some(crate::shared_user_data::StubKind::Sysenter);
        let mut paths = alloc::vec![Path {
            name: "int2e",
            id: PATH_INT2E
        }];
        if sysenter {
            paths.push(Path {
                name: "sysenter",
                id: BENCH_PATH_SYSENTER,
            });
        }
        paths.push(Path {
            name: "syscall",
            id: PATH_SYSCALL,
        });
        paths
    }

    /// Runs every row and ends the run.
    pub fn run(iterations: u64, batches: u64) -> ! {
        crate::thread::WATCHDOG_MS.store(0, core::sync::atomic::Ordering::Relaxed);
        let batches = batches.clamp(1, 99);
        let per_batch = (iterations / batches).max(1);
        let tsc_khz = crate::time::tsc_khz();
        let paths = paths();
        let sysenter = paths.iter().any(|p| p.id == BENCH_PATH_SYSENTER);
        let max_cpus = crate::percpu::online().min(2);
        crate::proto!(
            "info bench tsc_khz={tsc_khz} iterations={} batches={batches} sysenter={} unit={}",
            per_batch * batches,
            sysenter as u8,
            crate::cmdline().count
        );
        for cpus in 1..=max_cpus {
            let mut rows: Vec<(&str, &str, u64)> = alloc::vec![("call", "bare", BENCH_PATH_CALL)];
            for p in &paths {
                for (kind, _) in KINDS {
                    rows.push((p.name, kind, p.id));
                }
            }
            for (name, kind_name, path) in rows {
                let kind = KINDS
                    .iter()
                    .find(|k| k.0 == kind_name)
                    .map_or(BENCH_BARE, |k| k.1);
                let bare = kind == BENCH_BARE && path != BENCH_PATH_CALL;
                if bare {
                    set_bare(path, true);
                }
                let _ = batch(path, kind, per_batch.min(1000), cpus); // warm up caches and TLBs
                let mut samples = Samples(Vec::new());
                let mut error = None;
                for _ in 0..batches {
                    match batch(path, kind, per_batch, cpus) {
                        Ok(v) => samples.0.extend(v),
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                if bare {
                    set_bare(path, false);
                }
                if let Some(e) = error {
                    crate::proto!("bench-error path={name} kind={kind_name} cpus={cpus} {e}");
                    continue;
                }
                let (median, min, max) = samples.stats();
                crate::proto!(
                    "bench path={name} kind={kind_name} cpus={cpus} median={median:.1} min={min:.1} max={max:.1} n={per_batch} batches={batches}"
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
        for p in &paths() {
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
