//! Line editing at the `kd>` prompt, one byte of COM1 at a time.
//!
//! The terminal is in raw mode (the grader sets it), so the kernel echoes
//! what is typed and handles the editing keys itself: Backspace (BS or
//! DEL), Ctrl-U (erase the line), Up (the previous line again), Ctrl-C,
//! Enter (CR, LF or CR LF). Other escape sequences and control bytes are
//! dropped with a bell; so is anything past [`MAX_LINE`] characters, and
//! such a line is refused whole when it ends, rather than run cut short.

use alloc::string::String;
use alloc::vec::Vec;

/// The longest command line.
pub const MAX_LINE: usize = 255;

const BELL: u8 = 0x07;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESCAPE: u8 = 0x1b;

/// What a byte completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter: the line, or why it cannot run.
    Line(Result<String, String>),
    /// Ctrl-C.
    Interrupt,
}

/// Where in an escape sequence the editor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [` (CSI) or `ESC O` (SS3): until the final byte.
    Sequence,
}

pub struct LineEditor {
    line: String,
    /// Characters were dropped because the line was full.
    overflow: bool,
    escape: Escape,
    /// The last CR ended a line, so an LF right after it is not another.
    after_cr: bool,
    /// The previous line, for Up.
    previous: String,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        LineEditor {
            line: String::new(),
            overflow: false,
            escape: Escape::None,
            after_cr: false,
            previous: String::new(),
        }
    }

    /// Erases what is on the line, on the terminal too.
    fn erase(&mut self, echo: &mut Vec<u8>) {
        for _ in 0..self.line.len() {
            echo.extend_from_slice(b"\x08 \x08");
        }
        self.line.clear();
        self.overflow = false;
    }

    /// Takes one byte; appends what the terminal should show to `echo`.
    pub fn feed(&mut self, byte: u8, echo: &mut Vec<u8>) -> Option<Event> {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return None;
            }
            Escape::Sequence => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                    if byte == b'A' {
                        // Up: the previous line again.
                        self.erase(echo);
                        self.line = self.previous.clone();
                        echo.extend_from_slice(self.line.as_bytes());
                    }
                }
                return None;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                echo.push(b'\n'); // the console sends it as CR LF
                let line = core::mem::take(&mut self.line);
                if core::mem::replace(&mut self.overflow, false) {
                    return Some(Event::Line(Err(alloc::format!(
                        "the line is longer than {MAX_LINE} characters; nothing was run"
                    ))));
                }
                if !line.trim().is_empty() {
                    self.previous = line.clone();
                }
                Some(Event::Line(Ok(line)))
            }
            BACKSPACE | DELETE => {
                if self.line.pop().is_some() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                None
            }
            CTRL_U => {
                self.erase(echo);
                None
            }
            CTRL_C => {
                self.line.clear();
                self.overflow = false;
                echo.extend_from_slice(b"^C\n");
                Some(Event::Interrupt)
            }
            ESCAPE => {
                self.escape = Escape::Start;
                None
            }
            b'\t' | 0x20..=0x7e => {
                if self.line.len() < MAX_LINE {
                    let c = if byte == b'\t' { ' ' } else { byte as char };
                    self.line.push(c);
                    echo.push(c as u8);
                } else {
                    self.overflow = true;
                    echo.push(BELL);
                }
                None
            }
            _ => {
                echo.push(BELL);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes`; returns the events and the echo.
    fn feed(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<Event>, Vec<u8>) {
        let mut echo = Vec::new();
        let events = bytes
            .iter()
            .filter_map(|&b| ed.feed(b, &mut echo))
            .collect();
        (events, echo)
    }

    fn line(s: &str) -> Event {
        Event::Line(Ok(s.into()))
    }

    #[test]
    fn typing_backspace_and_enter() {
        let mut ed = LineEditor::new();
        let (events, echo) = feed(&mut ed, b"rdmsx\x7fr 174\r\n");
        assert_eq!(events, [line("rdmsr 174")]);
        assert_eq!(echo, b"rdmsx\x08 \x08r 174\n");
        let (events, _) = feed(&mut ed, b"\x08\x08g\n");
        assert_eq!(
            events,
            [line("g")],
            "backspace on an empty line is harmless"
        );
    }

    #[test]
    fn crlf_is_one_line_but_two_crs_are_two() {
        let mut ed = LineEditor::new();
        let (events, _) = feed(&mut ed, b"a\r\nb\r\r");
        assert_eq!(events, [line("a"), line("b"), line("")]);
    }

    #[test]
    fn ctrl_c_ctrl_u_and_up() {
        let mut ed = LineEditor::new();
        let (events, _) = feed(&mut ed, b"half\x03");
        assert_eq!(events, [Event::Interrupt]);
        let (events, _) = feed(&mut ed, b"junk\x15r\r");
        assert_eq!(events, [line("r")]);
        let (events, echo) = feed(&mut ed, b"x\x1b[A\r");
        assert_eq!(events, [line("r")], "Up recalls the previous line");
        assert!(echo.starts_with(b"x\x08 \x08r"));
        let (events, _) = feed(&mut ed, b"\x1b[1;5Cq\r");
        assert_eq!(events, [line("q")], "other sequences are dropped whole");
    }

    #[test]
    fn hostile_bytes_never_reach_the_line() {
        let mut ed = LineEditor::new();
        let (events, echo) = feed(&mut ed, b"\x00\x01\xff\xc3\xa9ok\r");
        assert_eq!(events, [line("ok")]);
        assert_eq!(echo.iter().filter(|&&b| b == BELL).count(), 5);
    }

    #[test]
    fn a_too_long_line_is_refused_whole() {
        let mut ed = LineEditor::new();
        let mut bytes = alloc::vec![b'x'; 10_000];
        bytes.push(b'\r');
        let (events, echo) = feed(&mut ed, &bytes);
        match &events[..] {
            [Event::Line(Err(why))] => assert!(why.contains("longer than 255")),
            other => panic!("{other:?}"),
        }
        assert!(echo.len() < 10_100);
        let (events, _) = feed(&mut ed, b"r\r");
        assert_eq!(events, [line("r")], "the next line is fine again");
    }
}
