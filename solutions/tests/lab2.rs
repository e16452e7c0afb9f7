//! Host tests of Lab 2's pure functions: the GDT selector rule and the
//! SYSEXIT safety check. `cargo grader lab2` runs them for points.

use student::lab2::{check_sysenter_gdt, choose_exit, sysexit_safe};
use syslab_kernel::gdt::{KERNEL_CS, SegmentDescriptor, USER_CS, USER_SS, standard_gdt};
use syslab_kernel::student::{GdtRuleError, SystemCallExit};
use syslab_kernel::trap::{ENTRY_SYSENTER, KTrapFrame, rflags};

#[test]
fn the_kernels_gdt_passes() {
    assert_eq!(check_sysenter_gdt(&standard_gdt(), KERNEL_CS), Ok(()));
}

#[test]
fn the_rule_is_relative_to_sysenter_cs() {
    let mut shifted = vec![0u64];
    shifted.extend_from_slice(&standard_gdt()[..7]);
    assert_eq!(check_sysenter_gdt(&shifted, KERNEL_CS + 8), Ok(()));
}

#[test]
fn a_selector_with_rpl_or_ti_bits_is_refused() {
    assert!(matches!(
        check_sysenter_gdt(&standard_gdt(), KERNEL_CS | 3),
        Err(GdtRuleError::BadSelector(_))
    ));
    assert!(matches!(
        check_sysenter_gdt(&standard_gdt(), KERNEL_CS | 4),
        Err(GdtRuleError::BadSelector(_))
    ));
}

#[test]
fn a_short_table_names_the_missing_selector() {
    let gdt = standard_gdt();
    assert!(matches!(
        check_sysenter_gdt(&gdt[..6], KERNEL_CS),
        Err(GdtRuleError::Missing { selector: 0x30, .. })
    ));
}

#[test]
fn each_wrong_descriptor_is_named() {
    // (slot, replacement, selector the error must name)
    let cases = [
        (1, SegmentDescriptor::code64(3).0, 0x08), // SYSENTER's CS at ring 3
        (2, SegmentDescriptor::code64(0).0, 0x10), // SS = CS + 8 is code
        (2, SegmentDescriptor::data(3).0, 0x10),   // SS at ring 3
        (3, SegmentDescriptor::code64(3).0, 0x18), // 32-bit SYSEXIT CS is 64-bit
        (4, SegmentDescriptor::data(0).0, 0x20),   // 32-bit SYSEXIT SS at ring 0
        (5, SegmentDescriptor::code32(3).0, 0x28), // 64-bit SYSEXIT CS is 32-bit
        (6, SegmentDescriptor::code64(3).0, 0x30), // 64-bit SYSEXIT SS is code
        (6, 0, 0x30),                              // not present
    ];
    for (slot, replacement, selector) in cases {
        let mut gdt = standard_gdt();
        gdt[slot] = replacement;
        match check_sysenter_gdt(&gdt, KERNEL_CS) {
            Err(GdtRuleError::Wrong { selector: s, .. }) => assert_eq!(s, selector, "slot {slot}"),
            other => panic!(
                "slot {slot} = {replacement:#x}: expected Wrong at {selector:#x}, got {other:?}"
            ),
        }
    }
}

fn sysenter_frame() -> KTrapFrame {
    KTrapFrame {
        entry: ENTRY_SYSENTER,
        rip: 0x7FFE_0305,
        cs: USER_CS as u64,
        rflags: rflags::IF | rflags::RESERVED1,
        rsp: 0x6FFF_FF00,
        ss: USER_SS as u64,
        ..Default::default()
    }
}

#[test]
fn a_plain_sysenter_frame_leaves_by_sysexit() {
    let f = sysenter_frame();
    assert!(sysexit_safe(&f));
    assert_eq!(choose_exit(&f), SystemCallExit::Sysexit);
}

#[test]
fn bad_return_addresses_fall_back_to_iretq() {
    for rip in [0x8000_0000_0000_0000, 0xFFFF_8000_0000_0000, 0x0010_0000, 0] {
        let f = KTrapFrame {
            rip,
            ..sysenter_frame()
        };
        assert!(!sysexit_safe(&f), "rip {rip:#x}");
        assert_eq!(choose_exit(&f), SystemCallExit::Iretq, "rip {rip:#x}");
    }
    for rsp in [0x4141_4141_4141_4141, 0x3002_0000] {
        let f = KTrapFrame {
            rsp,
            ..sysenter_frame()
        };
        assert!(!sysexit_safe(&f), "rsp {rsp:#x}");
    }
}

#[test]
fn trap_flag_falls_back_to_iretq() {
    let f = KTrapFrame {
        rflags: sysenter_frame().rflags | rflags::TF,
        ..sysenter_frame()
    };
    assert!(!sysexit_safe(&f));
}

#[test]
fn an_int2e_frame_always_uses_iretq() {
    let f = KTrapFrame {
        entry: 0x2E,
        ..sysenter_frame()
    };
    assert_eq!(choose_exit(&f), SystemCallExit::Iretq);
}
