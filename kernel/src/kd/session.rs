//! The session: the prompt, the input, and running each [`Request`] on
//! the CPU it is for.

use super::args::Expr;
use super::commands::{self, Request};
use super::line::{Event, LineEditor};
use super::memory::{self, AccessError};
use super::symbols::{self, Symbols};
use super::{bench, cpuinfo, descriptor, disasm, dump, gate, objects, pcr, registers};
use crate::os::{self, Os};
use crate::percpu::{self, PerCpu};
use crate::{kprint, kprintln, proto};
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

const CTRL_C: u8 = 0x03;

/// What a command printed, and whether it failed.
type Outcome = Result<String, String>;

struct Session {
    /// The CPU later commands run on (`~N`).
    cpu: u32,
    /// Where `u` without an address goes on.
    next_u: Option<u64>,
    symbols: &'static Symbols,
    editor: LineEditor,
    /// Bytes that arrived while a command ran, for the editor.
    typed_ahead: VecDeque<u8>,
}

/// Enters the prompt on the boot CPU; never returns (`q` ends the run).
pub fn run() -> ! {
    // The int 0x2e gate: Windows 2000's ntdll needs it, and `!idt 2e` shows it.
    crate::syscall::int2e::install();
    let symbols = symbols::table();
    let os = os::current();
    proto!(
        "kd ready cpus={} os={} symbols={}",
        percpu::online(),
        os.name(),
        symbols.len()
    );
    kprintln!(
        "syslab kd: {} CPUs online, --os {} ({}). Type ? for the commands; q or Ctrl-C quits.",
        percpu::online(),
        os.name(),
        match (os, crate::shared_user_data::chosen()) {
            (Os::Windows2000, _) =>
                String::from("the SYSENTER MSRs are never written; ntdll uses int 0x2e"),
            (Os::WindowsXp, Some(k)) => format!(
                "every CPU's SYSENTER MSRs are programmed; SharedUserData!SystemCallStub uses {}",
                k.name()
            ),
            (Os::WindowsXp, None) => String::from("no SystemCallStub"),
        }
    );
    let mut s = Session {
        cpu: percpu::cpu_id(),
        next_u: None,
        symbols,
        editor: LineEditor::new(),
        typed_ahead: VecDeque::new(),
    };
    loop {
        proto!("kd prompt cpu={}", s.cpu);
        kprint!("{}: kd> ", s.cpu);
        let outcome = match s.read_event() {
            Event::Interrupt => quit(),
            Event::Line(Err(why)) => Err(why),
            Event::Line(Ok(line)) => match commands::parse(&line) {
                Ok(Request::Nothing) => continue,
                Ok(Request::Quit) => quit(),
                Ok(request) => s.execute(request),
                Err(e) => Err(e.line()),
            },
        };
        let (text, ok) = match outcome {
            Ok(text) => (text, true),
            Err(text) => (text, false),
        };
        kprint!("{}", text);
        if !text.is_empty() && !text.ends_with('\n') {
            kprintln!();
        }
        proto!("kd result {}", if ok { "ok" } else { "error" });
    }
}

fn quit() -> ! {
    proto!("kd quit");
    proto!("done");
    crate::arch::qemu_exit(crate::arch::ExitCode::Done)
}

/// Sleeps until the next byte could have arrived: the LAPIC timer wakes
/// `hlt` after a few milliseconds (its ring-0 expiry is ignored by
/// trap.rs), so an idle prompt does not keep a host core busy.
fn nap() {
    crate::apic::arm_watchdog(5);
    // SAFETY: interrupts are on only for the hlt; the one expected is the timer.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
    crate::apic::disarm_watchdog();
}

impl Session {
    /// The next byte of input, waiting for one.
    fn byte(&mut self) -> u8 {
        loop {
            if let Some(b) = self
                .typed_ahead
                .pop_front()
                .or_else(crate::serial::try_read_byte)
            {
                return b;
            }
            nap();
        }
    }

    /// Whether Ctrl-C arrived, keeping any other byte for the editor.
    fn interrupted(&mut self) -> bool {
        while let Some(b) = crate::serial::try_read_byte() {
            if b == CTRL_C {
                return true;
            }
            if self.typed_ahead.len() < 4096 {
                self.typed_ahead.push_back(b);
            }
        }
        false
    }

    fn read_event(&mut self) -> Event {
        let mut echo = Vec::new();
        loop {
            let b = self.byte();
            let event = self.editor.feed(b, &mut echo);
            if !echo.is_empty() {
                kprint!("{}", String::from_utf8_lossy(&echo));
                echo.clear();
            }
            if let Some(e) = event {
                return e;
            }
        }
    }

    /// Runs `f` on the current CPU and returns what it returned.
    fn on_cpu<T: Send>(&self, f: impl Fn(&PerCpu) -> T + Sync) -> Result<T, String> {
        if self.cpu == percpu::cpu_id() {
            return Ok(f(percpu::current()));
        }
        let slot = spin::Mutex::new(None);
        crate::smp::run_on(self.cpu, &|c: &PerCpu| *slot.lock() = Some(f(c)));
        slot.into_inner()
            .ok_or_else(|| format!("CPU {} did not answer", self.cpu))
    }

    /// An address as typed, resolved.
    fn resolve(&self, at: &Expr) -> Result<u64, String> {
        match at {
            Expr::Number(n) => Ok(*n),
            Expr::Symbol { name, offset } => {
                let Some(sym) = self.symbols.lookup(name) else {
                    let hint = if name.to_ascii_lowercase().starts_with("shareduserdata")
                        && !os::current().has_system_call_stub()
                    {
                        ": under --os 2000 there is no SharedUserData stub (ntdll runs int 0x2e itself)"
                    } else {
                        ""
                    };
                    return Err(format!("no symbol `{name}`{hint}"));
                };
                u64::try_from(sym.address as i128 + offset)
                    .map_err(|_| format!("`{name}` + {offset:#x} is outside the address space"))
            }
        }
    }

    fn execute(&mut self, request: Request) -> Outcome {
        match request {
            Request::Nothing | Request::Quit => Ok(String::new()),
            Request::Help => Ok(commands::help()),
            Request::Cpus => Ok(cpus(self.cpu)),
            Request::SwitchCpu(n) => match percpu::get(n as usize) {
                Some(c)
                    if c.state.load(core::sync::atomic::Ordering::Acquire) == percpu::ONLINE =>
                {
                    self.cpu = n;
                    Ok(String::new())
                }
                Some(_) => Err(format!(
                    "CPU {n} is not online: it never answered INIT-SIPI-SIPI at boot"
                )),
                None => Err(format!(
                    "CPU {n} is not online: {} CPUs run (0-{})",
                    percpu::online(),
                    percpu::online().saturating_sub(1)
                )),
            },
            Request::Rdmsr(n) => {
                let cpu = self.cpu;
                match self.on_cpu(|_| crate::msr::read_checked(n))? {
                    Some(v) => Ok(format!("msr[{n:x}] = {:08x}:{:08x}\n", v >> 32, v as u32)),
                    None => Err(format!(
                        "rdmsr: CPU {cpu} has no MSR {n:x} (RDMSR raised #GP, which the debugger caught)"
                    )),
                }
            }
            Request::CpuInfo => Ok(cpu_info(self.cpu)),
            Request::Descriptor(index) => self.descriptor(|base, entries| {
                usize::try_from(index)
                    .map_err(|_| format!("GDT index {index:#x} is far past the end"))
                    .and_then(|i| descriptor::describe(base, entries, i))
            }),
            Request::Selector(sel) => self.descriptor(|base, entries| {
                descriptor::describe_selector(base, entries, sel as u16)
            }),
            Request::Idt(vector) => {
                let (base, _limit) = self.on_cpu(|_| table_register(TableRegister::Idt))?;
                let mut raw = [0u8; 16];
                read_all(base + vector as u64 * 16, &mut raw)?;
                let lo = u64::from_le_bytes(raw[..8].try_into().unwrap_or_default());
                let hi = u64::from_le_bytes(raw[8..].try_into().unwrap_or_default());
                let g = gate::GateFields::of([lo, hi]);
                let name = self.symbols.name_of(g.offset);
                Ok(gate::describe(base, vector, [lo, hi], name.as_deref()))
            }
            Request::Unassemble { at, count } => {
                let start = match at {
                    Some(e) => self.resolve(&e)?,
                    None => self
                        .next_u
                        .ok_or("u: give an address the first time (u ADDR)")?,
                };
                let mut code = alloc::vec![0u8; count as usize * disasm::MAX_INSTRUCTION];
                let (got, error) = memory::read(start, &mut code);
                let bitness = self.symbols.bitness_at(start);
                let listing =
                    disasm::disassemble(&code[..got], start, bitness, count as usize, self.symbols);
                self.next_u = Some(listing.next);
                match error {
                    Some(e) if (listing.decoded as u64) < count => Err(format!(
                        "{}{}\n",
                        listing.text,
                        access_error_at(e, listing.next).line()
                    )),
                    _ => Ok(listing.text),
                }
            }
            Request::Dump { width, at, count } => {
                let start = self.resolve(&at)?;
                let mut data = alloc::vec![0u8; (count * width.bytes()) as usize];
                let (got, error) = memory::read(start, &mut data);
                let text = dump::format(start, &data[..got], width, error);
                if error.is_some() { Err(text) } else { Ok(text) }
            }
            Request::Registers => {
                let (regs, top) = self.on_cpu(|c| (registers::capture(), c.kernel_stack_top))?;
                let mut text = registers::format_registers(&regs);
                text += &self.one_instruction(regs.rip);
                let at = top - core::mem::size_of::<crate::frame::KTrapFrame>() as u64;
                let mut raw = [0u8; core::mem::size_of::<crate::frame::KTrapFrame>()];
                read_all(at, &mut raw)?;
                // SAFETY: KTrapFrame is plain u64s; any bytes are a value.
                let frame: crate::frame::KTrapFrame =
                    unsafe { core::ptr::read_unaligned(raw.as_ptr().cast()) };
                text += &registers::format_trap_frame(
                    at,
                    &frame,
                    crate::frame::vector_name(frame.entry),
                );
                if frame.from_user() {
                    text += &self.one_instruction(frame.rip);
                }
                Ok(text)
            }
            Request::Pcr => {
                let symbols = self.symbols;
                self.on_cpu(|c| pcr::describe(c, symbols))
            }
            Request::Handle(h) => objects::handle(h),
            Request::Object => Ok(objects::objects()),
            Request::Bench { path, count, all } => self.bench(path, count, all),
            Request::Go => {
                proto!("kd running");
                kprintln!("(running: every CPU idles until Ctrl-C breaks in)");
                while self.byte() != CTRL_C {}
                Ok(format!(
                    "Break-in: back at the prompt on CPU {}\n",
                    self.cpu
                ))
            }
        }
    }

    /// The instruction at `rip` with its symbol, as WinDbg ends `r`.
    fn one_instruction(&self, rip: u64) -> String {
        let mut code = [0u8; disasm::MAX_INSTRUCTION];
        let (got, _) = memory::read(rip, &mut code);
        disasm::disassemble(&code[..got], rip, 64, 1, self.symbols).text
    }

    /// Reads the current CPU's GDT (through its GDTR) and hands it to `f`.
    fn descriptor(&self, f: impl Fn(u64, &[u64]) -> Result<String, String>) -> Outcome {
        let (base, limit) = self.on_cpu(|_| table_register(TableRegister::Gdt))?;
        let count = (limit as usize + 1) / 8;
        let mut raw = alloc::vec![0u8; count * 8];
        read_all(base, &mut raw)?;
        let entries: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        f(base, &entries)
    }

    fn bench(&mut self, path: Option<commands::BenchPath>, count: u64, all: bool) -> Outcome {
        let os = os::current();
        let features = crate::shared_user_data::cpu_features();
        let stub = crate::shared_user_data::chosen();
        let (id, what) = bench::path_for(path, os, stub, features.syscall)?;
        let cpus: Vec<u32> = if all {
            percpu::all().map(|c| c.cpu).collect()
        } else {
            alloc::vec![self.cpu]
        };
        let mut ticks = [0u64; percpu::MAX_CPUS];
        let mut done = 0;
        let mut stopped = false;
        while done < count {
            let n = bench::BATCH.min(count - done);
            let times = crate::bench::time_on(
                crate::mode::UserMode::Long,
                id,
                syslab_abi::user_test::BENCH_CREATE_CLOSE,
                n,
                &|c| cpus.contains(&c),
            )?;
            for (cpu, t) in times {
                ticks[cpu as usize] += t;
            }
            done += n;
            if done < count && self.interrupted() {
                stopped = true;
                break;
            }
        }
        let rows: Vec<(u32, u64, u64)> =
            cpus.iter().map(|&c| (c, done, ticks[c as usize])).collect();
        Ok(bench::report(&what, &rows, crate::time::tsc_khz(), stopped))
    }
}

/// A read that must succeed whole.
fn read_all(at: u64, buf: &mut [u8]) -> Result<(), String> {
    match memory::read(at, buf) {
        (_, None) => Ok(()),
        (_, Some(e)) => Err(e.line()),
    }
}

/// The error of a listing that ran out of readable bytes: at the first
/// instruction that could not be shown.
fn access_error_at(e: AccessError, next: u64) -> AccessError {
    AccessError {
        address: next.min(e.address),
        why: e.why,
    }
}

/// `~`: the CPUs and which is current.
fn cpus(current: u32) -> String {
    let mut out = String::new();
    for c in percpu::all() {
        out += &format!(
            "{}{:>2}  APIC id {}{}\n",
            if c.cpu == current { '.' } else { ' ' },
            c.cpu,
            c.apic_id,
            if c.cpu == current { "  (current)" } else { "" }
        );
    }
    out
}

fn cpu_info(current: u32) -> String {
    let cpus = crate::test::user::on_each_cpu(|c: &PerCpu| {
        let leaf1 = core::arch::x86_64::__cpuid(1);
        let ext = core::arch::x86_64::__cpuid(0x8000_0001);
        // The microcode revision, bits 63:32; an MSR that may not exist.
        let signature = crate::msr::read_checked(crate::msr::IA32_BIOS_SIGN_ID).unwrap_or(0);
        cpuinfo::CpuIdentity {
            cpu: c.cpu,
            vendor: crate::arch::cpu_vendor(),
            leaf1_eax: leaf1.eax,
            leaf1_edx: leaf1.edx,
            ext_edx: ext.edx,
            mhz: crate::time::tsc_khz() / 1000,
            update_signature: signature,
        }
    });
    let list: Vec<cpuinfo::CpuIdentity> = cpus.into_iter().map(|(_, c)| c).collect();
    let stub = crate::shared_user_data::chosen();
    let fast = matches!(
        stub,
        Some(
            crate::shared_user_data::StubKind::Sysenter
                | crate::shared_user_data::StubKind::Syscall
        )
    );
    let why = match (os::current(), stub) {
        (Os::Windows2000, _) => {
            String::from("Windows 2000 (--os 2000) uses int 0x2e, whatever SEP says")
        }
        (Os::WindowsXp, Some(k)) if fast => {
            format!(
                "this kernel (--os xp) enters through {} from SharedUserData",
                k.name()
            )
        }
        _ => String::from("this kernel's SystemCallStub uses int 0x2e"),
    };
    cpuinfo::format(&list, current, fast, &why)
}

#[derive(Clone, Copy)]
enum TableRegister {
    Gdt,
    Idt,
}

/// The running CPU's GDTR or IDTR: (base, limit).
fn table_register(which: TableRegister) -> (u64, u16) {
    let mut raw = [0u8; 10];
    // SAFETY: sgdt/sidt store 10 bytes at the operand.
    unsafe {
        match which {
            TableRegister::Gdt => {
                core::arch::asm!("sgdt [{}]", in(reg) raw.as_mut_ptr(), options(nostack))
            }
            TableRegister::Idt => {
                core::arch::asm!("sidt [{}]", in(reg) raw.as_mut_ptr(), options(nostack))
            }
        }
    }
    registers::split_table_register(&raw)
}
