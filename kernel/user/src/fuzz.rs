//! The fuzzer's user thread (`lab=fuzz`): random system calls from ring 3,
//! each checked against the model in `syslab_abi::fuzz`.
//!
//! The kernel starts this thread on every CPU at once and restarts it
//! after each time slice and after each call that ends it. Everything that
//! must outlive a thread (the case in flight, its handles, the buffers the
//! kernel writes) is in [`STATES`]; what the kernel must see is in the
//! shared page (`syslab_abi::fuzz::page`).
//!
//! Each call goes through one of the entry stubs below. A stub loads every
//! register and RFLAGS from a [`Frame`], runs the entry instruction
//! straight after the `popfq` (so that a TF the call sets single-steps the
//! entry instruction itself), and stores every register and RFLAGS back.

use syslab_abi::fuzz::case::{ArgBlock, Stack};
use syslab_abi::fuzz::case::{HandleArg, Op, rflags};
use syslab_abi::fuzz::model::{
    self, CANARY, Concrete, Effect, GOOD_SIZE, Handles, Labels, Layout, Outcome, REGISTERS,
};
use syslab_abi::fuzz::page::{self, End, Mismatch, Page, check};
use syslab_abi::fuzz::{Call, Case, Path, Paths};
use syslab_abi::layout;
use syslab_abi::user_test::EXIT_OK_STATUS;

/// What the entry stubs read and write, and the memory the kernel is
/// pointed at: all in one struct, so that the compiler knows the stubs
/// (which get a pointer to it) may touch all of it.
#[repr(C)]
pub struct Frame {
    /// RAX..R15 (`user_test::REGISTER_NAMES` order) and RFLAGS to enter with.
    input: [u64; REGISTERS],
    in_flags: u64,
    /// The same, as the call left them.
    output: [u64; REGISTERS],
    out_flags: u64,
    /// The arguments: the block RDX points at (`int 0x2e`, SYSCALL); the
    /// SYSENTER stub copies them onto the stack.
    args: [u64; 8],
    /// The bad RSP (`int 0x2e`, SYSCALL) or RDX (SYSENTER) of a bad-stack call.
    stack: u64,
    /// The good buffer that pointer arguments point into.
    good: [u8; GOOD_SIZE],
}

const IN: usize = core::mem::offset_of!(Frame, input);
const IN_FLAGS: usize = core::mem::offset_of!(Frame, in_flags);
const OUT: usize = core::mem::offset_of!(Frame, output);
const OUT_FLAGS: usize = core::mem::offset_of!(Frame, out_flags);
const ARGS: usize = core::mem::offset_of!(Frame, args);
const STACK: usize = core::mem::offset_of!(Frame, stack);
const _: () = assert!(IN_FLAGS == IN + 8 * REGISTERS && OUT_FLAGS == OUT + 8 * REGISTERS);

// ANCHOR: stubs
/// Loads every register but RDI from the frame at RDI (`{i}` = the input
/// offset), then RDI itself.
macro_rules! load_registers {
    () => {
        concat!(
            "mov rax, [rdi + {i}]\n",
            "mov rbx, [rdi + {i} + 8]\n",
            "mov rcx, [rdi + {i} + 16]\n",
            "mov rdx, [rdi + {i} + 24]\n",
            "mov rsi, [rdi + {i} + 32]\n",
            "mov rbp, [rdi + {i} + 48]\n",
            "mov r8, [rdi + {i} + 56]\n",
            "mov r9, [rdi + {i} + 64]\n",
            "mov r10, [rdi + {i} + 72]\n",
            "mov r11, [rdi + {i} + 80]\n",
            "mov r12, [rdi + {i} + 88]\n",
            "mov r13, [rdi + {i} + 96]\n",
            "mov r14, [rdi + {i} + 104]\n",
            "mov r15, [rdi + {i} + 112]\n",
        )
    };
}

/// Stores every register but RDI into the frame at RDI (`{o}` = the output offset).
macro_rules! store_registers {
    () => {
        concat!(
            "mov [rdi + {o}], rax\n",
            "mov [rdi + {o} + 8], rbx\n",
            "mov [rdi + {o} + 16], rcx\n",
            "mov [rdi + {o} + 24], rdx\n",
            "mov [rdi + {o} + 32], rsi\n",
            "mov [rdi + {o} + 48], rbp\n",
            "mov [rdi + {o} + 56], r8\n",
            "mov [rdi + {o} + 64], r9\n",
            "mov [rdi + {o} + 72], r10\n",
            "mov [rdi + {o} + 80], r11\n",
            "mov [rdi + {o} + 88], r12\n",
            "mov [rdi + {o} + 96], r13\n",
            "mov [rdi + {o} + 104], r14\n",
            "mov [rdi + {o} + 112], r15\n",
        )
    };
}

/// The stubs of a path whose entry instruction returns to the next one
/// (`int 0x2e`, SYSCALL): `$name(frame)`, and `$bad(frame)`, which enters
/// with RSP = `frame.stack` and dies at its first push after the return.
macro_rules! returning_path {
    ($name:ident, $bad:ident, $insn:literal, $prefix:literal) => {
        #[unsafe(naked)]
        unsafe extern "C" fn $name(frame: *mut Frame) {
            core::arch::naked_asm!(
                "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
                "push rdi",                        // the frame, for after the call
                "push qword ptr [rdi + {f}]",      // RFLAGS, for the popfq
                load_registers!(),
                "mov rdi, [rdi + {i} + 40]",
                "popfq",
                $insn,
                concat!(".global ", $prefix, "_ret\n", $prefix, "_ret:"),
                "pushfq",
                // A single-step after the return stops here.
                concat!(".global ", $prefix, "_trap\n", $prefix, "_trap:"),
                "xchg rdi, [rsp + 8]",             // the frame; the user's RDI on the stack
                "pop qword ptr [rdi + {of}]",
                store_registers!(),
                "pop rax",
                "mov [rdi + {o} + 40], rax",
                // Nothing of the call's RFLAGS (DF!) may reach compiled code.
                "push 0x202",
                "popfq",
                "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
                "ret",
                // NtTestSetReturn's other return point: on as from the first.
                concat!(".global ", $prefix, "_alt\n", $prefix, "_alt:"),
                "pushfq",
                concat!(".global ", $prefix, "_alt_trap\n", $prefix, "_alt_trap:"),
                concat!("jmp ", $prefix, "_trap"),
                i = const IN, o = const OUT, f = const IN_FLAGS, of = const OUT_FLAGS,
            );
        }

        #[unsafe(naked)]
        unsafe extern "C" fn $bad(frame: *mut Frame) {
            core::arch::naked_asm!(
                "push qword ptr [rdi + {f}]",
                load_registers!(),
                "popfq",                           // never with TF (case.rs)
                "mov rsp, [rdi + {s}]",
                "mov rdi, [rdi + {i} + 40]",
                $insn,
                concat!(".global ", $prefix, "_stack_fault\n", $prefix, "_stack_fault:"),
                "pushfq",                          // faults: RSP is bad
                "ud2",
                i = const IN, f = const IN_FLAGS, s = const STACK,
            );
        }
    };
}

returning_path!(enter_int2e, enter_int2e_bad_stack, "int 0x2e", "fuzz_int2e");
returning_path!(
    enter_syscall,
    enter_syscall_bad_stack,
    "syscall",
    "fuzz_syscall"
);

/// SYSENTER: the kernel returns to SharedUserData's `ret` (0x7FFE0315) on
/// the stack in RDX, as XP's SystemCallStub set it up with `mov edx, esp`.
/// That stack holds the return address into this stub, a spare word, and
/// the arguments, which KiFastCallEntry reads 16 bytes above RDX.
#[unsafe(naked)]
unsafe extern "C" fn enter_sysenter(frame: *mut Frame) {
    core::arch::naked_asm!(
        "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
        "push rdi",
        "sub rsp, 80",                 // R: [R] return address, [R+8] spare, [R+16..] arguments
        "mov rax, [rdi + {a}]", "mov [rsp + 16], rax",
        "mov rax, [rdi + {a} + 8]", "mov [rsp + 24], rax",
        "mov rax, [rdi + {a} + 16]", "mov [rsp + 32], rax",
        "mov rax, [rdi + {a} + 24]", "mov [rsp + 40], rax",
        "mov rax, [rdi + {a} + 32]", "mov [rsp + 48], rax",
        "mov rax, [rdi + {a} + 40]", "mov [rsp + 56], rax",
        "mov rax, [rdi + {a} + 48]", "mov [rsp + 64], rax",
        "mov rax, [rdi + {a} + 56]", "mov [rsp + 72], rax",
        "lea rax, [rip + fuzz_sysenter_ret]",
        "mov [rsp], rax",
        "mov [rsp + 8], rax",
        "push qword ptr [rdi + {f}]",
        load_registers!(),
        "lea rdx, [rsp + 8]",          // R: the user stack the kernel returns on
        "mov rdi, [rdi + {i} + 40]",
        "popfq",
        "sysenter",
        "ud2",                         // SYSENTER does not fall through
        // SystemCallStub's `ret` lands here (RSP = R + 8); so does a
        // single-step after the return.
        ".global fuzz_sysenter_ret",
        "fuzz_sysenter_ret:",
        "pushfq",
        "xchg rdi, [rsp + 80]",        // the frame, at R + 80
        "pop qword ptr [rdi + {of}]",
        store_registers!(),
        "mov rax, [rsp + 72]",         // the user's RDI
        "mov [rdi + {o} + 40], rax",
        "push 0x202",
        "popfq",
        "add rsp, 80",
        "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
        "ret",
        // NtTestSetReturn's other return point: a `ret` like SystemCallStub's.
        ".global fuzz_sysenter_alt",
        "fuzz_sysenter_alt:",
        "ret",
        i = const IN, o = const OUT, a = const ARGS, f = const IN_FLAGS, of = const OUT_FLAGS,
    );
}

/// SYSENTER with RDX = `frame.stack`: the kernel must refuse the arguments
/// behind it and return on it, and the thread dies at SystemCallStub's `ret`.
#[unsafe(naked)]
unsafe extern "C" fn enter_sysenter_bad_stack(frame: *mut Frame) {
    core::arch::naked_asm!(
        "push qword ptr [rdi + {f}]",
        load_registers!(),
        "mov rdx, [rdi + {s}]",
        "mov rdi, [rdi + {i} + 40]",
        "popfq",
        "sysenter",
        "ud2",
        i = const IN, f = const IN_FLAGS, s = const STACK,
    );
}
// ANCHOR_END: stubs

unsafe extern "C" {
    static fuzz_int2e_ret: u8;
    static fuzz_int2e_trap: u8;
    static fuzz_int2e_alt: u8;
    static fuzz_int2e_alt_trap: u8;
    static fuzz_int2e_stack_fault: u8;
    static fuzz_syscall_ret: u8;
    static fuzz_syscall_trap: u8;
    static fuzz_syscall_alt: u8;
    static fuzz_syscall_alt_trap: u8;
    static fuzz_syscall_stack_fault: u8;
    static fuzz_sysenter_ret: u8;
    static fuzz_sysenter_alt: u8;
}

/// The read-only words an argument block may be placed in (.rodata).
static READ_ONLY: [u64; 16] = model::READ_ONLY_WORDS;

/// The most CPUs the kernel starts (`percpu::MAX_CPUS`).
const MAX_CPUS: usize = 8;

/// The case a CPU is in, and its next call.
#[derive(Clone, Copy)]
struct InCase {
    case: Case,
    next: u64,
}

/// What a CPU's fuzzer keeps from one thread to the next.
struct CpuState {
    frame: Frame,
    handles: Handles,
    case: Option<InCase>,
    replayed: bool,
}

static mut STATES: [CpuState; MAX_CPUS] = [const {
    CpuState {
        frame: Frame {
            input: [0; REGISTERS],
            in_flags: 0,
            output: [0; REGISTERS],
            out_flags: 0,
            args: [0; 8],
            stack: 0,
            good: [0; GOOD_SIZE],
        },
        handles: Handles::EMPTY,
        case: None,
        replayed: false,
    }
}; MAX_CPUS];

/// The shared page, through volatile accesses: the kernel reads it after
/// the thread has died, possibly in the middle of a call.
struct Shared(*mut Page);

/// Writes one field of the shared page.
macro_rules! put {
    ($shared:expr, $field:ident, $value:expr) => {{
        let (page, value): (*mut Page, _) = ($shared.0, $value);
        // SAFETY: the kernel maps the page for every CPU; only this CPU's thread uses it.
        unsafe { (&raw mut (*page).$field).write_volatile(value) }
    }};
}

/// Reads one field of the shared page.
macro_rules! get {
    ($shared:expr, $field:ident) => {{
        let page: *const Page = $shared.0;
        // SAFETY: as for `put!`.
        unsafe { (&raw const (*page).$field).read_volatile() }
    }};
}

impl Shared {
    fn count_call(&self) {
        put!(self, calls, get!(self, calls) + 1);
    }
}

fn layout(cpu: u64, frame: &Frame) -> Layout {
    let at = |s: &u8| s as *const u8 as u64;
    // SAFETY: the labels are defined by the stubs above; only their addresses are used.
    unsafe {
        Layout {
            good: frame.good.as_ptr() as u64,
            args: frame.args.as_ptr() as u64,
            read_only: READ_ONLY.as_ptr() as u64,
            labels: [
                Labels {
                    ret: at(&fuzz_int2e_ret),
                    trap: at(&fuzz_int2e_trap),
                    alt: at(&fuzz_int2e_alt),
                    alt_trap: at(&fuzz_int2e_alt_trap),
                    stack_fault: at(&fuzz_int2e_stack_fault),
                },
                Labels {
                    // Where SYSEXIT returns; from there SystemCallStub's
                    // `ret` comes back to fuzz_sysenter_ret.
                    ret: model::SYSEXIT_RETURN,
                    trap: at(&fuzz_sysenter_ret),
                    alt: at(&fuzz_sysenter_alt),
                    alt_trap: at(&fuzz_sysenter_ret),
                    stack_fault: model::SYSEXIT_RETURN,
                },
                Labels {
                    ret: at(&fuzz_syscall_ret),
                    trap: at(&fuzz_syscall_trap),
                    alt: at(&fuzz_syscall_alt),
                    alt_trap: at(&fuzz_syscall_alt_trap),
                    stack_fault: at(&fuzz_syscall_stack_fault),
                },
            ],
            cpu,
        }
    }
}

/// Makes the call in `frame` on `path`.
fn enter(path: Path, bad_stack: bool, frame: &mut Frame) {
    let stub = match (path, bad_stack) {
        (Path::Int2e, false) => enter_int2e,
        (Path::Int2e, true) => enter_int2e_bad_stack,
        (Path::Sysenter, false) => enter_sysenter,
        (Path::Sysenter, true) => enter_sysenter_bad_stack,
        (Path::Syscall, false) => enter_syscall,
        (Path::Syscall, true) => enter_syscall_bad_stack,
    };
    // SAFETY: the stub preserves the callee-saved registers and the stack
    // and leaves RFLAGS clean, or the thread dies in it.
    unsafe { stub(frame) };
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed in ring 3 (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The fuzzer's thread: go on where the last one ended, then make calls
/// until the slice is over. Returns the exit status.
pub fn run(cpu: u64) -> u64 {
    let shared = Shared(layout::report_page(cpu) as *mut Page);
    // SAFETY: only this CPU's thread uses its state.
    let st = unsafe { &mut (*core::ptr::addr_of_mut!(STATES))[cpu as usize % MAX_CPUS] };
    let layout = layout(cpu, &st.frame);
    let mut fuzzer = Fuzzer {
        st,
        shared: &shared,
        layout,
        paths: Paths(get!(shared, paths)),
    };
    match (get!(shared, state), get!(shared, verdict)) {
        // The last call ended the thread as it had to: check what it left.
        (page::STATE_IN_CALL, page::VERDICT_EXPECTED) => {
            if let Err(m) = fuzzer.after_end(get!(shared, call)) {
                return fuzzer.report(m);
            }
        }
        // It ended otherwise, or between calls, or while closing: the
        // kernel said so; give the case up.
        (page::STATE_IN_CALL | page::STATE_CLEANING, _) => fuzzer.abandon(),
        _ if fuzzer.st.case.is_some() => fuzzer.abandon(),
        _ => {}
    }
    put!(shared, state, page::STATE_IDLE);
    put!(shared, verdict, page::VERDICT_NONE);
    fuzzer.slice()
}

struct Fuzzer<'a> {
    st: &'a mut CpuState,
    shared: &'a Shared,
    layout: Layout,
    paths: Paths,
}

impl Fuzzer<'_> {
    /// Runs cases until the slice is over, or the one case to replay ran.
    fn slice(&mut self) -> u64 {
        loop {
            let Some(InCase { case, next }) = self.st.case else {
                let replay = get!(self.shared, replay);
                let seed = if replay != 0 {
                    if self.st.replayed {
                        put!(self.shared, state, page::STATE_FINISHED);
                        return EXIT_OK_STATUS;
                    }
                    self.st.replayed = true;
                    replay
                } else {
                    if rdtsc() >= get!(self.shared, slice_end) {
                        put!(self.shared, state, page::STATE_SLICE_DONE);
                        return EXIT_OK_STATUS;
                    }
                    let k = get!(self.shared, next_case);
                    put!(self.shared, next_case, k + 1);
                    Case::derive_seed(get!(self.shared, run_seed), self.layout.cpu, k)
                };
                self.st.handles = Handles::EMPTY;
                self.st.case = Some(InCase {
                    case: Case::new(seed),
                    next: 0,
                });
                continue;
            };
            if next >= case.len && self.st.handles.live().is_empty() {
                self.st.case = None;
                put!(self.shared, cases, get!(self.shared, cases) + 1);
                continue;
            }
            if let Err(m) = self.call(case, next) {
                return self.report(m);
            }
        }
    }

    /// Call `index` of `case`: make it, check it, record what it did.
    fn call(&mut self, case: Case, index: u64) -> Result<(), Mismatch> {
        let call = case.call(index, self.paths);
        let c = model::resolve(&call, &self.st.handles, &self.layout);
        let out = model::predict(&call, &c, &self.st.handles, &self.layout);
        let f = &mut self.st.frame;
        f.input = c.regs;
        f.in_flags = c.flags;
        f.args = c.args;
        f.stack = c.stack.unwrap_or(0);
        f.good = [CANARY; GOOD_SIZE];
        put!(self.shared, case, case.seed);
        put!(self.shared, call, index);
        put!(self.shared, path, call.path as u64);
        put!(self.shared, number, c.regs[model::RAX] as u32 as u64);
        put!(self.shared, expect, out.end);
        self.shared.count_call();
        put!(self.shared, state, page::STATE_IN_CALL);
        enter(call.path, c.stack.is_some(), &mut self.st.frame);
        put!(self.shared, state, page::STATE_IDLE);
        if out.end != End::RETURN {
            // It should have ended the thread (`expect` says how).
            return Err(Mismatch {
                check: check::END,
                ..Mismatch::default()
            });
        }
        let f = &self.st.frame;
        model::check_return(&out, &f.output, f.out_flags)?;
        self.finish(&out, &c, index)
    }

    /// What a call left in memory, checked and recorded; on to the next call.
    fn finish(&mut self, out: &Outcome, c: &Concrete, index: u64) -> Result<(), Mismatch> {
        let new = model::check_memory(
            out,
            c,
            self.layout.good,
            &self.st.frame.good,
            &self.st.handles,
        )?;
        self.st.handles.apply(&out.effect, new, index);
        if let Some(run) = self.st.case.as_mut() {
            run.next = index + 1;
        }
        Ok(())
    }

    /// The thread ended as call `index` had to: its effects still count.
    fn after_end(&mut self, index: u64) -> Result<(), Mismatch> {
        let Some(InCase { case, .. }) = self.st.case else {
            return Ok(());
        };
        let call = case.call(index, self.paths);
        let c = model::resolve(&call, &self.st.handles, &self.layout);
        let out = model::predict(&call, &c, &self.st.handles, &self.layout);
        self.finish(&out, &c, index)
    }

    /// Hands `m` to the kernel, gives the case up and ends the slice.
    fn report(&mut self, m: Mismatch) -> u64 {
        put!(self.shared, mismatch, m);
        self.abandon();
        put!(self.shared, state, page::STATE_SLICE_DONE);
        EXIT_OK_STATUS
    }

    /// Gives the case up after a mismatch: closes whatever it may still
    /// hold, including a handle the call in flight may have made.
    fn abandon(&mut self) {
        if let Some(InCase { case, .. }) = self.st.case.take() {
            let index = get!(self.shared, call);
            let call = case.call(index, self.paths);
            let c = model::resolve(&call, &self.st.handles, &self.layout);
            if let Effect::NewHandle { at } =
                model::predict(&call, &c, &self.st.handles, &self.layout).effect
            {
                let off = (at - self.layout.good) as usize;
                let mut word = [0u8; 8];
                word.copy_from_slice(&self.st.frame.good[off..off + 8]);
                let value = u64::from_le_bytes(word);
                let unknown = self.st.handles.position(value).is_none();
                if value != u64::from_le_bytes([CANARY; 8]) && unknown {
                    self.st.handles.add(value, index);
                }
            }
        }
        put!(self.shared, state, page::STATE_CLEANING);
        let path = self.paths.iter().next().unwrap_or(Path::Int2e);
        while let Some(&held) = self.st.handles.live().first() {
            // Forgotten first: if this close kills the thread, the next
            // thread goes on with the others.
            self.st.handles.close(0);
            let close = Call {
                path,
                op: Op::Close(HandleArg::Zero),
                rax_high: 0,
                args_at: ArgBlock::Good,
                stack: Stack::Normal,
                flags: rflags::USER_DEFAULT,
                registers: held.value,
            };
            let mut c = model::resolve(&close, &Handles::EMPTY, &self.layout);
            c.args[0] = held.value;
            let f = &mut self.st.frame;
            f.input = c.regs;
            f.in_flags = c.flags;
            f.args = c.args;
            self.shared.count_call();
            enter(path, false, f);
        }
        self.st.handles = Handles::EMPTY;
        put!(self.shared, state, page::STATE_IDLE);
    }
}
