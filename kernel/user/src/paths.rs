//! The user halves of the Lab 2 and Lab 3 tests. Each runs on the path in
//! its argument (`PATH_INT2E`, `PATH_SHARED`, `PATH_SYSCALL`), reads its
//! inputs from the report page and leaves its findings there.

use crate::kernel32::{self, Stubs};
use crate::ntdll::{self, call};
use crate::rt::report;
use syslab_abi::service::*;
use syslab_abi::user_test::*;

pub fn run(test: u64, cpu: u64, path: u64) -> u64 {
    let r = &mut report(cpu).words;
    let input = [r[0], r[1], r[2], r[3]];
    if test == P_CLOSE_LIST {
        // Its inputs fill the page: statuses replace handles in place.
        for i in 1..=(r[0] as usize).min(r.len() - 1) {
            r[i] = call(ntdll::table(path).close, &[r[i]]);
        }
        return EXIT_OK_STATUS;
    }
    r.fill(0);
    let t = ntdll::table(path);
    match test {
        P_NULL => {
            r[2] = u64::MAX;
            for i in 0..input[0] {
                let status = call(t.null, &[]);
                if status != 0 && r[2] == u64::MAX {
                    r[1] = status;
                    r[2] = i;
                }
                r[0] = i + 1;
            }
        }
        P_ARGS => {
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
                let status = call(t.echo, &args);
                let bad = (0..count as usize).find(|&i| buf[i] != values[i]);
                if (status != 0 || bad.is_some()) && r[0] == 0 {
                    r[0] = 1;
                    r[1] = count;
                    r[2] = status;
                    r[3] = values[bad.unwrap_or(0)];
                    r[4] = buf[bad.unwrap_or(0)];
                }
            }
        }
        P_PRESERVED => preserved(t.null, r),
        P_CHECK_FRAME => {
            r[2] = u64::MAX;
            for i in 0..input[0] {
                let pattern = 0xC0DE_0000_0000_0000 | (cpu << 32) | i << 2;
                let (status, corrupted) = check_frame(t.check_frame, pattern, input[1]);
                if status == 0 {
                    r[0] += 1;
                } else if r[2] == u64::MAX {
                    r[1] = status;
                    r[2] = i;
                }
                r[3] += corrupted;
            }
        }
        P_SET_RETURN => {
            call(t.set_return, &[input[0], input[1]]);
            return 0xBAD_0000_0002; // came back to where it called from
        }
        P_FLAGS => {
            let (status, after) = with_flags(input[0], t.null, 0);
            r[0] = status;
            r[1] = after;
        }
        P_KERNEL_FLAGS => {
            let mut out = [0u64; 3];
            let (status, _) = with_flags(input[0], t.kernel_flags, out.as_mut_ptr() as u64);
            r[0] = status;
            r[1..4].copy_from_slice(&out);
        }
        P_KERNEL_FAULT => r[0] = call(t.kernel_fault, &[]),
        P_FAULT_AFTER => {
            // A null call, and at once a page fault: the fault's entry must
            // find GS as the return left it (the user's).
            call(t.null, &[]);
            // SAFETY: meant to fault.
            unsafe { core::ptr::read_volatile(input[0] as *const u64) };
            return 0xBAD_0000_0003;
        }
        P_MUTEX_LOOP => {
            let stubs = Stubs::of(t);
            for _ in 0..input[0] {
                let h = kernel32::create_mutex(&stubs, 0, false, 0);
                if h == 0 {
                    r[2] += 1;
                    continue;
                }
                r[0] += 1;
                if kernel32::close_handle(&stubs, h) {
                    r[1] += 1;
                }
            }
        }
        P_WHICH_CPU => r[0] = call(t.which_cpu, &[]),
        RAW_SYSENTER => {
            // SAFETY: the kernel must survive whatever RDX and RCX hold.
            unsafe {
                core::arch::asm!("sysenter", in("eax") NT_NULL, inout("rdx") input[0] => _, inout("rcx") input[1] => _)
            };
            r[0] = 1; // came back
        }
        SINGLE_STEP_SYSENTER => single_step_sysenter(r),
        P_ARG_POINTER => r[0] = raw_entry(entry_of(path), NT_TEST_ECHO, input[0]),
        P_OUT_POINTER => r[0] = call(t.create_mutant, &[input[0], MUTANT_ALL_ACCESS, 0, 0]),
        P_BAD_STACK => r[0] = with_stack(entry_of(path), input[0]),
        P_SINGLE_STEP => single_step(entry_of(path), r),
        P_SELECTORS => selectors(t.null, &input, r),
        P_STALE_HANDLE => {
            let (mut h1, mut h2) = (0u64, 0u64);
            r[6] = call(
                t.create_mutant,
                &[&mut h1 as *mut u64 as u64, MUTANT_ALL_ACCESS, 0, 0],
            );
            r[0] = call(t.close, &[h1]);
            r[7] = call(
                t.create_mutant,
                &[&mut h2 as *mut u64 as u64, MUTANT_ALL_ACCESS, 0, 0],
            );
            r[1] = call(t.close, &[h1]); // stale: the slot may hold h2 now
            r[2] = call(t.close, &[h2]);
            r[3] = call(t.close, &[h2]); // double close
            r[4] = h1;
            r[5] = h2;
        }
        SINGLE_STEP_TERMINATE => single_step_terminate(input[0]),
        COMPAT_SYSENTER => {
            let (status, cs) = sysenter_from_compat(cpu);
            r[0] = status;
            r[1] = cs;
        }
        P_SCRATCH => r[0] = call(t.scratch, &[]),
        P_GS_LOOP => {
            r[2] = u64::MAX;
            let paths = [PATH_INT2E, PATH_SHARED, PATH_SYSCALL];
            for i in 0..input[0] {
                for &p in paths.iter().filter(|&&p| input[1] & (1 << p) != 0) {
                    let status = call(ntdll::table(p).check_gs, &[]);
                    if status != 0 && r[2] == u64::MAX {
                        r[1] = status;
                        r[2] = i;
                    }
                }
                r[0] = i + 1;
            }
        }
        COMPAT_SYSCALL => {
            // SAFETY: the thread dies: of #UD at the `syscall` on Intel; on
            // AMD it enters through CSTAR (EAX is no service) and the
            // sysretl brings it back to the `ud2`.
            unsafe {
                core::arch::asm!(
                    "lea rax, [rip + 2f]",
                    "push {cs32}",
                    "push rax",
                    "retfq", // into compatibility mode: this code is below 4 GiB
                    ".code32",
                    "2: syscall",
                    "ud2",
                    ".code64",
                    cs32 = const 0x1B, // USER_CS32
                    out("rax") _, out("rcx") _, out("r11") _,
                )
            };
            return 0xBAD_0000_0004;
        }
        _ => return 0xBAD_7E57,
    }
    EXIT_OK_STATUS
}

/// The instruction a path enters the kernel with. SharedUserData's stub
/// is one of the three; its bytes say which.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Int2e,
    Sysenter,
    Syscall,
}

fn entry_of(path: u64) -> Entry {
    match path {
        PATH_INT2E => Entry::Int2e,
        PATH_SYSCALL => Entry::Syscall,
        _ => {
            // SAFETY: SharedUserData is mapped readable in every thread.
            let stub = unsafe {
                core::ptr::read_volatile(syslab_abi::layout::SYSTEM_CALL_STUB64 as *const [u8; 8])
            };
            if stub[3..5] == [0x0F, 0x34] {
                Entry::Sysenter // mov rdx, rsp; sysenter
            } else if stub[5..7] == [0x0F, 0x05] {
                Entry::Syscall // lea rdx, [rsp + 16]; syscall
            } else {
                Entry::Int2e
            }
        }
    }
}

/// The entry instruction itself, with EAX = `number` and RDX = `rdx`;
/// returns RAX. A raw `sysenter` returns, if at all, through SharedUserData's
/// `ret` on the stack RDX names, so it only comes back for a real stack.
fn raw_entry(entry: Entry, number: u32, rdx: u64) -> u64 {
    let rax: u64;
    // SAFETY: the kernel validates everything; the clobbers are declared.
    unsafe {
        match entry {
            Entry::Int2e => {
                core::arch::asm!("int 0x2e", inout("rax") number as u64 => rax, in("rdx") rdx)
            }
            Entry::Syscall => core::arch::asm!("syscall", inout("rax") number as u64 => rax,
                inout("rdx") rdx => _, out("rcx") _, out("r11") _),
            Entry::Sysenter => core::arch::asm!("sysenter", inout("rax") number as u64 => rax,
                inout("rdx") rdx => _, out("rcx") _),
        }
    }
    rax
}

/// NtNull with RSP = `rsp` around the entry instruction; returns RAX. The
/// kernel never needs the user's stack for `int 0x2e` or `syscall`, so it
/// must not touch it; a `sysenter` returns on that stack and cannot come back.
fn with_stack(entry: Entry, rsp: u64) -> u64 {
    let rax: u64;
    // SAFETY: nothing uses the stack while RSP is the bad value; R12 keeps
    // the real one.
    unsafe {
        match entry {
            Entry::Int2e => {
                core::arch::asm!("mov r12, rsp", "mov rsp, {bad}", "int 0x2e", "mov rsp, r12",
                bad = in(reg) rsp, inout("rax") NT_NULL as u64 => rax, out("r12") _)
            }
            Entry::Syscall => {
                core::arch::asm!("mov r12, rsp", "mov rsp, {bad}", "syscall", "mov rsp, r12",
                bad = in(reg) rsp, inout("rax") NT_NULL as u64 => rax, out("r12") _, out("rcx") _, out("r11") _)
            }
            Entry::Sysenter => {
                core::arch::asm!("mov r12, rsp", "mov rsp, {bad}", "mov rdx, rsp", "sysenter", "mov rsp, r12",
                bad = in(reg) rsp, inout("rax") NT_NULL as u64 => rax, out("r12") _, out("rcx") _, out("rdx") _)
            }
        }
    }
    rax
}

/// TF set by the `popfq` right before the entry instruction (a `popfq`
/// that sets TF is not itself trapped, so the entry is the first
/// instruction stepped). The kernel must come back with TF set, and the
/// trap then lands after the first instruction past the return, which
/// stores the status: word 0 = status, word 1 = where the trap belongs.
fn single_step(entry: Entry, r: &mut [u64; 32]) {
    let out = r.as_mut_ptr();
    // SAFETY: the thread is expected to die of the single-step trap.
    unsafe {
        match entry {
            Entry::Syscall => core::arch::asm!(
                "lea rcx, [rip + 3f]", "mov [{out} + 8], rcx",
                "pushfq", "or qword ptr [rsp], 0x100", "popfq",
                "syscall",
                "mov [{out}], rax",
                "3: jmp 3b",
                out = in(reg) out, in("eax") NT_NULL, in("rdx") 0,
                options(noreturn)),
            _ => core::arch::asm!(
                "lea rcx, [rip + 3f]", "mov [{out} + 8], rcx",
                "pushfq", "or qword ptr [rsp], 0x100", "popfq",
                "int 0x2e",
                "mov [{out}], rax",
                "3: jmp 3b",
                out = in(reg) out, in("eax") NT_NULL, in("rdx") 0,
                options(noreturn)),
        }
    }
}

/// NtNull through `stub` with DS, ES, FS and GS loaded from `sel`; writes
/// [status, ds, es, fs, gs] as they were after the call.
fn selectors(stub: ntdll::Stub, sel: &[u64; 4], r: &mut [u64; 32]) {
    let after = [0u64; 4];
    let status: u64;
    // SAFETY: the user program uses none of these segments: in 64-bit mode
    // DS and ES have no effect, and it keeps no data behind FS or GS.
    unsafe {
        core::arch::asm!(
            "mov ds, {a:x}", "mov es, {b:x}", "mov fs, {c:x}", "mov gs, {d:x}",
            "call {stub}",
            "mov {a:x}, ds", "mov [{after}], {a}",
            "mov {a:x}, es", "mov [{after} + 8], {a}",
            "mov {a:x}, fs", "mov [{after} + 16], {a}",
            "mov {a:x}, gs", "mov [{after} + 24], {a}",
            a = inout(reg) sel[0] => _, b = in(reg) sel[1], c = in(reg) sel[2], d = in(reg) sel[3],
            stub = in(reg) stub, after = in(reg) after.as_ptr(),
            out("rax") status, out("rcx") _, out("rdx") _, out("r11") _,
        );
    }
    r[0] = status;
    r[1..5].copy_from_slice(&after);
}

// ANCHOR: sysenter_from_compat
/// A 64-bit thread far-returns into the 32-bit user code and runs XP's
/// stub there (`mov edx, esp; sysenter`) with NtNull's 64-bit number. It
/// is still a 64-bit thread: the kernel must serve it as one and return it
/// through `sysexitq` to SharedUserData's 64-bit `ret`, which pops the
/// 64-bit return address pushed for it. 32-bit code cannot use this
/// thread's stack (above 4 GiB), so it borrows this CPU's 32-bit stack.
/// Returns [status, CS after the return].
fn sysenter_from_compat(cpu: u64) -> (u64, u64) {
    let low = syslab_abi::layout::user32_stack_top(cpu) - 64;
    let (status, cs): (u64, u64);
    // SAFETY: the stack switch is undone before the block ends; R12 keeps
    // the 64-bit stack (R8-R15 survive 32-bit code), RBX and RBP are saved
    // by hand, and everything else the trip may change is declared.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "mov r12, rsp",
            "mov rsp, {low}",
            "lea rax, [rip + 3f]",
            "push rax",            // where SharedUserData's 64-bit `ret` goes
            "lea rax, [rip + 2f]",
            "push {cs32}",
            "push rax",
            "retfq",               // into 32-bit code: this code lies below 4 GiB
            ".code32",
            "2:",
            "mov edx, esp",        // XP's SystemCallStub, as 32-bit code runs it
            "mov eax, {null}",
            "sysenter",
            "ud2",
            ".code64",
            "3:",
            "mov ecx, cs",
            "mov rsp, r12",
            "pop rbp",
            "pop rbx",
            low = in(reg) low,
            cs32 = const 0x1B, // USER_CS32
            null = const NT_NULL,
            out("rax") status, out("rcx") cs, out("rdx") _, out("rsi") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _,
        )
    };
    (status & 0xFFFF_FFFF, cs & 0xFFFF)
}
// ANCHOR_END: sysenter_from_compat

/// NtTerminateThread(NtCurrentThread(), status) by a raw `sysenter` with TF
/// set: the thread single-steps into the kernel and ends inside the call.
fn single_step_terminate(status: u64) {
    // SAFETY: the thread ends in the kernel; the `ud2` says if it did not.
    unsafe {
        core::arch::asm!(
            "sub rsp, 32",
            "mov [rsp + 16], {thread}", // the arguments start 16 bytes above RDX
            "mov [rsp + 24], {status}",
            "mov eax, {terminate}",
            "mov rdx, rsp",
            "pushfq",
            "or qword ptr [rsp], 0x100",
            "popfq",
            "sysenter",
            "ud2",
            thread = in(reg) NT_CURRENT_THREAD,
            status = in(reg) status,
            terminate = const NT_TERMINATE_THREAD,
            options(noreturn),
        );
    }
}

/// Registers around a null call through `stub`, in the report order of
/// INT2E_PRESERVED (RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8..R15).
fn preserved(stub: ntdll::Stub, r: &mut [u64; 32]) {
    let mut out = [0u64; 15];
    // SAFETY: callee-saved registers are saved and restored around the call.
    unsafe {
        core::arch::asm!(
            "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
            "push rdi", // the output array
            "mov rax, rsi", // the stub
            "mov rbx, {p} + 1", "mov rcx, {p} + 2", "mov rdx, {p} + 3", "mov rsi, {p} + 4", "mov rdi, {p} + 5",
            "mov rbp, {p} + 6", "mov r8, {p} + 7", "mov r9, {p} + 8", "mov r10, {p} + 9",
            "mov r11, {p} + 10", "mov r12, {p} + 11", "mov r13, {p} + 12", "mov r14, {p} + 13",
            "mov r15, {p} + 14",
            "call rax",
            "xchg rdi, [rsp]",
            "mov [rdi], rax", "mov [rdi + 8], rbx", "mov [rdi + 16], rcx", "mov [rdi + 24], rdx",
            "mov [rdi + 32], rsi", "pop rax", "mov [rdi + 40], rax", "mov [rdi + 48], rbp",
            "mov [rdi + 56], r8", "mov [rdi + 64], r9", "mov [rdi + 72], r10", "mov [rdi + 80], r11",
            "mov [rdi + 88], r12", "mov [rdi + 96], r13", "mov [rdi + 104], r14", "mov [rdi + 112], r15",
            "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
            p = const PRESERVE_PATTERN,
            in("rdi") out.as_mut_ptr(),
            in("rsi") stub,
            out("rax") _, out("rcx") _, out("rdx") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    r[..15].copy_from_slice(&out);
}

/// NtTestCheckFrame(pattern, spins) with R12..R15 = pattern ^ 0..3; returns
/// the status and how many of R12..R15 came back changed.
fn check_frame(stub: ntdll::Stub, pattern: u64, spins: u64) -> (u64, u64) {
    let (status, r12, r13, r14, r15): (u64, u64, u64, u64, u64);
    // SAFETY: the arguments sit on the stack as the stubs expect.
    unsafe {
        core::arch::asm!(
            "sub rsp, 16",
            "mov [rsp], {pattern}",
            "mov [rsp + 8], {spins}",
            "call {stub}",
            "add rsp, 16",
            pattern = in(reg) pattern,
            spins = in(reg) spins,
            stub = in(reg) stub,
            inout("r12") pattern => r12,
            inout("r13") pattern ^ 1 => r13,
            inout("r14") pattern ^ 2 => r14,
            inout("r15") pattern ^ 3 => r15,
            out("rax") status, out("rcx") _, out("rdx") _, out("r11") _,
        );
    }
    let corrupted = [r12, r13, r14, r15]
        .iter()
        .enumerate()
        .filter(|&(k, &v)| v != pattern ^ k as u64)
        .count();
    (status, corrupted as u64)
}

/// Calls `stub` with one argument while `flags` are set in RFLAGS; returns
/// the status and RFLAGS right after the call (then clears the flags).
fn with_flags(flags: u64, stub: ntdll::Stub, arg: u64) -> (u64, u64) {
    let (status, after): (u64, u64);
    // SAFETY: the flags are cleared again before any compiled code runs.
    unsafe {
        core::arch::asm!(
            "sub rsp, 16",
            "mov [rsp], {arg}",
            "pushfq",
            "or [rsp], {flags}",
            "popfq",
            "call {stub}",
            "pushfq",
            "pop {after}",
            "push 0x202", // IF and the always-one bit: DF, AC, NT clear again
            "popfq",
            "add rsp, 16",
            arg = in(reg) arg,
            flags = in(reg) flags,
            stub = in(reg) stub,
            after = out(reg) after,
            out("rax") status, out("rcx") _, out("rdx") _, out("r11") _,
        );
    }
    (status, after)
}

/// Sets TF so that `sysenter` itself is single-stepped: the trap arrives in
/// ring 0 on KiFastCallEntry's first instruction. The kernel must survive
/// it and hand the trap back: the thread should die of #DB right after the
/// stub's `ret`, at the address written to word 0.
fn single_step_sysenter(r: &mut [u64; 32]) {
    // SAFETY: the thread is expected to die of the single-step trap.
    unsafe {
        core::arch::asm!(
            "lea rax, [rip + 2f]",
            "mov [{out}], rax",
            "call 3f",
            "2: jmp 4f",
            "3: mov eax, {null}",
            "mov rdx, rsp", // RSP is the same after the pushfq/popfq pair
            "pushfq",
            "or qword ptr [rsp], 0x100", // TF: the instruction after popfq is stepped
            "popfq",
            "sysenter",
            "4:",
            out = in(reg) &mut r[0],
            null = const NT_NULL,
            out("rax") _, out("rcx") _, out("rdx") _,
        );
    }
}
