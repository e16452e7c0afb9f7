//! One lab: boot with `tests=all`; when a boot dies before `done`, fail the
//! test that was running with the diagnostic and boot again with the tests
//! that have not run yet, until every planned test has a result or a boot
//! makes no progress.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::builder::Images;
use crate::cmdline::{Inject, KernelCmdline, Lab, Nonce, Program, Selection};
use crate::diagnose::{self, BootEnd, Context};
use crate::paths::{Workspace, fresh_file, read_lossy, show};
use crate::plan::ImagePlan;
use crate::profile::{Accel, Machine};
use crate::protocol::{Event, Line, Transcript};
use crate::qemu::{self, BootSpec, Serial};
use crate::score::{LabScore, Outcome, Planned, score_tests};
use crate::symbolize::Symbolizer;

/// What every boot of every lab shares.
pub struct Settings<'a> {
    pub ws: &'a Workspace,
    pub images: &'a Images,
    pub machine: &'a Machine,
    pub timeout_secs: u64,
    /// Applied to the first boot of each lab only, so that the reboot
    /// loop shows the other tests still passing after the broken one.
    pub inject: Option<Inject>,
    pub verbose: bool,
    pub symbolizer: Option<&'a Symbolizer>,
    /// Every lab's tests, from the kernel image.
    pub plan: &'a ImagePlan,
    /// When the whole grading must stop (batch's per-submission time):
    /// no boot starts after it, and none runs past it.
    pub deadline: Option<Instant>,
}

impl Settings<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Why the tests left have no result when the deadline passed.
const OUT_OF_TIME: &str = "did not run: the submission's time ran out (batch --timeout)";

/// One boot, parsed and diagnosed.
pub struct Boot {
    pub transcript: Transcript,
    pub end: BootEnd,
    /// `None` when the boot ended with `done`.
    pub diagnostic: Option<String>,
}

/// Runs every boot a lab needs and scores it: every test of the lab, or
/// only those named in `only` (in plan order). The image's plan says what
/// there is to score before anything boots, so a lab whose boot never
/// reaches the test runner scores 0 out of its full points.
pub fn grade_lab(lab: Lab, only: Option<&[String]>, s: &Settings<'_>) -> Result<LabScore> {
    let mut plan = s.plan.for_lab(lab, &s.machine.profile);
    let mut boot_plan_checked = false;
    let mut results: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    let selected = |plan: &[Planned]| -> Vec<Planned> {
        plan.iter()
            .filter(|t| only.is_none_or(|names| names.contains(&t.name)))
            .cloned()
            .collect()
    };
    let mut selection = match only {
        None => Selection::All,
        Some(names) => Selection::Only(names.to_vec()),
    };
    let mut never_ran = String::from("this test never ran");
    let mut number = 0;

    loop {
        if s.out_of_time() {
            never_ran = OUT_OF_TIME.into();
            break;
        }
        number += 1;
        let inject = if number == 1 { s.inject } else { None };
        let boot = run_boot(lab, number, &selection, inject, s)?;
        let announced = plan_of(&boot.transcript);
        if !boot_plan_checked && let Some(announced) = &announced {
            boot_plan_checked = true;
            check_announced(lab, s, announced, &mut plan, &mut notes);
        }
        observe(lab, number, &boot.transcript, s.machine, &mut notes);

        if let Some(message) = selftest_verdict(&boot.transcript, s.machine.accel) {
            if s.machine.accel == Accel::Kvm {
                return Ok(not_graded(lab, s.machine, &selected(&plan), message, notes));
            }
            note(&mut notes, message);
        }
        let graded = selected(&plan);

        if announced.is_none() && !boot_plan_checked {
            let why = boot
                .diagnostic
                .unwrap_or_else(|| "the kernel printed `done`".into());
            let error = format!("{}\n{why}", no_plan_error(&boot.transcript, number));
            let headline = error.lines().next().unwrap_or_default().to_owned();
            return Ok(LabScore {
                lab,
                machine: s.machine.clone(),
                tests: score_tests(&graded, &results, &format!("did not run: {headline}")),
                error: Some(error),
                environment_error: matches!(boot.end, BootEnd::QemuFailed { .. }),
                notes,
            });
        }

        let (mut progress, running) =
            record_results(&boot.transcript, &graded, &mut results, &mut notes);
        let Some(diagnostic) = boot.diagnostic else {
            never_ran = "the kernel printed `done` without a result for this test".into();
            break;
        };
        // The test the fault names, else the one that was running, fails
        // with the diagnostic.
        let named = match &boot.end {
            BootEnd::Fault { fault, .. } => fault.test.clone(),
            _ => None,
        };
        let culprit = named
            .filter(|t| is_planned(&graded, t) && !results.contains_key(t))
            .or(running);
        let mut attached = false;
        if let Some(test) = culprit
            && let Entry::Vacant(slot) = results.entry(test)
        {
            slot.insert(Outcome::failed(diagnostic.clone()));
            progress += 1;
            attached = true;
        }
        let remaining: Vec<String> = graded
            .iter()
            .filter(|t| !results.contains_key(&t.name))
            .map(|t| t.name.clone())
            .collect();
        // A boot that died between tests: say so, or it would go unseen.
        if !attached && (remaining.is_empty() || progress > 0) {
            let headline = diagnostic.lines().next().unwrap_or_default();
            note(
                &mut notes,
                format!("boot {number} ended abnormally outside any test: {headline}"),
            );
        }
        if remaining.is_empty() {
            break;
        }
        if progress == 0 || number as usize > graded.len() {
            never_ran =
                format!("did not run: boot {number} stopped before reaching it\n{diagnostic}");
            break;
        }
        selection = Selection::Only(remaining);
    }

    Ok(LabScore {
        lab,
        machine: s.machine.clone(),
        tests: score_tests(&selected(&plan), &results, &never_ran),
        error: None,
        environment_error: false,
        notes,
    })
}

/// The kernel's `plan` lines must be one of the image's lists for the lab.
/// When the grader could not tell the CPU's vendor, they say which; a plan
/// that is none of them is noted, and the image's is kept.
fn check_announced(
    lab: Lab,
    s: &Settings<'_>,
    announced: &[Planned],
    plan: &mut Vec<Planned>,
    notes: &mut Vec<String>,
) {
    if announced == plan.as_slice() {
        return;
    }
    match s.plan.matching(lab, announced) {
        Some(list) => *plan = list,
        None => note(
            notes,
            format!(
                "the kernel's `plan` lines differ from the test plan in its image ({} tests \
                 announced, {} in the image); scored against the image's",
                announced.len(),
                plan.len()
            ),
        ),
    }
}

/// Why a boot without `plan` lines graded nothing: the kernel died before
/// its test runner, or (a kernel bug) it ran tests without announcing them.
fn no_plan_error(transcript: &Transcript, number: u32) -> String {
    let results = transcript
        .events()
        .filter(|e| matches!(e, Event::Pass { .. } | Event::Fail { .. }))
        .count();
    if results == 0 {
        format!(
            "the kernel never reached the test runner (no `plan` lines on the serial port in \
             boot {number})"
        )
    } else {
        format!(
            "the kernel printed {results} test results but no `plan` lines in boot {number}, so \
             there is nothing to score them against (PROTOCOL.md: one `plan` line per test, \
             before any `run`); this is a bug in the kernel's test runner"
        )
    }
}

fn run_boot(
    lab: Lab,
    number: u32,
    selection: &Selection,
    inject: Option<Inject>,
    s: &Settings<'_>,
) -> Result<Boot> {
    let nonce = Nonce::fresh();
    let cmdline = KernelCmdline {
        nonce: &nonce,
        program: Program::Lab(lab),
        tests: selection,
        machine: s.machine,
        inject,
        verbose: s.verbose,
    }
    .to_string();
    boot_once(
        &OneBoot {
            ws: s.ws,
            images: s.images,
            machine: s.machine,
            nonce: &nonce,
            cmdline,
            // target/syslab/logs/<run>/<lab>-<profile>-<accel>-boot<N>[-reset].<kind>.log
            name: format!(
                "{lab}-{}-{}-boot{number}",
                s.machine.profile.file_label(),
                s.machine.accel.as_str()
            ),
            label: format!("{lab} boot {number}"),
            timeout_secs: s.timeout_secs,
            deadline: s.deadline,
            verbose: s.verbose,
            symbolizer: s.symbolizer,
        },
        None,
    )
}

/// A boot to run once: what to boot, and where its logs go.
pub struct OneBoot<'a> {
    pub ws: &'a Workspace,
    pub images: &'a Images,
    pub machine: &'a Machine,
    /// The nonce on `cmdline`, which marks this boot's protocol lines.
    pub nonce: &'a Nonce,
    pub cmdline: String,
    /// `target/syslab/logs/<name>.serial.log` and `<name>.qemu.log`.
    pub name: String,
    /// What `-v` output calls the boot.
    pub label: String,
    pub timeout_secs: u64,
    /// When set, the boot is cut short at this instant (batch's per-submission deadline).
    pub deadline: Option<Instant>,
    pub verbose: bool,
    pub symbolizer: Option<&'a Symbolizer>,
}

/// Runs one boot: fresh logs, QEMU (with `watch`, when given, shown the
/// serial log every 50 ms as it grows), then the transcript and the
/// diagnosis of how the boot ended, a triple fault's registers included.
/// Grading boots this way, once per reboot, and so does the fuzzer.
pub fn boot_once(b: &OneBoot<'_>, watch: Option<&mut dyn FnMut(&str)>) -> Result<Boot> {
    let logs = b.ws.create_logs()?;
    let log = |suffix: &str, kind: &str| logs.join(format!("{}{suffix}.{kind}.log", b.name));
    let (serial_log, qemu_log) = (log("", "serial"), log("", "qemu"));
    fresh_file(&serial_log)?;
    fresh_file(&qemu_log)?;
    let spec = BootSpec {
        kernel: &b.images.kernel,
        initrd: &b.images.user,
        cmdline: b.cmdline.clone(),
        machine: b.machine,
        serial: Serial::File(serial_log.clone()),
        qemu_log: &qemu_log,
        reboot: false,
        gdb_port: None,
    };
    let args = spec.args();
    if b.verbose {
        eprintln!("{}: {}", b.label, qemu::display_command(&args));
    }
    let mut timeout = Duration::from_secs(b.timeout_secs);
    if let Some(deadline) = b.deadline {
        timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
    }
    let finished = match watch {
        Some(watch) => {
            let mut poll = || {
                watch(&read_lossy(&serial_log));
                false
            };
            qemu::run_captured(&args, timeout, Some(&mut poll))?
        }
        None => qemu::run_captured(&args, timeout, None)?,
    };

    let serial = std::fs::read(&serial_log).unwrap_or_default();
    if b.verbose {
        echo_serial(&b.label, &serial);
    }
    let transcript = Transcript::parse(&serial, b.nonce.as_str());
    let end = diagnose::classify(&finished, &transcript, &read_lossy(&qemu_log));
    let triple_fault_dump = (end == BootEnd::TripleFault).then(|| {
        let logs = (log("-reset", "qemu"), log("-reset", "serial"));
        let verbose = b.verbose.then_some(b.label.as_str());
        record_triple_fault(&spec, logs, b.machine.smp, b.timeout_secs, verbose)
    });
    let diagnostic = diagnose::describe(
        &end,
        &Context {
            transcript: &transcript,
            symbolizer: b.symbolizer,
            serial_log: &show(&serial_log),
            qemu_log: &show(&qemu_log),
            timeout_secs: b.timeout_secs,
            triple_fault_dump,
        },
    );
    Ok(Boot {
        transcript,
        end,
        diagnostic,
    })
}

/// Boots the same kernel with the same command line again, this time
/// letting the machine reset, and stops QEMU as soon as its log holds the
/// register dump of every CPU after `Triple fault`. With `-no-reboot`,
/// QEMU exits without logging any registers (fixtures/ has both logs).
/// Grading and the benchmark both use it; `what` names the boot in `-v` output.
pub fn record_triple_fault(
    first: &BootSpec<'_>,
    logs: (PathBuf, PathBuf),
    cpus: u32,
    timeout_secs: u64,
    verbose: Option<&str>,
) -> Result<Vec<diagnose::CpuAtReset>, String> {
    let (qemu_log, serial_log) = logs;
    fresh_file(&qemu_log).map_err(|e| format!("{e:#}"))?;
    fresh_file(&serial_log).map_err(|e| format!("{e:#}"))?;
    let spec = BootSpec {
        serial: Serial::File(serial_log),
        qemu_log: &qemu_log,
        reboot: true,
        ..first.clone()
    };
    let args = spec.args();
    if let Some(what) = verbose {
        eprintln!(
            "{what}: triple fault; booting again without -no-reboot to record the registers: {}",
            qemu::display_command(&args)
        );
    }
    let mut complete = || diagnose::triple_fault_dump_complete(&read_lossy(&qemu_log), cpus);
    qemu::run_captured(
        &args,
        Duration::from_secs(timeout_secs),
        Some(&mut complete),
    )
    .map_err(|e| format!("{e:#}"))?;
    let found = diagnose::cpus_at_triple_fault(&read_lossy(&qemu_log));
    if found.is_empty() {
        Err(format!(
            "a second boot, run without -no-reboot to record the registers, did not triple-fault \
             within {timeout_secs} s; see {}",
            show(&qemu_log).display()
        ))
    } else {
        Ok(found)
    }
}

fn echo_serial(name: &str, serial: &[u8]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "--- {name}: serial output ---");
    let _ = err.write_all(serial);
    if !serial.ends_with(b"\n") && !serial.is_empty() {
        let _ = writeln!(err);
    }
    let _ = writeln!(err, "--- end of {name} ---");
}

/// The tests of the first `plan` lines of a boot, in order.
fn plan_of(transcript: &Transcript) -> Option<Vec<Planned>> {
    let mut plan: Vec<Planned> = Vec::new();
    for event in transcript.events() {
        if let Event::Plan {
            test,
            points,
            description,
        } = event
            && !plan.iter().any(|p| &p.name == test)
        {
            plan.push(Planned {
                name: test.clone(),
                points: *points,
                description: description.clone(),
            });
        }
    }
    (!plan.is_empty()).then_some(plan)
}

fn is_planned(plan: &[Planned], test: &str) -> bool {
    plan.iter().any(|p| p.name == test)
}

fn note(notes: &mut Vec<String>, text: String) {
    if !notes.contains(&text) {
        notes.push(text);
    }
}

/// Lab-level remarks from a boot: malformed protocol lines, a `hello` for
/// the wrong lab, CPUs that did not come online.
fn observe(
    lab: Lab,
    number: u32,
    transcript: &Transcript,
    machine: &Machine,
    notes: &mut Vec<String>,
) {
    for line in &transcript.lines {
        match line {
            Line::Malformed { text, reason } => note(
                notes,
                format!("boot {number}: ignored a malformed protocol line ({reason}): {text}"),
            ),
            Line::Event(Event::Hello {
                lab: said, cpus, ..
            }) => {
                if said != lab.as_str() {
                    note(
                        notes,
                        format!("the kernel said hello for lab={said}, not {lab}"),
                    );
                }
                if let Some(cpus) = cpus
                    && *cpus < machine.smp
                {
                    note(
                        notes,
                        format!(
                            "only {cpus} of {} CPUs came online (hello cpus={cpus})",
                            machine.smp
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The ring-3 self-test's complaint, if a boot printed one.
fn selftest_verdict(transcript: &Transcript, accel: Accel) -> Option<String> {
    transcript.events().find_map(|event| match event {
        Event::Info(fields) => diagnose::ring3_selftest(fields, accel),
        _ => None,
    })
}

/// Records this boot's `pass`/`fail` lines (the first result of a test
/// counts). Returns how many new results there were and the test that was
/// running when the boot ended, if any.
fn record_results(
    transcript: &Transcript,
    plan: &[Planned],
    results: &mut BTreeMap<String, Outcome>,
    notes: &mut Vec<String>,
) -> (usize, Option<String>) {
    let mut fresh = 0;
    let mut running: Option<String> = None;
    for event in transcript.events() {
        let (test, outcome) = match event {
            Event::Run { test } => {
                running = Some(test.clone());
                continue;
            }
            Event::Pass { test, message } => (test, Outcome::passed(message.clone())),
            Event::Fail { test, message } => (test, Outcome::failed(message.clone())),
            _ => continue,
        };
        if running.as_ref() == Some(test) {
            running = None;
        }
        if !is_planned(plan, test) {
            note(
                notes,
                format!(
                    "the kernel reported a result for {test}, which is not in its plan; ignored"
                ),
            );
            continue;
        }
        if !results.contains_key(test) {
            results.insert(test.clone(), outcome);
            fresh += 1;
        }
    }
    (fresh, running.filter(|t| is_planned(plan, t)))
}

/// Every test fails with the environment's verdict: numbers from a machine
/// that cannot run ring-3 system calls would mislead.
fn not_graded(
    lab: Lab,
    machine: &Machine,
    plan: &[Planned],
    message: String,
    notes: Vec<String>,
) -> LabScore {
    LabScore {
        lab,
        machine: machine.clone(),
        tests: score_tests(
            plan,
            &BTreeMap::new(),
            "not graded: this machine cannot run the lab (see the lab's error)",
        ),
        error: Some(message),
        environment_error: true,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::tests::planned;

    const N: &str = "0123456789abcdef";

    fn transcript(lines: &[&str]) -> Transcript {
        let text: String = lines
            .iter()
            .map(|l| {
                if let Some(console) = l.strip_prefix('!') {
                    format!("{console}\n")
                } else {
                    format!("@@syslab {N} {l}\n")
                }
            })
            .collect();
        Transcript::parse(text.as_bytes(), N)
    }

    #[test]
    fn plan_comes_in_order_without_duplicates() {
        let t = transcript(&[
            "hello lab=lab1 cpus=2",
            "plan lab1.a points=5 first",
            "plan lab1.b points=10 second",
            "plan lab1.a points=5 first",
        ]);
        let plan = plan_of(&t).unwrap();
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[1].points, 10);
        assert_eq!(plan[1].description, "second");
        assert_eq!(plan_of(&transcript(&["hello lab=lab1"])), None);
    }

    #[test]
    fn no_plan_says_whether_tests_ran() {
        let crashed = transcript(&["hello lab=lab0 cpus=2"]);
        assert!(no_plan_error(&crashed, 1).starts_with("the kernel never reached the test runner"));
        let unannounced = transcript(&["run lab0.a", "pass lab0.a", "run lab0.b", "fail lab0.b x"]);
        assert!(
            no_plan_error(&unannounced, 1)
                .starts_with("the kernel printed 2 test results but no `plan`")
        );
    }

    #[test]
    fn results_and_the_running_test() {
        let plan = vec![
            planned("lab1.a", 5),
            planned("lab1.b", 5),
            planned("lab1.c", 5),
        ];
        let t = transcript(&[
            "run lab1.a",
            "pass lab1.a fine",
            "run lab1.b",
            "!@@syslab ffffffffffffffff pass lab1.b faked",
            "pass lab1.zzz stray",
        ]);
        let mut results = BTreeMap::new();
        let mut notes = vec![];
        let (fresh, running) = record_results(&t, &plan, &mut results, &mut notes);
        assert_eq!(fresh, 1);
        assert_eq!(running.as_deref(), Some("lab1.b"));
        assert_eq!(results["lab1.a"], Outcome::passed("fine"));
        assert!(
            !results.contains_key("lab1.b"),
            "a wrong-nonce pass must not count"
        );
        assert_eq!(notes.len(), 1);
        // A second boot cannot overwrite the first result.
        let t2 = transcript(&["run lab1.a", "fail lab1.a now broken"]);
        let (fresh, running) = record_results(&t2, &plan, &mut results, &mut notes);
        assert_eq!((fresh, running), (0, None));
        assert_eq!(results["lab1.a"].message, "fine");
    }

    #[test]
    fn observations() {
        let machine = Machine {
            profile: crate::profile::Profile::Intel,
            accel: Accel::Tcg,
            smp: 2,
        };
        let t = transcript(&["hello lab=lab2 cpus=1", "plan lab1.a five"]);
        let mut notes = vec![];
        observe(Lab::Lab1, 1, &t, &machine, &mut notes);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].contains("lab=lab2"));
        assert!(notes[1].contains("only 1 of 2 CPUs"));
        assert!(notes[2].contains("malformed"));
    }

    #[test]
    fn kvm_selftest_makes_the_lab_not_graded() {
        let t = transcript(&["info selftest ring3=broken int2e=#UD syscall=cpl3"]);
        let message = selftest_verdict(&t, Accel::Kvm).unwrap();
        let machine = Machine {
            profile: crate::profile::Profile::Intel,
            accel: Accel::Kvm,
            smp: 2,
        };
        let plan = vec![planned("lab1.a", 5)];
        let lab = not_graded(Lab::Lab1, &machine, &plan, message, vec![]);
        assert!(lab.environment_error);
        assert_eq!((lab.earned(), lab.possible()), (0, 5));
        assert!(
            lab.error
                .as_deref()
                .unwrap()
                .starts_with("this KVM cannot run")
        );
        assert!(lab.tests[0].message.starts_with("not graded"));
        assert!(selftest_verdict(&transcript(&["info selftest ring3=ok"]), Accel::Kvm).is_none());
    }
}
