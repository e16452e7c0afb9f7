//! What the grader sees of a `kd>` session: the serial stream split into
//! console output (shown) and this boot's protocol lines (hidden), as the
//! bytes arrive. A console line is passed on before its end, since the
//! prompt `0: kd> ` has none; a line is held back only while it could
//! still become `@@syslab ...`.

use crate::protocol::{Event, Fields, Line, TAG, parse_line};

/// A piece of the serial stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Console output, to show.
    Console(Vec<u8>),
    /// A `kd ...` protocol line of this boot.
    Kd(Fields),
    /// Any other protocol line of this boot (hello, info, fault, done ...).
    Protocol(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line, or inside what may yet be a protocol tag.
    Undecided,
    Console,
    Protocol,
}

pub struct Filter {
    nonce: String,
    prefix: Vec<u8>,
    pending: Vec<u8>,
    state: State,
}

impl Filter {
    pub fn new(nonce: &str) -> Filter {
        Filter {
            nonce: nonce.to_owned(),
            prefix: format!("{TAG} ").into_bytes(),
            pending: Vec::new(),
            state: State::Undecided,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut console = Vec::new();
        for &b in bytes {
            match self.state {
                State::Console => {
                    console.push(b);
                    if b == b'\n' {
                        self.state = State::Undecided;
                    }
                }
                State::Undecided => {
                    self.pending.push(b);
                    let n = self.pending.len().min(self.prefix.len());
                    if b == b'\n' || self.pending[..n] != self.prefix[..n] {
                        console.append(&mut self.pending);
                        self.state = if b == b'\n' {
                            State::Undecided
                        } else {
                            State::Console
                        };
                    } else if self.pending.len() >= self.prefix.len() {
                        self.state = State::Protocol;
                    }
                }
                State::Protocol => {
                    self.pending.push(b);
                    if b == b'\n' {
                        if !console.is_empty() {
                            out.push(Piece::Console(std::mem::take(&mut console)));
                        }
                        out.push(self.classify());
                        self.state = State::Undecided;
                    }
                }
            }
        }
        if !console.is_empty() {
            out.push(Piece::Console(console));
        }
        out
    }

    fn classify(&mut self) -> Piece {
        let raw = std::mem::take(&mut self.pending);
        let text = String::from_utf8_lossy(&raw).into_owned();
        match parse_line(&text, &self.nonce) {
            Line::Event(Event::Kd(fields)) => Piece::Kd(fields),
            Line::Event(_) | Line::Malformed { .. } => Piece::Protocol(text.trim_end().to_owned()),
            // Another nonce: not this boot's protocol, so plain output.
            Line::Console(_) => Piece::Console(raw),
        }
    }
}

/// The first word of a `kd` line: `ready`, `prompt`, `result`, `running`, `quit`.
pub fn verb(fields: &Fields) -> &str {
    fields.0.first().map(|(k, _)| k.as_str()).unwrap_or("")
}

/// Whether a `kd result` line says the command failed.
pub fn failed(fields: &Fields) -> bool {
    verb(fields) == "result" && fields.0.get(1).map(|(k, _)| k.as_str()) == Some("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "0123456789abcdef";

    fn console(s: &str) -> Piece {
        Piece::Console(s.as_bytes().to_vec())
    }

    #[test]
    fn prompts_pass_at_once_and_protocol_lines_are_taken_out() {
        let mut f = Filter::new(N);
        let text = format!("boot line\r\n{TAG} {N} kd prompt cpu=0\r\n0: kd> ");
        let pieces = f.feed(text.as_bytes());
        assert_eq!(pieces[0], console("boot line\r\n"));
        match &pieces[1] {
            Piece::Kd(fields) => {
                assert_eq!(verb(fields), "prompt");
                assert_eq!(fields.get("cpu"), Some("0"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pieces[2], console("0: kd> "));
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn split_anywhere_and_other_nonces() {
        let text = format!(
            "@@sys\n{TAG} {N} kd result error\n{TAG} ffffffffffffffff kd quit\n{TAG} {N} hello lab=kd\n@"
        );
        let mut whole = Filter::new(N);
        let at_once = whole.feed(text.as_bytes());
        let mut bytewise = Filter::new(N);
        let mut one_by_one = Vec::new();
        for b in text.as_bytes() {
            one_by_one.extend(bytewise.feed(&[*b]));
        }
        let shown = |pieces: &[Piece]| -> Vec<u8> {
            pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Console(b) => Some(b.clone()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        let expected = format!("@@sys\n{TAG} ffffffffffffffff kd quit\n");
        assert_eq!(String::from_utf8(shown(&at_once)).unwrap(), expected);
        assert_eq!(String::from_utf8(shown(&one_by_one)).unwrap(), expected);
        let kd: Vec<&Fields> = at_once
            .iter()
            .filter_map(|p| match p {
                Piece::Kd(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(kd.len(), 1);
        assert!(failed(kd[0]));
        assert!(at_once.contains(&Piece::Protocol(format!("{TAG} {N} hello lab=kd"))));
    }
}
