//! Cases and their calls, as classes: which path, which service, which kind
//! of pointer, handle and flags. A case is named by a 64-bit seed; call `i`
//! of it is a pure function of (seed, i, the paths fuzzed), so that the
//! grader can say what a mismatching call was from its seed alone and
//! `--seed` can run that case again.
//!
//! A case is at most [`MAX_CALLS`] random calls, then one NtClose for each
//! handle the case still holds, so that every case ends as it began: with
//! no handle open. Its handles are referred to by number ("the second
//! handle this case holds") and turned into values when the call is made
//! (`model::resolve`), never into a value another CPU could hold.

use super::rng::{Rng, mix};
use crate::service;
use core::fmt;

/// The random calls in a case, at most.
pub const MAX_CALLS: u64 = 16;

// ANCHOR: path
/// The three ways into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Int2e = 0,
    Sysenter = 1,
    Syscall = 2,
}

impl Path {
    pub const ALL: [Path; 3] = [Path::Int2e, Path::Sysenter, Path::Syscall];

    pub const fn name(self) -> &'static str {
        match self {
            Path::Int2e => "int2e",
            Path::Sysenter => "sysenter",
            Path::Syscall => "syscall",
        }
    }

    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    pub const fn bit(self) -> u64 {
        1 << self as u64
    }
}
// ANCHOR_END: path

/// A set of paths (bit `Path as u64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paths(pub u64);

impl Paths {
    pub const ALL: Paths = Paths(0b111);

    pub fn contains(self, p: Path) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Path> {
        Path::ALL.into_iter().filter(move |&p| self.contains(p))
    }

    pub fn len(self) -> u64 {
        self.iter().count() as u64
    }

    pub fn is_empty(self) -> bool {
        self.0 & Paths::ALL.0 == 0
    }

    pub fn with(self, p: Path) -> Paths {
        Paths(self.0 | p.bit())
    }

    pub fn without(self, p: Path) -> Paths {
        Paths(self.0 & !p.bit())
    }

    /// `all`, or names separated by commas (`int2e,syscall`); unknown names are refused.
    pub fn parse(text: &str) -> Option<Paths> {
        if text == "all" {
            return Some(Paths::ALL);
        }
        text.split(',')
            .try_fold(Paths(0), |set, name| Some(set.with(Path::from_name(name)?)))
            .filter(|set| !set.is_empty())
    }

    /// The `n`-th path of the set, counting round it.
    fn nth(self, n: u64) -> Path {
        let n = n % self.len().max(1);
        self.iter().nth(n as usize).unwrap_or(Path::Int2e)
    }
}

/// `int2e,sysenter,syscall`, the form [`Paths::parse`] reads.
impl fmt::Display for Paths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

// ANCHOR: classes
/// Where a pointer points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// A writable user buffer of the fuzzer's.
    Good,
    /// 0.
    Null,
    /// Below the user half, or the kernel's upper half.
    Kernel,
    /// The last bytes below the end of user space: a word there crosses it.
    StraddleTop,
    /// An unmapped page of user space.
    Unmapped,
    /// The fuzzer's read-only data.
    ReadOnly,
    /// Bits 63:47 not all equal.
    NonCanonical,
}

/// A pointer: its region, and a random word to pick an address in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pointer {
    pub region: Region,
    pub pick: u64,
}

/// A handle argument, before it becomes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleArg {
    /// The n-th handle the case holds (round the list).
    Live(u8),
    /// The n-th handle the case has closed: a double close, a use after close.
    Stale(u8),
    /// NULL.
    Zero,
    /// A held handle with tag bits 1:0 set.
    TagBits(u8, u8),
    /// A held handle with bits 63:32 set.
    HighBits(u8, u32),
    /// A held handle's slot with another generation (bits 31:18).
    WrongGeneration(u8, u8),
    /// A well-formed value whose slot index is past any table.
    OutOfRange(u16),
    /// NtCurrentThread(), which is no object handle.
    CurrentThread,
    /// A random word with some of bits 63:32 set.
    Random(u64),
}

/// Where NtTestSetReturn sends the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A second return point in the fuzzer that goes on as the first would.
    Alternate,
    /// An address that faults: its region.
    Bad(Pointer),
}

/// What the call does: the service and its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Null,
    CreateMutant {
        out: Pointer,
        access: u64,
        attributes: u64,
        initial_owner: u64,
    },
    Close(HandleArg),
    CurrentCpu,
    Terminate {
        current: bool,
        other: HandleArg,
        status: u64,
    },
    Echo {
        buffer: Pointer,
        count: u64,
        values: [u64; 6],
    },
    Status(u64),
    SetReturn {
        target: Target,
        also_rcx: u64,
    },
    CheckFrame {
        matching: bool,
        pattern: u64,
        spins: u64,
    },
    KernelFlags(Pointer),
    KernelFault,
    /// NtTestCheckGs(): GS is the kernel's while the service runs.
    CheckGs,
    /// NtTestScratch(): a SYSCALL entry parked the user RSP per CPU.
    Scratch,
    /// A number past the service table (EAX >= `service::COUNT`).
    Invalid(u32),
}

/// Where RDX points for `int 0x2e` and SYSCALL: the argument block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgBlock {
    /// The call's arguments.
    Good,
    /// Word `n` (0..8) of the fuzzer's read-only words: the kernel reads those instead.
    ReadOnly(u8),
    /// A pointer the kernel must not read through.
    Bad(Pointer),
}

/// The user stack at the entry instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Normal,
    /// `int 0x2e`, SYSCALL: RSP is this. SYSENTER: RDX, the stack the
    /// kernel returns on, is this. Either way the thread dies right after
    /// the return, when it touches the stack, or (SYSENTER with a readable
    /// stack) where the `ret` it returns to jumps.
    Bad(Pointer),
}
// ANCHOR_END: classes

// ANCHOR: call
/// One system call, as classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call {
    pub path: Path,
    pub op: Op,
    /// Bits 63:32 of RAX (EAX is the number).
    pub rax_high: u32,
    pub args_at: ArgBlock,
    pub stack: Stack,
    /// The RFLAGS the user enters with.
    pub flags: u64,
    /// Seeds the registers the path must preserve.
    pub registers: u64,
}
// ANCHOR_END: call

/// RFLAGS bits (Intel SDM Vol. 1 §3.4.3).
pub mod rflags {
    pub const CF: u64 = 1 << 0;
    pub const RESERVED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const NT: u64 = 1 << 14;
    pub const AC: u64 = 1 << 18;
    pub const ID: u64 = 1 << 21;
    /// The bits POPFQ changes in ring 3 with IOPL 0: IF, IOPL, RF, VM, VIF
    /// and VIP stay as they are (SDM Vol. 2B, POPF).
    pub const USER_WRITABLE: u64 = CF | PF | AF | ZF | SF | TF | DF | OF | NT | AC | ID;
    /// What a user thread starts with: IF and the always-one bit.
    pub const USER_DEFAULT: u64 = IF | RESERVED1;
    /// Names, for descriptions.
    pub const NAMES: [(u64, &str); 11] = [
        (CF, "CF"),
        (PF, "PF"),
        (AF, "AF"),
        (ZF, "ZF"),
        (SF, "SF"),
        (TF, "TF"),
        (DF, "DF"),
        (OF, "OF"),
        (NT, "NT"),
        (AC, "AC"),
        (ID, "ID"),
    ];
}

/// A case: a seed and how many random calls it makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub seed: u64,
    pub len: u64,
}

impl Case {
    pub fn new(seed: u64) -> Case {
        Case {
            seed,
            len: 1 + Rng::new(mix(seed)).below(MAX_CALLS),
        }
    }

    /// The seed of case `k` of CPU `cpu` in the run with `run_seed`.
    pub fn derive_seed(run_seed: u64, cpu: u64, k: u64) -> u64 {
        mix(run_seed ^ mix((cpu << 56) ^ k))
    }

    /// Call `index`: random below `len`, afterwards the closing of the
    /// case's first held handle (the caller stops when none is held).
    pub fn call(&self, index: u64, paths: Paths) -> Call {
        let mut r = Rng::derived(self.seed, index);
        if index >= self.len {
            return Call {
                path: paths.nth(r.next_u64()),
                op: Op::Close(HandleArg::Live(0)),
                rax_high: 0,
                args_at: ArgBlock::Good,
                stack: Stack::Normal,
                flags: rflags::USER_DEFAULT,
                registers: r.next_u64(),
            };
        }
        random_call(&mut r, paths)
    }
}

// ANCHOR: weights
/// The services, and how often each is called (out of their sum).
const OPS: [u32; 14] = [
    6,  // NtNull
    14, // NtCreateMutant
    14, // NtClose
    3,  // NtGetCurrentProcessorNumber
    4,  // NtTerminateThread
    12, // NtTestEcho
    5,  // NtTestStatus
    4,  // NtTestSetReturn
    4,  // NtTestCheckFrame
    6,  // NtTestKernelFlags
    2,  // NtTestKernelFault
    4,  // NtTestCheckGs
    3,  // NtTestScratch
    6,  // a number past the table
];
// ANCHOR_END: weights

fn random_call(r: &mut Rng, paths: Paths) -> Call {
    let path = paths.nth(r.next_u64());
    let op = match r.weighted(&OPS) {
        0 => Op::Null,
        1 => Op::CreateMutant {
            out: pointer(r),
            access: r.word(),
            // Named objects are refused: mostly none, sometimes an attribute block.
            attributes: if r.one_in(8) { r.word() | 1 } else { 0 },
            initial_owner: r.word(),
        },
        2 => Op::Close(handle(r)),
        3 => Op::CurrentCpu,
        4 => Op::Terminate {
            current: r.one_in(2),
            other: handle(r),
            status: r.word(),
        },
        5 => Op::Echo {
            buffer: pointer(r),
            count: if r.one_in(8) {
                7 + r.word() % 1000
            } else {
                r.below(7)
            },
            values: core::array::from_fn(|_| r.word()),
        },
        6 => Op::Status(r.word()),
        7 => Op::SetReturn {
            target: if r.one_in(3) {
                Target::Bad(bad_pointer(
                    r,
                    &[
                        Region::Null,
                        Region::Kernel,
                        Region::Unmapped,
                        Region::NonCanonical,
                    ],
                ))
            } else {
                Target::Alternate
            },
            also_rcx: r.word(),
        },
        8 => Op::CheckFrame {
            matching: r.one_in(2),
            pattern: r.next_u64(),
            spins: r.below(32),
        },
        9 => Op::KernelFlags(pointer(r)),
        10 => Op::KernelFault,
        11 => Op::CheckGs,
        12 => Op::Scratch,
        _ => Op::Invalid(if r.one_in(2) {
            service::COUNT + r.below(64) as u32
        } else {
            (service::COUNT as u64 + r.below((u32::MAX - service::COUNT) as u64 + 1)) as u32
        }),
    };
    let flags = rflags::USER_DEFAULT
        | (r.next_u64() & rflags::USER_WRITABLE & !rflags::TF)
        | if r.one_in(16) { rflags::TF } else { 0 };
    // A bad stack kills the thread when it next touches it; with TF the
    // single-step would come first, so the two are not combined, but for
    // SYSENTER: there the first touch is the `ret` the kernel returns to,
    // which faults before it can complete and trap, or completes on a
    // readable stack and traps where it jumped.
    let stack = if (flags & rflags::TF == 0 || path == Path::Sysenter) && r.one_in(48) {
        let regions: &[Region] = if path == Path::Sysenter {
            // Unreadable ones on both sides of 4 GiB, where the `ret` the
            // kernel returns to faults on [RDX]; and the read-only words,
            // which give the service arguments it can read and the `ret`
            // an address to jump to. (One that crosses the top faults in
            // two ways.)
            &[
                Region::Null,
                Region::Kernel,
                Region::Unmapped,
                Region::ReadOnly,
                Region::NonCanonical,
            ]
        } else {
            &[
                Region::Null,
                Region::Kernel,
                Region::Unmapped,
                Region::ReadOnly,
                Region::StraddleTop,
                Region::NonCanonical,
            ]
        };
        Stack::Bad(bad_pointer(r, regions))
    } else {
        Stack::Normal
    };
    let args_at = match r.below(16) {
        0 => ArgBlock::ReadOnly(r.below(8) as u8),
        1 | 2 => ArgBlock::Bad(bad_pointer(r, &BAD_REGIONS)),
        _ => ArgBlock::Good,
    };
    Call {
        path,
        op,
        rax_high: if r.one_in(4) { r.next_u64() as u32 } else { 0 },
        args_at,
        stack,
        flags,
        registers: r.next_u64(),
    }
}

/// Every region but `Good`.
pub const BAD_REGIONS: [Region; 6] = [
    Region::Null,
    Region::Kernel,
    Region::StraddleTop,
    Region::Unmapped,
    Region::ReadOnly,
    Region::NonCanonical,
];

/// A pointer for the kernel to write through: good three times in five.
fn pointer(r: &mut Rng) -> Pointer {
    if r.below(5) < 3 {
        Pointer {
            region: Region::Good,
            pick: r.next_u64(),
        }
    } else {
        bad_pointer(r, &BAD_REGIONS)
    }
}

fn bad_pointer(r: &mut Rng, regions: &[Region]) -> Pointer {
    Pointer {
        region: regions[r.below(regions.len() as u64) as usize],
        pick: r.next_u64(),
    }
}

fn handle(r: &mut Rng) -> HandleArg {
    let n = r.next_u64() as u8;
    match r.below(20) {
        0..=9 => HandleArg::Live(n),
        10..=12 => HandleArg::Stale(n),
        13 => HandleArg::Zero,
        14 => HandleArg::TagBits(n, 1 + r.below(3) as u8),
        15 => HandleArg::HighBits(n, (r.next_u64() as u32).max(1)),
        16 => HandleArg::WrongGeneration(n, r.below(14) as u8),
        17 => HandleArg::OutOfRange(r.next_u64() as u16),
        18 => HandleArg::CurrentThread,
        _ => HandleArg::Random(r.next_u64() | 1 << (32 + r.below(32))),
    }
}

// Descriptions, for the grader's report of a mismatch.

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Region::Good => "a good user buffer",
            Region::Null => "NULL",
            Region::Kernel => "a kernel address",
            Region::StraddleTop => "an address straddling the top of user space",
            Region::Unmapped => "an unmapped user address",
            Region::ReadOnly => "read-only user memory",
            Region::NonCanonical => "a non-canonical address",
        })
    }
}

impl fmt::Display for HandleArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HandleArg::Live(_) => f.write_str("a handle the case holds"),
            HandleArg::Stale(_) => f.write_str("a handle the case closed already"),
            HandleArg::Zero => f.write_str("NULL"),
            HandleArg::TagBits(_, bits) => write!(f, "a held handle with tag bits {bits:#x}"),
            HandleArg::HighBits(_, hi) => write!(f, "a held handle with bits 63:32 = {hi:#x}"),
            HandleArg::WrongGeneration(_, bit) => {
                write!(f, "a held handle with generation bit {} flipped", 18 + bit)
            }
            HandleArg::OutOfRange(_) => f.write_str("a handle past the end of any table"),
            HandleArg::CurrentThread => f.write_str("NtCurrentThread()"),
            HandleArg::Random(v) => write!(f, "the random word {v:#x}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Null => f.write_str("NtNull()"),
            Op::CreateMutant {
                out, attributes, ..
            } => {
                write!(f, "NtCreateMutant(handle out: {}", out.region)?;
                if *attributes != 0 {
                    write!(f, ", object attributes {attributes:#x}")?;
                }
                f.write_str(")")
            }
            Op::Close(h) => write!(f, "NtClose({h})"),
            Op::CurrentCpu => f.write_str("NtGetCurrentProcessorNumber()"),
            Op::Terminate {
                current,
                other,
                status,
            } => {
                if *current {
                    write!(f, "NtTerminateThread(NtCurrentThread(), {status:#x})")
                } else {
                    write!(f, "NtTerminateThread({other}, {status:#x})")
                }
            }
            Op::Echo { buffer, count, .. } => {
                write!(f, "NtTestEcho(buffer: {}, count {count})", buffer.region)
            }
            Op::Status(s) => write!(f, "NtTestStatus({s:#x})"),
            Op::SetReturn { target, also_rcx } => {
                match target {
                    Target::Alternate => f.write_str("NtTestSetReturn(another return point")?,
                    Target::Bad(p) => write!(f, "NtTestSetReturn({}", p.region)?,
                }
                if also_rcx & 0xff != 0 {
                    f.write_str(", RCX too")?;
                }
                f.write_str(")")
            }
            Op::CheckFrame { matching, .. } => write!(
                f,
                "NtTestCheckFrame(a pattern {} R12..R15)",
                if *matching {
                    "matching"
                } else {
                    "not matching"
                }
            ),
            Op::KernelFlags(p) => write!(f, "NtTestKernelFlags(out: {})", p.region),
            Op::KernelFault => f.write_str("NtTestKernelFault()"),
            Op::CheckGs => f.write_str("NtTestCheckGs()"),
            Op::Scratch => f.write_str("NtTestScratch()"),
            Op::Invalid(n) => write!(f, "service {n:#x} (past the table)"),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} via {}", self.op, self.path.name())?;
        let set: u64 = self.flags & rflags::USER_WRITABLE;
        if set != 0 {
            f.write_str(", RFLAGS")?;
            for (bit, name) in rflags::NAMES {
                if set & bit != 0 {
                    write!(f, " {name}")?;
                }
            }
        }
        if self.rax_high != 0 {
            write!(f, ", RAX bits 63:32 = {:#x}", self.rax_high)?;
        }
        match self.args_at {
            ArgBlock::Good => {}
            ArgBlock::ReadOnly(_) if self.path != Path::Sysenter => {
                f.write_str(", arguments read from read-only memory")?
            }
            ArgBlock::Bad(p) if self.path != Path::Sysenter => {
                write!(f, ", argument pointer (RDX): {}", p.region)?
            }
            _ => {}
        }
        if let Stack::Bad(p) = self.stack {
            match self.path {
                Path::Sysenter => write!(f, ", user stack (RDX): {}", p.region)?,
                _ => write!(f, ", RSP: {}", p.region)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn a_seed_names_the_same_calls() {
        let paths = Paths::ALL;
        let a = Case::new(0x5eed);
        let b = Case::new(0x5eed);
        assert_eq!(a, b);
        assert!((1..=MAX_CALLS).contains(&a.len));
        for i in 0..a.len + 3 {
            assert_eq!(a.call(i, paths), b.call(i, paths));
        }
        assert_ne!(Case::new(1).call(0, paths), Case::new(2).call(0, paths));
        // Cleanup calls come after the random ones.
        assert_eq!(a.call(a.len, paths).op, Op::Close(HandleArg::Live(0)));
    }

    #[test]
    fn calls_stay_on_the_paths_asked_for() {
        let paths = Paths::parse("int2e,syscall").unwrap();
        for seed in 0..200 {
            let c = Case::new(seed);
            for i in 0..c.len + 1 {
                assert_ne!(c.call(i, paths).path, Path::Sysenter);
            }
        }
    }

    #[test]
    fn every_kind_of_call_is_made() {
        let mut ops = [false; 14];
        let (mut tf, mut bad_stack, mut ro, mut high) = (0, 0, 0, 0);
        for seed in 0..3000 {
            let call = Case::new(seed).call(0, Paths::ALL);
            ops[match call.op {
                Op::Null => 0,
                Op::CreateMutant { .. } => 1,
                Op::Close(_) => 2,
                Op::CurrentCpu => 3,
                Op::Terminate { .. } => 4,
                Op::Echo { .. } => 5,
                Op::Status(_) => 6,
                Op::SetReturn { .. } => 7,
                Op::CheckFrame { .. } => 8,
                Op::KernelFlags(_) => 9,
                Op::KernelFault => 10,
                Op::CheckGs => 11,
                Op::Scratch => 12,
                Op::Invalid(n) => {
                    assert!(n >= service::COUNT);
                    13
                }
            }] = true;
            assert_eq!(call.flags & rflags::USER_DEFAULT, rflags::USER_DEFAULT);
            assert_eq!(
                call.flags & !(rflags::USER_WRITABLE | rflags::USER_DEFAULT),
                0
            );
            tf += (call.flags & rflags::TF != 0) as u32;
            if let Stack::Bad(_) = call.stack {
                bad_stack += 1;
                if call.flags & rflags::TF != 0 {
                    assert_eq!(call.path, Path::Sysenter);
                }
            }
            ro += matches!(call.args_at, ArgBlock::ReadOnly(_)) as u32;
            high += (call.rax_high != 0) as u32;
        }
        assert!(ops.iter().all(|&o| o), "{ops:?}");
        assert!(tf > 100 && bad_stack > 20 && ro > 100 && high > 500);
    }

    #[test]
    fn paths_parse_and_print() {
        assert_eq!(Paths::parse("all"), Some(Paths::ALL));
        assert_eq!(
            Paths::parse("syscall,int2e").unwrap().to_string(),
            "int2e,syscall"
        );
        assert_eq!(Paths::parse("sysenter"), Some(Paths(Path::Sysenter.bit())));
        assert_eq!(Paths::parse(""), None);
        assert_eq!(Paths::parse("int2e,nope"), None);
        assert_eq!(Paths::ALL.without(Path::Sysenter).len(), 2);
    }

    #[test]
    fn descriptions_read_as_sentences() {
        let call = Call {
            path: Path::Sysenter,
            op: Op::Close(HandleArg::Stale(0)),
            rax_high: 0x1234,
            args_at: ArgBlock::Good,
            stack: Stack::Normal,
            flags: rflags::USER_DEFAULT | rflags::TF | rflags::DF,
            registers: 0,
        };
        assert_eq!(
            call.to_string(),
            "NtClose(a handle the case closed already) via sysenter, RFLAGS TF DF, RAX bits 63:32 = 0x1234"
        );
    }
}
