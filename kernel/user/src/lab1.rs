//! The user halves of Lab 1's tests: system calls through `int 0x2e`.
//! Each leaves its findings in the report page for the kernel to judge.

use crate::kernel32::{self, INT2E};
use crate::ntdll::{call, nt};
use crate::rt::report;
use syslab_abi::service::*;
use syslab_abi::user_test::*;

/// Handles kept by the table-filling test (one CPU runs it at a time).
static mut HANDLES: [u64; 8192] = [0; 8192];

pub fn run(test: u64, cpu: u64, arg: u64) -> u64 {
    let r = &mut report(cpu).words;
    match test {
        INT2E_NULL => {
            r[2] = u64::MAX;
            for i in 0..arg {
                let status = call(nt::ZwNull, &[]);
                if status != 0 && r[2] == u64::MAX {
                    r[1] = status;
                    r[2] = i;
                }
                r[0] = i + 1;
            }
        }
        INT2E_ARGS => {
            let values = [
                0x1111_2222_3333_4444,
                u64::MAX,
                0,
                0x8000_0000_0000_0001,
                0xDEAD_BEEF,
                42,
            ];
            for count in 0..=6u64 {
                let mut buf = [0xA5A5_A5A5_A5A5_A5A5u64; 6];
                let mut args = [buf.as_mut_ptr() as u64, count, 0, 0, 0, 0, 0, 0];
                args[2..8].copy_from_slice(&values);
                let status = call(nt::ZwTestEcho, &args);
                let arrived = buf[..count as usize] == values[..count as usize];
                if status != 0 || !arrived {
                    r[0] += 1;
                    if r[0] == 1 {
                        r[1] = count;
                        r[2] = status;
                        let first_bad = (0..count as usize)
                            .find(|&i| buf[i] != values[i])
                            .unwrap_or(0);
                        r[3] = values[first_bad];
                        r[4] = buf[first_bad];
                    }
                }
            }
        }
        INT2E_STATUS => r[0] = call(nt::ZwTestStatus, &[arg]),
        INT2E_PRESERVED => preserved(r),
        INT2E_NUMBER => r[0] = raw_int2e(arg, 0),
        INT2E_ARGPTR => r[0] = raw_int2e(NT_TEST_ECHO as u64, arg),
        INT2E_MUTEX_LOOP => {
            r[2] = 0;
            for _ in 0..arg {
                let h = kernel32::create_mutex(&INT2E, 0, false, 0);
                if h == 0 {
                    r[2] += 1;
                    continue;
                }
                r[0] += 1;
                if kernel32::close_handle(&INT2E, h) {
                    r[1] += 1;
                }
            }
        }
        INT2E_CLOSE_LIST => {
            for i in 1..=r[0] as usize {
                r[i] = call(nt::ZwClose, &[r[i]]);
            }
        }
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
        INT2E_WHICH_CPU => r[0] = call(nt::ZwGetCurrentProcessorNumber, &[]),
        INT2E_BAD_OUT_PTR => r[0] = call(nt::ZwCreateMutant, &[arg, MUTANT_ALL_ACCESS, 0, 0]),
        _ => return 0xBAD_7E57,
    }
    EXIT_OK_STATUS
}

/// `int 0x2e` with EAX = `number` (RAX = `number`, upper bits included)
/// and RDX = `args` (or a valid stack pointer when 0). Returns RAX.
fn raw_int2e(number: u64, args: u64) -> u64 {
    let rax: u64;
    let stack = [0u64; 8];
    let rdx = if args == 0 {
        stack.as_ptr() as u64
    } else {
        args
    };
    // SAFETY: the kernel validates everything; only RAX changes.
    unsafe { core::arch::asm!("int 0x2e", inout("rax") number => rax, in("rdx") rdx) };
    rax
}

/// Fills every general register with a pattern, makes a null call, and
/// stores the fifteen registers after it in the report (words 0..15, in the
/// order RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8..R15); word 15 is RDX's value.
fn preserved(r: &mut [u64; 32]) {
    let stack = [0u64; 8];
    let mut out = [0u64; 15];
    // SAFETY: callee-saved registers are saved and restored around the call.
    unsafe {
        core::arch::asm!(
            "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
            "push rdi", // the output array
            // Register k of the report order (RAX, RBX, RCX, RDX, RSI, RDI,
            // RBP, R8..R15) holds PRESERVE_PATTERN + k; RDX points at `stack`.
            "mov rbx, {p} + 1", "mov rcx, {p} + 2", "mov rsi, {p} + 4", "mov rdi, {p} + 5",
            "mov rbp, {p} + 6", "mov r8, {p} + 7", "mov r9, {p} + 8", "mov r10, {p} + 9",
            "mov r11, {p} + 10", "mov r12, {p} + 11", "mov r13, {p} + 12", "mov r14, {p} + 13",
            "mov r15, {p} + 14",
            "mov eax, {null}",
            "int 0x2e",
            "xchg rdi, [rsp]", // RDI = output array; the returned RDI is on the stack
            "mov [rdi], rax", "mov [rdi + 8], rbx", "mov [rdi + 16], rcx", "mov [rdi + 24], rdx",
            "mov [rdi + 32], rsi", "pop rax", "mov [rdi + 40], rax", "mov [rdi + 48], rbp",
            "mov [rdi + 56], r8", "mov [rdi + 64], r9", "mov [rdi + 72], r10", "mov [rdi + 80], r11",
            "mov [rdi + 88], r12", "mov [rdi + 96], r13", "mov [rdi + 104], r14", "mov [rdi + 112], r15",
            "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
            p = const PRESERVE_PATTERN,
            null = const NT_NULL,
            in("rdi") out.as_mut_ptr(),
            in("rdx") stack.as_ptr(),
            out("rax") _, out("rcx") _, out("rsi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    r[..15].copy_from_slice(&out);
    r[15] = stack.as_ptr() as u64; // what RDX held
}
