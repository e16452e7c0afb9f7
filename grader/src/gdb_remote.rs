//! A client of GDB's remote serial protocol, enough to drive QEMU's gdb stub
//! (`-gdb tcp:127.0.0.1:PORT`) from the grader: breakpoints, continue,
//! single-step and the registers. `bench --anatomy` uses it to step through
//! one system call an instruction at a time.
//!
//! The protocol (GDB manual, "Remote Protocol"): every packet is
//! `$<data>#<two hex digits>`, the digits being the sum of the data's bytes
//! modulo 256. After `QStartNoAckMode` neither side sends the `+`
//! acknowledgements. A stop reply is `T05...` or `S05` (stopped with
//! SIGTRAP: a breakpoint or the end of a step), `Wxx` (the machine ended
//! with status xx) or `Xxx` (killed by signal xx).
//!
//! QEMU's stub steps with interrupts and timers masked (its default
//! `sstep` flags), so a step is exactly one guest instruction, including
//! `int`, `sysenter`, `syscall` and their returns: the next stop is at the
//! first instruction of the handler, or back in ring 3.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The registers `bench --anatomy` reads after each step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub rip: u64,
    pub rsp: u64,
    pub rdi: u64,
    pub cs: u64,
}

impl Registers {
    /// Whether the CPU is in ring 3 (CS.RPL = 3).
    pub fn user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// Why the target stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A breakpoint or the end of a step (the signal number, 5 = SIGTRAP).
    Signal(u8),
    /// The machine ended: QEMU exited (with this status when the stub said).
    Exited(Option<u8>),
}

/// One connection to a gdb stub.
pub struct Remote {
    stream: TcpStream,
    /// Bytes received and not yet consumed.
    pending: Vec<u8>,
    acks: bool,
}

/// The checksum of a packet's data.
pub fn checksum(data: &str) -> u8 {
    data.bytes().fold(0u8, |sum, b| sum.wrapping_add(b))
}

/// `data` framed as a packet. The data must not hold `$`, `#` or `}`
/// (nothing the grader sends does).
pub fn frame(data: &str) -> String {
    format!("${data}#{:02x}", checksum(data))
}

/// Takes one packet off the front of `buffer`: its data, and how many
/// bytes it used. `None` while the packet is incomplete; `+` and `-`
/// before it are skipped. A packet with a wrong checksum is an error.
pub fn unframe(buffer: &[u8]) -> Result<Option<(String, usize)>> {
    let Some(start) = buffer.iter().position(|&b| b == b'$') else {
        return Ok(None);
    };
    let Some(hash) = buffer[start..].iter().position(|&b| b == b'#') else {
        return Ok(None);
    };
    let hash = start + hash;
    if buffer.len() < hash + 3 {
        return Ok(None);
    }
    let data = String::from_utf8_lossy(&buffer[start + 1..hash]).into_owned();
    let given = std::str::from_utf8(&buffer[hash + 1..hash + 3])
        .ok()
        .and_then(|digits| u8::from_str_radix(digits, 16).ok());
    if given != Some(checksum(&data)) {
        bail!("the gdb stub sent a packet with a bad checksum: ${data}#...");
    }
    Ok(Some((expand(&data), hash + 3)))
}

/// Undoes run-length encoding (`x*<n+29>` repeats `x` n more times).
fn expand(data: &str) -> String {
    let mut out = String::with_capacity(data.len());
    let mut chars = data.chars();
    while let Some(c) = chars.next() {
        if c == '*'
            && let (Some(last), Some(count)) = (out.chars().last(), chars.next())
        {
            let repeat = (count as usize).saturating_sub(29);
            out.extend(std::iter::repeat_n(last, repeat));
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a stop reply.
pub fn parse_stop(reply: &str) -> Result<Stop> {
    let code = |digits: &str| u8::from_str_radix(digits.get(..2).unwrap_or(digits), 16).ok();
    match reply.chars().next() {
        Some('T' | 'S') => match code(&reply[1..]) {
            Some(signal) => Ok(Stop::Signal(signal)),
            None => bail!("the gdb stub sent a stop reply without a signal: {reply}"),
        },
        Some('W' | 'X') => Ok(Stop::Exited(code(&reply[1..]))),
        _ => bail!("the gdb stub sent `{reply}` where a stop reply was expected"),
    }
}

/// The little-endian value of `bytes` hex digits at byte `offset` of a `g` reply.
fn register(reply: &str, offset: usize, bytes: usize) -> Result<u64> {
    let digits = reply
        .get(offset * 2..(offset + bytes) * 2)
        .context("the gdb stub's register reply is too short")?;
    let mut value = 0u64;
    for i in (0..bytes).rev() {
        let byte = u8::from_str_radix(&digits[i * 2..i * 2 + 2], 16)
            .with_context(|| format!("the gdb stub's register reply is not hex: {digits}"))?;
        value = value << 8 | u64::from(byte);
    }
    Ok(value)
}

/// Parses the reply to `g` in the x86-64 layout of GDB's i386:x86-64
/// target description, which QEMU uses: RAX, RBX, RCX, RDX, RSI, RDI, RBP,
/// RSP, R8..R15 (8 bytes each), RIP (8), EFLAGS (4), CS, SS, ... (4 each).
pub fn parse_registers(reply: &str) -> Result<Registers> {
    Ok(Registers {
        rdi: register(reply, 5 * 8, 8)?,
        rsp: register(reply, 7 * 8, 8)?,
        rip: register(reply, 16 * 8, 8)?,
        cs: register(reply, 16 * 8 + 8 + 4, 4)?,
    })
}

impl Remote {
    /// Connects to the stub on the loopback port, retrying until `patience`
    /// runs out (QEMU opens the port a moment after it starts).
    pub fn connect(port: u16, patience: Duration) -> Result<Remote> {
        let started = Instant::now();
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => break stream,
                Err(err) if started.elapsed() < patience => {
                    let _ = err;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!("cannot connect to QEMU's gdb stub on port {port}")
                    });
                }
            }
        };
        stream.set_nodelay(true).ok();
        let mut remote = Remote {
            stream,
            pending: Vec::new(),
            acks: true,
        };
        if remote.request("QStartNoAckMode")? == "OK" {
            remote.acks = false;
        }
        Ok(remote)
    }

    /// Sends one packet and waits at most `timeout` for the reply.
    fn exchange(&mut self, data: &str, timeout: Duration) -> Result<Option<String>> {
        self.stream
            .write_all(frame(data).as_bytes())
            .context("cannot write to QEMU's gdb stub")?;
        self.receive(timeout)
    }

    /// The next packet, or `None` when the stub closed the connection.
    fn receive(&mut self, timeout: Duration) -> Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((data, used)) = unframe(&self.pending)? {
                self.pending.drain(..used);
                if self.acks {
                    self.stream.write_all(b"+").ok();
                }
                return Ok(Some(data));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "QEMU's gdb stub did not answer within {} s",
                    timeout.as_secs()
                );
            }
            self.stream.set_read_timeout(Some(left)).ok();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if err.kind() == ErrorKind::ConnectionReset => return Ok(None),
                Err(err) => return Err(err).context("cannot read from QEMU's gdb stub"),
            }
        }
    }

    /// A request that must be answered at once.
    pub fn request(&mut self, data: &str) -> Result<String> {
        match self.exchange(data, Duration::from_secs(10))? {
            Some(reply) => Ok(reply),
            None => bail!("QEMU's gdb stub closed the connection (after `{data}`)"),
        }
    }

    fn expect_ok(&mut self, data: &str) -> Result<()> {
        match self.request(data)?.as_str() {
            "OK" => Ok(()),
            other => bail!("QEMU's gdb stub answered `{other}` to `{data}`"),
        }
    }

    /// `Z0`: a breakpoint at `address` (QEMU keeps it itself, writing
    /// nothing into guest memory).
    pub fn insert_breakpoint(&mut self, address: u64) -> Result<()> {
        self.expect_ok(&format!("Z0,{address:x},1"))
    }

    pub fn remove_breakpoint(&mut self, address: u64) -> Result<()> {
        self.expect_ok(&format!("z0,{address:x},1"))
    }

    fn resume(&mut self, data: &str, timeout: Duration) -> Result<Stop> {
        match self.exchange(data, timeout)? {
            Some(reply) => parse_stop(&reply),
            None => Ok(Stop::Exited(None)),
        }
    }

    /// Runs until a breakpoint or the end of the machine.
    pub fn resume_until_stop(&mut self, timeout: Duration) -> Result<Stop> {
        self.resume("c", timeout)
    }

    /// Executes one instruction.
    pub fn step(&mut self) -> Result<Stop> {
        self.resume("s", Duration::from_secs(10))
    }

    pub fn registers(&mut self) -> Result<Registers> {
        parse_registers(&self.request("g")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_framed_with_their_checksum() {
        assert_eq!(checksum("OK"), 0x9a); // 'O' + 'K' = 79 + 75
        assert_eq!(frame("g"), "$g#67");
        assert_eq!(
            frame("Z0,4000b4,1"),
            format!("$Z0,4000b4,1#{:02x}", checksum("Z0,4000b4,1"))
        );
    }

    #[test]
    fn replies_are_unframed_after_acks() {
        assert_eq!(unframe(b"+$OK#9a$T05").unwrap(), Some(("OK".to_owned(), 7)));
        assert_eq!(unframe(b"$T05thread:01;#0").unwrap(), None, "incomplete");
        assert_eq!(unframe(b"+").unwrap(), None);
        assert!(unframe(b"$OK#00").is_err(), "bad checksum");
        // Run-length encoding: `0*"` is '0' and 5 more ('"' is 34 = 29 + 5).
        let data = "0*\"";
        let packet = frame(data);
        assert_eq!(unframe(packet.as_bytes()).unwrap().unwrap().0, "000000");
    }

    #[test]
    fn stop_replies() {
        assert_eq!(parse_stop("T05thread:01;").unwrap(), Stop::Signal(5));
        assert_eq!(parse_stop("S05").unwrap(), Stop::Signal(5));
        assert_eq!(parse_stop("W21").unwrap(), Stop::Exited(Some(0x21)));
        assert_eq!(parse_stop("X09").unwrap(), Stop::Exited(Some(9)));
        assert!(parse_stop("OK").is_err());
        assert!(parse_stop("T").is_err());
    }

    #[test]
    fn registers_from_a_g_reply() {
        let mut words = [0u64; 16];
        words[5] = 0x60; // rdi
        words[7] = 0x6fff_ff38; // rsp
        let mut reply: String = words
            .iter()
            .map(|w| {
                w.to_le_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .collect();
        reply += &0x4000_00b4u64
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        reply += "46020000"; // eflags 0x246
        reply += "2b000000"; // cs 0x2b
        reply += "33000000"; // ss
        let r = parse_registers(&reply).unwrap();
        assert_eq!(
            r,
            Registers {
                rip: 0x4000_00b4,
                rsp: 0x6fff_ff38,
                rdi: 0x60,
                cs: 0x2b
            }
        );
        assert!(r.user());
        assert!(parse_registers("00").is_err());
    }
}
