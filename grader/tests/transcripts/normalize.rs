//! The one normalization table of the transcript checker: what may differ
//! between two runs of the same command on the same tree, and so is hidden
//! from the comparison.
//!
//! Two kinds of rule:
//! - the *display* rule rewrites what is machine-specific, this checkout's
//!   absolute path, into what a reader of the book should see. It is
//!   applied when a transcript is written, and to both sides when one is
//!   compared.
//! - *volatile* rules hide what changes from run to run (nonces, gdb ports,
//!   timings, cycle counts, the run's log directory). They are applied only
//!   when comparing: the book shows the real values of the run that wrote
//!   it.
//!
//! Kernel addresses and line numbers are NOT hidden: they change only when
//! the code does, and then the book should change with it
//! (`TRANSCRIPTS=overwrite` rewrites it).

use regex::Regex;

/// What a checkout's absolute path reads as in the book.
pub const ROOT_SHOWN: &str = "~/syslab";

struct Rule {
    /// What it hides, for the table's readers and its tests.
    #[allow(dead_code)]
    what: &'static str,
    pattern: &'static str,
    replacement: &'static str,
}

/// Hidden from the comparison only.
const VOLATILE: &[Rule] = &[
    Rule {
        what: "the log directory of a run, named after its time and process id",
        pattern: r"\btarget/syslab/logs/[0-9]{8}-[0-9]{6}-[0-9]+/",
        replacement: "target/syslab/logs/[run]/",
    },
    Rule {
        what: "the nonce of a boot, on the kernel command line and in protocol lines",
        pattern: r"(nonce=|@@syslab )[0-9a-f]{16}\b",
        replacement: "${1}[nonce]",
    },
    Rule {
        what: "the TCP port of QEMU's gdb stub, chosen free at each run",
        pattern: r"(localhost:|127\.0\.0\.1:|on port )[0-9]+\b",
        replacement: "${1}[port]",
    },
    Rule {
        what: "the minutes of a duration with a fraction: kd's `1 min 30.0 s`",
        pattern: r"\b[0-9]+ min ([0-9]+\.[0-9]+ ?s)\b",
        replacement: "$1",
    },
    Rule {
        what: "a duration with a fraction: libtest's `finished in 0.03s`, a bench time",
        pattern: r"\b[0-9]+\.[0-9]+ ?(s|ms|µs|us|ns)\b",
        replacement: "[time]",
    },
    Rule {
        what: "a whole duration below a second",
        pattern: r"\b[0-9]+ ?(ms|µs|us|ns)\b",
        replacement: "[time]",
    },
    Rule {
        what: "a cycle count",
        pattern: r"\b[0-9][0-9,_]*(\.[0-9]+)? (TSC )?cycles\b",
        replacement: "[n] cycles",
    },
    Rule {
        what: "the TSC frequency the kernel calibrated",
        pattern: r"(mhz=|tsc_mhz\W+)[0-9]+(\.[0-9]+)?|\b[0-9]+(\.[0-9]+)? MHz\b",
        replacement: "${1}[MHz]",
    },
];

/// The compiled table, for one checkout, plus a transcript's own masks
/// (`# mask: REGEX` lines in its .cmd file).
pub struct Normalizer {
    root: String,
    volatile: Vec<(Regex, &'static str)>,
    masks: Vec<Regex>,
}

impl Normalizer {
    pub fn new(root: &str, masks: &[String]) -> Result<Normalizer, String> {
        let compile = |rules: &[Rule]| {
            rules
                .iter()
                .map(|r| {
                    (
                        Regex::new(r.pattern).expect("the table's regexes compile"),
                        r.replacement,
                    )
                })
                .collect()
        };
        let masks = masks
            .iter()
            .map(|m| Regex::new(m).map_err(|e| format!("bad `# mask:` regex {m:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Normalizer {
            root: root.trim_end_matches('/').to_owned(),
            volatile: compile(VOLATILE),
            masks,
        })
    }

    /// What a transcript file holds: the output with the checkout's path
    /// shown as `ROOT_SHOWN`, lines without trailing blanks, and no colour.
    pub fn for_display(&self, output: &str) -> String {
        let mut text = strip_ansi(output).replace("\r\n", "\n");
        if !self.root.is_empty() {
            text = text.replace(&self.root, ROOT_SHOWN);
        }
        let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// What is compared: the display form with the volatile parts hidden.
    pub fn for_comparison(&self, text: &str) -> String {
        let mut text = self.for_display(text);
        for (re, with) in &self.volatile {
            text = re.replace_all(&text, *with).into_owned();
        }
        for re in &self.masks {
            text = re.replace_all(&text, "[masked]").into_owned();
        }
        text
    }
}

/// Removes ANSI colour and cursor sequences.
fn strip_ansi(text: &str) -> String {
    let re = Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("the ANSI regex compiles");
    re.replace_all(text, "").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> Normalizer {
        Normalizer::new("/home/ci/work/syslab", &[]).unwrap()
    }

    #[test]
    fn every_rule_compiles_and_says_what_it_hides() {
        for rule in VOLATILE {
            assert!(Regex::new(rule.pattern).is_ok(), "{}", rule.pattern);
            assert!(!rule.what.is_empty());
        }
    }

    #[test]
    fn the_checkout_reads_as_the_book_shows_it() {
        let out = "Reading symbols from /home/ci/work/syslab/target/x86_64-unknown-none/release/syslab-labs...\n";
        assert_eq!(
            n().for_display(out),
            "Reading symbols from ~/syslab/target/x86_64-unknown-none/release/syslab-labs...\n"
        );
    }

    #[test]
    fn display_keeps_the_volatile_values() {
        let out = "@@syslab 0123456789abcdef hello\nfinished in 0.03s\n";
        assert_eq!(n().for_display(out), out);
    }

    #[test]
    fn nonces_ports_and_timings_are_hidden_when_comparing() {
        let a = "-append 'nonce=0123456789abcdef lab=lab2' -gdb tcp:127.0.0.1:40123\n\
                 QEMU is paused, waiting for gdb on port 40123. In another terminal, run:\n\
                 target remote localhost:40123\n\
                 @@syslab 0123456789abcdef run lab1.gate\n\
                 ok. 9 passed; 0 failed; finished in 0.03s (solutions/tests/lab2.rs)\n\
                 int2e 612.5 cycles, 236 ns, tsc mhz=2596 at 2596.1 MHz\n\
                 serial log: target/syslab/logs/20261201-120646-3635/lab3-intel-tcg-boot1.serial.log\n\
                 0xFFFFFF pairs, the article's loop, would take 58.20 s\n";
        let b = "-append 'nonce=fedcba9876543210 lab=lab2' -gdb tcp:127.0.0.1:5555\n\
                 QEMU is paused, waiting for gdb on port 5555. In another terminal, run:\n\
                 target remote localhost:5555\n\
                 @@syslab fedcba9876543210 run lab1.gate\n\
                 ok. 9 passed; 0 failed; finished in 1.20s (solutions/tests/lab2.rs)\n\
                 int2e 1,041 cycles, 412 ns, tsc mhz=2601 at 2601 MHz\n\
                 serial log: target/syslab/logs/20261202-090000-17/lab3-intel-tcg-boot1.serial.log\n\
                 0xFFFFFF pairs, the article's loop, would take 1 min 2.5 s\n";
        assert_eq!(n().for_comparison(a), n().for_comparison(b));
        assert!(n().for_comparison(a).contains("run lab1.gate"));
    }

    #[test]
    fn what_matters_is_not_hidden() {
        // Addresses, error codes, counts, whole seconds and line numbers stay.
        for (a, b) in [
            ("error code 0x2d2", "error code 0x16a"),
            (
                "rip 0x1199c1: KiSystemServiceExit+0x1",
                "rip 0x1199c5: KiSystemServiceExit+0x5",
            ),
            ("CPU 0: 1000 calls", "CPU 0: 999 calls"),
            ("timeout after 20 s", "timeout after 60 s"),
            ("(labs/src/lab1.rs:27)", "(labs/src/lab1.rs:28)"),
            ("RIP=0000000000100154", "RIP=0000000000100155"),
            (
                "target/syslab/logs/20261201-124930-28180/lab1-intel-tcg-boot1.serial.log",
                "target/syslab/logs/20261201-124930-28180/lab1-intel-tcg-boot2.serial.log",
            ),
        ] {
            assert_ne!(n().for_comparison(a), n().for_comparison(b), "{a} / {b}");
        }
    }

    #[test]
    fn colour_trailing_blanks_and_line_ends_do_not_count() {
        assert_eq!(
            n().for_comparison("\x1b[1mScore: 5/10\x1b[0m  \r\n\n\n"),
            "Score: 5/10\n"
        );
    }

    #[test]
    fn a_transcripts_own_masks() {
        let n = Normalizer::new("/r", &[r"\bbatch [0-9]+\b".to_owned()]).unwrap();
        assert_eq!(n.for_comparison("took batch 7\n"), "took [masked]\n");
        assert!(Normalizer::new("/r", &["(".to_owned()]).is_err());
    }
}
