//! The fuzzer's protocol lines (PROTOCOL.md, "Fuzzing"), read into records:
//!
//! ```text
//! fuzz start paths=<p,...> seconds=<s> cpus=<n> replay=<0|1>
//! fuzz unavailable path=<p> <why, to the end of the line>
//! fuzz progress calls=<n> mismatches=<m> ms=<t>
//! fuzz mismatch cpu=<n> case=0x<seed> call=<i> path=<p> eax=0x<n> check=<what> [at=<i>]
//!     expected=<v> got=<v> [cleaning=1]
//! fuzz tally path=<p> check=<what> count=<n>
//! fuzz end calls=<n> cases=<n> ends=<n> mismatches=<m> ms=<t> objects=<a>/<b> handles=<a>/<b>
//! ```

use syslab_abi::fuzz::{Path, Paths};

use crate::protocol::Line;
use crate::protocol::{Event, Fields, TAG, Transcript, parse_line};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub paths: Paths,
    pub seconds: u64,
    pub cpus: u32,
    pub replay: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub path: String,
    pub why: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub calls: u64,
    pub mismatches: u64,
    pub ms: u64,
}

/// One call whose outcome was not what the kernel owed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub cpu: u32,
    pub case: u64,
    pub call: u64,
    pub path: Option<Path>,
    pub eax: u64,
    /// `status`, a register name, `rflags`, `memory`, `handle`,
    /// `kernel-rflags`, `frame-rflags`, `end` or `outside`.
    pub check: String,
    /// For `memory`: the byte offset from the pointer the call was given.
    pub at: Option<i64>,
    pub expected: String,
    pub got: String,
    /// While closing the handles of a case given up after a mismatch.
    pub cleaning: bool,
}

/// How many mismatches of one kind there were (the kernel prints only the
/// first few of each kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    pub path: String,
    pub check: String,
    pub count: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct End {
    pub calls: u64,
    pub cases: u64,
    /// Calls that ended their thread as they had to.
    pub ends: u64,
    pub mismatches: u64,
    pub ms: u64,
    /// Live objects and open handles, before the run and after it.
    pub objects: (u64, u64),
    pub handles: (u64, u64),
}

/// Everything a fuzz boot said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub start: Option<Start>,
    pub unavailable: Vec<Unavailable>,
    pub mismatches: Vec<Mismatch>,
    pub tallies: Vec<Tally>,
    pub progress: Option<Progress>,
    pub end: Option<End>,
    /// Lines that did not parse, and why.
    pub malformed: Vec<String>,
}

fn number(fields: &Fields, key: &str) -> Option<u64> {
    let value = fields.get(key)?;
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

fn pair(fields: &Fields, key: &str) -> Option<(u64, u64)> {
    let (a, b) = fields.get(key)?.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The words after `path=`, as the kernel wrote them.
fn text_after(fields: &Fields, key: &str) -> String {
    fields
        .0
        .iter()
        .skip_while(|(k, _)| k != key)
        .skip(1)
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn progress(fields: &Fields) -> Option<Progress> {
    Some(Progress {
        calls: number(fields, "calls")?,
        mismatches: number(fields, "mismatches")?,
        ms: number(fields, "ms")?,
    })
}

impl Run {
    /// Adds one `fuzz` line; `Err` says what was wrong with it.
    fn add(&mut self, fields: &Fields) -> Result<(), &'static str> {
        let kind = fields
            .0
            .first()
            .map(|(k, _)| k.as_str())
            .unwrap_or_default();
        match kind {
            "start" => {
                self.start = Some(Start {
                    paths: fields
                        .get("paths")
                        .and_then(Paths::parse)
                        .unwrap_or_default(),
                    seconds: number(fields, "seconds").ok_or("no seconds=")?,
                    cpus: number(fields, "cpus").ok_or("no cpus=")? as u32,
                    replay: fields.get("replay") == Some("1"),
                })
            }
            "unavailable" => self.unavailable.push(Unavailable {
                path: fields.get("path").ok_or("no path=")?.to_owned(),
                why: text_after(fields, "path"),
            }),
            "progress" => {
                self.progress = Some(progress(fields).ok_or("no calls=, mismatches= or ms=")?)
            }
            "mismatch" => self.mismatches.push(Mismatch {
                cpu: number(fields, "cpu").ok_or("no cpu=")? as u32,
                case: number(fields, "case").ok_or("no case=")?,
                call: number(fields, "call").ok_or("no call=")?,
                path: fields.get("path").and_then(Path::from_name),
                eax: number(fields, "eax").unwrap_or_default(),
                check: fields.get("check").ok_or("no check=")?.to_owned(),
                at: fields.get("at").and_then(|v| v.parse().ok()),
                expected: fields.get("expected").unwrap_or("?").to_owned(),
                got: fields.get("got").unwrap_or("?").to_owned(),
                cleaning: fields.get("cleaning") == Some("1"),
            }),
            "tally" => self.tallies.push(Tally {
                path: fields.get("path").ok_or("no path=")?.to_owned(),
                check: fields.get("check").ok_or("no check=")?.to_owned(),
                count: number(fields, "count").ok_or("no count=")?,
            }),
            "end" => {
                let n = |key| number(fields, key).ok_or("a count is missing");
                self.end = Some(End {
                    calls: n("calls")?,
                    cases: n("cases")?,
                    ends: n("ends")?,
                    mismatches: n("mismatches")?,
                    ms: n("ms")?,
                    objects: pair(fields, "objects").ok_or("no objects=<a>/<b>")?,
                    handles: pair(fields, "handles").ok_or("no handles=<a>/<b>")?,
                })
            }
            _ => return Err("an unknown kind of fuzz line"),
        }
        Ok(())
    }

    pub fn from_transcript(transcript: &Transcript) -> Run {
        let mut run = Run::default();
        for event in transcript.events() {
            if let Event::Fuzz(fields) = event
                && let Err(why) = run.add(fields)
            {
                run.malformed.push(format!(
                    "{why}: fuzz {}",
                    crate::protocol::join_fields(fields)
                ));
            }
        }
        run
    }

    /// The calls made, from the end line or else the last progress line.
    pub fn calls(&self) -> u64 {
        match (&self.end, &self.progress) {
            (Some(end), _) => end.calls,
            (None, Some(p)) => p.calls,
            _ => 0,
        }
    }
}

/// The last `fuzz progress` of this boot in a serial log that is still
/// being written (for the progress line while the boot runs).
pub fn last_progress(serial: &str, nonce: &str) -> Option<Progress> {
    let tag = format!("{TAG} {nonce} fuzz progress ");
    let line = serial.lines().rev().find(|l| l.starts_with(&tag))?;
    match parse_line(line, nonce) {
        Line::Event(Event::Fuzz(fields)) => progress(&fields),
        _ => None,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const N: &str = "0123456789abcdef";

    /// The run of a boot that printed `lines` as protocol lines.
    pub fn run(lines: &[&str]) -> Run {
        let text: String = lines
            .iter()
            .map(|l| format!("@@syslab {N} {l}\n"))
            .collect();
        Run::from_transcript(&Transcript::parse(text.as_bytes(), N))
    }

    #[test]
    fn a_whole_run() {
        let r = run(&[
            "hello lab=fuzz cpus=2",
            "fuzz unavailable path=sysenter SYSENTER raises #UD in 64-bit mode (CPUID.1:EDX.SEP = 1)",
            "fuzz start paths=int2e,syscall seconds=5 cpus=2 replay=0",
            "fuzz progress calls=1000 mismatches=0 ms=1000",
            "fuzz mismatch cpu=1 case=0x5eed call=3 path=syscall eax=0x5 check=memory at=-8 \
             expected=0xa5a5a5a5a5a5a5a5 got=0x1",
            "fuzz mismatch cpu=0 case=0x77 call=0 path=sysenter eax=0x1 check=end \
             expected=return got=killed:#DB@0x400002a3 cleaning=1",
            "fuzz progress calls=2500 mismatches=2 ms=2001",
            "fuzz tally path=syscall check=memory count=7",
            "fuzz end calls=3000 cases=300 ends=40 mismatches=2 ms=2500 objects=0/1 handles=0/0",
            "done",
        ]);
        let start = r.start.clone().unwrap();
        assert_eq!(start.paths, Paths::parse("int2e,syscall").unwrap());
        assert_eq!((start.seconds, start.cpus, start.replay), (5, 2, false));
        assert_eq!(r.unavailable[0].path, "sysenter");
        assert_eq!(
            r.unavailable[0].why,
            "SYSENTER raises #UD in 64-bit mode (CPUID.1:EDX.SEP = 1)"
        );
        assert_eq!(r.mismatches.len(), 2);
        let m = &r.mismatches[0];
        assert_eq!(
            (m.cpu, m.case, m.call, m.path),
            (1, 0x5eed, 3, Some(Path::Syscall))
        );
        assert_eq!(
            (m.check.as_str(), m.at, m.got.as_str()),
            ("memory", Some(-8), "0x1")
        );
        assert!(!m.cleaning && r.mismatches[1].cleaning);
        assert_eq!(r.mismatches[1].got, "killed:#DB@0x400002a3");
        assert_eq!(r.progress.unwrap().calls, 2500);
        assert_eq!(
            r.tallies,
            [Tally {
                path: "syscall".into(),
                check: "memory".into(),
                count: 7
            }]
        );
        let end = r.end.unwrap();
        assert_eq!(
            (end.calls, end.ends, end.objects, end.handles),
            (3000, 40, (0, 1), (0, 0))
        );
        assert_eq!(r.calls(), 3000);
        assert!(r.malformed.is_empty(), "{:?}", r.malformed);
    }

    #[test]
    fn bad_lines_are_kept_with_a_reason() {
        let r = run(&[
            "fuzz mismatch cpu=1 call=3",
            "fuzz end calls=1",
            "fuzz frobnicate",
            "fuzz progress calls=9 mismatches=0 ms=5",
        ]);
        assert_eq!(r.malformed.len(), 3, "{:?}", r.malformed);
        assert!(r.malformed[0].starts_with("no case="));
        assert_eq!(
            r.calls(),
            9,
            "without an end line, the last progress counts"
        );
    }

    #[test]
    fn progress_from_a_log_being_written() {
        let log = format!(
            "boot\n@@syslab {N} fuzz progress calls=10 mismatches=0 ms=1000\n\
             @@syslab ffffffffffffffff fuzz progress calls=99 mismatches=0 ms=1\n\
             @@syslab {N} fuzz progress calls=20 mismatches=1 ms=2000\n@@syslab {N} fuzz pro"
        );
        let p = last_progress(&log, N).unwrap();
        assert_eq!((p.calls, p.mismatches, p.ms), (20, 1, 2000));
        assert_eq!(last_progress("nothing yet", N), None);
    }
}
