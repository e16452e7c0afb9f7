//! KiServiceTable: the system services by number, with their argument counts.
//!
//! NT keeps two parallel tables, KiServiceTable (routine addresses) and
//! KiArgumentTable (bytes of arguments per service, which the dispatcher
//! copies from the user stack). Here one entry carries both.

use super::services;
use crate::trap::KTrapFrame;
use syslab_abi::service;
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
}
