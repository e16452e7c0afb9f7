//! Inputs that break the labs' rules one condition at a time.
//!
//! The students' pure functions (the GDT rule of Lab 2, `sysexit_safe`,
//! `sysret_safe`, their 32-bit twins and `choose_exit`) are each a
//! conjunction of conditions.
//! A test that only feeds them good inputs and a few very bad ones passes
//! a function that forgot one condition. So every case here starts from an
//! input that passes and changes exactly one thing, and the tests run each
//! case: the host tests (`labs/tests/lab2.rs`, `lab3.rs`) against the
//! functions themselves, and the kernel's tests (`lab2.gdt_rule`,
//! `lab2.exit_rules`, `lab3.exit_rules`) through the kernel's table of the
//! student's functions. One list, two layers.

use crate::frame::{ENTRY_SYSCALL, ENTRY_SYSCALL32, ENTRY_SYSENTER, KTrapFrame, rflags};
use crate::gdt::{KERNEL_CS, KERNEL_DS, SegmentDescriptor, USER_CS, USER_CS32, USER_DS, USER_SS};
use crate::gdt::{bits, standard_gdt};
use crate::mm::paging::{USER_BASE, USER_TOP};
use crate::student::{GdtRuleError, SystemCallExit};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// What the GDT rule must say about a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GdtExpect {
    Ok,
    /// `GdtRuleError::BadSelector`.
    BadSelector,
    /// `GdtRuleError::Missing` naming this selector.
    Missing(u16),
    /// `GdtRuleError::Wrong` naming this selector.
    Wrong(u16),
}

impl GdtExpect {
    /// What a `check_sysenter_gdt` result says, in these terms.
    pub fn of(result: Result<(), GdtRuleError>) -> GdtExpect {
        match result {
            Ok(()) => GdtExpect::Ok,
            Err(GdtRuleError::BadSelector(_)) => GdtExpect::BadSelector,
            Err(GdtRuleError::Missing { selector, .. }) => GdtExpect::Missing(selector),
            Err(GdtRuleError::Wrong { selector, .. }) => GdtExpect::Wrong(selector),
        }
    }
}

/// A table and the IA32_SYSENTER_CS to check it with.
#[derive(Clone, Debug)]
pub struct GdtCase {
    pub what: String,
    pub gdt: Vec<u64>,
    pub sysenter_cs: u16,
    pub expect: GdtExpect,
}

// ANCHOR: gdt_cases
/// The six slots of the rule, relative to SYSENTER_CS, with the attributes
/// each must have: (offset, name, code?, 64-bit?, DPL).
const SLOTS: [(u16, &str, bool, bool, u8); 6] = [
    (0, "SYSENTER's CS", true, true, 0),
    (8, "SYSENTER's SS", false, false, 0),
    (16, "32-bit SYSEXIT's CS", true, false, 3),
    (24, "32-bit SYSEXIT's SS", false, false, 3),
    (32, "64-bit SYSEXIT's CS", true, true, 3),
    (40, "64-bit SYSEXIT's SS", false, false, 3),
];

/// The GDT rule's cases: the kernel's table and the same layout shifted up a
/// slot pass; each slot with one attribute wrong (present, type, L, DPL,
/// writable) fails naming that slot; and the selector itself, and a table
/// too short for it, fail.
pub fn gdt_cases() -> Vec<GdtCase> {
    let good = standard_gdt().to_vec();
    let case = |what: String, gdt: Vec<u64>, sysenter_cs, expect| GdtCase {
        what,
        gdt,
        sysenter_cs,
        expect,
    };
    let mut shifted = alloc::vec![0u64];
    shifted.extend_from_slice(&good[..7]);
    let mut cases = alloc::vec![
        case(
            "the kernel's GDT".into(),
            good.clone(),
            KERNEL_CS,
            GdtExpect::Ok
        ),
        case(
            "the kernel's layout one slot up, SYSENTER_CS = 0x10".into(),
            shifted,
            KERNEL_CS + 8,
            GdtExpect::Ok
        ),
        case(
            "SYSENTER_CS with RPL 3".into(),
            good.clone(),
            KERNEL_CS | 3,
            GdtExpect::BadSelector
        ),
        case(
            "SYSENTER_CS with TI = 1 (an LDT selector)".into(),
            good.clone(),
            KERNEL_CS | 4,
            GdtExpect::BadSelector
        ),
        case(
            "SYSENTER_CS = 0, the null selector".into(),
            good.clone(),
            0,
            GdtExpect::BadSelector
        ),
        case(
            "a table that ends before CS + 40".into(),
            good[..6].to_vec(),
            KERNEL_CS,
            GdtExpect::Missing(KERNEL_CS + 40)
        ),
        case(
            "SYSENTER_CS = 0x28, the user code: no ring-0 code there".into(),
            good.clone(),
            0x28,
            GdtExpect::Wrong(0x28)
        ),
    ];
    for (offset, role, code, long, dpl) in SLOTS {
        let selector = KERNEL_CS + offset;
        let slot = selector as usize / 8;
        let d = good[slot];
        let other_dpl = 3 - dpl;
        let mut broken = alloc::vec![
            ("not present", d & !bits::PRESENT),
            (
                if code {
                    "data instead of code"
                } else {
                    "code instead of data"
                },
                if code {
                    SegmentDescriptor::data(dpl).0
                } else {
                    SegmentDescriptor::code64(dpl).0
                },
            ),
            ("a system descriptor (S = 0)", d & !bits::USER_SEGMENT),
            ("the wrong DPL", {
                let mask = 3 << bits::DPL_SHIFT;
                (d & !mask) | (other_dpl as u64) << bits::DPL_SHIFT
            }),
        ];
        if code {
            let flipped = if long {
                SegmentDescriptor::code32(dpl).0
            } else {
                SegmentDescriptor::code64(dpl).0
            };
            broken.push((
                if long {
                    "32-bit code (L = 0)"
                } else {
                    "64-bit code (L = 1)"
                },
                flipped,
            ));
        } else {
            broken.push(("read-only data (W = 0)", d & !bits::READ_WRITE));
        }
        for (how, descriptor) in broken {
            let mut gdt = good.clone();
            gdt[slot] = descriptor;
            cases.push(case(
                format!("{role} (selector {selector:#x}) is {how}"),
                gdt,
                KERNEL_CS,
                GdtExpect::Wrong(selector),
            ));
        }
    }
    cases
}
// ANCHOR_END: gdt_cases

/// The GDT cases `check` judges wrong, one line each.
pub fn wrong_gdt_verdicts(
    cases: &[GdtCase],
    check: impl Fn(&[u64], u16) -> Result<(), GdtRuleError>,
) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| {
            let got = check(&c.gdt, c.sysenter_cs);
            (GdtExpect::of(got) != c.expect).then(|| {
                let said = got.map_or_else(|e| format!("\"{e}\""), |()| "Ok".into());
                format!("{}: expected {:?}, got {said}", c.what, c.expect)
            })
        })
        .collect()
}

/// The frame cases `choose` (a `choose_exit`) gets wrong, one line each.
pub fn wrong_exits(
    cases: &[FrameCase],
    choose: impl Fn(&KTrapFrame) -> SystemCallExit,
) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| {
            let got = choose(&c.frame);
            (got != c.exit).then(|| format!("{}: chose {got:?}, must be {:?}", c.what, c.exit))
        })
        .collect()
}

/// The cases of `entry` where `safe` (a `sysexit_safe` or `sysret_safe`)
/// disagrees with the case, which says `fast` when the frame is safe.
pub fn wrong_verdicts(
    cases: &[FrameCase],
    entry: u64,
    fast: SystemCallExit,
    safe: impl Fn(&KTrapFrame) -> bool,
) -> Vec<String> {
    cases
        .iter()
        .filter(|c| c.frame.entry == entry)
        .filter_map(|c| {
            let (want, got) = (c.exit == fast, safe(&c.frame));
            (got != want).then(|| format!("{}: returned {got}, must be {want}", c.what))
        })
        .collect()
}

/// Ok(how many cases) if `wrong` is empty; else what `function` got wrong.
pub fn judge(function: &str, total: usize, wrong: Vec<String>) -> Result<usize, String> {
    if wrong.is_empty() {
        Ok(total)
    } else {
        Err(format!(
            "{function} got {} of {total} cases wrong: {}",
            wrong.len(),
            wrong.join("; ")
        ))
    }
}

/// A frame and the exit it must get.
#[derive(Clone, Debug)]
pub struct FrameCase {
    pub what: &'static str,
    pub frame: KTrapFrame,
    pub exit: SystemCallExit,
}

/// A user stack pointer as a 64-bit thread has one (above 4 GiB).
const USER_RSP: u64 = syslab_abi::layout::USER_STACKS_TOP - 0x100;
/// A kernel address: the kernel's stacks.
const KERNEL_ADDRESS: u64 = crate::mm::paging::STACKS_BASE + 0x2_0000;
const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;
const UPPER_HALF: u64 = 0xFFFF_8000_0000_1000;

/// A frame as KiFastCallEntry builds it: may leave through `sysexitq`.
pub fn sysenter_frame() -> KTrapFrame {
    KTrapFrame {
        entry: ENTRY_SYSENTER,
        rip: crate::shared_user_data::KI_FAST_SYSTEM_CALL_RET64,
        cs: USER_CS as u64,
        rflags: rflags::IF | rflags::RESERVED1,
        rsp: USER_RSP,
        ss: USER_SS as u64,
        ..Default::default()
    }
}

/// A frame as KiSystemCall64 builds it (RCX = RIP, R11 = RFLAGS): may
/// leave through `sysretq`.
pub fn syscall_frame() -> KTrapFrame {
    let (rip, flags) = (USER_BASE + 0x1234, rflags::IF | rflags::RESERVED1);
    KTrapFrame {
        entry: ENTRY_SYSCALL,
        rcx: rip,
        r11: flags,
        rip,
        rflags: flags,
        cs: USER_CS as u64,
        ss: USER_DS as u64,
        rsp: USER_RSP,
        ..Default::default()
    }
}

/// `base` with what `edit` changes in it.
fn variant(base: KTrapFrame, edit: fn(&mut KTrapFrame)) -> KTrapFrame {
    let mut frame = base;
    edit(&mut frame);
    frame
}

fn case(what: &'static str, frame: KTrapFrame, exit: SystemCallExit) -> FrameCase {
    FrameCase { what, frame, exit }
}

// ANCHOR: sysexit_cases
/// `sysexit_safe` and `choose_exit` on SYSENTER frames: the untouched frame
/// and the edges of user space leave by `sysexitq`; each condition broken
/// alone sends the frame to `iretq`; and so does a frame that looks right
/// but did not come in through SYSENTER.
pub fn sysexit_cases() -> Vec<FrameCase> {
    use SystemCallExit::{Iretq, Sysexit};
    let base = sysenter_frame();
    let with = |edit| variant(base, edit);
    alloc::vec![
        case("an untouched SYSENTER frame", base, Sysexit),
        case(
            "RIP on the last user byte",
            with(|f| f.rip = USER_TOP - 1),
            Sysexit
        ),
        case(
            "RSP at the lowest user address",
            with(|f| f.rsp = USER_BASE),
            Sysexit
        ),
        case("RIP non-canonical", with(|f| f.rip = NON_CANONICAL), Iretq),
        case(
            "RIP just past user space (0x800000000000)",
            with(|f| f.rip = USER_TOP),
            Iretq
        ),
        case("RIP in the upper half", with(|f| f.rip = UPPER_HALF), Iretq),
        case(
            "RIP a kernel address",
            with(|f| f.rip = KERNEL_ADDRESS),
            Iretq
        ),
        case("RIP 0", with(|f| f.rip = 0), Iretq),
        case("RSP non-canonical", with(|f| f.rsp = NON_CANONICAL), Iretq),
        case(
            "RSP a kernel address",
            with(|f| f.rsp = KERNEL_ADDRESS),
            Iretq
        ),
        case("RSP in the upper half", with(|f| f.rsp = UPPER_HALF), Iretq),
        case(
            "CS the 32-bit user code 0x1b",
            with(|f| f.cs = USER_CS32 as u64),
            Iretq
        ),
        case(
            "CS 0x28, the user code with RPL 0",
            with(|f| f.cs = (USER_CS & !3) as u64),
            Iretq
        ),
        case(
            "SS 0x23, SYSRET's user data",
            with(|f| f.ss = USER_DS as u64),
            Iretq
        ),
        case(
            "SS the kernel's data 0x10",
            with(|f| f.ss = KERNEL_DS as u64),
            Iretq
        ),
        case("TF set", with(|f| f.rflags |= rflags::TF), Iretq),
        case("IF clear", with(|f| f.rflags &= !rflags::IF), Iretq),
        case("entry int 0x2e", with(|f| f.entry = 0x2E), Iretq),
        case("entry a page fault (14)", with(|f| f.entry = 14), Iretq),
    ]
}
// ANCHOR_END: sysexit_cases

// ANCHOR: sysret_cases
/// `sysret_safe` and `choose_exit` on SYSCALL frames, the same way; and the
/// two fast exits never swapped: a SYSENTER frame that SYSRET could take,
/// or a SYSCALL frame that SYSEXIT could take, goes to `iretq`.
pub fn sysret_cases() -> Vec<FrameCase> {
    use SystemCallExit::{Iretq, Sysret};
    let base = syscall_frame();
    let with = |edit| variant(base, edit);
    alloc::vec![
        case("an untouched SYSCALL frame", base, Sysret),
        case(
            "RIP on the top user page",
            with(|f| set_rip(f, USER_TOP - 0x1000)),
            Sysret
        ),
        case(
            "RIP changed, RCX not (RCX != RIP)",
            with(|f| f.rip += 0x10),
            Iretq
        ),
        case(
            "RCX changed, RIP not (RCX != RIP)",
            with(|f| f.rcx += 0x10),
            Iretq
        ),
        case(
            "RFLAGS changed, R11 not (R11 != RFLAGS)",
            with(|f| f.rflags |= rflags::DF),
            Iretq
        ),
        case(
            "R11 changed, RFLAGS not (R11 != RFLAGS)",
            with(|f| f.r11 |= rflags::DF),
            Iretq
        ),
        case(
            "RIP = RCX non-canonical (CVE-2012-0217)",
            with(|f| set_rip(f, NON_CANONICAL)),
            Iretq
        ),
        case(
            "RIP = RCX just past user space",
            with(|f| set_rip(f, USER_TOP)),
            Iretq
        ),
        case(
            "RIP = RCX in the upper half",
            with(|f| set_rip(f, UPPER_HALF)),
            Iretq
        ),
        case(
            "RIP = RCX a kernel address",
            with(|f| set_rip(f, KERNEL_ADDRESS)),
            Iretq
        ),
        case(
            "TF set (in RFLAGS and R11)",
            with(|f| set_flag(f, rflags::TF)),
            Iretq
        ),
        case(
            "RF set (in RFLAGS and R11)",
            with(|f| set_flag(f, rflags::RF)),
            Iretq
        ),
        case(
            "CS the 32-bit user code 0x1b",
            with(|f| f.cs = USER_CS32 as u64),
            Iretq
        ),
        case(
            "CS the kernel's code 0x8",
            with(|f| f.cs = KERNEL_CS as u64),
            Iretq
        ),
        case(
            "SS 0x33, SYSEXIT's user data",
            with(|f| f.ss = USER_SS as u64),
            Iretq
        ),
        case(
            "SS 0x20, the user data with RPL 0",
            with(|f| f.ss = (USER_DS & !3) as u64),
            Iretq
        ),
        case("entry int 0x2e", with(|f| f.entry = 0x2E), Iretq),
        case(
            "entry SYSENTER, though SYSRET could take it",
            with(|f| f.entry = ENTRY_SYSENTER),
            Iretq
        ),
        case(
            "entry SYSCALL, though SYSEXIT could take it",
            {
                let mut f = sysenter_frame();
                f.entry = ENTRY_SYSCALL;
                f
            },
            Iretq
        ),
    ]
}
// ANCHOR_END: sysret_cases

/// A stack pointer as a 32-bit thread has one (below 4 GiB).
const USER32_RSP: u64 = syslab_abi::layout::USER32_STACKS_TOP - 0x100;
/// The first address 32-bit code cannot hold.
const FOUR_GIB: u64 = syslab_abi::layout::FOUR_GIB;
/// A kernel address that 32-bit code can name: the kernel image, below 1 GiB.
const KERNEL_ADDRESS32: u64 = 0x0010_0000;

/// A frame as KiFastCallEntry builds it for a 32-bit thread: may leave
/// through the 32-bit `sysexit`.
pub fn sysenter32_frame() -> KTrapFrame {
    KTrapFrame {
        entry: ENTRY_SYSENTER,
        rip: crate::shared_user_data::KI_FAST_SYSTEM_CALL_RET,
        cs: USER_CS32 as u64,
        rflags: rflags::IF | rflags::RESERVED1,
        rsp: USER32_RSP,
        ss: USER_DS as u64,
        ..Default::default()
    }
}

/// A frame as KiSystemCall32 builds it (RCX = RIP, R11 = RFLAGS): may
/// leave through `sysretl`.
pub fn syscall32_frame() -> KTrapFrame {
    let (rip, flags) = (USER_BASE + 0x1234, rflags::IF | rflags::RESERVED1);
    KTrapFrame {
        entry: ENTRY_SYSCALL32,
        rcx: rip,
        r11: flags,
        rip,
        rflags: flags,
        cs: USER_CS32 as u64,
        ss: USER_DS as u64,
        rsp: USER32_RSP,
        ..Default::default()
    }
}

// ANCHOR: sysexit32_cases
/// `sysexit32_safe` and `choose_exit` on 32-bit SYSENTER frames: the
/// untouched frame and the edges of 32-bit user space leave by the 32-bit
/// `sysexit`; each condition broken alone, and every address that 32-bit
/// code cannot hold, sends the frame to `iretq`.
pub fn sysexit32_cases() -> Vec<FrameCase> {
    use SystemCallExit::{Iretq, Sysexit32};
    let base = sysenter32_frame();
    let with = |edit| variant(base, edit);
    alloc::vec![
        case("an untouched 32-bit SYSENTER frame", base, Sysexit32),
        case(
            "RIP on the last byte below 4 GiB",
            with(|f| f.rip = FOUR_GIB - 1),
            Sysexit32
        ),
        case(
            "RSP at the lowest user address",
            with(|f| f.rsp = USER_BASE),
            Sysexit32
        ),
        case(
            "RIP 4 GiB (the 32-bit SYSEXIT would return to EIP 0)",
            with(|f| f.rip = FOUR_GIB),
            Iretq
        ),
        case("RIP non-canonical", with(|f| f.rip = NON_CANONICAL), Iretq),
        case(
            "RIP a kernel address below 4 GiB",
            with(|f| f.rip = KERNEL_ADDRESS32),
            Iretq
        ),
        case("RIP 0", with(|f| f.rip = 0), Iretq),
        case(
            "RSP 4 GiB (ESP would be 0)",
            with(|f| f.rsp = FOUR_GIB),
            Iretq
        ),
        case(
            "RSP a 64-bit thread's stack, above 4 GiB",
            with(|f| f.rsp = USER_RSP),
            Iretq
        ),
        case(
            "RSP a kernel address below 4 GiB",
            with(|f| f.rsp = KERNEL_ADDRESS32),
            Iretq
        ),
        case(
            "CS the 64-bit user code 0x2b",
            with(|f| f.cs = USER_CS as u64),
            Iretq
        ),
        case(
            "CS 0x18, the 32-bit user code with RPL 0",
            with(|f| f.cs = (USER_CS32 & !3) as u64),
            Iretq
        ),
        case(
            "SS 0x33, the 64-bit SYSEXIT's",
            with(|f| f.ss = USER_SS as u64),
            Iretq
        ),
        case(
            "SS 0x20, the user data with RPL 0",
            with(|f| f.ss = (USER_DS & !3) as u64),
            Iretq
        ),
        case("TF set", with(|f| f.rflags |= rflags::TF), Iretq),
        case("IF clear", with(|f| f.rflags &= !rflags::IF), Iretq),
        case(
            "entry SYSCALL from 32-bit code (RCX and R11 do not match)",
            with(|f| f.entry = ENTRY_SYSCALL32),
            Iretq
        ),
        case("entry int 0x2e", with(|f| f.entry = 0x2E), Iretq),
    ]
}
// ANCHOR_END: sysexit32_cases

// ANCHOR: sysret32_cases
/// `sysret32_safe` and `choose_exit` on 32-bit SYSCALL (CSTAR) frames, the
/// same way; and no other exit mistaken for `sysretl`.
pub fn sysret32_cases() -> Vec<FrameCase> {
    use SystemCallExit::{Iretq, Sysexit32, Sysret32};
    let base = syscall32_frame();
    let with = |edit| variant(base, edit);
    alloc::vec![
        case("an untouched 32-bit SYSCALL frame", base, Sysret32),
        case(
            "RIP on the last page below 4 GiB",
            with(|f| set_rip(f, FOUR_GIB - 0x1000)),
            Sysret32
        ),
        case(
            "RIP changed, RCX not (RCX != RIP)",
            with(|f| f.rip += 0x10),
            Iretq
        ),
        case(
            "RCX changed, RIP not (RCX != RIP)",
            with(|f| f.rcx += 0x10),
            Iretq
        ),
        case(
            "RFLAGS changed, R11 not (R11 != RFLAGS)",
            with(|f| f.rflags |= rflags::DF),
            Iretq
        ),
        case(
            "R11 changed, RFLAGS not (R11 != RFLAGS)",
            with(|f| f.r11 |= rflags::DF),
            Iretq
        ),
        case(
            "RIP = RCX 4 GiB (sysretl would return to EIP 0)",
            with(|f| set_rip(f, FOUR_GIB)),
            Iretq
        ),
        case(
            "RIP = RCX non-canonical",
            with(|f| set_rip(f, NON_CANONICAL)),
            Iretq
        ),
        case(
            "RIP = RCX a kernel address below 4 GiB",
            with(|f| set_rip(f, KERNEL_ADDRESS32)),
            Iretq
        ),
        case(
            "TF set (in RFLAGS and R11)",
            with(|f| set_flag(f, rflags::TF)),
            Iretq
        ),
        case(
            "RF set (in RFLAGS and R11)",
            with(|f| set_flag(f, rflags::RF)),
            Iretq
        ),
        case(
            "CS the 64-bit user code 0x2b",
            with(|f| f.cs = USER_CS as u64),
            Iretq
        ),
        case(
            "CS 0x18, the 32-bit user code with RPL 0",
            with(|f| f.cs = (USER_CS32 & !3) as u64),
            Iretq
        ),
        case(
            "SS 0x33, the 64-bit SYSEXIT's",
            with(|f| f.ss = USER_SS as u64),
            Iretq
        ),
        case(
            "SS 0x20, the user data with RPL 0",
            with(|f| f.ss = (USER_DS & !3) as u64),
            Iretq
        ),
        case(
            "entry SYSCALL from 64-bit code (LSTAR), with a 32-bit frame",
            with(|f| f.entry = ENTRY_SYSCALL),
            Iretq
        ),
        case(
            "entry SYSENTER: the 32-bit sysexit takes it, never sysretl",
            with(|f| f.entry = ENTRY_SYSENTER),
            Sysexit32
        ),
        case("entry int 0x2e", with(|f| f.entry = 0x2E), Iretq),
    ]
}
// ANCHOR_END: sysret32_cases

/// RIP and RCX both: the frame still looks as SYSCALL left it.
fn set_rip(f: &mut KTrapFrame, rip: u64) {
    f.rip = rip;
    f.rcx = rip;
}

/// A flag in RFLAGS and R11 both.
fn set_flag(f: &mut KTrapFrame, flag: u64) {
    f.rflags |= flag;
    f.r11 |= flag;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_gdt_changes_one_word_of_the_good_one() {
        let good = standard_gdt();
        for c in gdt_cases() {
            if let GdtExpect::Wrong(selector) = c.expect
                && c.sysenter_cs == KERNEL_CS
            {
                let changed: Vec<usize> =
                    (0..good.len()).filter(|&i| c.gdt[i] != good[i]).collect();
                assert_eq!(changed, [selector as usize / 8], "{}", c.what);
            }
        }
        assert!(gdt_cases().len() >= 6 * 5 + 7);
    }

    #[test]
    fn frame_cases_start_from_a_fast_frame() {
        assert_eq!(sysexit_cases()[0].exit, SystemCallExit::Sysexit);
        assert_eq!(sysret_cases()[0].exit, SystemCallExit::Sysret);
        assert_eq!(sysexit32_cases()[0].exit, SystemCallExit::Sysexit32);
        assert_eq!(sysret32_cases()[0].exit, SystemCallExit::Sysret32);
    }
}
