//! The terminal in raw mode for an interactive `kd>` session: every key
//! goes to the kernel as it is typed (the kernel echoes and edits the
//! line), and Ctrl-C arrives as a byte instead of a signal. The guard puts
//! the terminal back as it was, however the session ends.

use std::io::IsTerminal;

/// Restores the terminal when dropped.
pub struct RawMode {
    #[cfg(unix)]
    saved: rustix::termios::Termios,
}

impl RawMode {
    /// Raw mode on standard input, if it is a terminal.
    #[cfg(unix)]
    pub fn enter() -> std::io::Result<Option<RawMode>> {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { saved }))
    }

    #[cfg(not(unix))]
    pub fn enter() -> std::io::Result<Option<RawMode>> {
        // Without termios the terminal stays in line mode: Enter sends a line.
        let _ = std::io::stdin().is_terminal();
        Ok(None)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use rustix::termios::{OptionalActions, tcsetattr};
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
        }
    }
}
