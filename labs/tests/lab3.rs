//! Host tests of Lab 3's sysret-safety predicate on crafted frames.
//! `cargo grader lab3` runs them for points.

use student::lab2::choose_exit;
use student::lab3::sysret_safe;
use syslab_kernel::gdt::{USER_CS, USER_DS};
use syslab_kernel::student::SystemCallExit;
use syslab_kernel::trap::{ENTRY_SYSCALL, KTrapFrame, rflags};

/// A frame as KiSystemCall64 builds it: RCX = RIP, R11 = RFLAGS.
fn syscall_frame() -> KTrapFrame {
    let (rip, flags) = (0x4000_1234, rflags::IF | rflags::RESERVED1);
    KTrapFrame {
        entry: ENTRY_SYSCALL,
        rcx: rip,
        r11: flags,
        rip,
        rflags: flags,
        cs: USER_CS as u64,
        ss: USER_DS as u64,
        rsp: 0x6FFF_FF00,
        ..Default::default()
    }
}

#[test]
fn an_untouched_frame_is_sysret_safe() {
    assert!(sysret_safe(&syscall_frame()));
    assert_eq!(choose_exit(&syscall_frame()), SystemCallExit::Sysret);
}

#[test]
fn a_changed_rip_or_rflags_is_not() {
    let f = KTrapFrame {
        rip: 0x4000_5678,
        ..syscall_frame()
    };
    assert!(!sysret_safe(&f), "RCX != RIP");
    let f = KTrapFrame {
        rflags: syscall_frame().rflags | rflags::DF,
        ..syscall_frame()
    };
    assert!(!sysret_safe(&f), "R11 != RFLAGS");
}

#[test]
fn non_canonical_and_kernel_rips_are_not() {
    // CVE-2012-0217: Intel raises #GP in ring 0 on the user's stack.
    for rip in [
        0x8000_0000_0000_0000u64,
        0x0000_8000_0000_0000,
        0xFFFF_8000_0000_1000,
        0x0010_0000,
    ] {
        let f = KTrapFrame {
            rip,
            rcx: rip,
            ..syscall_frame()
        };
        assert!(!sysret_safe(&f), "rip {rip:#x}");
        assert_eq!(choose_exit(&f), SystemCallExit::Iretq, "rip {rip:#x}");
    }
}

#[test]
fn the_top_user_page_is_fine() {
    let rip = 0x0000_7FFF_FFFF_F000;
    assert!(sysret_safe(&KTrapFrame {
        rip,
        rcx: rip,
        ..syscall_frame()
    }));
}

#[test]
fn tf_and_rf_force_iretq() {
    for flag in [rflags::TF, rflags::RF] {
        let flags = syscall_frame().rflags | flag;
        let f = KTrapFrame {
            rflags: flags,
            r11: flags,
            ..syscall_frame()
        };
        assert!(!sysret_safe(&f), "flag {flag:#x}");
    }
}

#[test]
fn other_selectors_force_iretq() {
    let f = KTrapFrame {
        cs: 0x1B,
        ..syscall_frame()
    };
    assert!(!sysret_safe(&f));
}
