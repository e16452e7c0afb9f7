//! What each call must do: the words the fuzzer loads for a call
//! ([`resolve`]), and the outcome the kernel owes for those words
//! ([`predict`]): RAX, the registers and flags the path hands back, how the
//! call ends, and what it writes into user memory. Then the checks of what
//! came back ([`check_return`], [`check_memory`]).
//!
//! The model works on the values the kernel sees, not on the classes the
//! call was drawn from: a call whose arguments are read from read-only
//! memory gets the words found there, and a handle is judged by its value.
//! It follows the reference kernel: the dispatcher reads a service's
//! arguments only if it has some, and refuses a block that is not all user
//! memory or that faults; the services check in the order their code does.

use super::case::{ArgBlock, Call, HandleArg, Op, Path, Pointer, Region, Stack, Target, rflags};
use super::page::{DB, End, GP, Mismatch, PF, SS, check};
use super::rng::Rng;
use crate::layout::{FOUR_GIB, FOUR_GIB_EDGE, FOUR_GIB_EDGE_SIZE};
use crate::service::{self, NT_CURRENT_THREAD, STATUS_UNSUCCESSFUL};
use crate::status::*;
use crate::user_test::FLAGS_CHECK;

// ANCHOR: layout
/// The lowest user address, and one past the highest (the end of the lower
/// canonical half): the kernel's `mm::paging::USER_BASE` and `USER_TOP`.
pub const USER_BASE: u64 = 0x4000_0000;
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;
/// User space nobody maps: above the user program (linked at USER_BASE),
/// below the report pages (`layout::REPORTS_BASE`); and as much again from
/// 4 GiB up, above the two pages mapped around 4 GiB
/// (`layout::FOUR_GIB_EDGE`) and below the user stacks. A 32-bit caller's
/// pointers must lie below 4 GiB, so unmapped addresses come from both
/// sides, and from either side of those two pages.
pub const UNMAPPED_BASE: u64 = 0x5000_0000;
pub const UNMAPPED_HIGH_BASE: u64 = FOUR_GIB_EDGE + FOUR_GIB_EDGE_SIZE;
pub const UNMAPPED_SIZE: u64 = 0x0800_0000;
const _: () = assert!(UNMAPPED_BASE + UNMAPPED_SIZE <= crate::layout::REPORTS_BASE);
const _: () = assert!(FOUR_GIB_EDGE < FOUR_GIB && UNMAPPED_HIGH_BASE > FOUR_GIB);
const _: () = assert!(
    UNMAPPED_HIGH_BASE + UNMAPPED_SIZE
        <= crate::layout::user_stack_top(8) - crate::layout::USER_STACK_STRIDE
);
/// Where SYSEXIT returns: the `ret` after `sysenter` in SharedUserData's
/// 64-bit SystemCallStub (the kernel's `KI_FAST_SYSTEM_CALL_RET64`).
pub const SYSEXIT_RETURN: u64 = crate::layout::SYSTEM_CALL_RETURN64;
// ANCHOR_END: layout

/// The writable buffer that good pointers point into, and how far into it
/// they may start (the longest write, NtTestEcho's 48 bytes, still fits).
pub const GOOD_SIZE: usize = 128;
const GOOD_SLACK: u64 = 64;
/// What the buffer holds before each call, so stray writes show.
pub const CANARY: u8 = 0xA5;
/// The fuzzer's read-only words (in its .rodata). An argument block placed
/// there gives the kernel eight of them. Each is harmless as any argument:
/// as a pointer it is a kernel address, as a handle it is NULL or has tag
/// bits set, as a count or a spin count it is small, and none is
/// NtCurrentThread().
pub const READ_ONLY_WORDS: [u64; 16] = [
    0, 7, 0x22, 1, 0xC1, 3, 0xFE5, 5, 0, 9, 0x31, 0xB, 0x9D, 0xD, 0, 0xF,
];
/// A handle's slot field (bits 17:2) above this names a slot past the end
/// of any table this kernel makes (it has 4096 slots).
const MAX_SLOT_FIELD: u64 = 0x7FFF;
/// RFLAGS bits that must be clear while a service runs: no interrupts, no
/// single-stepping the kernel, and none of the user's DF, AC and NT.
pub const KERNEL_CLEAR: u64 = rflags::IF | rflags::TF | rflags::DF | rflags::AC | rflags::NT;

/// Register numbers, in `user_test::REGISTER_NAMES` order.
pub const RAX: usize = 0;
pub const RCX: usize = 2;
pub const RDX: usize = 3;
pub const R11: usize = 10;
pub const R12: usize = 11;
pub const REGISTERS: usize = 15;

/// Whether `[addr, addr + len)` lies in user space, as the kernel's
/// `paging::is_user_range` decides (an empty range at the top included).
pub const fn is_user_range(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => addr >= USER_BASE && end <= USER_TOP,
        None => false,
    }
}

/// Addresses in the fuzzer's code that a path returns to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// The instruction after the entry instruction (SYSCALL saves it in RCX).
    pub ret: u64,
    /// Where a single-step after a normal return stops.
    pub trap: u64,
    /// NtTestSetReturn's other return point, and where a single-step after
    /// a return there stops.
    pub alt: u64,
    pub alt_trap: u64,
    /// Where a thread entering with a bad stack faults after the return.
    pub stack_fault: u64,
}

/// Where the running fuzzer's things are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The writable buffer ([`GOOD_SIZE`] bytes).
    pub good: u64,
    /// The argument block of `int 0x2e` and SYSCALL (8 words, writable).
    pub args: u64,
    /// [`READ_ONLY_WORDS`].
    pub read_only: u64,
    pub labels: [Labels; 3],
    /// The CPU the fuzzer runs on (NtGetCurrentProcessorNumber).
    pub cpu: u64,
}

impl Layout {
    fn labels(&self, path: Path) -> &Labels {
        &self.labels[path as usize]
    }

    /// Whether the kernel can copy `len` bytes to or from `addr`: a user
    /// range that is mapped (and writable, for `write`). Of user space the
    /// fuzzer only ever names its own buffers, the unmapped gaps on either
    /// side of 4 GiB and the unmapped page below the top; all else is
    /// outside user space.
    pub fn accessible(&self, addr: u64, len: u64, write: bool) -> bool {
        let within = |base: u64, size: u64| addr >= base && addr - base <= size.saturating_sub(len);
        is_user_range(addr, len)
            && (len == 0
                || within(self.good, GOOD_SIZE as u64)
                || within(self.args, 64)
                || (!write && within(self.read_only, 8 * READ_ONLY_WORDS.len() as u64)))
    }
}

/// A handle the case holds or held, and the call that made it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub value: u64,
    pub by: u8,
}

const MAX_HANDLES: usize = super::case::MAX_CALLS as usize;

/// The handles of the case in flight: a case makes at most one per call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handles {
    live: [Held; MAX_HANDLES],
    stale: [Held; MAX_HANDLES],
    live_count: u8,
    stale_count: u8,
}

impl Handles {
    pub const EMPTY: Handles = Handles {
        live: [Held { value: 0, by: 0 }; MAX_HANDLES],
        stale: [Held { value: 0, by: 0 }; MAX_HANDLES],
        live_count: 0,
        stale_count: 0,
    };

    pub fn live(&self) -> &[Held] {
        &self.live[..self.live_count as usize]
    }

    pub fn stale(&self) -> &[Held] {
        &self.stale[..self.stale_count as usize]
    }

    fn nth_live(&self, n: u8) -> Option<Held> {
        let live = self.live();
        (!live.is_empty()).then(|| live[n as usize % live.len()])
    }

    fn nth_stale(&self, n: u8) -> Option<Held> {
        let stale = self.stale();
        (!stale.is_empty()).then(|| stale[n as usize % stale.len()])
    }

    pub fn add(&mut self, value: u64, by: u64) {
        if (self.live_count as usize) < MAX_HANDLES {
            self.live[self.live_count as usize] = Held {
                value,
                by: by as u8,
            };
            self.live_count += 1;
        }
    }

    /// Moves live handle `i` to the closed ones.
    pub fn close(&mut self, i: usize) {
        let h = self.live[i];
        self.live.copy_within(i + 1..self.live_count as usize, i);
        self.live_count -= 1;
        if (self.stale_count as usize) < MAX_HANDLES {
            self.stale[self.stale_count as usize] = h;
            self.stale_count += 1;
        }
    }

    pub fn position(&self, value: u64) -> Option<usize> {
        self.live().iter().position(|h| h.value == value)
    }

    /// Whether `value` cannot name an open handle: it is not shaped like
    /// one (kernel/src/ob/handles.rs: 32 bits, tag bits 1:0 clear, slot
    /// field 1..), or names one of our slots with another generation, or
    /// is one we closed. Only such values are ever passed as invalid, so
    /// that no CPU closes a handle another one holds.
    pub fn surely_invalid(&self, value: u64) -> bool {
        let field = (value >> 2) & 0xFFFF;
        let slot_of = |v: u64| (v >> 2) & 0xFFFF;
        value >> 32 != 0
            || value & 3 != 0
            || field == 0
            || field > MAX_SLOT_FIELD
            || self
                .live()
                .iter()
                .any(|h| slot_of(h.value) == field && h.value != value)
            || self.stale().iter().any(|h| h.value == value) && self.position(value).is_none()
    }
}

// ANCHOR: concrete
/// A call as the fuzzer makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concrete {
    /// RAX..R15 as loaded (RAX: the number; RDX, for `int 0x2e` and
    /// SYSCALL: the argument block; RSP is the fuzzer's own).
    pub regs: [u64; REGISTERS],
    pub flags: u64,
    /// The arguments, at RDX (`int 0x2e`, SYSCALL) or on the stack (SYSENTER).
    pub args: [u64; 8],
    /// A bad RSP (`int 0x2e`, SYSCALL) or RDX (SYSENTER) to enter with.
    pub stack: Option<u64>,
}
// ANCHOR_END: concrete

/// An address in `p`'s region, with room for `len` bytes where it matters.
pub fn address(p: Pointer, layout: &Layout) -> u64 {
    let x = p.pick;
    match p.region {
        Region::Good => layout.good + x % GOOD_SLACK,
        Region::Null => 0,
        // Low memory below user space, or the upper half (a page away from
        // its bottom, so that a push or read below it stays canonical).
        Region::Kernel if x & 1 == 0 => 0x1000 + (x >> 1) % (USER_BASE - 0x2000),
        Region::Kernel => 0xFFFF_8000_0000_1000 + (x >> 1) % 0x0000_7FFF_FFFF_E000,
        Region::StraddleTop => USER_TOP - 1 - x % 7,
        // Below 4 GiB, above it, or close outside the two pages mapped
        // around it, from either side: far enough that a push below the
        // address above them, and a SYSENTER stack's arguments above the
        // address below them, are not in those pages either.
        Region::Unmapped => match x % 8 {
            0 => FOUR_GIB_EDGE - 0x100 + 8 * ((x >> 3) % 8),
            1 => UNMAPPED_HIGH_BASE + 8 * (1 + (x >> 3) % 8),
            2..=4 => UNMAPPED_BASE + 0x1000 + (x >> 3) % (UNMAPPED_SIZE - 0x2000),
            _ => UNMAPPED_HIGH_BASE + 0x1000 + (x >> 3) % (UNMAPPED_SIZE - 0x2000),
        },
        // Word-aligned, so that the kernel reads whole read-only words; low
        // enough that the eight a SYSENTER caller's stack holds 16 bytes up
        // are all read-only words too.
        Region::ReadOnly => layout.read_only + 8 * (x % 7),
        // Bits 63:47 neither all 0 nor all 1.
        Region::NonCanonical => {
            let top = 1 + (x >> 47) % 0x1_FFFE;
            (top << 47) | (x & 0x7FFF_FFFF_FFFF)
        }
    }
}

fn handle_value(h: HandleArg, handles: &Handles) -> u64 {
    let held = |n| handles.nth_live(n).map_or(4, |h| h.value);
    match h {
        HandleArg::Live(n) => handles.nth_live(n).map_or(0, |h| h.value),
        HandleArg::Stale(n) => handles.nth_stale(n).map_or(0, |h| h.value),
        HandleArg::Zero => 0,
        HandleArg::TagBits(n, bits) => held(n) | (bits as u64 & 3).max(1),
        HandleArg::HighBits(n, hi) => held(n) | (hi.max(1) as u64) << 32,
        HandleArg::WrongGeneration(n, bit) => handles
            .nth_live(n)
            .map_or(0, |h| h.value ^ 1 << (18 + bit % 14)),
        HandleArg::OutOfRange(x) => {
            let field = MAX_SLOT_FIELD + 1 + x as u64 % (0xFFFF - MAX_SLOT_FIELD);
            field << 2 | (x as u64 & 0x3FFF) << 18
        }
        HandleArg::CurrentThread => NT_CURRENT_THREAD,
        HandleArg::Random(v) => v,
    }
}

/// The registers, arguments and stack for `call`.
pub fn resolve(call: &Call, handles: &Handles, layout: &Layout) -> Concrete {
    let mut r = Rng::new(call.registers);
    let mut regs: [u64; REGISTERS] = core::array::from_fn(|_| r.next_u64());
    let mut args: [u64; 8] = core::array::from_fn(|_| r.word());
    let number = match call.op {
        Op::Null => service::NT_NULL,
        Op::CreateMutant {
            out,
            access,
            attributes,
            initial_owner,
        } => {
            args[..4].copy_from_slice(&[address(out, layout), access, attributes, initial_owner]);
            service::NT_CREATE_MUTANT
        }
        Op::Close(h) => {
            args[0] = handle_value(h, handles);
            service::NT_CLOSE
        }
        Op::CurrentCpu => service::NT_GET_CURRENT_PROCESSOR_NUMBER,
        Op::Terminate {
            current,
            other,
            status,
        } => {
            args[0] = if current {
                NT_CURRENT_THREAD
            } else {
                handle_value(other, handles)
            };
            args[1] = status;
            service::NT_TERMINATE_THREAD
        }
        Op::Echo {
            buffer,
            count,
            values,
        } => {
            args[0] = address(buffer, layout);
            args[1] = count;
            args[2..].copy_from_slice(&values);
            service::NT_TEST_ECHO
        }
        Op::Status(s) => {
            args[0] = s;
            service::NT_TEST_STATUS
        }
        Op::SetReturn { target, also_rcx } => {
            args[0] = match target {
                Target::Alternate => layout.labels(call.path).alt,
                Target::Bad(p) => address(p, layout),
            };
            args[1] = also_rcx;
            service::NT_TEST_SET_RETURN
        }
        Op::CheckFrame {
            matching,
            pattern,
            spins,
        } => {
            if matching {
                for k in 0..4 {
                    regs[R12 + k] = pattern ^ k as u64;
                }
            }
            args[0] = pattern;
            args[1] = spins;
            service::NT_TEST_CHECK_FRAME
        }
        Op::KernelFlags(out) => {
            args[0] = address(out, layout);
            service::NT_TEST_KERNEL_FLAGS
        }
        Op::KernelFault => service::NT_TEST_KERNEL_FAULT,
        Op::CheckGs => service::NT_TEST_CHECK_GS,
        Op::Scratch => service::NT_TEST_SCRATCH,
        Op::Invalid(n) => n,
    };
    regs[RAX] = (call.rax_high as u64) << 32 | number as u64;
    if call.path != Path::Sysenter {
        regs[RDX] = match call.args_at {
            ArgBlock::Good => layout.args,
            ArgBlock::ReadOnly(k) => layout.read_only + 8 * (k as u64 % 8),
            ArgBlock::Bad(p) => address(p, layout),
        };
    }
    Concrete {
        regs,
        flags: call.flags,
        args,
        stack: match call.stack {
            Stack::Normal => None,
            Stack::Bad(p) => Some(address(p, layout)),
        },
    }
}

// ANCHOR: outcome
/// What a call writes into the fuzzer's buffer, and what it does to the
/// case's handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// NtCreateMutant wrote a new handle at this address.
    NewHandle {
        at: u64,
    },
    /// NtClose closed live handle number `.0`.
    Closed(usize),
    /// NtTestEcho wrote the first `count` values at `at`.
    Echo {
        at: u64,
        count: u64,
        values: [u64; 6],
    },
    /// NtTestKernelFlags wrote [RFLAGS in the kernel, the saved user
    /// RFLAGS, the two XORed with `user_test::FLAGS_CHECK`].
    KernelFlags {
        at: u64,
    },
}

/// What the kernel owes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// RAX after the call: the status, zero-extended.
    pub status: u64,
    pub end: End,
    pub effect: Effect,
    /// The registers after a return, and which of them are checked (bit k:
    /// register k): RAX is the status; SYSENTER's exit loads RCX and RDX.
    pub regs: [u64; REGISTERS],
    pub checked: u16,
    pub flags: u64,
}
// ANCHOR_END: outcome

/// How many arguments the dispatcher copies for `number`, for the services
/// the model knows (kernel/src/syscall/table.rs; a host test compares).
pub fn arg_count(number: u32) -> Option<u64> {
    Some(match number {
        service::NT_NULL => 0,
        service::NT_CREATE_MUTANT => 4,
        service::NT_CLOSE => 1,
        service::NT_GET_CURRENT_PROCESSOR_NUMBER => 0,
        service::NT_TERMINATE_THREAD => 2,
        service::NT_TEST_ECHO => 8,
        service::NT_TEST_STATUS => 1,
        service::NT_TEST_SET_RETURN => 2,
        service::NT_TEST_CHECK_FRAME => 2,
        service::NT_TEST_KERNEL_FLAGS => 1,
        service::NT_TEST_KERNEL_FAULT => 0,
        service::NT_TEST_CHECK_GS => 0,
        service::NT_TEST_SCRATCH => 0,
        _ => return None,
    })
}

/// The fault of a thread that touches `addr` (its stack, or its next
/// instruction) from ring 3: a page fault, or for a non-canonical address
/// #GP (#SS for a stack reference; SDM Vol. 3A §6.15).
fn fault_vectors(addr: u64) -> u64 {
    let canonical = (addr as i64) << 16 >> 16 == addr as i64;
    if canonical {
        1 << PF
    } else {
        1 << GP | 1 << SS
    }
}

/// The read-only word at `addr`, if `addr` is one of [`READ_ONLY_WORDS`]'
/// (word-aligned) addresses.
fn read_only_word(addr: u64, layout: &Layout) -> Option<u64> {
    let k = addr.checked_sub(layout.read_only)?;
    if k % 8 != 0 {
        return None;
    }
    READ_ONLY_WORDS.get((k / 8) as usize).copied()
}

/// The words the kernel reads as the call's `n` arguments, or `None` if
/// the dispatcher must refuse the block.
fn arguments(call: &Call, c: &Concrete, layout: &Layout, n: u64) -> Option<[u64; 8]> {
    if n == 0 {
        return Some(c.args);
    }
    // KiFastCallEntry finds the arguments 16 bytes above the user stack.
    let block = match (call.path, c.stack) {
        (Path::Sysenter, Some(rdx)) => rdx.wrapping_add(16),
        (Path::Sysenter, None) => return Some(c.args),
        _ => c.regs[RDX],
    };
    if !layout.accessible(block, 8 * n, false) {
        return None;
    }
    // A block in the read-only words gives the kernel those (generated
    // blocks there are word-aligned).
    let ro = layout.read_only;
    if (ro..ro + 8 * READ_ONLY_WORDS.len() as u64).contains(&block) {
        let k = ((block - ro) / 8) as usize;
        return Some(core::array::from_fn(|i| {
            READ_ONLY_WORDS.get(k + i).copied().unwrap_or(0)
        }));
    }
    Some(c.args)
}

// ANCHOR: predict
/// The outcome the kernel owes `call` made as `c`, with `handles` held.
pub fn predict(call: &Call, c: &Concrete, handles: &Handles, layout: &Layout) -> Outcome {
    let labels = layout.labels(call.path);
    let mut out = Outcome {
        status: 0,
        end: End::RETURN,
        effect: Effect::None,
        regs: c.regs,
        checked: (1 << REGISTERS) - 1 - (1 << RAX),
        flags: c.flags,
    };
    match call.path {
        Path::Int2e => {}
        // SYSEXIT returns with RIP = RDX and RSP = RCX.
        Path::Sysenter => out.checked &= !(1 << RCX | 1 << RDX),
        // SYSCALL saved the return address in RCX and RFLAGS in R11.
        Path::Syscall => {
            out.regs[RCX] = labels.ret;
            out.regs[R11] = c.flags;
        }
    }
    // Where the thread goes after the call, if it returns.
    let mut resume = labels.ret;
    let mut trap = labels.trap;
    let number = c.regs[RAX] as u32; // the number is EAX
    let writable = |addr: u64, len: u64| layout.accessible(addr, len, true);
    out.status = match arg_count(number) {
        None => STATUS_INVALID_SYSTEM_SERVICE,
        Some(n) => match arguments(call, c, layout, n) {
            None => STATUS_ACCESS_VIOLATION,
            Some(a) => match number {
                service::NT_CREATE_MUTANT if a[2] != 0 => STATUS_INVALID_PARAMETER,
                service::NT_CREATE_MUTANT if writable(a[0], 8) => {
                    out.effect = Effect::NewHandle { at: a[0] };
                    STATUS_SUCCESS
                }
                // Created, then closed again: the handle could not be written.
                service::NT_CREATE_MUTANT => STATUS_ACCESS_VIOLATION,
                service::NT_CLOSE => match handles.position(a[0]) {
                    Some(i) => {
                        out.effect = Effect::Closed(i);
                        STATUS_SUCCESS
                    }
                    None => {
                        debug_assert!(handles.surely_invalid(a[0]), "{:#x}", a[0]);
                        STATUS_INVALID_HANDLE
                    }
                },
                service::NT_GET_CURRENT_PROCESSOR_NUMBER => layout.cpu as NtStatus,
                service::NT_TERMINATE_THREAD if a[0] == NT_CURRENT_THREAD => {
                    out.end = End::exit(a[1] & 0xFFFF_FFFF);
                    STATUS_SUCCESS
                }
                service::NT_TERMINATE_THREAD => STATUS_INVALID_HANDLE,
                service::NT_TEST_ECHO if a[1] > 6 => STATUS_INVALID_PARAMETER,
                service::NT_TEST_ECHO if writable(a[0], 8 * a[1]) => {
                    if a[1] > 0 {
                        out.effect = Effect::Echo {
                            at: a[0],
                            count: a[1],
                            values: core::array::from_fn(|i| a[2 + i]),
                        };
                    }
                    STATUS_SUCCESS
                }
                service::NT_TEST_ECHO => STATUS_ACCESS_VIOLATION,
                service::NT_TEST_STATUS => a[0] as NtStatus,
                service::NT_TEST_SET_RETURN => {
                    // Like NtContinue: the frame now returns to a[0].
                    resume = a[0];
                    if a[1] & 0xFF != 0 && call.path != Path::Sysenter {
                        out.regs[RCX] = a[0];
                    }
                    if a[0] == labels.alt {
                        trap = labels.alt_trap;
                    }
                    STATUS_SUCCESS
                }
                service::NT_TEST_CHECK_FRAME => {
                    // (It spins a[1] times first, at most 2^20: no outcome of its own.)
                    let intact = (0..4).all(|k| c.regs[R12 + k] == a[0] ^ k as u64);
                    if intact {
                        STATUS_SUCCESS
                    } else {
                        STATUS_UNSUCCESSFUL
                    }
                }
                service::NT_TEST_KERNEL_FLAGS if writable(a[0], 24) => {
                    out.effect = Effect::KernelFlags { at: a[0] };
                    STATUS_SUCCESS
                }
                service::NT_TEST_KERNEL_FLAGS => STATUS_ACCESS_VIOLATION,
                // Only a SYSCALL entry parks the user RSP in a scratch slot.
                service::NT_TEST_SCRATCH if call.path != Path::Syscall => STATUS_INVALID_PARAMETER,
                // NtNull, NtTestKernelFault, NtTestCheckGs (GS is the
                // kernel's on every path), NtTestScratch via SYSCALL.
                _ => STATUS_SUCCESS,
            },
        },
    } as u64;
    if out.end != End::RETURN {
        return out; // the thread ended in the kernel
    }
    let alternate = resume == labels.alt;
    out.end = if resume != labels.ret && !alternate {
        // Returned to an address that cannot run.
        End::kill(fault_vectors(resume), resume)
    } else if let Some(word) = c
        .stack
        .filter(|_| call.path == Path::Sysenter)
        .and_then(|stack| read_only_word(stack, layout))
    {
        // A SYSENTER stack the thread can read (the kernel returns on the
        // RDX it was given, whatever the thread's mode): the `ret` it
        // returns to pops a read-only word and jumps there; a single-step
        // traps on arriving, before the fetch faults.
        let vectors = if c.flags & rflags::TF != 0 {
            1 << DB
        } else {
            fault_vectors(word)
        };
        End::kill(vectors, word)
    } else if let Some(stack) = c.stack {
        // The first touch of the bad stack after the return faults: the
        // `ret` of SystemCallStub (SYSENTER), else the fuzzer's `pushfq`.
        let at = match call.path {
            _ if alternate => labels.alt,
            Path::Sysenter => SYSEXIT_RETURN,
            _ => labels.stack_fault,
        };
        End::kill(fault_vectors(stack), at)
    } else if c.flags & rflags::TF != 0 {
        // The single-step trap of the first instruction after the return.
        End::kill(1 << DB, trap)
    } else {
        End::RETURN
    };
    out
}
// ANCHOR_END: predict

/// A mismatch, as a check's result.
fn wrong<T>(check: u64, index: u64, expected: u64, got: u64) -> Result<T, Mismatch> {
    Err(Mismatch {
        check,
        index,
        expected,
        got,
    })
}

/// The first register, the status first, that differs from the outcome.
pub fn check_return(out: &Outcome, regs: &[u64; REGISTERS], flags: u64) -> Result<(), Mismatch> {
    if regs[RAX] != out.status {
        return wrong(check::STATUS, 0, out.status, regs[RAX]);
    }
    for (k, (&got, &want)) in regs.iter().zip(&out.regs).enumerate() {
        if out.checked & 1 << k != 0 && got != want {
            return wrong(check::REGISTER, k as u64, want, got);
        }
    }
    if flags != out.flags {
        return wrong(check::FLAGS, 0, out.flags, flags);
    }
    Ok(())
}

fn word_at(bytes: &[u8; GOOD_SIZE], offset: usize) -> u64 {
    let mut w = [CANARY; 8];
    for (i, b) in w.iter_mut().enumerate() {
        if let Some(&x) = bytes.get(offset + i) {
            *b = x;
        }
    }
    u64::from_le_bytes(w)
}

/// Whether `value` is shaped like a handle (kernel/src/ob/handles.rs).
fn handle_shaped(value: u64) -> bool {
    value >> 32 == 0 && value & 3 == 0 && (value >> 2) & 0xFFFF != 0
}

// ANCHOR: check_memory
/// Checks the good buffer (at `good`, now holding `bytes`) after a call:
/// the call's effect where it belongs, the canary everywhere else. Returns
/// the handle NtCreateMutant wrote, if it did. A memory mismatch's index is
/// the byte offset of the first wrong byte from the address the call was
/// given (from the buffer's start if it was given none).
pub fn check_memory(
    out: &Outcome,
    c: &Concrete,
    good: u64,
    bytes: &[u8; GOOD_SIZE],
    handles: &Handles,
) -> Result<Option<u64>, Mismatch> {
    let mut expected = [CANARY; GOOD_SIZE];
    let mut put = |at: u64, words: &[u64]| {
        let start = (at - good) as usize;
        for (i, w) in words.iter().enumerate() {
            expected[start + 8 * i..start + 8 * i + 8].copy_from_slice(&w.to_le_bytes());
        }
    };
    let mut new_handle = None;
    let at = match out.effect {
        Effect::None | Effect::Closed(_) => good,
        Effect::NewHandle { at } => {
            let value = word_at(bytes, (at - good) as usize);
            if !handle_shaped(value) || handles.position(value).is_some() {
                return wrong(check::HANDLE, 0, 0, value);
            }
            put(at, &[value]);
            new_handle = Some(value);
            at
        }
        Effect::Echo { at, count, values } => {
            put(at, &values[..count as usize]);
            at
        }
        Effect::KernelFlags { at } => {
            let s = (at - good) as usize;
            let (kernel, saved) = (word_at(bytes, s), word_at(bytes, s + 8));
            if kernel & KERNEL_CLEAR != 0 {
                return wrong(check::KERNEL_FLAGS, 0, kernel & !KERNEL_CLEAR, kernel);
            }
            // Exactly the user's, TF included: a single-step into SYSENTER
            // is recorded in the call's own frame.
            if saved != c.flags {
                return wrong(check::FRAME_FLAGS, 0, c.flags, saved);
            }
            // The check word: a copy that went wrong shows here.
            put(at, &[kernel, saved, kernel ^ saved ^ FLAGS_CHECK]);
            at
        }
    };
    match (0..GOOD_SIZE).find(|&i| bytes[i] != expected[i]) {
        Some(i) => wrong(
            check::MEMORY,
            (i as i64 - (at - good) as i64) as u64,
            word_at(&expected, i),
            word_at(bytes, i),
        ),
        None => Ok(new_handle),
    }
}
// ANCHOR_END: check_memory

impl Handles {
    /// Records what a call did to the case's handles: `new` is the handle
    /// NtCreateMutant wrote (checked by [`check_memory`]), made by call `by`.
    pub fn apply(&mut self, effect: &Effect, new: Option<u64>, by: u64) {
        match *effect {
            Effect::Closed(i) => self.close(i),
            Effect::NewHandle { .. } => {
                if let Some(h) = new {
                    self.add(h, by)
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::case::{Case, Paths};
    use super::super::sim::{self, LAYOUT};
    use super::*;

    fn call(path: Path, op: Op) -> Call {
        Call {
            path,
            op,
            rax_high: 0,
            args_at: ArgBlock::Good,
            stack: Stack::Normal,
            flags: rflags::USER_DEFAULT,
            registers: 99,
        }
    }

    fn p(region: Region) -> Pointer {
        Pointer {
            region,
            pick: 12345,
        }
    }

    fn outcome_with(c: &Call, handles: &Handles) -> (Concrete, Outcome) {
        let concrete = resolve(c, handles, &LAYOUT);
        (concrete, predict(c, &concrete, handles, &LAYOUT))
    }

    fn outcome(c: &Call) -> Outcome {
        outcome_with(c, &Handles::default()).1
    }

    fn status(c: &Call) -> NtStatus {
        outcome(c).status as NtStatus
    }

    fn echo(buffer: Region, count: u64) -> Op {
        Op::Echo {
            buffer: p(buffer),
            count,
            values: [1, 2, 3, 4, 5, 6],
        }
    }

    #[test]
    fn services_with_no_arguments_never_read_rdx() {
        for path in [Path::Int2e, Path::Syscall] {
            let mut c = call(path, Op::Null);
            c.args_at = ArgBlock::Bad(p(Region::Null));
            assert_eq!(status(&c), STATUS_SUCCESS);
            c.op = Op::Close(HandleArg::Zero);
            assert_eq!(
                status(&c),
                STATUS_ACCESS_VIOLATION,
                "a bad block is refused"
            );
            for region in [
                Region::Kernel,
                Region::Unmapped,
                Region::StraddleTop,
                Region::NonCanonical,
            ] {
                c.args_at = ArgBlock::Bad(p(region));
                assert_eq!(status(&c), STATUS_ACCESS_VIOLATION, "{region:?}");
            }
            // Read-only memory is fine to read: the kernel gets its words.
            c.args_at = ArgBlock::ReadOnly(2);
            c.op = Op::Status(0);
            assert_eq!(status(&c), READ_ONLY_WORDS[2] as NtStatus);
            c.op = Op::Close(HandleArg::Live(0));
            assert_eq!(status(&c), STATUS_INVALID_HANDLE);
        }
    }

    #[test]
    fn the_number_is_eax() {
        let mut c = call(Path::Int2e, Op::Null);
        c.rax_high = 0xFFFF_FFFF;
        assert_eq!(status(&c), STATUS_SUCCESS);
        c.op = Op::Invalid(service::COUNT);
        assert_eq!(status(&c), STATUS_INVALID_SYSTEM_SERVICE);
        c.op = Op::Invalid(u32::MAX);
        assert_eq!(status(&c), STATUS_INVALID_SYSTEM_SERVICE);
        assert_eq!(arg_count(service::COUNT), None);
    }

    #[test]
    fn echo_checks_the_count_then_the_whole_buffer() {
        let s = |region, count| status(&call(Path::Syscall, echo(region, count)));
        assert_eq!(s(Region::Good, 6), STATUS_SUCCESS);
        assert_eq!(s(Region::Good, 7), STATUS_INVALID_PARAMETER);
        assert_eq!(
            s(Region::Null, 7),
            STATUS_INVALID_PARAMETER,
            "the count comes first"
        );
        for region in super::super::case::BAD_REGIONS {
            assert_eq!(s(region, 1), STATUS_ACCESS_VIOLATION, "{region:?}");
        }
        // Nothing to copy: only the range check can fail, and an empty range
        // at the top of user space, or in an unmapped page, passes it.
        assert_eq!(s(Region::Null, 0), STATUS_ACCESS_VIOLATION);
        assert_eq!(s(Region::Kernel, 0), STATUS_ACCESS_VIOLATION);
        assert_eq!(s(Region::NonCanonical, 0), STATUS_ACCESS_VIOLATION);
        assert_eq!(s(Region::StraddleTop, 0), STATUS_SUCCESS);
        assert_eq!(s(Region::Unmapped, 0), STATUS_SUCCESS);
        assert_eq!(s(Region::ReadOnly, 0), STATUS_SUCCESS);
        let o = outcome(&call(Path::Syscall, echo(Region::Good, 2)));
        assert!(matches!(
            o.effect,
            Effect::Echo {
                count: 2,
                values: [1, 2, ..],
                ..
            }
        ));
        assert_eq!(
            outcome(&call(Path::Syscall, echo(Region::Good, 0))).effect,
            Effect::None
        );
    }

    #[test]
    fn create_refuses_attributes_first_and_a_bad_out_pointer_after() {
        let create = |out, attributes| {
            call(
                Path::Int2e,
                Op::CreateMutant {
                    out: p(out),
                    access: 0,
                    attributes,
                    initial_owner: 1,
                },
            )
        };
        assert_eq!(status(&create(Region::Null, 1)), STATUS_INVALID_PARAMETER);
        for region in [
            Region::Null,
            Region::ReadOnly,
            Region::Unmapped,
            Region::StraddleTop,
        ] {
            assert_eq!(
                status(&create(region, 0)),
                STATUS_ACCESS_VIOLATION,
                "{region:?}"
            );
            assert_eq!(outcome(&create(region, 0)).effect, Effect::None);
        }
        let o = outcome(&create(Region::Good, 0));
        assert_eq!(o.status, STATUS_SUCCESS as u64);
        assert!(matches!(o.effect, Effect::NewHandle { .. }));
    }

    #[test]
    fn close_knows_held_stale_and_forged_handles() {
        let mut handles = Handles::default();
        handles.add(0x0004_0008, 0); // slot 1, generation 1
        handles.add(0x000C, 1); // slot 2, generation 0
        handles.close(1);
        let close = |h| outcome_with(&call(Path::Sysenter, Op::Close(h)), &handles).1;
        assert_eq!(close(HandleArg::Live(0)).effect, Effect::Closed(0));
        assert_eq!(close(HandleArg::Live(0)).status, STATUS_SUCCESS as u64);
        for h in [
            HandleArg::Stale(0),
            HandleArg::Zero,
            HandleArg::TagBits(0, 2),
            HandleArg::HighBits(0, 1),
            HandleArg::WrongGeneration(0, 3),
            HandleArg::OutOfRange(0xFFFF),
            HandleArg::OutOfRange(0),
            HandleArg::CurrentThread,
            HandleArg::Random(1 << 40),
        ] {
            let o = close(h);
            assert_eq!(o.status, STATUS_INVALID_HANDLE as u64, "{h:?}");
            let value = handle_value(h, &handles);
            assert!(handles.surely_invalid(value), "{h:?} = {value:#x}");
        }
        assert!(
            !handles.surely_invalid(0x0004_0008),
            "a held handle is valid"
        );
        assert!(
            !handles.surely_invalid(0x10),
            "someone else's slot may be valid"
        );
    }

    #[test]
    fn generated_handles_never_name_another_cpus() {
        // predict() asserts it (debug_assert) for every NtClose.
        for seed in 0..3000 {
            for step in sim::steps(seed, Paths::ALL) {
                if let Op::Close(_) = step.call.op {
                    let value = step.concrete.args[0];
                    let held = step.held.live().iter().any(|h| h.value == value);
                    assert!(held || step.held.surely_invalid(value), "case {seed:#x}");
                }
            }
        }
    }

    #[test]
    fn cases_end_with_nothing_held() {
        for seed in 0..500 {
            let case = Case::new(seed);
            let steps: std::vec::Vec<_> = sim::steps(seed, Paths::ALL).collect();
            assert!(steps.len() as u64 >= case.len);
            let last = steps.last().unwrap();
            let mut handles = last.held;
            handles.apply(&last.outcome.effect, None, 0);
            assert!(handles.live().is_empty(), "case {seed:#x}");
        }
    }

    #[test]
    fn terminate_ends_the_thread_only_for_the_current_thread() {
        let t = |current| Op::Terminate {
            current,
            other: HandleArg::Zero,
            status: 0x1_2345_6789,
        };
        let mut c = call(Path::Sysenter, t(true));
        c.flags |= rflags::TF;
        assert_eq!(
            outcome(&c).end,
            End::exit(0x2345_6789),
            "TF or not, it exits"
        );
        c.op = t(false);
        assert_eq!(outcome(&c).status, STATUS_INVALID_HANDLE as u64);
        let mut c = call(Path::Int2e, t(true));
        c.args_at = ArgBlock::Bad(p(Region::Unmapped));
        let o = outcome(&c);
        assert_eq!(
            (o.status, o.end),
            (STATUS_ACCESS_VIOLATION as u64, End::RETURN)
        );
    }

    #[test]
    fn each_path_hands_back_its_own_registers() {
        let c = call(Path::Int2e, Op::Null);
        let (concrete, o) = outcome_with(&c, &Handles::default());
        assert_eq!(o.checked, 0x7FFE, "all but RAX");
        assert_eq!(o.regs, concrete.regs);
        assert_eq!(concrete.regs[RDX], LAYOUT.args);
        let o = outcome(&call(Path::Sysenter, Op::Null));
        assert_eq!(
            o.checked & (1 << RCX | 1 << RDX),
            0,
            "SYSEXIT loads RCX and RDX"
        );
        let (concrete, o) = outcome_with(&call(Path::Syscall, Op::Null), &Handles::default());
        assert_eq!(o.regs[RCX], LAYOUT.labels[2].ret);
        assert_eq!(o.regs[R11], concrete.flags);
        assert_eq!(o.flags, rflags::USER_DEFAULT);
        let o = outcome(&call(Path::Int2e, Op::CurrentCpu));
        assert_eq!(o.status, LAYOUT.cpu);
    }

    #[test]
    fn set_return_moves_rip_and_maybe_rcx() {
        let set = |path, target, also_rcx| outcome(&call(path, Op::SetReturn { target, also_rcx }));
        let o = set(Path::Syscall, Target::Alternate, 0x100);
        assert_eq!((o.end, o.regs[RCX]), (End::RETURN, LAYOUT.labels[2].ret));
        let o = set(Path::Syscall, Target::Alternate, 1);
        assert_eq!(o.regs[RCX], LAYOUT.labels[2].alt);
        let o = set(Path::Int2e, Target::Alternate, 1);
        assert_eq!(o.regs[RCX], LAYOUT.labels[0].alt);
        let kernel = Target::Bad(p(Region::Kernel));
        let o = set(Path::Sysenter, kernel, 0);
        assert_eq!(o.end.vectors, 1 << PF);
        assert!(o.end.value < USER_BASE || o.end.value >= USER_TOP);
        let o = set(Path::Int2e, Target::Bad(p(Region::NonCanonical)), 1);
        assert_eq!(o.end.vectors, 1 << GP | 1 << SS);
        let mut c = call(
            Path::Int2e,
            Op::SetReturn {
                target: Target::Alternate,
                also_rcx: 0,
            },
        );
        c.flags |= rflags::TF;
        assert_eq!(
            outcome(&c).end,
            End::kill(1 << DB, LAYOUT.labels[0].alt_trap)
        );
    }

    #[test]
    fn single_steps_and_bad_stacks_kill_after_the_return() {
        for path in Path::ALL {
            let mut c = call(path, Op::Status(5));
            c.flags |= rflags::TF;
            let o = outcome(&c);
            assert_eq!(o.status, 5);
            assert_eq!(o.end, End::kill(1 << DB, LAYOUT.labels[path as usize].trap));
        }
        let mut c = call(Path::Syscall, Op::Null);
        c.stack = Stack::Bad(p(Region::Kernel));
        assert_eq!(
            outcome(&c).end,
            End::kill(1 << PF, LAYOUT.labels[2].stack_fault)
        );
        c.stack = Stack::Bad(p(Region::NonCanonical));
        assert_eq!(outcome(&c).end.vectors, 1 << GP | 1 << SS);
        // SYSENTER: the kernel returns on the bad stack to SystemCallStub's `ret`.
        let mut c = call(Path::Sysenter, Op::Null);
        c.stack = Stack::Bad(p(Region::Unmapped));
        assert_eq!(outcome(&c).end, End::kill(1 << PF, SYSEXIT_RETURN));
        c.op = Op::Status(1); // one argument, read through the bad stack
        assert_eq!(outcome(&c).status, STATUS_ACCESS_VIOLATION as u64);
    }

    #[test]
    fn check_frame_compares_r12_to_r15() {
        let frame = |matching| {
            status(&call(
                Path::Int2e,
                Op::CheckFrame {
                    matching,
                    pattern: 0x1234,
                    spins: 3,
                },
            ))
        };
        assert_eq!(frame(true), STATUS_SUCCESS);
        assert_eq!(frame(false), STATUS_UNSUCCESSFUL);
    }

    fn good_bytes() -> [u8; GOOD_SIZE] {
        [CANARY; GOOD_SIZE]
    }

    #[test]
    fn memory_checks_find_wrong_words_and_stray_writes() {
        let handles = Handles::default();
        let c = call(Path::Int2e, echo(Region::Good, 2));
        let (concrete, o) = outcome_with(&c, &handles);
        let Effect::Echo { at, .. } = o.effect else {
            panic!()
        };
        let off = (at - LAYOUT.good) as usize;
        let mut bytes = good_bytes();
        bytes[off..off + 8].copy_from_slice(&1u64.to_le_bytes());
        bytes[off + 8..off + 16].copy_from_slice(&2u64.to_le_bytes());
        assert_eq!(
            check_memory(&o, &concrete, LAYOUT.good, &bytes, &handles),
            Ok(None)
        );
        bytes[off + 8] = 9;
        let m = check_memory(&o, &concrete, LAYOUT.good, &bytes, &handles).unwrap_err();
        assert_eq!(
            (m.check, m.index, m.expected, m.got),
            (check::MEMORY, 8, 2, 9)
        );
        // A write where the call had none to make.
        let (concrete, o) = outcome_with(&call(Path::Int2e, Op::Null), &handles);
        let mut bytes = good_bytes();
        bytes[40] = 0;
        let m = check_memory(&o, &concrete, LAYOUT.good, &bytes, &handles).unwrap_err();
        assert_eq!((m.check, m.index), (check::MEMORY, 40));
    }

    #[test]
    fn memory_checks_of_handles_and_kernel_flags() {
        let mut handles = Handles::default();
        let create = call(
            Path::Syscall,
            Op::CreateMutant {
                out: p(Region::Good),
                access: 0,
                attributes: 0,
                initial_owner: 0,
            },
        );
        let (concrete, o) = outcome_with(&create, &handles);
        let Effect::NewHandle { at } = o.effect else {
            panic!()
        };
        let off = (at - LAYOUT.good) as usize;
        let mut bytes = good_bytes();
        bytes[off..off + 8].copy_from_slice(&0x4_0010u64.to_le_bytes());
        assert_eq!(
            check_memory(&o, &concrete, LAYOUT.good, &bytes, &handles),
            Ok(Some(0x4_0010))
        );
        handles.add(0x4_0010, 0);
        let m = check_memory(&o, &concrete, LAYOUT.good, &bytes, &handles).unwrap_err();
        assert_eq!(m.check, check::HANDLE, "a handle already held is not new");
        let m = check_memory(
            &o,
            &concrete,
            LAYOUT.good,
            &good_bytes(),
            &Handles::default(),
        );
        assert_eq!(m.unwrap_err().check, check::HANDLE, "nothing written");

        for path in Path::ALL {
            let mut c = call(path, Op::KernelFlags(p(Region::Good)));
            c.flags |= rflags::AC;
            let (concrete, o) = outcome_with(&c, &Handles::default());
            let Effect::KernelFlags { at } = o.effect else {
                panic!()
            };
            let off = (at - LAYOUT.good) as usize;
            let mut bytes = good_bytes();
            let mut write = |kernel: u64, saved: u64, check: u64| {
                for (i, w) in [kernel, saved, check].into_iter().enumerate() {
                    bytes[off + 8 * i..off + 8 * i + 8].copy_from_slice(&w.to_le_bytes());
                }
                check_memory(&o, &concrete, LAYOUT.good, &bytes, &Handles::default())
            };
            let (kernel, saved) = (rflags::RESERVED1, c.flags);
            assert_eq!(write(kernel, saved, kernel ^ saved ^ FLAGS_CHECK), Ok(None));
            let leaked = kernel | rflags::AC;
            let m = write(leaked, saved, leaked ^ saved ^ FLAGS_CHECK).unwrap_err();
            assert_eq!((m.check, m.got), (check::KERNEL_FLAGS, leaked));
            let m = write(kernel, saved ^ 1, kernel ^ saved ^ 1 ^ FLAGS_CHECK).unwrap_err();
            assert_eq!(m.check, check::FRAME_FLAGS);
            // Two words that look right, and a third that gives them away.
            let m = write(kernel, saved, kernel ^ saved).unwrap_err();
            assert_eq!((m.check, m.index), (check::MEMORY, 16));
            assert_eq!(m.expected, kernel ^ saved ^ FLAGS_CHECK);
        }
        // Three words: a buffer with room for two is refused.
        let mut c = call(Path::Syscall, Op::KernelFlags(p(Region::StraddleTop)));
        assert_eq!(status(&c), STATUS_ACCESS_VIOLATION);
        // A single-step into SYSENTER is in the call's own frame: TF and all.
        c.path = Path::Sysenter;
        c.op = Op::KernelFlags(p(Region::Good));
        c.flags |= rflags::TF;
        let (_, o) = outcome_with(&c, &Handles::default());
        assert_eq!(o.end, End::kill(1 << DB, LAYOUT.labels[1].trap));
        assert!(matches!(o.effect, Effect::KernelFlags { .. }));
    }

    #[test]
    fn gs_is_checked_on_every_path_and_the_scratch_slot_on_syscall() {
        for path in Path::ALL {
            let mut c = call(path, Op::CheckGs);
            c.args_at = ArgBlock::Bad(p(Region::NonCanonical));
            assert_eq!(status(&c), STATUS_SUCCESS, "{path:?}");
            c.op = Op::Scratch;
            let expected = match path {
                Path::Syscall => STATUS_SUCCESS,
                _ => STATUS_INVALID_PARAMETER,
            };
            assert_eq!(status(&c), expected, "{path:?}");
        }
        // A bad RSP is still the RSP the entry parked.
        let mut c = call(Path::Syscall, Op::Scratch);
        c.stack = Stack::Bad(p(Region::Kernel));
        assert_eq!(status(&c), STATUS_SUCCESS);
        assert_eq!(arg_count(service::NT_TEST_CHECK_GS), Some(0));
        assert_eq!(arg_count(service::NT_TEST_SCRATCH), Some(0));
    }

    #[test]
    fn sysenter_returns_on_any_stack_it_was_given() {
        let sysenter = |op, stack: u64, flags: u64| {
            let mut c = call(Path::Sysenter, op);
            c.flags |= flags;
            let mut concrete = resolve(&c, &Handles::default(), &LAYOUT);
            concrete.stack = Some(stack);
            predict(&c, &concrete, &Handles::default(), &LAYOUT)
        };
        // A 64-bit thread is a 64-bit caller on either side of 4 GiB: the
        // `ret` it returns to faults on a stack it cannot read.
        for rdx in [FOUR_GIB_EDGE - 8, UNMAPPED_HIGH_BASE, 0x1000] {
            let o = sysenter(Op::Null, rdx, 0);
            assert_eq!(o.end, End::kill(1 << PF, SYSEXIT_RETURN), "{rdx:#x}");
            assert_eq!(o.status, STATUS_SUCCESS as u64, "the service ran");
        }
        // Unreadable: the arguments are refused, then the `ret` faults; a
        // single-step cannot trap before it.
        let o = sysenter(Op::Status(0), 0, rflags::TF);
        assert_eq!(
            (o.status, o.end),
            (
                STATUS_ACCESS_VIOLATION as u64,
                End::kill(1 << PF, SYSEXIT_RETURN)
            )
        );
        // Readable: the service gets the read-only words, and the `ret`
        // jumps to the word on top, where the fetch faults, or a
        // single-step traps first.
        let ro = LAYOUT.read_only;
        let o = sysenter(Op::Status(0), ro + 8, 0);
        assert_eq!(o.status, READ_ONLY_WORDS[3]);
        assert_eq!(o.end, End::kill(1 << PF, READ_ONLY_WORDS[1]));
        let o = sysenter(Op::Null, ro + 16, rflags::TF);
        assert_eq!(o.end, End::kill(1 << DB, READ_ONLY_WORDS[2]));
        // NtTestSetReturn reads its new return address there too: a
        // read-only word, which cannot run.
        let set = Op::SetReturn {
            target: Target::Alternate,
            also_rcx: 0,
        };
        let o = sysenter(set, ro, 0);
        assert_eq!(o.end, End::kill(1 << PF, READ_ONLY_WORDS[2]));
        // The generator reaches readable and unreadable stacks, single-stepped too.
        let (mut readable, mut unreadable, mut stepped) = (0, 0, 0);
        for seed in 0..20_000 {
            for step in sim::steps(seed, Paths(Path::Sysenter.bit())) {
                if let Some(rdx) = step.concrete.stack {
                    let r = read_only_word(rdx, &LAYOUT).is_some();
                    readable += r as u32;
                    unreadable += !r as u32;
                    stepped += (step.concrete.flags & rflags::TF != 0) as u32;
                }
            }
        }
        assert!(
            readable > 20 && unreadable > 20,
            "{readable} readable, {unreadable} not"
        );
        assert!(stepped > 5, "{stepped} single-stepped");
    }

    #[test]
    fn return_checks_come_in_order() {
        let c = call(Path::Syscall, Op::Status(7));
        let (_, o) = outcome_with(&c, &Handles::default());
        let mut regs = o.regs;
        regs[RAX] = 7;
        assert_eq!(check_return(&o, &regs, o.flags), Ok(()));
        regs[5] ^= 1;
        let m = check_return(&o, &regs, o.flags ^ rflags::DF).unwrap_err();
        assert_eq!(
            (m.check, m.index),
            (check::REGISTER, 5),
            "registers before flags"
        );
        regs[RAX] = 8;
        assert_eq!(
            check_return(&o, &regs, o.flags).unwrap_err().check,
            check::STATUS
        );
        regs = o.regs;
        regs[RAX] = 7;
        let m = check_return(&o, &regs, o.flags ^ rflags::DF).unwrap_err();
        assert_eq!((m.check, m.expected), (check::FLAGS, o.flags));
    }

    #[test]
    fn addresses_fall_in_their_regions() {
        for pick in [
            0,
            1,
            2,
            3,
            5,
            6,
            u64::MAX,
            0x8000_0000_0000_0000,
            0x1234_5678_9ABC_DEF1,
        ] {
            let a = |region| address(Pointer { region, pick }, &LAYOUT);
            assert!(LAYOUT.accessible(a(Region::Good), 48, true));
            assert!(!is_user_range(a(Region::Kernel), 1));
            assert!(!is_user_range(a(Region::NonCanonical), 1));
            assert_ne!(fault_vectors(a(Region::NonCanonical)), 1 << PF);
            assert_eq!(fault_vectors(a(Region::Kernel)), 1 << PF);
            assert!(
                !is_user_range(a(Region::StraddleTop), 8)
                    && is_user_range(a(Region::StraddleTop), 1)
            );
            let u = a(Region::Unmapped);
            let within = |base| u >= base && u + 0x1000 <= base + UNMAPPED_SIZE;
            // Clear of the two pages mapped around 4 GiB, with room for
            // a push below it and 80 bytes of a SYSENTER stack above it.
            let at_the_edge = (FOUR_GIB_EDGE - 0x100..FOUR_GIB_EDGE - 0x80).contains(&u)
                || (UNMAPPED_HIGH_BASE + 8..=UNMAPPED_HIGH_BASE + 64).contains(&u);
            assert!(
                within(UNMAPPED_BASE) || within(UNMAPPED_HIGH_BASE) || at_the_edge,
                "{u:#x}"
            );
            assert!(is_user_range(u, 64) && !LAYOUT.accessible(u, 1, false));
            let ro = a(Region::ReadOnly);
            assert!(LAYOUT.accessible(ro, 8, false));
            assert!(
                LAYOUT.accessible(ro + 16, 64, false),
                "a SYSENTER stack's arguments"
            );
            assert!(!LAYOUT.accessible(a(Region::ReadOnly), 1, true));
        }
    }
}
