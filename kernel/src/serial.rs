//! COM1, the kernel's console and its channel to the grader.
//!
//! Both CPUs print, and a fault can strike while a CPU holds the console, so
//! the lock remembers its owner (by APIC id, which needs no working GS) and
//! lets the owner re-enter: a fault report is never lost to a deadlock.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU32, Ordering};
use uart_16550::{Config, Uart16550, backend::PioBackend};

/// I/O base of the first serial port on a PC.
const COM1: u16 = 0x3f8;

struct Console {
    uart: Option<Uart16550<PioBackend>>,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(uart) = self.uart.as_mut() {
            for chunk in s.split_inclusive('\n') {
                match chunk.strip_suffix('\n') {
                    Some(line) => {
                        uart.send_bytes_exact(line.as_bytes());
                        uart.send_bytes_exact(b"\r\n");
                    }
                    None => uart.send_bytes_exact(chunk.as_bytes()),
                }
            }
        }
        Ok(())
    }
}

static mut CONSOLE: Console = Console { uart: None };
/// 0 when free, else the owner's APIC id + 1.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// Initialises COM1 (115200 8N1, FIFOs on).
pub fn init() {
    // SAFETY: COM1 is a standard PC port and nothing else drives it.
    let mut uart = unsafe { Uart16550::new_port(COM1) }.expect("COM1 is a valid port base");
    // A missing or odd UART leaves the console silent rather than stopping the boot.
    if uart.init(Config::default()).is_ok() {
        with_console(|c| c.uart = Some(uart));
    }
}

/// Runs `f` with the console held; re-entrant on the same CPU.
fn with_console<R>(f: impl FnOnce(&mut Console) -> R) -> R {
    let me = crate::arch::apic_id_from_cpuid() + 1;
    let reentered = OWNER.load(Ordering::Acquire) == me;
    if !reentered {
        while OWNER
            .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
    }
    // SAFETY: this CPU owns the console (or re-entered its own ownership from
    // a fault handler, where the interrupted write is abandoned anyway).
    let r = f(unsafe { &mut *core::ptr::addr_of_mut!(CONSOLE) });
    if !reentered {
        OWNER.store(0, Ordering::Release);
    }
    r
}

/// Takes the console for the rest of the run: a CPU that is about to end
/// the run calls it, so no other CPU can start a line that the exit would
/// cut in half. Re-entrant for the caller.
pub fn hold() {
    let me = crate::arch::apic_id_from_cpuid() + 1;
    if OWNER.load(Ordering::Acquire) == me {
        return;
    }
    while OWNER
        .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
}

/// A byte received on COM1, if one is waiting. The `kd>` prompt reads its
/// input this way (the grader writes to QEMU's end of the port).
pub fn try_read_byte() -> Option<u8> {
    with_console(|c| c.uart.as_mut()?.try_receive_byte().ok())
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    with_console(|c| {
        let _ = c.write_fmt(args);
    });
}

/// Prints to the console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::serial::_print(format_args!($($arg)*)) };
}

/// Prints a line to the console; the line is never interleaved with another CPU's.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::serial::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
