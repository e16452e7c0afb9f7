//! The book's console transcripts, re-run and compared, so that none can
//! drift from what the commands really print.
//!
//! Each transcript is a pair:
//! - `book/transcripts/NAME.cmd`: the command line, run from the repository
//!   root by `sh -c` with stderr joined to stdout. Lines starting with `#`
//!   are comments; a comment `# mask: REGEX` also hides what REGEX matches
//!   (for a value of that transcript that changes from run to run). `cargo
//!   grader` runs the grader this test was built with.
//! - `book/src/transcripts/NAME.txt`: its output, which the book includes
//!   with `{{#include ../transcripts/NAME.txt}}`.
//!
//! Both sides are normalized by one table (transcripts/normalize.rs) before
//! they are compared with snapbox, which prints the difference.
//!
//! - `TRANSCRIPTS=overwrite cargo test -p syslab-grader --test transcripts`
//!   rewrites every .txt from a fresh run (then read `git diff book/src`);
//! - `TRANSCRIPTS_ONLY=lab1` runs only the transcripts whose name contains
//!   `lab1`.
//!
//! Helpers for the commands are in `book/transcripts/`: `excerpt` (a report
//! cut to some tests) and `gdb-session` (a scripted gdb session against the
//! real QEMU). The reports of a broken kernel are `cargo grader mutants NAME
//! --report`: a mutant of grader/mutants/, graded as a student's labs/.

#[path = "transcripts/normalize.rs"]
mod normalize;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use normalize::Normalizer;
use snapbox::Data;
use snapbox::assert::Action;
use wait_timeout::ChildExt;

/// One command may take this long (a lab that times out boot after boot).
const TIMEOUT: Duration = Duration::from_secs(600);
/// The environment variable that makes the checker rewrite the transcripts.
const ACTION_ENV: &str = "TRANSCRIPTS";
const ONLY_ENV: &str = "TRANSCRIPTS_ONLY";
const MASK: &str = "# mask:";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader lives in the workspace")
        .to_path_buf()
}

/// A .cmd file: its script (the lines that are not comments) and masks.
#[derive(Debug, PartialEq, Eq)]
struct CmdFile {
    script: String,
    masks: Vec<String>,
}

fn parse_cmd(text: &str) -> CmdFile {
    let mut script = Vec::new();
    let mut masks = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(mask) = trimmed.strip_prefix(MASK) {
            masks.push(mask.trim().to_owned());
        } else if !trimmed.starts_with('#') && !trimmed.is_empty() {
            script.push(line);
        }
    }
    CmdFile {
        script: script.join("\n"),
        masks,
    }
}

/// `cargo grader` as the grader binary this test was built with: the same
/// code, without the release build `cargo grader` would start.
fn with_grader(script: &str, grader: &Path) -> String {
    let re = regex::Regex::new(r#"(^|[\s;&|('"])cargo grader(\s|$)"#).expect("the regex compiles");
    let quoted = format!("'{}'", grader.display().to_string().replace('\'', r"'\''"));
    re.replace_all(script, |c: &regex::Captures<'_>| {
        format!("{}{quoted}{}", &c[1], &c[2])
    })
    .into_owned()
}

/// Runs a script from the root; returns everything it printed.
fn run(script: &str, root: &Path) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{script}"))
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env("CLICOLOR", "0")
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let mut pipe = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    });
    match child.wait_timeout(TIMEOUT).map_err(|e| e.to_string())? {
        Some(_) => {}
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "still running after {} s; killed",
                TIMEOUT.as_secs()
            ));
        }
    }
    let bytes = reader.join().unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What became of one transcript.
enum Verdict {
    Same,
    Written,
    Differs(String),
}

fn check(name: &str, cmd: &Path, txt: &Path, overwrite: bool, grader: &Path) -> Verdict {
    let root = root();
    let parsed = parse_cmd(&std::fs::read_to_string(cmd).unwrap_or_default());
    if parsed.script.is_empty() {
        return Verdict::Differs(format!("{}: no command in it", cmd.display()));
    }
    let normalizer = match Normalizer::new(&root.display().to_string(), &parsed.masks) {
        Ok(n) => n,
        Err(e) => return Verdict::Differs(format!("{}: {e}", cmd.display())),
    };
    let output = match run(&with_grader(&parsed.script, grader), &root) {
        Ok(output) => output,
        Err(e) => return Verdict::Differs(format!("{name}: {e}")),
    };
    let shown = normalizer.for_display(&output);
    let expected = std::fs::read_to_string(txt).ok();
    let same = expected
        .as_deref()
        .is_some_and(|e| normalizer.for_comparison(e) == normalizer.for_comparison(&shown));
    if same {
        return Verdict::Same;
    }
    if overwrite {
        return match std::fs::write(txt, &shown) {
            Ok(()) => Verdict::Written,
            Err(e) => Verdict::Differs(format!("cannot write {}: {e}", txt.display())),
        };
    }
    let Some(expected) = expected else {
        return Verdict::Differs(format!(
            "{name}: there is no {}; write it with {ACTION_ENV}=overwrite",
            txt.display()
        ));
    };
    let label = format!("{name}: this run");
    match snapbox::Assert::new().action(Action::Verify).try_eq(
        Some(&label),
        Data::text(normalizer.for_comparison(&shown)).raw(),
        Data::text(normalizer.for_comparison(&expected)).raw(),
    ) {
        Ok(()) => Verdict::Same,
        Err(diff) => Verdict::Differs(format!("{name} (book/src/transcripts/{name}.txt):\n{diff}")),
    }
}

#[test]
fn every_transcript_in_the_book_is_what_its_command_prints() {
    let root = root();
    let cmds_dir = root.join("book").join("transcripts");
    let txts_dir = root.join("book").join("src").join("transcripts");
    let overwrite = std::env::var(ACTION_ENV).is_ok_and(|v| v == "overwrite");
    let only = std::env::var(ONLY_ENV).unwrap_or_default();
    let grader = PathBuf::from(env!("CARGO_BIN_EXE_syslab-grader"));

    let names = |dir: &Path, ext: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_suffix(ext).map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let cmds = names(&cmds_dir, ".cmd");
    let mut failures = Vec::new();
    // A transcript whose command is gone cannot be checked.
    for orphan in names(&txts_dir, ".txt")
        .iter()
        .filter(|t| !cmds.contains(t))
    {
        failures.push(format!(
            "book/src/transcripts/{orphan}.txt has no book/transcripts/{orphan}.cmd"
        ));
    }
    let mut checked = 0;
    for name in cmds.iter().filter(|n| n.contains(&only)) {
        let started = std::time::Instant::now();
        let verdict = check(
            name,
            &cmds_dir.join(format!("{name}.cmd")),
            &txts_dir.join(format!("{name}.txt")),
            overwrite,
            &grader,
        );
        let secs = started.elapsed().as_secs_f64();
        match verdict {
            Verdict::Same => eprintln!("transcript {name}: same ({secs:.1} s)"),
            Verdict::Written => eprintln!("transcript {name}: written ({secs:.1} s)"),
            Verdict::Differs(why) => {
                eprintln!("transcript {name}: DIFFERS ({secs:.1} s)");
                failures.push(why);
            }
        }
        checked += 1;
    }
    assert!(
        checked > 0 || !only.is_empty(),
        "no transcripts found in {}",
        cmds_dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} transcripts differ from what their commands print now.\n\
         If the new output is right, rewrite them with\n    \
         {ACTION_ENV}=overwrite cargo test -p syslab-grader --test transcripts\n\
         and read `git diff book/src/transcripts` before you commit.\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn cmd_files_are_commands_comments_and_masks() {
    let parsed = parse_cmd(
        "# The skeleton's Lab 1.\n# mask: batch [0-9]+\ncargo grader lab1\n\n  # indented comment\n",
    );
    assert_eq!(
        parsed,
        CmdFile {
            script: "cargo grader lab1".into(),
            masks: vec!["batch [0-9]+".into()],
        }
    );
}

#[test]
fn cargo_grader_becomes_the_test_binary() {
    let g = Path::new("/t/syslab-grader");
    assert_eq!(
        with_grader("cargo grader lab1", g),
        "'/t/syslab-grader' lab1"
    );
    assert_eq!(
        with_grader(
            "cargo grader mutants x --report | book/transcripts/excerpt a",
            g
        ),
        "'/t/syslab-grader' mutants x --report | book/transcripts/excerpt a"
    );
    assert_eq!(with_grader("cargo graders", g), "cargo graders");
    assert_eq!(with_grader("cargo test", g), "cargo test");
}
