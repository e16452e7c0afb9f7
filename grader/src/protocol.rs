//! The serial protocol (PROTOCOL.md, "Serial protocol"): turning the bytes
//! the kernel wrote to COM1 into console lines and protocol events.
//!
//! A protocol line is `@@syslab <nonce> <verb> ...`. A line without that
//! exact prefix, or with another boot's nonce, is console output: a stray
//! print in the code under test cannot fake a pass.

use std::fmt;

/// The tag every protocol line starts with, before the nonce.
pub const TAG: &str = "@@syslab";

/// `key=value` pairs and bare words, in the order the kernel printed them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, Option<String>)>);

impl Fields {
    fn parse(text: &str) -> Fields {
        Fields(
            text.split_whitespace()
                .map(|token| match token.split_once('=') {
                    Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                    None => (token.to_owned(), None),
                })
                .collect(),
        )
    }

    /// The value of the first `key=value` with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == key && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }

    /// The `key=value` pairs, without the bare words.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
    }
}

/// A `fault` line: the kernel stopped on a ring-0 fault or a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The test that was running, or `None` for `-`.
    pub test: Option<String>,
    pub cpu: Option<u32>,
    /// `#PF`, `#GP`, ..., or `panic`.
    pub kind: String,
    pub rip: Option<u64>,
    pub ring: Option<u8>,
    pub cr2: Option<u64>,
    pub hint: Option<String>,
}

/// A `bench` line: one benchmark row, in TSC cycles per operation over
/// the batches (and over the CPUs when `cpus` > 1).
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// `call`, `int2e`, `sysenter` or `syscall`.
    pub path: String,
    /// `bare`, `null` or `create_close`.
    pub kind: String,
    pub cpus: u32,
    /// 64 or 32: the mode of the caller (a line without `bits=` is 64).
    pub bits: u32,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Operations per batch (per CPU).
    pub n: u64,
    pub batches: u64,
}

/// A `bench-error` line: a row the kernel could not measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchError {
    pub path: String,
    pub kind: String,
    pub cpus: u32,
    pub bits: u32,
    pub message: String,
}

/// One protocol line, parsed. (Not `Eq`: bench rows hold `f64`s.)
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Hello {
        lab: String,
        cpus: Option<u32>,
        fields: Fields,
    },
    Plan {
        test: String,
        points: u32,
        description: String,
    },
    Run {
        test: String,
    },
    Pass {
        test: String,
        message: String,
    },
    Fail {
        test: String,
        message: String,
    },
    Fault(Fault),
    Info(Fields),
    Bench(BenchRow),
    BenchError(BenchError),
    /// `kd <verb> ...`: the `kd>` prompt's session (PROTOCOL.md, "The kd> prompt").
    Kd(Fields),
    /// `fuzz <kind> key=value ...` (fuzz/protocol.rs reads them).
    Fuzz(Fields),
    Done,
}

/// One line of serial output.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// Ordinary console output (including lines with a wrong nonce).
    Console(String),
    /// A protocol line of this boot.
    Event(Event),
    /// A line with this boot's prefix that does not parse: a kernel bug.
    Malformed { text: String, reason: String },
}

/// Why a line with the right prefix was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Classifies one line (without its `\n`; a trailing `\r` is dropped).
pub fn parse_line(raw: &str, nonce: &str) -> Line {
    let line = raw.trim_end_matches(['\r', '\n']);
    let Some(body) = strip_prefix(line, nonce) else {
        return Line::Console(line.to_owned());
    };
    match parse_event(body) {
        Ok(event) => Line::Event(event),
        Err(Malformed(reason)) => Line::Malformed {
            text: line.to_owned(),
            reason,
        },
    }
}

/// `@@syslab <nonce> rest` -> `rest`, only for this boot's nonce.
fn strip_prefix<'a>(line: &'a str, nonce: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(TAG)?.strip_prefix(' ')?;
    let rest = rest.strip_prefix(nonce)?;
    if rest.is_empty() {
        // `@@syslab <nonce>` alone: a protocol line with no verb.
        return Some("");
    }
    rest.strip_prefix(' ')
}

/// Splits off the first whitespace-separated word.
fn word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim_start()),
        None => (text, ""),
    }
}

fn need_test(verb: &str, test: &str) -> Result<String, Malformed> {
    if test.is_empty() {
        Err(Malformed(format!("`{verb}` without a test name")))
    } else {
        Ok(test.to_owned())
    }
}

fn parse_event(body: &str) -> Result<Event, Malformed> {
    let (verb, rest) = word(body);
    match verb {
        "hello" => {
            let fields = Fields::parse(rest);
            let lab = fields
                .get("lab")
                .ok_or_else(|| Malformed("`hello` without lab=".into()))?
                .to_owned();
            let cpus = fields.get("cpus").and_then(|n| n.parse().ok());
            Ok(Event::Hello { lab, cpus, fields })
        }
        "plan" => {
            let (test, rest) = word(rest);
            let test = need_test(verb, test)?;
            let (points, description) = word(rest);
            let points = points
                .strip_prefix("points=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    Malformed(format!("`plan {test}` without points=<n> after the name"))
                })?;
            Ok(Event::Plan {
                test,
                points,
                description: description.trim_end().to_owned(),
            })
        }
        "run" => {
            let (test, _) = word(rest);
            Ok(Event::Run {
                test: need_test(verb, test)?,
            })
        }
        "pass" | "fail" => {
            let (test, message) = word(rest);
            let test = need_test(verb, test)?;
            let message = message.trim_end().to_owned();
            Ok(if verb == "pass" {
                Event::Pass { test, message }
            } else {
                Event::Fail { test, message }
            })
        }
        "fault" => parse_fault(rest).map(Event::Fault),
        "info" => Ok(Event::Info(Fields::parse(rest))),
        "bench" => parse_bench(rest).map(Event::Bench),
        "bench-error" => parse_bench_error(rest).map(Event::BenchError),
        "kd" => Ok(Event::Kd(Fields::parse(rest))),
        "fuzz" => Ok(Event::Fuzz(Fields::parse(rest))),
        "done" => Ok(Event::Done),
        "" => Err(Malformed("a protocol line without a verb".into())),
        other => Err(Malformed(format!("unknown verb `{other}`"))),
    }
}

fn parse_hex(value: &str) -> Option<u64> {
    let digits = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value);
    u64::from_str_radix(digits, 16).ok()
}

/// `fault <test or -> cpu=<n> kind=<k> rip=0x<hex> ring=<r> [cr2=0x<hex>] [hint=<text>]`.
/// `hint=` runs to the end of the line; the other keys may come in any order.
fn parse_fault(rest: &str) -> Result<Fault, Malformed> {
    let (test, rest) = word(rest);
    if test.is_empty() {
        return Err(Malformed("`fault` without a test name or `-`".into()));
    }
    let (keys, hint) = match rest.find("hint=") {
        Some(at) if at == 0 || rest[..at].ends_with(char::is_whitespace) => (
            &rest[..at],
            Some(rest[at + "hint=".len()..].trim().to_owned()),
        ),
        _ => (rest, None),
    };
    let fields = Fields::parse(keys);
    let kind = fields
        .get("kind")
        .ok_or_else(|| Malformed("`fault` without kind=".into()))?
        .to_owned();
    Ok(Fault {
        test: (test != "-").then(|| test.to_owned()),
        cpu: fields.get("cpu").and_then(|n| n.parse().ok()),
        kind,
        rip: fields.get("rip").and_then(parse_hex),
        ring: fields.get("ring").and_then(|n| n.parse().ok()),
        cr2: fields.get("cr2").and_then(parse_hex),
        hint: hint.filter(|h| !h.is_empty()),
    })
}

/// The value of a required `key=`, parsed.
fn required<T: std::str::FromStr>(fields: &Fields, verb: &str, key: &str) -> Result<T, Malformed> {
    let value = fields
        .get(key)
        .ok_or_else(|| Malformed(format!("`{verb}` without {key}=")))?;
    value.parse().map_err(|_| {
        Malformed(format!(
            "`{verb}` with {key}={value}, which is not a number"
        ))
    })
}

/// `bench path=<p> kind=<k> cpus=<n> bits=<32|64> median=<c> min=<c> max=<c> n=<n> batches=<b>`,
/// keys in any order; cycles are decimal, finite, and min ≤ median ≤ max.
fn parse_bench(rest: &str) -> Result<BenchRow, Malformed> {
    let fields = Fields::parse(rest);
    let text = |key: &str| {
        fields
            .get(key)
            .map(str::to_owned)
            .ok_or_else(|| Malformed(format!("`bench` without {key}=")))
    };
    let cycles = |key: &str| -> Result<f64, Malformed> {
        let value: f64 = required(&fields, "bench", key)?;
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(Malformed(format!(
                "`bench` with {key}={value}: cycles must be a finite number ≥ 0"
            )))
        }
    };
    let row = BenchRow {
        path: text("path")?,
        kind: text("kind")?,
        cpus: required(&fields, "bench", "cpus")?,
        bits: bits(&fields, "bench")?,
        median: cycles("median")?,
        min: cycles("min")?,
        max: cycles("max")?,
        n: required(&fields, "bench", "n")?,
        batches: required(&fields, "bench", "batches")?,
    };
    if !(row.min <= row.median && row.median <= row.max) {
        return Err(Malformed(format!(
            "`bench` with min={} median={} max={}: min ≤ median ≤ max does not hold",
            row.min, row.median, row.max
        )));
    }
    Ok(row)
}

/// `bits=`: 32 or 64, and 64 when it is missing (a kernel without
/// 32-bit rows).
fn bits(fields: &Fields, verb: &str) -> Result<u32, Malformed> {
    match fields.get("bits") {
        None => Ok(64),
        Some("32") => Ok(32),
        Some("64") => Ok(64),
        Some(other) => Err(Malformed(format!(
            "`{verb}` with bits={other}: the caller's mode is 32 or 64"
        ))),
    }
}

/// `bench-error path=<p> kind=<k> cpus=<n> [bits=<32|64>] <message to end of line>`.
fn parse_bench_error(rest: &str) -> Result<BenchError, Malformed> {
    let mut fields = Fields::default();
    let mut rest = rest;
    loop {
        let (token, after) = word(rest);
        let known = ["path=", "kind=", "cpus=", "bits="]
            .iter()
            .any(|key| token.starts_with(key));
        if !known {
            break;
        }
        fields.0.extend(Fields::parse(token).0);
        rest = after;
    }
    let text = |key: &str| {
        fields
            .get(key)
            .map(str::to_owned)
            .ok_or_else(|| Malformed(format!("`bench-error` without {key}=")))
    };
    Ok(BenchError {
        path: text("path")?,
        kind: text("kind")?,
        cpus: required(&fields, "bench-error", "cpus")?,
        bits: bits(&fields, "bench-error")?,
        message: rest.trim_end().to_owned(),
    })
}

/// A whole boot's serial output, line by line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    pub lines: Vec<Line>,
}

impl Transcript {
    /// Parses the serial log. Bytes that are not UTF-8 are replaced, and a
    /// last line without `\n` (the kernel stopped mid-line) is kept.
    pub fn parse(bytes: &[u8], nonce: &str) -> Transcript {
        let text = String::from_utf8_lossy(bytes);
        Transcript {
            lines: text.lines().map(|l| parse_line(l, nonce)).collect(),
        }
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.lines.iter().filter_map(|line| match line {
            Line::Event(event) => Some(event),
            _ => None,
        })
    }

    /// The last line that is not blank, as the kernel printed it.
    pub fn last_nonempty_line(&self) -> Option<String> {
        self.lines.iter().rev().find_map(|line| {
            let text = match line {
                Line::Console(text) | Line::Malformed { text, .. } => text.clone(),
                Line::Event(event) => format!("{TAG} <nonce> {}", describe(event)),
            };
            (!text.trim().is_empty()).then(|| text.trim_end().to_owned())
        })
    }

    /// The last `fault` line and the console lines printed just before it
    /// (after the previous protocol line): the kernel's readable report.
    pub fn last_fault(&self) -> Option<(&Fault, Vec<&str>)> {
        let at = self
            .lines
            .iter()
            .rposition(|line| matches!(line, Line::Event(Event::Fault(_))))?;
        let Line::Event(Event::Fault(fault)) = &self.lines[at] else {
            return None;
        };
        let report = self.lines[..at]
            .iter()
            .rev()
            .take_while(|line| !matches!(line, Line::Event(_)))
            .filter_map(|line| match line {
                Line::Console(text) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .skip_while(|text| text.trim().is_empty())
            .collect();
        Some((fault, report))
    }

    pub fn saw_done(&self) -> bool {
        self.events().any(|event| matches!(event, Event::Done))
    }
}

/// An event written back roughly as the kernel sent it (for messages).
fn describe(event: &Event) -> String {
    match event {
        Event::Hello { fields, .. } => format!("hello {}", join_fields(fields)),
        Event::Plan {
            test,
            points,
            description,
        } => format!("plan {test} points={points} {description}"),
        Event::Run { test } => format!("run {test}"),
        Event::Pass { test, message } => format!("pass {test} {message}"),
        Event::Fail { test, message } => format!("fail {test} {message}"),
        Event::Fault(fault) => format!(
            "fault {} kind={}",
            fault.test.as_deref().unwrap_or("-"),
            fault.kind
        ),
        Event::Info(fields) => format!("info {}", join_fields(fields)),
        Event::Kd(fields) => format!("kd {}", join_fields(fields)),
        Event::Bench(row) => format!(
            "bench path={} kind={} cpus={} median={} min={} max={} n={} batches={}",
            row.path, row.kind, row.cpus, row.median, row.min, row.max, row.n, row.batches
        ),
        Event::BenchError(e) => format!(
            "bench-error path={} kind={} cpus={} {}",
            e.path, e.kind, e.cpus, e.message
        ),
        Event::Fuzz(fields) => format!("fuzz {}", join_fields(fields)),
        Event::Done => "done".into(),
    }
    .trim_end()
    .to_owned()
}

pub fn join_fields(fields: &Fields) -> String {
    fields
        .0
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "0123456789abcdef";

    fn ev(line: &str) -> Event {
        match parse_line(line, N) {
            Line::Event(event) => event,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn lines_without_the_prefix_or_with_another_nonce_are_console() {
        for line in [
            "pass lab1.x ok",
            "@@syslab fedcba9876543210 pass lab1.x ok",
            "@@syslab 0123456789abcde pass lab1.x ok",
            " @@syslab 0123456789abcdef pass lab1.x ok",
            "@@syslab0123456789abcdef pass lab1.x ok",
            "@@syslab 0123456789abcdef0 pass lab1.x ok",
            "x@@syslab 0123456789abcdef pass lab1.x",
        ] {
            assert_eq!(parse_line(line, N), Line::Console(line.into()), "{line}");
        }
    }

    #[test]
    fn every_verb() {
        assert_eq!(
            ev("@@syslab 0123456789abcdef hello lab=lab1 cpus=2 vendor=GenuineIntel"),
            Event::Hello {
                lab: "lab1".into(),
                cpus: Some(2),
                fields: Fields(vec![
                    ("lab".into(), Some("lab1".into())),
                    ("cpus".into(), Some("2".into())),
                    ("vendor".into(), Some("GenuineIntel".into())),
                ]),
            }
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef plan lab1.null_call points=5 a null system call returns"),
            Event::Plan {
                test: "lab1.null_call".into(),
                points: 5,
                description: "a null system call returns".into(),
            }
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef run lab1.null_call"),
            Event::Run {
                test: "lab1.null_call".into()
            }
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef pass lab1.null_call 3 calls in 120 cycles"),
            Event::Pass {
                test: "lab1.null_call".into(),
                message: "3 calls in 120 cycles".into()
            }
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef pass lab1.null_call"),
            Event::Pass {
                test: "lab1.null_call".into(),
                message: String::new()
            }
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef fail lab1.args expected 7, got 0"),
            Event::Fail {
                test: "lab1.args".into(),
                message: "expected 7, got 0".into()
            }
        );
        assert_eq!(
            ev(
                "@@syslab 0123456789abcdef fault lab1.args cpu=1 kind=#PF rip=0xffffffff80012345 ring=0 cr2=0x8 hint=GS base not swapped? check swapgs"
            ),
            Event::Fault(Fault {
                test: Some("lab1.args".into()),
                cpu: Some(1),
                kind: "#PF".into(),
                rip: Some(0xffff_ffff_8001_2345),
                ring: Some(0),
                cr2: Some(8),
                hint: Some("GS base not swapped? check swapgs".into()),
            })
        );
        assert_eq!(
            ev("@@syslab 0123456789abcdef fault - cpu=0 kind=panic rip=0x1000 ring=0"),
            Event::Fault(Fault {
                test: None,
                cpu: Some(0),
                kind: "panic".into(),
                rip: Some(0x1000),
                ring: Some(0),
                cr2: None,
                hint: None,
            })
        );
        let Event::Info(fields) =
            ev("@@syslab 0123456789abcdef info selftest ring3=broken int2e=#UD")
        else {
            panic!("not info")
        };
        assert_eq!(fields.0[0], ("selftest".to_owned(), None));
        assert_eq!(fields.get("ring3"), Some("broken"));
        assert_eq!(fields.get("int2e"), Some("#UD"));
        assert_eq!(ev("@@syslab 0123456789abcdef done"), Event::Done);
    }

    #[test]
    fn crlf_and_trailing_spaces_are_dropped() {
        assert_eq!(ev("@@syslab 0123456789abcdef done\r"), Event::Done);
        assert_eq!(
            ev("@@syslab 0123456789abcdef pass lab0.boot  booted \r\n"),
            Event::Pass {
                test: "lab0.boot".into(),
                message: "booted".into()
            }
        );
        let t = Transcript::parse(
            b"hello\r\n@@syslab 0123456789abcdef run lab0.boot\r\n@@syslab 0123456789abcdef done\r\n",
            N,
        );
        assert_eq!(t.lines.len(), 3);
        assert_eq!(t.lines[0], Line::Console("hello".into()));
        assert!(t.saw_done());
    }

    #[test]
    fn malformed_lines_with_the_right_nonce_are_reported() {
        for line in [
            "@@syslab 0123456789abcdef",
            "@@syslab 0123456789abcdef frobnicate",
            "@@syslab 0123456789abcdef plan lab1.x five points",
            "@@syslab 0123456789abcdef pass",
            "@@syslab 0123456789abcdef fault lab1.x cpu=0 rip=0x1",
        ] {
            assert!(
                matches!(parse_line(line, N), Line::Malformed { .. }),
                "{line}"
            );
        }
    }

    #[test]
    fn bench_lines() {
        assert_eq!(
            ev(
                "@@syslab 0123456789abcdef bench path=int2e kind=null cpus=2 bits=32 median=3028.4 \
                min=2756.7 max=5679.5 n=10000 batches=9"
            ),
            Event::Bench(BenchRow {
                path: "int2e".into(),
                kind: "null".into(),
                cpus: 2,
                bits: 32,
                median: 3028.4,
                min: 2756.7,
                max: 5679.5,
                n: 10000,
                batches: 9,
            })
        );
        // Keys in another order, integers for cycles.
        let Event::Bench(row) = ev(
            "@@syslab 0123456789abcdef bench batches=1 n=5 max=9 min=7 median=8 cpus=1 kind=bare path=call",
        ) else {
            panic!("not bench")
        };
        assert_eq!(
            (row.path.as_str(), row.median, row.batches, row.bits),
            ("call", 8.0, 1, 64),
            "no bits=: a 64-bit row"
        );
        assert_eq!(
            ev(
                "@@syslab 0123456789abcdef bench-error path=sysenter kind=create_close cpus=2 \
                CPU 1: 3 of 10000 operations failed"
            ),
            Event::BenchError(BenchError {
                path: "sysenter".into(),
                kind: "create_close".into(),
                cpus: 2,
                bits: 64,
                message: "CPU 1: 3 of 10000 operations failed".into(),
            })
        );
        let Event::BenchError(e) =
            ev("@@syslab 0123456789abcdef bench-error path=call kind=bare cpus=1 bits=32")
        else {
            panic!("not bench-error")
        };
        assert_eq!((e.message.as_str(), e.bits), ("", 32));
    }

    #[test]
    fn malformed_bench_lines_say_why() {
        for (line, why) in [
            (
                "bench path=call kind=bare cpus=1 median=1 min=1 max=1 n=1",
                "without batches=",
            ),
            (
                "bench kind=bare cpus=1 median=1 min=1 max=1 n=1 batches=1",
                "without path=",
            ),
            (
                "bench path=call kind=bare cpus=one median=1 min=1 max=1 n=1 batches=1",
                "cpus=one",
            ),
            (
                "bench path=call kind=bare cpus=1 bits=16 median=1 min=1 max=1 n=1 batches=1",
                "bits=16",
            ),
            (
                "bench path=call kind=bare cpus=1 median=x min=1 max=1 n=1 batches=1",
                "not a number",
            ),
            (
                "bench path=call kind=bare cpus=1 median=NaN min=1 max=1 n=1 batches=1",
                "finite",
            ),
            (
                "bench path=call kind=bare cpus=1 median=-1 min=-2 max=1 n=1 batches=1",
                "≥ 0",
            ),
            (
                "bench path=call kind=bare cpus=1 median=5 min=6 max=7 n=1 batches=1",
                "min ≤ median",
            ),
            ("bench-error kind=bare cpus=1 boom", "without path="),
            ("bench-error path=call kind=bare boom", "without cpus="),
        ] {
            match parse_line(&format!("@@syslab {N} {line}"), N) {
                Line::Malformed { reason, .. } => assert!(reason.contains(why), "{line}: {reason}"),
                other => panic!("{line} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn fault_report_is_the_console_lines_since_the_previous_protocol_line() {
        let log = "\
@@syslab 0123456789abcdef run lab1.a
user says hi
@@syslab 0123456789abcdef pass lab1.a
@@syslab 0123456789abcdef run lab1.b

PAGE FAULT in ring 0 on cpu 1
  rip=ffffffff80001234 cr2=0000000000000008
@@syslab 0123456789abcdef fault lab1.b cpu=1 kind=#PF rip=0xffffffff80001234 ring=0 cr2=0x8
";
        let t = Transcript::parse(log.as_bytes(), N);
        let (fault, report) = t.last_fault().unwrap();
        assert_eq!(fault.test.as_deref(), Some("lab1.b"));
        assert_eq!(
            report,
            [
                "PAGE FAULT in ring 0 on cpu 1",
                "  rip=ffffffff80001234 cr2=0000000000000008"
            ]
        );
    }

    #[test]
    fn last_nonempty_line_skips_blanks_and_keeps_partial_lines() {
        let t = Transcript::parse(
            b"one\n@@syslab 0123456789abcdef run lab0.x\nspinning...\n\n   \n",
            N,
        );
        assert_eq!(t.last_nonempty_line().as_deref(), Some("spinning..."));
        let t = Transcript::parse(b"one\nhalf a li", N);
        assert_eq!(t.last_nonempty_line().as_deref(), Some("half a li"));
        let t = Transcript::parse(b"@@syslab 0123456789abcdef run lab0.x\n", N);
        assert_eq!(
            t.last_nonempty_line().as_deref(),
            Some("@@syslab <nonce> run lab0.x")
        );
        assert_eq!(Transcript::parse(b"\n\n", N).last_nonempty_line(), None);
    }
}
