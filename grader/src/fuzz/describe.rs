//! What a case's calls were, from its seed alone. The kernel prints only
//! seeds, numbers and tokens; the grader draws the case again from the same
//! generator (`syslab_abi::fuzz::sim`) to say in words which call went
//! wrong, what came before it in the case, and what the tokens mean.

use syslab_abi::fuzz::Paths;
use syslab_abi::fuzz::case::{HandleArg, Op, Stack};
use syslab_abi::fuzz::model::SYSEXIT_RETURN;
use syslab_abi::fuzz::page::{DB, END_EXIT, END_RETURN};
use syslab_abi::fuzz::sim::{self, Step};
use syslab_abi::service::STATUS_UNSUCCESSFUL;
use syslab_abi::status::*;

use crate::symbolize::Symbolizer;

/// The NTSTATUS names the services return.
const STATUS_NAMES: [(NtStatus, &str); 8] = [
    (STATUS_SUCCESS, "STATUS_SUCCESS"),
    (STATUS_UNSUCCESSFUL, "STATUS_UNSUCCESSFUL"),
    (STATUS_NOT_IMPLEMENTED, "STATUS_NOT_IMPLEMENTED"),
    (STATUS_ACCESS_VIOLATION, "STATUS_ACCESS_VIOLATION"),
    (STATUS_INVALID_HANDLE, "STATUS_INVALID_HANDLE"),
    (STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER"),
    (
        STATUS_INVALID_SYSTEM_SERVICE,
        "STATUS_INVALID_SYSTEM_SERVICE",
    ),
    (
        STATUS_INSUFFICIENT_RESOURCES,
        "STATUS_INSUFFICIENT_RESOURCES",
    ),
];

/// `STATUS_INVALID_HANDLE (0xc0000008)`, or the bare number.
pub fn status(value: u64) -> String {
    match STATUS_NAMES.iter().find(|(s, _)| *s as u64 == value) {
        Some((_, name)) => format!("{name} ({value:#x})"),
        None => format!("{value:#x}"),
    }
}

/// A note for a handle argument that named nothing because the case held
/// (or had closed) no handle yet.
fn resolution(step: &Step) -> &'static str {
    let none_live = step.held.live().is_empty();
    let handle = match step.call.op {
        Op::Close(h) => h,
        Op::Terminate {
            current: false,
            other,
            ..
        } => other,
        _ => return "",
    };
    match handle {
        HandleArg::Live(_) | HandleArg::WrongGeneration(..) if none_live => {
            " (the case held none, so: NULL)"
        }
        HandleArg::Stale(_) if step.held.stale().is_empty() => {
            " (the case had closed none, so: NULL)"
        }
        _ => "",
    }
}

/// How a call must end, in words, from the model.
fn owed(step: &Step) -> String {
    let end = step.outcome.end;
    match end.kind {
        END_RETURN => format!("returns {}", status(step.outcome.status)),
        END_EXIT => format!("ends the thread with exit status {:#x}", end.value),
        _ if end.vectors == 1 << DB => "single-steps: killed by #DB right after the return".into(),
        _ if matches!(step.call.stack, Stack::Bad(_)) => {
            "killed when it touches its bad stack after the return".into()
        }
        _ => "killed at the bad address it returns to".into(),
    }
}

/// A step's call in words, with the note on its handle after the service.
fn words(step: &Step) -> String {
    let text = step.call.to_string();
    match text.split_once(" via ") {
        Some((op, rest)) => format!("{op}{} via {rest}", resolution(step)),
        None => text,
    }
}

/// One line per call of case `seed` on `paths`, up to and including call
/// `upto` (every call with `None`): `3. NtClose(...) via syscall: returns ...`.
pub fn calls(seed: u64, paths: Paths, upto: Option<u64>) -> Vec<String> {
    sim::steps(seed, paths)
        .take_while(|s| upto.is_none_or(|last| s.index <= last))
        .map(|s| format!("{}. {}: {}", s.index, words(&s), owed(&s)))
        .collect()
}

/// Call `index` of case `seed`, in words, if the case has it.
pub fn call(seed: u64, paths: Paths, index: u64) -> Option<String> {
    sim::steps(seed, paths)
        .find(|s| s.index == index)
        .map(|s| words(&s))
}

/// An address in the user program, named.
fn user_place(rip: u64, user: Option<&Symbolizer>) -> String {
    if rip == SYSEXIT_RETURN {
        return format!("{rip:#x} (the `ret` of SharedUserData's SystemCallStub)");
    }
    match user.and_then(|u| u.symbolize(rip)) {
        Some(place) => format!("{rip:#x} ({place})"),
        None => format!("{rip:#x}"),
    }
}

/// A thread end as the kernel prints it (`return`, `exit:0x5`,
/// `killed:#DB@0x4000...`), in words.
pub fn end(token: &str, user: Option<&Symbolizer>) -> String {
    if token == "return" {
        return "the call returns".into();
    }
    if let Some(status) = token.strip_prefix("exit:") {
        return format!("the thread exits with status {status}");
    }
    if let Some((vectors, rip)) = token
        .strip_prefix("killed:")
        .and_then(|k| k.split_once('@'))
    {
        let rip = rip
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        let vectors = vectors.replace('/', " or ");
        return match rip {
            Some(rip) => format!(
                "the thread is killed by {vectors} at {}",
                user_place(rip, user)
            ),
            None => format!("the thread is killed by {vectors}"),
        };
    }
    token.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syslab_abi::fuzz::Case;

    #[test]
    fn statuses_by_name() {
        assert_eq!(status(0), "STATUS_SUCCESS (0x0)");
        assert_eq!(status(0xC000_0008), "STATUS_INVALID_HANDLE (0xc0000008)");
        assert_eq!(status(0x1234), "0x1234");
    }

    #[test]
    fn a_case_in_words() {
        let seed = 0x5eed;
        let lines = calls(seed, Paths::ALL, None);
        assert!(lines.len() as u64 >= Case::new(seed).len);
        assert!(lines[0].starts_with("0. "), "{lines:?}");
        assert!(lines.iter().all(|l| l.contains(" via ")), "{lines:?}");
        let two = calls(seed, Paths::ALL, Some(1));
        assert_eq!(two.len(), 2);
        assert_eq!(two[..], lines[..2]);
        assert_eq!(
            call(seed, Paths::ALL, 1).unwrap(),
            lines[1][3..lines[1].rfind(": ").unwrap()]
        );
        assert_eq!(call(seed, Paths::ALL, 10_000), None);
    }

    #[test]
    fn some_case_shows_each_kind_of_end_and_note() {
        let all: Vec<String> = (0..400).flat_map(|s| calls(s, Paths::ALL, None)).collect();
        for phrase in [
            "returns STATUS_SUCCESS",
            "ends the thread",
            "single-steps",
            "bad stack",
            "bad address it returns to",
            "(the case held none, so: NULL)",
        ] {
            assert!(all.iter().any(|l| l.contains(phrase)), "{phrase}");
        }
    }

    #[test]
    fn ends_in_words() {
        assert_eq!(end("return", None), "the call returns");
        assert_eq!(
            end("exit:0x600d", None),
            "the thread exits with status 0x600d"
        );
        assert_eq!(
            end("killed:#GP/#SS@0x7ffe0315", None),
            "the thread is killed by #GP or #SS at 0x7ffe0315 (the `ret` of SharedUserData's \
             SystemCallStub)"
        );
        assert_eq!(
            end("killed:#DB@0x40", None),
            "the thread is killed by #DB at 0x40"
        );
        assert_eq!(end("odd", None), "odd");
    }
}
