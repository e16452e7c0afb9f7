//! The user halves of Lab 1's tests: system calls through `int 0x2e`.
//! Each leaves its findings in the report page for the kernel to judge.

use crate::ntdll::{call, nt};
use crate::rt::report;
use syslab_abi::service::*;
use syslab_abi::user_test::*;

/// Handles kept by the table-filling test (one CPU runs it at a time).
static mut HANDLES: [u64; 8192] = [0; 8192];

pub fn run(test: u64, cpu: u64, arg: u64) -> u64 {
    let r = &mut report(cpu).words;
    match test {
        INT2E_STATUS => r[0] = call(nt::ZwTestStatus, &[arg]),
        INT2E_NUMBER => r[0] = raw_int2e(arg),
        INT2E_FILL_TABLE => {
            // SAFETY: only the CPU running this test touches HANDLES.
            let handles = unsafe { &mut *core::ptr::addr_of_mut!(HANDLES) };
            let mut n = 0;
            let mut handle = 0u64;
            while n < (arg as usize).min(handles.len()) {
                let status = call(
                    nt::ZwCreateMutant,
                    &[&mut handle as *mut u64 as u64, MUTANT_ALL_ACCESS, 0, 0],
                );
                if status != 0 {
                    r[1] = status;
                    break;
                }
                handles[n] = handle;
                n += 1;
            }
            r[0] = n as u64;
            for &h in &handles[..n] {
                if call(nt::ZwClose, &[h]) != 0 {
                    r[3] += 1;
                }
            }
            // Room again after closing.
            r[2] = call(
                nt::ZwCreateMutant,
                &[&mut handle as *mut u64 as u64, MUTANT_ALL_ACCESS, 0, 0],
            );
            if r[2] == 0 {
                call(nt::ZwClose, &[handle]);
            }
        }
        INT2E_TERMINATE => {
            call(nt::ZwTerminateThread, &[NT_CURRENT_THREAD, arg]);
            return 0xBAD_0000_0001; // NtTerminateThread returned
        }
        _ => return 0xBAD_7E57,
    }
    EXIT_OK_STATUS
}

/// `int 0x2e` with EAX = `number` (RAX = `number`, upper bits included)
/// and RDX pointing at eight zero arguments. Returns RAX.
fn raw_int2e(number: u64) -> u64 {
    let rax: u64;
    let stack = [0u64; 8];
    let rdx = stack.as_ptr() as u64;
    // SAFETY: the kernel validates everything; only RAX changes.
    unsafe { core::arch::asm!("int 0x2e", inout("rax") number => rax, in("rdx") rdx) };
    rax
}
