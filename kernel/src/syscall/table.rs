//! KiServiceTable: the system services by number, with their argument counts.
//!
//! NT keeps two parallel tables, KiServiceTable (routine addresses) and
//! KiArgumentTable (bytes of arguments per service, which the dispatcher
//! copies from the user stack). Here one entry carries both.

use super::services;
use crate::frame::KTrapFrame;
use syslab_abi::service::{self, numbers32};
use syslab_abi::status::NtStatus;

/// A system service: the frame of the call and its arguments, already
/// copied into the kernel. Returns the NTSTATUS for RAX.
pub type ServiceRoutine = fn(&mut KTrapFrame, &[u64]) -> NtStatus;

/// The most arguments any service takes.
pub const MAX_ARGS: usize = 8;

// ANCHOR: entry
/// One row of the service table.
pub struct ServiceEntry {
    pub name: &'static str,
    pub routine: ServiceRoutine,
    /// How many 8-byte arguments the dispatcher copies from the user stack.
    pub arg_count: usize,
}
// ANCHOR_END: entry

// ANCHOR: table
/// The service table, indexed by the number in EAX (`syslab_abi::service`).
pub static KI_SERVICE_TABLE: [ServiceEntry; service::COUNT as usize] = [
    ServiceEntry {
        name: "NtNull",
        routine: services::nt_null,
        arg_count: 0,
    },
    ServiceEntry {
        name: "NtCreateMutant",
        routine: services::nt_create_mutant,
        arg_count: 4,
    },
    ServiceEntry {
        name: "NtClose",
        routine: services::nt_close,
        arg_count: 1,
    },
    ServiceEntry {
        name: "NtGetCurrentProcessorNumber",
        routine: services::nt_get_current_processor_number,
        arg_count: 0,
    },
    ServiceEntry {
        name: "NtTerminateThread",
        routine: services::nt_terminate_thread,
        arg_count: 2,
    },
    ServiceEntry {
        name: "NtTestEcho",
        routine: services::nt_test_echo,
        arg_count: 8,
    },
    ServiceEntry {
        name: "NtTestStatus",
        routine: services::nt_test_status,
        arg_count: 1,
    },
    ServiceEntry {
        name: "NtTestSetReturn",
        routine: services::nt_test_set_return,
        arg_count: 2,
    },
    ServiceEntry {
        name: "NtTestCheckFrame",
        routine: services::nt_test_check_frame,
        arg_count: 2,
    },
    ServiceEntry {
        name: "NtTestKernelFlags",
        routine: services::nt_test_kernel_flags,
        arg_count: 1,
    },
    ServiceEntry {
        name: "NtTestKernelFault",
        routine: services::nt_test_kernel_fault,
        arg_count: 0,
    },
    ServiceEntry {
        name: "NtTestCheckGs",
        routine: services::nt_test_check_gs,
        arg_count: 0,
    },
    ServiceEntry {
        name: "NtTestScratch",
        routine: services::nt_test_scratch,
        arg_count: 0,
    },
];
// ANCHOR_END: table

// ANCHOR: table32
/// The services as 32-bit callers get them: the same entries, with the
/// `*32` routine where the 32-bit ABI differs (services.rs).
pub static KI_SERVICE_TABLE32: [ServiceEntry; service::COUNT as usize] = {
    let mut table = [PLACEHOLDER; service::COUNT as usize];
    let mut i = 0;
    while i < table.len() {
        let native = &KI_SERVICE_TABLE[i];
        table[i] = ServiceEntry {
            name: native.name,
            routine: native.routine,
            arg_count: native.arg_count,
        };
        i += 1;
    }
    table[service::NT_CREATE_MUTANT as usize].routine = services::nt_create_mutant32;
    table[service::NT_TEST_ECHO as usize].routine = services::nt_test_echo32;
    table[service::NT_TEST_SET_RETURN as usize].routine = services::nt_test_set_return32;
    table[service::NT_TEST_KERNEL_FLAGS as usize].routine = services::nt_test_kernel_flags32;
    table
};

const PLACEHOLDER: ServiceEntry = ServiceEntry {
    name: "",
    routine: services::nt_null,
    arg_count: 0,
};

/// A 32-bit system's numbering: for each of its service numbers, the entry
/// of [`KI_SERVICE_TABLE32`] it names (`syslab_abi::service::numbers32`).
pub struct SystemTable {
    /// By 32-bit number: the index into KI_SERVICE_TABLE, or [`NONE`].
    index: [u8; numbers32::LIMIT as usize],
}

/// No service has this number.
const NONE: u8 = u8::MAX;

impl SystemTable {
    /// The inverse of `numbers` (syslab's number -> the system's number).
    const fn new(numbers: &[u32; service::COUNT as usize]) -> Self {
        let mut index = [NONE; numbers32::LIMIT as usize];
        let mut i = 0;
        while i < numbers.len() {
            if index[numbers[i] as usize] != NONE {
                panic!("two services share a 32-bit number");
            }
            index[numbers[i] as usize] = i as u8;
            i += 1;
        }
        SystemTable { index }
    }

    /// The service that the system's number `number` (EAX) names.
    #[inline]
    pub fn get(&self, number: u32) -> Option<&'static ServiceEntry> {
        let i = *self.index.get(number as usize)?;
        KI_SERVICE_TABLE32.get(i as usize)
    }
}

/// Windows 2000's numbers: NtCreateMutant is 0x25.
pub static WINDOWS_2000_TABLE: SystemTable = SystemTable::new(&numbers32::WINDOWS_2000);
/// Windows XP's numbers: NtCreateMutant is 0x2B.
pub static WINDOWS_XP_TABLE: SystemTable = SystemTable::new(&numbers32::WINDOWS_XP);

/// The table of `os`'s 32-bit numbers.
pub fn system_table(os: crate::os::Os) -> &'static SystemTable {
    match os {
        crate::os::Os::Windows2000 => &WINDOWS_2000_TABLE,
        crate::os::Os::WindowsXp => &WINDOWS_XP_TABLE,
    }
}

/// The table a 32-bit caller on this CPU is looked up in: its thread's
/// system's (Windows 2000 or XP, fixed when the thread started).
#[cfg(target_os = "none")]
pub fn ki_service_table32() -> &'static SystemTable {
    // SAFETY: only this CPU writes its thread's mode, between threads.
    system_table(unsafe { (*crate::percpu::current().thread_mode.get()).system })
}

/// On the host, where no thread runs: XP's, the default system.
#[cfg(not(target_os = "none"))]
pub fn ki_service_table32() -> &'static SystemTable {
    &WINDOWS_XP_TABLE
}
// ANCHOR_END: table32

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_abi_and_counts_fit() {
        let by_name = |n: &str| KI_SERVICE_TABLE.iter().position(|e| e.name == n).unwrap() as u32;
        assert_eq!(by_name("NtNull"), service::NT_NULL);
        assert_eq!(by_name("NtCreateMutant"), service::NT_CREATE_MUTANT);
        assert_eq!(by_name("NtClose"), service::NT_CLOSE);
        assert_eq!(
            by_name("NtGetCurrentProcessorNumber"),
            service::NT_GET_CURRENT_PROCESSOR_NUMBER
        );
        assert_eq!(by_name("NtTerminateThread"), service::NT_TERMINATE_THREAD);
        assert_eq!(by_name("NtTestEcho"), service::NT_TEST_ECHO);
        assert_eq!(by_name("NtTestStatus"), service::NT_TEST_STATUS);
        assert_eq!(by_name("NtTestSetReturn"), service::NT_TEST_SET_RETURN);
        assert_eq!(by_name("NtTestCheckFrame"), service::NT_TEST_CHECK_FRAME);
        assert_eq!(by_name("NtTestKernelFlags"), service::NT_TEST_KERNEL_FLAGS);
        assert_eq!(by_name("NtTestKernelFault"), service::NT_TEST_KERNEL_FAULT);
        assert_eq!(by_name("NtTestCheckGs"), service::NT_TEST_CHECK_GS);
        assert_eq!(by_name("NtTestScratch"), service::NT_TEST_SCRATCH);
        assert!(KI_SERVICE_TABLE.iter().all(|e| e.arg_count <= MAX_ARGS));
    }

    #[test]
    fn each_system_has_its_own_numbers() {
        let name = |t: &SystemTable, n| t.get(n).map(|e| e.name);
        assert_eq!(name(&WINDOWS_XP_TABLE, 0x2B), Some("NtCreateMutant"));
        assert_eq!(name(&WINDOWS_2000_TABLE, 0x25), Some("NtCreateMutant"));
        assert_eq!(name(&WINDOWS_XP_TABLE, 0x25), None, "2000's number on XP");
        assert_eq!(name(&WINDOWS_2000_TABLE, 0x2B), None, "XP's number on 2000");
        assert_eq!(name(&WINDOWS_XP_TABLE, 0x19), Some("NtClose"));
        assert_eq!(name(&WINDOWS_2000_TABLE, 0x18), Some("NtClose"));
        assert_eq!(name(&WINDOWS_XP_TABLE, 0x102), Some("NtTerminateThread"));
        assert_eq!(name(&WINDOWS_2000_TABLE, 0xE1), Some("NtTerminateThread"));
        for t in [&WINDOWS_XP_TABLE, &WINDOWS_2000_TABLE] {
            assert_eq!(name(t, numbers32::OWN_BASE), Some("NtNull"));
            assert_eq!(
                name(t, 0),
                None,
                "syslab's 64-bit NtNull is not a 32-bit number"
            );
            assert_eq!(name(t, numbers32::LIMIT), None);
            assert_eq!(name(t, u32::MAX), None);
            // Every service has exactly one number.
            let found = (0..numbers32::LIMIT)
                .filter(|&n| t.get(n).is_some())
                .count();
            assert_eq!(found, service::COUNT as usize);
        }
    }
}
