//! The user halves of the 32-bit tests (`syslab_abi::user_test::C_*`),
//! which a 32-bit thread runs. The bookkeeping is 64-bit Rust; every system
//! call goes through a 32-bit routine (wow32.rs) and the 32-bit stubs
//! (ntdll32.rs) of the thread's path: Windows 2000's `int 0x2e` for
//! `PATH_INT2E`, XP's SharedUserData stub otherwise.

use crate::ntdll32::{ECHO32, NULL32, Table32, table32};
use crate::rt::report;
use crate::wow32::{self, Entry32, Job32, call32};
use syslab_abi::service::numbers32::{WINDOWS_2000, WINDOWS_XP};
use syslab_abi::service::{MUTANT_ALL_ACCESS, NT_CLOSE};
use syslab_abi::user_test::*;

/// Where a 32-bit thread's Rust code starts (wow32.rs `syslab_start32`),
/// with the selectors and stack pointer it was started with; returns its
/// exit status.
pub extern "C" fn main(test: u64, cpu: u64, path: u64, start: &[u32; 4]) -> u64 {
    if test == BENCH {
        return crate::bench::run32(cpu, path);
    }
    let r = &mut report(cpu).words;
    let input = [r[0], r[1], r[2], r[3]];
    r.fill(0);
    let t = table32(path);
    match test {
        C_WHOAMI => {
            for (word, &value) in r.iter_mut().zip(start) {
                *word = value as u64;
            }
        }
        C_NULL => {
            let job = run(wow32::null_loop(), t.null, input[0] as u32, &[]);
            r[0] = job.out[0] as u64;
            r[1] = job.out[1] as u64;
            r[2] = wide_index(job.out[2]);
        }
        C_ARGS => args(&t, r),
        C_PRESERVED => {
            let job = run(wow32::preserved(), t.null, 0, &[]);
            for (word, &value) in r.iter_mut().zip(&job.out) {
                *word = value as u64;
            }
        }
        C_KERNEL_FLAGS => {
            let mut out = [0u64; 3];
            let mut job = job(t.kernel_flags, &[&mut out as *mut _ as u32]);
            job.flags = input[0] as u32;
            call32(wow32::call_stub(), &mut job, 0, 0);
            r[0] = job.out[0] as u64;
            r[1..4].copy_from_slice(&out);
        }
        C_FLAGS => {
            let mut job = job(t.null, &[]);
            job.flags = input[0] as u32;
            call32(wow32::call_stub(), &mut job, 0, 0);
            r[0] = job.out[0] as u64;
            r[1] = job.out[1] as u64;
        }
        C_MUTEX_LOOP => {
            let job = run(
                wow32::mutex_loop(),
                t.create_mutex,
                input[0] as u32,
                &[t.close_handle],
            );
            for (word, &value) in r.iter_mut().zip(&job.out[..3]) {
                *word = value as u64;
            }
        }
        C_SET_RETURN => {
            let mut job = job(t.set_return, &[input[0] as u32, input[1] as u32]);
            call32(wow32::call_stub(), &mut job, 0, 0);
            return 0xBAD_0000_0002; // came back to where it called from
        }
        C_ARG_POINTER => {
            r[0] = call32(wow32::int2e_raw(), &mut Job32::default(), ECHO32, input[0]) as u64;
        }
        C_OUT_POINTER => out_pointer(&t, path, input[0], r),
        C_SINGLE_STEP => {
            let (routine, trap) = wow32::single_step(Entry32::of_path(path));
            r[1] = trap as u64;
            call32(routine, &mut Job32::default(), 0, 0);
            return 0xBAD_0000_0006; // the trap should have ended the thread
        }
        C_FROM_LONG_MODE => {
            let (status, cs) = from_long_mode();
            r[0] = status;
            r[1] = cs;
        }
        C_STALE_UPPER => {
            let mut buf = [0u64; 2];
            let args: [u32; 4] = [buf.as_mut_ptr() as u32, 2, 0x1234_5678, 0x9ABC_DEF0];
            let rdx = input[0] << 32 | args.as_ptr() as u64;
            r[0] = call32(wow32::int2e_raw(), &mut Job32::default(), ECHO32, rdx) as u64;
            r[1..3].copy_from_slice(&buf);
        }
        C_NUMBER => {
            let mut handle = 0u32;
            let args: [u32; 4] = [
                &mut handle as *mut u32 as u32,
                MUTANT_ALL_ACCESS as u32,
                0,
                0,
            ];
            let raw = |number: u32, at: u64| {
                call32(wow32::int2e_raw(), &mut Job32::default(), number, at) as u64
            };
            r[0] = raw(input[0] as u32, args.as_ptr() as u64);
            r[1] = handle as u64;
            if handle != 0 {
                // NtClose by the same system's number, also by `int 0x2e`.
                let close = numbers(path)[NT_CLOSE as usize];
                let arg = [handle];
                r[2] = raw(close, arg.as_ptr() as u64);
            }
        }
        _ => return 0xBAD_7E57,
    }
    EXIT_OK_STATUS
}

/// The system of a path's 32-bit thread, as its numbers.
fn numbers(path: u64) -> &'static [u32; syslab_abi::service::COUNT as usize] {
    match path {
        PATH_INT2E => &WINDOWS_2000,
        _ => &WINDOWS_XP,
    }
}

/// A job calling `stub` with `args`.
fn job(stub: u32, args: &[u32]) -> Job32 {
    let mut job = Job32 {
        stub,
        n: args.len() as u32,
        ..Default::default()
    };
    job.args[..args.len()].copy_from_slice(args);
    job
}

/// Runs `routine` over `stub` with `n` and `args`; the finished job.
fn run(routine: u32, stub: u32, n: u32, args: &[u32]) -> Job32 {
    let mut job = job(stub, args);
    job.n = n;
    call32(routine, &mut job, 0, 0);
    job
}

/// A 32-bit index, or "none" (all ones) as the 64-bit reports say it.
fn wide_index(i: u32) -> u64 {
    if i == u32::MAX { u64::MAX } else { i as u64 }
}

/// NtTestEcho with 0..=6 four-byte arguments: each must come back widened
/// to 64 bits with zeros (0xFFFFFFFF is not -1). Output as P_ARGS.
fn args(t: &Table32, r: &mut [u64; 32]) {
    let values: [u32; 6] = [0x1111_2222, 0xFFFF_FFFF, 0, 0x8000_0001, 0xDEAD_BEEF, 42];
    for count in 0..=6u32 {
        let mut buf = [0xA5A5_A5A5_A5A5_A5A5u64; 6];
        let mut a = [buf.as_mut_ptr() as u32, count, 0, 0, 0, 0, 0, 0];
        a[2..].copy_from_slice(&values);
        let mut job = job(t.echo, &a);
        call32(wow32::call_stub(), &mut job, 0, 0);
        let status = job.out[0] as u64;
        let bad = (0..count as usize).find(|&i| buf[i] != values[i] as u64);
        if (status != 0 || bad.is_some()) && r[0] == 0 {
            r[0] = 1;
            r[1] = count as u64;
            r[2] = status;
            r[3] = values[bad.unwrap_or(0)] as u64;
            r[4] = buf[bad.unwrap_or(0)];
        }
    }
}

/// NtCreateMutant(pointer, ...); with pointer 0, into a buffer of two
/// 4-byte words filled with 0xAAAAAAAA, whose second word a 4-byte HANDLE
/// must leave alone. Output [status, word 0, word 1, close status].
fn out_pointer(t: &Table32, path: u64, pointer: u64, r: &mut [u64; 32]) {
    let mut buf = [0xAAAA_AAAAu32; 2];
    let at = if pointer == 0 {
        buf.as_mut_ptr() as u32
    } else {
        pointer as u32
    };
    let mut job = job(t.create_mutant, &[at, MUTANT_ALL_ACCESS as u32, 0, 0]);
    call32(wow32::call_stub(), &mut job, 0, 0);
    r[0] = job.out[0] as u64;
    r[1] = buf[0] as u64;
    r[2] = buf[1] as u64;
    if pointer == 0 && job.out[0] == 0 {
        let mut close = self::job(t.close, &[buf[0]]);
        call32(wow32::call_stub(), &mut close, 0, 0);
        r[3] = close.out[0] as u64;
    }
    let _ = path;
}

// ANCHOR: from_long_mode
/// A 32-bit thread in 64-bit code (it is in 64-bit code now: this is Rust)
/// calls SharedUserData's 32-bit stub with EAX = NtNull's 32-bit number.
/// Whatever the kernel makes of it, the code after the call runs in either
/// mode: it reads CS, and from 32-bit code drops the half of the 64-bit
/// return address that the 32-bit `ret` left and far-returns to 64-bit
/// code through a frame pushed before the call. Returns [status, CS after
/// the return].
fn from_long_mode() -> (u64, u64) {
    let (status, cs): (u64, u64);
    // SAFETY: the call comes back in one mode or the other, on this stack;
    // the registers it may change are declared, RBX and RBP saved by hand.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "lea rcx, [rip + 5f]",
            "push rcx",        // for the far return from 32-bit code: EIP, then CS
            "mov edx, {stub}",
            "call rdx",
            // From here the bytes decode the same in both modes.
            "mov ecx, cs",
            "cmp ecx, {cs32}",
            "jne 6f",
            ".code32",
            "add esp, 4",      // the upper half of the call's return address
            "mov dword ptr [esp + 4], {cs64}",
            "retf",
            ".code64",
            "6:",
            "add rsp, 8",      // back in 64-bit code: the far frame is not needed
            "5:",
            "mov esp, esp",    // after 32-bit code the upper half of RSP is undefined
            "pop rbp",
            "pop rbx",
            stub = const syslab_abi::layout::SYSTEM_CALL_STUB,
            cs32 = const wow32::USER_CS32,
            cs64 = const wow32::USER_CS64,
            inout("rax") NULL32 as u64 => status,
            out("rcx") cs,
            out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    (status & 0xFFFF_FFFF, cs & 0xFFFF)
}
// ANCHOR_END: from_long_mode
