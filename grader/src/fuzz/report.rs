//! The fuzzer's report: what ran and how fast, each mismatch in words with
//! the command that replays it, and the verdict.
//!
//! ```text
//! == fuzz (intel, tcg, -smp 2): int2e, sysenter, syscall ==
//! 941,008 calls in 10.0 s on 2 CPUs: 94,073 calls/s
//!     104,873 cases; 104,888 calls ended their thread as they had to
//!     objects 0, handles 0 before the run; objects 0, handles 0 after it
//!
//! mismatch 1 of 2: CPU 0, call 1 of case 0xb02102858b58f52f
//!     call:     NtGetCurrentProcessorNumber() via sysenter
//!     expected: the call returns
//!     got:      the thread is killed by #DB at 0x400002a3 (...)
//!     ...
//!     replay:   cargo grader fuzz --solutions --path sysenter --seed 0xb02102858b58f52f
//!
//! Result: 2 mismatches
//! ```

use std::io::{self, Write};

use syslab_abi::fuzz::Paths;
use syslab_abi::fuzz::case::rflags;
use syslab_abi::fuzz::model::KERNEL_CLEAR;

use super::describe;
use super::protocol::{Mismatch, Run};
use crate::builder::Variant;
use crate::cli::{Fuzz, FuzzPath};
use crate::profile::Profile;
use crate::report::Styles;
use crate::symbolize::Symbolizer;

/// The kernel stops a run after this many mismatches (kernel/src/fuzz.rs).
const MAX_MISMATCHES: u64 = 1000;

/// How a fuzz run came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every call got what it was owed, and nothing was left open.
    Clean,
    /// Mismatches, a leak, a kernel fault, or a path that was asked for
    /// and could not run.
    Failed,
}

/// What the report needs besides the boot's lines.
pub struct Context<'a> {
    pub fuzz: &'a Fuzz,
    /// The paths of the last boot, which replays must fuzz too.
    pub paths: Paths,
    /// Paths that were not fuzzed, and why.
    pub notes: &'a [String],
    /// How the boot failed, if it did (a kernel fault, a timeout, ...).
    pub diagnostic: Option<&'a str>,
    /// The user program's symbols, to name the addresses a thread died at.
    pub user: Option<&'a Symbolizer>,
    /// The header's `intel, tcg, -smp 2`.
    pub machine: String,
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The command that runs case `seed` again on the same kernel and paths.
pub fn replay_command(fuzz: &Fuzz, seed: u64) -> String {
    let mut cmd = String::from("cargo grader fuzz");
    if fuzz.target.variant == Variant::Solutions {
        cmd.push_str(" --solutions");
    }
    if fuzz.target.machine.profile != Profile::Intel {
        cmd.push_str(&format!(" --cpu {}", fuzz.target.machine.profile.label()));
    }
    if fuzz.target.machine.smp != 2 {
        cmd.push_str(&format!(" --smp {}", fuzz.target.machine.smp));
    }
    let path = match fuzz.path {
        FuzzPath::Int2e => " --path int2e",
        FuzzPath::Sysenter => " --path sysenter",
        FuzzPath::Syscall => " --path syscall",
        FuzzPath::All => "",
    };
    cmd.push_str(path);
    if let Some(inject) = fuzz.target.inject {
        cmd.push_str(&format!(" --inject {}", inject.as_str()));
    }
    cmd.push_str(&format!(" --seed {seed:#x}"));
    cmd
}

/// RFLAGS with the names of its flags: `0x40246 (PF ZF IF AC)`.
fn flags(value: u64) -> String {
    let mut names: Vec<&str> = rflags::NAMES
        .iter()
        .filter(|(bit, _)| value & bit != 0)
        .map(|&(_, name)| name)
        .collect();
    if value & rflags::IF != 0 {
        names.push("IF");
    }
    format!("{value:#x} ({})", names.join(" "))
}

fn hex(text: &str) -> u64 {
    text.strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_default()
}

/// What was expected and what came, in words.
fn expected_and_got(m: &Mismatch, user: Option<&Symbolizer>) -> (String, String) {
    let (e, g) = (hex(&m.expected), hex(&m.got));
    let register = |value: u64| {
        let meaning = match (m.check.as_str(), m.path) {
            ("rcx", Some(syslab_abi::fuzz::Path::Syscall)) => " (SYSCALL's return address)",
            ("r11", Some(syslab_abi::fuzz::Path::Syscall)) => " (the RFLAGS SYSCALL saved)",
            _ => "",
        };
        format!("{} = {value:#x}{meaning}", m.check)
    };
    match m.check.as_str() {
        "status" => (describe::status(e), describe::status(g)),
        "rflags" => (
            format!("RFLAGS {} (as the call entered)", flags(e)),
            format!("RFLAGS {}", flags(g)),
        ),
        "memory" => {
            let at = m.at.unwrap_or_default();
            (
                format!("the word at byte {at:+} of the buffer the call was given: {e:#x}"),
                format!("{g:#x}"),
            )
        }
        "handle" => (
            "a new handle, written where the call said".into(),
            if g == u64::from_le_bytes([syslab_abi::fuzz::model::CANARY; 8]) {
                "nothing written there".into()
            } else {
                format!("{g:#x}, which is no new handle")
            },
        ),
        "kernel-rflags" => (
            "IF, TF, DF, AC and NT clear while the service runs".into(),
            format!("RFLAGS {}: {} set in the kernel", flags(g), {
                let bad = g & KERNEL_CLEAR;
                let mut names: Vec<&str> = rflags::NAMES
                    .iter()
                    .filter(|(bit, _)| bad & bit != 0)
                    .map(|&(_, n)| n)
                    .collect();
                if bad & rflags::IF != 0 {
                    names.push("IF");
                }
                names.join(", ")
            }),
        ),
        "frame-rflags" => (
            format!("the user's RFLAGS {} in the trap frame", flags(e)),
            format!("{} in the trap frame", flags(g)),
        ),
        "end" => (
            describe::end(&m.expected, user),
            describe::end(&m.got, user),
        ),
        "outside" => (
            "the fuzzer's thread to live on between its calls".into(),
            format!("{}, between calls", describe::end(&m.got, user)),
        ),
        _ => (register(e), register(g)),
    }
}

/// What a check is about, for a group's title.
fn subject(check: &str) -> String {
    match check {
        "status" => "the status in RAX".into(),
        "rflags" => "RFLAGS after the call".into(),
        "memory" => "what the call wrote into the user buffer".into(),
        "handle" => "the handle NtCreateMutant wrote".into(),
        "kernel-rflags" => "RFLAGS while the service runs".into(),
        "frame-rflags" => "the user RFLAGS saved in the trap frame".into(),
        "end" => "how the call ended".into(),
        "outside" => "the fuzzer's thread, between calls".into(),
        register => register.to_uppercase(),
    }
}

/// One kind of mismatch: the first in full, the others by their seeds.
fn write_group(
    out: &mut dyn Write,
    group: &[&Mismatch],
    total: u64,
    ctx: &Context<'_>,
    st: &Styles,
) -> io::Result<()> {
    let m = group[0];
    let path = m.path.map_or("?", |p| p.name());
    let times = if total == 1 {
        "once".to_owned()
    } else {
        format!("{} times", thousands(total))
    };
    writeln!(
        out,
        "{} {} via {path} ({times})",
        st.fail.apply_to("mismatch:"),
        subject(&m.check)
    )?;
    let call = if m.cleaning {
        Some("NtClose of a handle an earlier mismatch left in the case".to_owned())
    } else {
        describe::call(m.case, ctx.paths, m.call)
    };
    let call = call.unwrap_or_else(|| format!("service {:#x} via {path}", m.eax));
    let (expected, got) = expected_and_got(m, ctx.user);
    writeln!(out, "    call:     {call}")?;
    writeln!(
        out,
        "              (CPU {}, call {} of case {:#x})",
        m.cpu, m.call, m.case
    )?;
    writeln!(out, "    expected: {expected}")?;
    writeln!(out, "    got:      {got}")?;
    // How a call ends can depend on what came before it in the case.
    if m.call > 0 && !m.cleaning && matches!(m.check.as_str(), "end" | "outside") {
        writeln!(out, "    the case up to it:")?;
        for line in describe::calls(m.case, ctx.paths, Some(m.call)) {
            writeln!(out, "        {line}")?;
        }
    }
    writeln!(out, "    replay:   {}", replay_command(ctx.fuzz, m.case))?;
    for other in &group[1..] {
        if other.case == m.case {
            writeln!(
                out,
                "    also:     on CPU {}, call {} of the same case",
                other.cpu, other.call
            )?;
        } else {
            writeln!(
                out,
                "    also:     case {:#x} (CPU {}, call {})",
                other.case, other.cpu, other.call
            )?;
        }
    }
    Ok(())
}

/// The mismatches printed, by kind (path and check), in order of
/// appearance; a replay's by CPU, since its CPUs run the same case at once.
fn groups(run: &Run, replaying: bool) -> Vec<(Vec<&Mismatch>, u64)> {
    let mut groups: Vec<Vec<&Mismatch>> = Vec::new();
    let mut mismatches: Vec<&Mismatch> = run.mismatches.iter().collect();
    if replaying {
        mismatches.sort_by_key(|m| (m.cpu, m.call));
    }
    for m in mismatches {
        match groups
            .iter_mut()
            .find(|g| g[0].path == m.path && g[0].check == m.check)
        {
            Some(g) => g.push(m),
            None => groups.push(vec![m]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let path = g[0].path.map_or("?", |p| p.name());
            let total = run
                .tallies
                .iter()
                .find(|t| t.path == path && t.check == g[0].check)
                .map_or(g.len() as u64, |t| t.count);
            (g, total)
        })
        .collect()
}

/// Whether the run was clean.
pub fn verdict(run: &Run, ctx: &Context<'_>) -> Verdict {
    let clean = run.end.is_some_and(|e| {
        e.mismatches == 0 && e.objects.0 == e.objects.1 && e.handles.0 == e.handles.1
    }) && run.mismatches.is_empty()
        && ctx.diagnostic.is_none()
        && run.calls() > 0
        && (ctx.fuzz.path == FuzzPath::All || ctx.notes.is_empty());
    if clean {
        Verdict::Clean
    } else {
        Verdict::Failed
    }
}

pub fn write(
    out: &mut dyn Write,
    run: &Run,
    ctx: &Context<'_>,
    st: &Styles,
) -> io::Result<Verdict> {
    let replaying = ctx.fuzz.seed.is_some();
    let what = if ctx.paths.is_empty() {
        "nothing to fuzz".to_owned()
    } else {
        ctx.paths
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let header = format!("== fuzz ({}): {what} ==", ctx.machine);
    writeln!(out, "{}", st.header.apply_to(header))?;
    for note in ctx.notes {
        writeln!(out, "{} {note}", st.note.apply_to("note:"))?;
    }
    for line in &run.malformed {
        writeln!(
            out,
            "{} ignored a malformed protocol line ({line})",
            st.note.apply_to("note:")
        )?;
    }
    if let (Some(seed), false) = (ctx.fuzz.seed, ctx.paths.is_empty()) {
        writeln!(out, "case {seed:#x}, on every CPU at once:")?;
        for line in describe::calls(seed, ctx.paths, None) {
            writeln!(out, "    {line}")?;
        }
    }
    let cpus = run
        .start
        .as_ref()
        .map_or(ctx.fuzz.target.machine.smp, |s| s.cpus);
    match (&run.end, replaying) {
        _ if ctx.paths.is_empty() => {}
        (Some(e), false) => {
            let secs = e.ms as f64 / 1000.0;
            let rate = (e.calls * 1000).checked_div(e.ms).unwrap_or(0);
            writeln!(
                out,
                "{} calls in {secs:.1} s on {cpus} CPUs: {} calls/s",
                thousands(e.calls),
                thousands(rate)
            )?;
            writeln!(
                out,
                "    {} cases; {} calls ended their thread as they had to",
                thousands(e.cases),
                thousands(e.ends)
            )?;
        }
        (Some(e), true) => writeln!(out, "{} calls on {cpus} CPUs", e.calls)?,
        (None, _) => writeln!(
            out,
            "{} calls before the run stopped",
            thousands(run.calls())
        )?,
    }
    if let (Some(e), false) = (&run.end, ctx.paths.is_empty()) {
        let line = format!(
            "    objects {}, handles {} before the run; objects {}, handles {} after it",
            e.objects.0, e.handles.0, e.objects.1, e.handles.1
        );
        if e.objects.0 != e.objects.1 || e.handles.0 != e.handles.1 {
            writeln!(
                out,
                "{} {}: the run left objects or handles behind",
                st.fail.apply_to("leak:"),
                line.trim()
            )?;
        } else {
            writeln!(out, "{line}")?;
        }
    }
    for (group, total) in groups(run, replaying) {
        writeln!(out)?;
        write_group(out, &group, total, ctx, st)?;
    }
    if run.end.is_some_and(|e| e.mismatches >= MAX_MISMATCHES) {
        writeln!(
            out,
            "\n(the run stopped after {} mismatches)",
            thousands(MAX_MISMATCHES)
        )?;
    }
    if let Some(text) = ctx.diagnostic {
        let mut lines = text.lines();
        writeln!(out)?;
        if let Some(first) = lines.next() {
            writeln!(out, "{} {first}", st.fail.apply_to("error:"))?;
        }
        for line in lines {
            writeln!(out, "    {line}")?;
        }
        writeln!(
            out,
            "    (while fuzzing: {} calls had been made)",
            thousands(run.calls())
        )?;
    }
    let verdict = verdict(run, ctx);
    let mismatches = run
        .end
        .map_or(run.mismatches.len() as u64, |e| e.mismatches);
    let result = match verdict {
        Verdict::Clean if replaying => "Result: the case ran clean on every CPU".to_owned(),
        Verdict::Clean => "Result: clean".to_owned(),
        Verdict::Failed if mismatches > 0 => format!(
            "Result: {} mismatch{}",
            thousands(mismatches),
            if mismatches == 1 { "" } else { "es" }
        ),
        Verdict::Failed if ctx.paths.is_empty() => "Result: nothing fuzzed".to_owned(),
        Verdict::Failed => "Result: not clean".to_owned(),
    };
    writeln!(out)?;
    let style = if verdict == Verdict::Clean {
        &st.pass
    } else {
        &st.score
    };
    writeln!(out, "{}", style.apply_to(result))?;
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Target;
    use crate::fuzz::protocol::tests::run;
    use crate::profile::{Accel, Machine};

    fn fuzz(path: FuzzPath, seed: Option<u64>) -> Fuzz {
        Fuzz {
            target: Target {
                variant: Variant::Solutions,
                machine: Machine {
                    profile: Profile::Amd,
                    accel: Accel::Tcg,
                    smp: 2,
                },
                inject: None,
            },
            path,
            seconds: 5,
            seed,
            verbose: false,
        }
    }

    fn render(
        run: &Run,
        fuzz: &Fuzz,
        notes: &[String],
        diagnostic: Option<&str>,
    ) -> (String, Verdict) {
        let ctx = Context {
            fuzz,
            paths: Paths::parse("int2e,syscall").unwrap(),
            notes,
            diagnostic,
            user: None,
            machine: "amd, tcg, -smp 2".into(),
        };
        let mut out = Vec::new();
        let verdict = write(&mut out, run, &ctx, &Styles::new(false)).unwrap();
        (String::from_utf8(out).unwrap(), verdict)
    }

    const CLEAN: &str =
        "fuzz end calls=1234567 cases=1000 ends=50 mismatches=0 ms=10000 objects=0/0 handles=0/0";

    #[test]
    fn a_clean_run() {
        let r = run(&[
            "fuzz start paths=int2e,syscall seconds=10 cpus=2 replay=0",
            CLEAN,
        ]);
        let (text, verdict) = render(&r, &fuzz(FuzzPath::All, None), &[], None);
        assert_eq!(verdict, Verdict::Clean);
        assert_eq!(
            text,
            "== fuzz (amd, tcg, -smp 2): int2e, syscall ==\n\
             1,234,567 calls in 10.0 s on 2 CPUs: 123,456 calls/s\n\
             \x20   1,000 cases; 50 calls ended their thread as they had to\n\
             \x20   objects 0, handles 0 before the run; objects 0, handles 0 after it\n\
             \n\
             Result: clean\n"
        );
    }

    #[test]
    fn mismatches_in_words_with_their_replay() {
        let seed = 0x5eed;
        let r = run(&[
            "fuzz start paths=int2e,syscall seconds=10 cpus=2 replay=0",
            &format!(
                "fuzz mismatch cpu=1 case={seed:#x} call=2 path=syscall eax=0x5 check=r10 \
                 expected=0x1234 got=0x0"
            ),
            "fuzz mismatch cpu=0 case=0x9 call=0 path=int2e eax=0x9 check=kernel-rflags \
             expected=0x6 got=0x40006",
            "fuzz mismatch cpu=1 case=0xa call=4 path=int2e eax=0x9 check=kernel-rflags \
             expected=0x6 got=0x40006",
            "fuzz tally path=syscall check=r10 count=1",
            "fuzz tally path=int2e check=kernel-rflags count=40",
            "fuzz end calls=10 cases=1 ends=0 mismatches=41 ms=10 objects=0/1 handles=0/1",
        ]);
        let (text, verdict) = render(&r, &fuzz(FuzzPath::All, None), &[], None);
        assert_eq!(verdict, Verdict::Failed);
        let described = describe::call(seed, Paths::parse("int2e,syscall").unwrap(), 2).unwrap();
        for want in [
            "mismatch: R10 via syscall (once)".to_owned(),
            format!("    call:     {described}\n              (CPU 1, call 2 of case 0x5eed)"),
            "    expected: r10 = 0x1234".into(),
            "    got:      r10 = 0x0".into(),
            "    replay:   cargo grader fuzz --solutions --cpu amd --seed 0x5eed".into(),
            "mismatch: RFLAGS while the service runs via int2e (40 times)".into(),
            "got:      RFLAGS 0x40006 (PF AC): AC set in the kernel".into(),
            "    also:     case 0xa (CPU 1, call 4)".into(),
            "leak: objects 0, handles 0 before the run; objects 1, handles 1 after it".into(),
            "Result: 41 mismatches".into(),
        ] {
            assert!(text.contains(&want), "{want}\n---\n{text}");
        }
        assert!(
            !text.contains("the case up to it"),
            "only for how a call ended: {text}"
        );
    }

    #[test]
    fn a_kernel_fault_a_skipped_path_and_a_replay() {
        let r = run(&[
            "fuzz start paths=int2e,syscall seconds=10 cpus=2 replay=0",
            "fuzz progress calls=5000 mismatches=0 ms=1000",
        ]);
        let (text, verdict) = render(
            &r,
            &fuzz(FuzzPath::All, None),
            &[],
            Some("kernel fault: #GP in ring 0 on cpu 1\nrip 0x1234: x"),
        );
        assert_eq!(verdict, Verdict::Failed);
        assert!(
            text.contains("5,000 calls before the run stopped"),
            "{text}"
        );
        assert!(text.contains("error: kernel fault: #GP in ring 0 on cpu 1\n    rip 0x1234: x\n    (while fuzzing: 5,000 calls"), "{text}");

        let notes = ["sysenter: not fuzzed: not implemented: lab2::x".to_owned()];
        let clean = run(&[
            "fuzz start paths=int2e,syscall seconds=10 cpus=2 replay=0",
            CLEAN,
        ]);
        let (text, verdict) = render(&clean, &fuzz(FuzzPath::All, None), &notes, None);
        assert_eq!(
            verdict,
            Verdict::Clean,
            "skipping a path of `all` is a note"
        );
        assert!(text.contains("note: sysenter: not fuzzed"), "{text}");
        let (_, verdict) = render(&clean, &fuzz(FuzzPath::Sysenter, None), &notes, None);
        assert_eq!(
            verdict,
            Verdict::Failed,
            "a path asked for by name must run"
        );

        let replay = run(&[
            "fuzz start paths=int2e,syscall seconds=10 cpus=2 replay=1",
            "fuzz end calls=12 cases=2 ends=0 mismatches=0 ms=3 objects=0/0 handles=0/0",
        ]);
        let (text, verdict) = render(&replay, &fuzz(FuzzPath::All, Some(0x5eed)), &[], None);
        assert_eq!(verdict, Verdict::Clean);
        assert!(
            text.contains("case 0x5eed, on every CPU at once:\n    0. "),
            "{text}"
        );
        assert!(
            text.contains("Result: the case ran clean on every CPU"),
            "{text}"
        );
    }

    #[test]
    fn numbers_and_flags() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(flags(0x246), "0x246 (PF ZF IF)");
        let mut f = fuzz(FuzzPath::Syscall, None);
        f.target.machine.smp = 4;
        f.target.machine.profile = Profile::Intel;
        f.target.variant = Variant::Labs;
        assert_eq!(
            replay_command(&f, 0xab),
            "cargo grader fuzz --smp 4 --path syscall --seed 0xab"
        );
    }
}
