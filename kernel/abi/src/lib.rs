//! What the kernel and the user program agree on, like NT's ntstatus.h and
//! the service numbers baked into ntdll's stubs. Both sides depend on this
//! crate, so the two can never disagree about a number.
#![no_std]

/// NTSTATUS values (the NT DDK's ntstatus.h), as the kernel returns them in RAX.
pub mod status {
    pub type NtStatus = u32;
    pub const STATUS_SUCCESS: NtStatus = 0x0000_0000;
    pub const STATUS_ACCESS_VIOLATION: NtStatus = 0xC000_0005;
    pub const STATUS_INVALID_HANDLE: NtStatus = 0xC000_0008;
    pub const STATUS_INVALID_PARAMETER: NtStatus = 0xC000_000D;
    pub const STATUS_INVALID_SYSTEM_SERVICE: NtStatus = 0xC000_001C;
    pub const STATUS_INSUFFICIENT_RESOURCES: NtStatus = 0xC000_009A;
    pub const STATUS_NOT_IMPLEMENTED: NtStatus = 0xC000_0002;

    /// NT_SUCCESS(): severity "success" or "informational".
    pub const fn nt_success(s: NtStatus) -> bool {
        (s as i32) >= 0
    }
}

/// System-service numbers: the index into KiServiceTable that each ntdll
/// stub loads into EAX. The argument counts live in the kernel's table.
pub mod service {
    /// NtNull(): does nothing, returns STATUS_SUCCESS. The benchmark's null call.
    pub const NT_NULL: u32 = 0;
    /// NtCreateMutant(OUT PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, BOOLEAN InitialOwner).
    pub const NT_CREATE_MUTANT: u32 = 1;
    /// NtClose(HANDLE).
    pub const NT_CLOSE: u32 = 2;
    /// NtGetCurrentProcessorNumber(): returns the CPU number in RAX.
    pub const NT_GET_CURRENT_PROCESSOR_NUMBER: u32 = 3;
    /// NtTerminateThread(HANDLE, NTSTATUS ExitStatus): ends the calling thread.
    pub const NT_TERMINATE_THREAD: u32 = 4;
    /// NtTestEcho(OUT PULONG64 Buffer, ULONG64 Count, a1..a6): copies the
    /// first Count (<= 6) of a1..a6 to Buffer. Eight arguments in all.
    pub const NT_TEST_ECHO: u32 = 5;
    /// NtTestStatus(NTSTATUS): returns its argument as the status.
    pub const NT_TEST_STATUS: u32 = 6;
    /// NtTestSetReturn(PVOID Rip, BOOLEAN AlsoRcx): sets the return RIP in the
    /// caller's trap frame, as NtContinue would (a frame the kernel changed);
    /// with AlsoRcx, RCX too, so that the frame looks as SYSCALL left it and
    /// only the address check can stop a SYSRET to it.
    pub const NT_TEST_SET_RETURN: u32 = 7;
    /// NtTestCheckFrame(ULONG64 Pattern, ULONG64 Spins): spins, then checks
    /// that R12..R15 in its trap frame still hold Pattern ^ 0..3 and that the
    /// frame lies on this CPU's own kernel stack. Detects a shared stack.
    pub const NT_TEST_CHECK_FRAME: u32 = 8;
    /// NtTestKernelFlags(OUT PULONG64 Flags[3]): RFLAGS as the service runs,
    /// the user RFLAGS saved in the frame, and the two XORed with
    /// `user_test::FLAGS_CHECK`, so that a copy that went wrong (DF set in
    /// the kernel makes `rep movsb` run backwards) cannot pass for a result.
    pub const NT_TEST_KERNEL_FLAGS: u32 = 9;
    /// NtTestKernelFault(): takes (and survives) a page fault in ring 0 in a
    /// user copy, then checks that GS is still the kernel's.
    pub const NT_TEST_KERNEL_FAULT: u32 = 10;
    /// NtTestCheckGs(): STATUS_SUCCESS if IA32_GS_BASE holds this CPU's
    /// per-CPU block while the service runs (the block found by CPUID, not
    /// through GS). Callable from ring 0 too, with `int 0x2e`.
    pub const NT_TEST_CHECK_GS: u32 = 11;
    /// NtTestScratch(): for a SYSCALL frame, STATUS_SUCCESS if this CPU's
    /// own scratch slot (`gs:[PERCPU_USER_RSP]`) holds the user RSP in the
    /// frame, i.e. the entry parked it per CPU and not in a shared global.
    pub const NT_TEST_SCRATCH: u32 = 12;
    /// How many services there are; the first invalid number.
    pub const COUNT: u32 = 13;

    // ANCHOR: numbers32
    /// The service numbers of the two 32-bit systems, indexed by syslab's
    /// own number above: what a 32-bit ntdll loads into EAX. The kernel
    /// keeps a table per system (kernel/src/syscall/table.rs), as Linux
    /// keeps `ia32_sys_call_table` beside its 64-bit one, and a 32-bit
    /// caller is looked up in the table of its thread's system. The 64-bit
    /// ntdll keeps syslab's compact numbers, as x64 Windows has numbers of
    /// its own.
    ///
    /// The three services NT had get that system's real numbers, so the
    /// article's `mov eax, 0x25` (Windows 2000) and `mov eax, 0x2b` (XP)
    /// are literally true here. syslab's own services (NtNull, the CPU
    /// number, the test services) take [`OWN_BASE`] + their syslab number
    /// on both: past the end of both systems' native tables, which never
    /// reached 0x200 entries.
    pub mod numbers32 {
        use super::*;

        /// Where syslab's own services start in both 32-bit numberings.
        pub const OWN_BASE: u32 = 0x200;
        /// One past the highest 32-bit number of either system.
        pub const LIMIT: u32 = OWN_BASE + COUNT;

        /// syslab's own numbering moved up to `OWN_BASE`, then NT's three.
        const fn system(
            close: u32,
            create_mutant: u32,
            terminate_thread: u32,
        ) -> [u32; COUNT as usize] {
            let mut n = [0; COUNT as usize];
            let mut i = 0;
            while i < COUNT as usize {
                n[i] = OWN_BASE + i as u32;
                i += 1;
            }
            n[NT_CLOSE as usize] = close;
            n[NT_CREATE_MUTANT as usize] = create_mutant;
            n[NT_TERMINATE_THREAD as usize] = terminate_thread;
            n
        }

        /// Windows 2000 (SP4): NtClose 0x18, NtCreateMutant 0x25, NtTerminateThread 0xE1.
        pub const WINDOWS_2000: [u32; COUNT as usize] = system(0x18, 0x25, 0xE1);
        /// Windows XP (SP0 to SP3): NtClose 0x19, NtCreateMutant 0x2B, NtTerminateThread 0x102.
        pub const WINDOWS_XP: [u32; COUNT as usize] = system(0x19, 0x2B, 0x102);
    }
    // ANCHOR_END: numbers32

    /// STATUS_UNSUCCESSFUL, which the test services return when a check fails.
    pub const STATUS_UNSUCCESSFUL: u32 = 0xC000_0001;

    /// NtCurrentThread(): the pseudo-handle of the calling thread.
    pub const NT_CURRENT_THREAD: u64 = u64::MAX - 1;
    /// MUTANT_ALL_ACCESS.
    pub const MUTANT_ALL_ACCESS: u64 = 0x001F_0001;
}

/// User address-space layout shared with the user program.
pub mod layout {
    /// Each CPU's 64-bit user thread gets its own stack, below this, 64 KiB
    /// apart.
    ///
    /// The stacks of 64-bit threads live above 4 GiB, where no 32-bit
    /// program can reach: a 64-bit caller's pointers there are exactly what
    /// a 32-bit caller can never pass, and the kernel's 4 GiB limit for
    /// 32-bit callers has real memory on both sides of it to be tested on.
    /// (The kernel does not guess a caller's mode from its stack: each
    /// thread's mode is fixed when it starts, kernel/src/mode.rs.)
    pub const USER_STACKS_TOP: u64 = FOUR_GIB + 0x7000_0000;
    /// The first address a 32-bit (compatibility-mode) program cannot reach.
    pub const FOUR_GIB: u64 = 1 << 32;
    // Even the lowest stack of the most CPUs the kernel starts (8).
    const _: () = assert!(user_stack_top(8) - USER_STACK_STRIDE > FOUR_GIB);

    /// Each CPU's 32-bit thread gets its own stack below this, as far apart
    /// as the 64-bit stacks: below 4 GiB, which is all a 32-bit program
    /// can address, and below SharedUserData.
    pub const USER32_STACKS_TOP: u64 = 0x7F00_0000;
    const _: () = assert!(USER32_STACKS_TOP <= SHARED_USER_DATA && USER32_STACKS_TOP < FOUR_GIB);
    const _: () = assert!(user32_stack_top(8) - USER_STACK_STRIDE > REPORTS_BASE + 0x10_0000);

    /// The top of CPU `cpu`'s 32-bit user stack.
    pub const fn user32_stack_top(cpu: u64) -> u64 {
        USER32_STACKS_TOP - cpu * USER_STACK_STRIDE
    }

    /// The two user pages on either side of 4 GiB, both mapped: a kernel
    /// that let a 32-bit caller's range run past 4 GiB would find memory
    /// there and succeed, so the 4 GiB limit for 32-bit callers can be seen
    /// to hold (the range starts in the page below, which 32-bit code can
    /// reach, and ends in the one above, which it cannot).
    pub const FOUR_GIB_EDGE: u64 = FOUR_GIB - 0x1000;
    /// How many bytes from `FOUR_GIB_EDGE` are mapped: the two pages.
    pub const FOUR_GIB_EDGE_SIZE: u64 = 0x2000;

    // ANCHOR: shared_user_data
    /// SharedUserData, at Windows XP's address in every address space.
    pub const SHARED_USER_DATA: u64 = 0x7FFE_0000;
    /// The 32-bit SystemCallStub, where XP had it: the article's
    /// `mov edx, esp; sysenter; ret` on Intel.
    pub const SYSTEM_CALL_STUB: u64 = SHARED_USER_DATA + 0x300;
    /// Where the 32-bit SYSENTER stub's `ret` is (XP's KiFastSystemCallRet,
    /// 0x7FFE0304): the 32-bit SYSEXIT returns there.
    pub const SYSTEM_CALL_RETURN: u64 = SYSTEM_CALL_STUB + 4;
    /// The 64-bit SystemCallStub, in the next 16 bytes of the page.
    pub const SYSTEM_CALL_STUB64: u64 = SHARED_USER_DATA + 0x310;
    /// Where the 64-bit SYSENTER stub's `ret` is: `sysexitq` returns there.
    pub const SYSTEM_CALL_RETURN64: u64 = SYSTEM_CALL_STUB64 + 5;
    // ANCHOR_END: shared_user_data
    /// Size of one user stack (a guard page separates neighbours).
    pub const USER_STACK_SIZE: u64 = 60 * 1024;
    pub const USER_STACK_STRIDE: u64 = 64 * 1024;
    /// Each CPU's report page, where a user test leaves its findings.
    pub const REPORTS_BASE: u64 = 0x6000_0000;

    /// The top of CPU `cpu`'s user stack.
    pub const fn user_stack_top(cpu: u64) -> u64 {
        USER_STACKS_TOP - cpu * USER_STACK_STRIDE
    }
    /// CPU `cpu`'s report page.
    pub const fn report_page(cpu: u64) -> u64 {
        REPORTS_BASE + cpu * 0x1000
    }
}

/// A user test's findings, at `layout::report_page(cpu)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// Words whose meaning each test defines.
    pub words: [u64; 32],
}

/// The user-mode halves of the tests. The kernel starts a user thread with
/// RDI = one of these, RSI = the CPU number, RDX = an argument.
pub mod user_test {
    /// Exit at once with `EXIT_OK`.
    pub const EXIT_OK: u64 = 1;
    /// Read the byte at the address in the argument.
    pub const READ: u64 = 2;
    /// Write a byte at the address in the argument.
    pub const WRITE: u64 = 3;
    /// Run privileged instruction number `arg` (see `PRIVILEGED`).
    pub const PRIVILEGED: u64 = 4;
    /// Jump to the address in the argument.
    pub const JUMP: u64 = 5;
    /// `int 0x2d`: a gate ring 3 may not use.
    pub const INT_2D: u64 = 6;
    /// Write RSP and a few registers to the report page, then exit.
    pub const WHOAMI: u64 = 7;
    /// Loop forever in ring 3, never entering the kernel.
    pub const SPIN: u64 = 20;
    /// `sgdt` and `sidt` in ring 3. Output [GDT base, IDT base, GDT limit,
    /// IDT limit]; with CR4.UMIP set they raise #GP instead.
    pub const DESCRIPTOR_TABLES: u64 = 21;
    /// Return the status words in the report for NtTestStatus(arg).
    pub const INT2E_STATUS: u64 = 10;
    /// Service number `arg` through `int 0x2e`; report the status.
    pub const INT2E_NUMBER: u64 = 12;
    /// Create mutants until the table is full; report the count and last status.
    pub const INT2E_FILL_TABLE: u64 = 16;
    /// NtTerminateThread(arg) through `int 0x2e`.
    pub const INT2E_TERMINATE: u64 = 17;

    /// In the preserved-registers tests, register k of the order RAX, RBX,
    /// RCX, RDX, RSI, RDI, RBP, R8..R15 holds `PRESERVE_PATTERN + k`
    /// (RAX and RDX excepted: they carry the call).
    pub const PRESERVE_PATTERN: u64 = 0x5EED_0000_0000_0000;

    /// The exit status of `syslab_landing` in the user program.
    pub const LANDED_STATUS: u64 = 0x1A4D;

    /// NtTestKernelFlags's check word: kernel ^ user ^ this.
    pub const FLAGS_CHECK: u64 = 0x5EED_F1A6_0000_C0DE;

    /// The status a user test exits with when all went well.
    pub const EXIT_OK_STATUS: u64 = 0x600D;

    /// The system-call paths of the path-generic tests below (their `arg`).
    pub const PATH_INT2E: u64 = 0;
    /// Through SharedUserData's SystemCallStub (sysenter, syscall or int 0x2e).
    pub const PATH_SHARED: u64 = 1;
    /// Direct `syscall` stubs.
    pub const PATH_SYSCALL: u64 = 2;

    /// Path-generic tests: `arg` is the path, inputs are in report words.
    /// Input [n]: n null calls. Output [calls, bad status, first bad index or MAX].
    pub const P_NULL: u64 = 0x40;
    /// NtTestEcho with 0..=6 arguments. Output as INT2E_ARGS.
    pub const P_ARGS: u64 = 0x41;
    /// Registers around a null call. Output as INT2E_PRESERVED.
    pub const P_PRESERVED: u64 = 0x42;
    /// Input [iterations, spins]: NtTestCheckFrame with a per-CPU pattern in
    /// R12..R15. Output [good calls, bad status, first bad index or MAX, corrupted registers].
    pub const P_CHECK_FRAME: u64 = 0x43;
    /// Input [rip, also_rcx]: NtTestSetReturn(rip, also_rcx); should not come back normally.
    pub const P_SET_RETURN: u64 = 0x44;
    /// Input [flags]: set these RFLAGS bits, null call. Output [status, RFLAGS after].
    pub const P_FLAGS: u64 = 0x45;
    /// Input [flags]: set these RFLAGS bits, NtTestKernelFlags. Output
    /// [status, kernel RFLAGS, saved user RFLAGS, check word].
    pub const P_KERNEL_FLAGS: u64 = 0x46;
    /// NtTestKernelFault. Output [status].
    pub const P_KERNEL_FAULT: u64 = 0x47;
    /// Input [address]: a null call, then a read of `address` (which faults).
    pub const P_FAULT_AFTER: u64 = 0x48;
    /// Input [n]: n CreateMutex/CloseHandle pairs. Output as INT2E_MUTEX_LOOP.
    pub const P_MUTEX_LOOP: u64 = 0x49;
    /// NtGetCurrentProcessorNumber. Output [cpu].
    pub const P_WHICH_CPU: u64 = 0x4A;
    /// Input [rdx, rcx]: a raw `sysenter` (EAX = NtNull) with these in RDX and RCX.
    pub const RAW_SYSENTER: u64 = 0x50;
    /// Single-step into `sysenter`. Output [the address the trap should report].
    pub const SINGLE_STEP_SYSENTER: u64 = 0x51;
    /// A 64-bit thread far-returns into the 32-bit user code segment and
    /// runs `syscall` there, then `ud2`: #UD on Intel, CSTAR's entry and
    /// back to the `ud2` on AMD. Should not come back.
    pub const COMPAT_SYSCALL: u64 = 0x52;
    /// Input [count, handles...] in words 0..: NtClose each through the
    /// path. Output: the statuses in words 1..
    pub const P_CLOSE_LIST: u64 = 0x53;
    /// Input [pointer]: the path's entry instruction with EAX = NtTestEcho
    /// and RDX = pointer, as the argument pointer. Output [status].
    pub const P_ARG_POINTER: u64 = 0x54;
    /// Input [pointer]: NtCreateMutant(pointer, ...) through the path's
    /// stub, as the handle's out pointer. Output [status].
    pub const P_OUT_POINTER: u64 = 0x55;
    /// Input [rsp]: the path's entry instruction (NtNull) with RSP = rsp,
    /// then RSP back. Output [status] if the thread comes back.
    pub const P_BAD_STACK: u64 = 0x56;
    /// TF set right before the path's entry instruction (NtNull). Output
    /// [status, the address the single-step trap should report]; the
    /// thread should die of that trap, one instruction after the return.
    pub const P_SINGLE_STEP: u64 = 0x57;
    /// Input [ds, es, fs, gs]: load these data selectors, NtNull through the
    /// path's stub, read them back. Output [status, ds, es, fs, gs].
    pub const P_SELECTORS: u64 = 0x58;
    /// A stale handle: create h1, close it, create h2 (the same slot),
    /// close h1 again, close h2 twice. Output [close h1, stale close h1,
    /// close h2, double close h2, h1, h2, create h1 status, create h2 status].
    pub const P_STALE_HANDLE: u64 = 0x59;
    /// TF set right before a raw `sysenter` of NtTerminateThread(
    /// NtCurrentThread(), `arg` of word 0): the thread ends inside the call.
    pub const SINGLE_STEP_TERMINATE: u64 = 0x5A;
    /// A 64-bit thread far-returns into the 32-bit user code segment and
    /// runs XP's stub there (`mov edx, esp; sysenter`) with a 64-bit return
    /// address on its stack. Output [status, CS after the return].
    pub const COMPAT_SYSENTER: u64 = 0x5B;
    /// NtTestScratch through the path. Output [status].
    pub const P_SCRATCH: u64 = 0x5C;
    /// Input [n, paths]: n rounds of NtTestCheckGs through each path whose
    /// bit (1 << PATH_*) is set in `paths`. Output as P_NULL, counting calls.
    pub const P_GS_LOOP: u64 = 0x5D;

    // ANCHOR: compat_tests
    /// The user halves of the 32-bit tests, which a 32-bit thread runs
    /// (started in compatibility mode, kernel/user/src/compat.rs). `arg`
    /// is the path: `PATH_INT2E` calls Windows 2000's ntdll (`int 0x2e`
    /// itself), `PATH_SHARED` XP's (through SharedUserData's 32-bit stub).
    /// Output [CS, ESP, SS, DS] as the thread started.
    pub const C_WHOAMI: u64 = 0x80;
    /// Input [n]: n null calls. Output as P_NULL.
    pub const C_NULL: u64 = 0x81;
    /// NtTestEcho with 0..=6 four-byte arguments. Output as P_ARGS.
    pub const C_ARGS: u64 = 0x82;
    /// Registers around a null call, each set to `C_PATTERN + k` first.
    /// Output [status, EBX, ECX, EDX, ESI, EDI, EBP, ESP change].
    pub const C_PRESERVED: u64 = 0x83;
    /// Input [flags]: NtTestKernelFlags with these RFLAGS bits set. Output
    /// as P_KERNEL_FLAGS.
    pub const C_KERNEL_FLAGS: u64 = 0x84;
    /// Input [flags]: a null call with these RFLAGS bits set. Output as P_FLAGS.
    pub const C_FLAGS: u64 = 0x85;
    /// Input [n]: n CreateMutex/CloseHandle pairs through the 32-bit
    /// kernel32. Output [creates, closes, failed creates].
    pub const C_MUTEX_LOOP: u64 = 0x86;
    /// Input [eip, flags]: NtTestSetReturn(eip, flags); should not come back.
    pub const C_SET_RETURN: u64 = 0x87;
    /// Input [edx]: the path's entry instruction with EAX = NtTestEcho and
    /// EDX = the argument pointer (`int 0x2e`), or ESP at the stub
    /// (SharedUserData). Output [status].
    pub const C_ARG_POINTER: u64 = 0x88;
    /// Input [pointer]: NtCreateMutant(pointer, ...). Output [status, the
    /// four bytes there, the four bytes after them].
    pub const C_OUT_POINTER: u64 = 0x89;
    /// TF set right before the path's entry instruction (NtNull). Output
    /// as P_SINGLE_STEP.
    pub const C_SINGLE_STEP: u64 = 0x8A;
    /// Far jump to the 64-bit user code selector, then call SharedUserData's
    /// 32-bit stub (NtNull) from 64-bit mode. Output [status, CS after the
    /// return].
    pub const C_FROM_LONG_MODE: u64 = 0x8B;
    /// `int 0x2e` from compatibility mode with RDX = `junk << 32 | pointer`
    /// left over from 64-bit mode: NtTestEcho must use EDX only. Input
    /// [junk]. Output [status, words 0 and 1 echoed back].
    pub const C_STALE_UPPER: u64 = 0x8C;
    /// Input [number]: a raw `int 0x2e` from compatibility mode with EAX =
    /// number and a NtCreateMutant-shaped argument list. Output [status, handle].
    pub const C_NUMBER: u64 = 0x8D;
    /// Input [iterations, spins]: as P_CHECK_FRAME, with the pattern in EBX,
    /// ESI, EDI and EBP. Output as P_CHECK_FRAME.
    pub const C_CHECK_FRAME: u64 = 0x8E;
    /// The value the 32-bit preserved-registers test loads into register k.
    pub const C_PATTERN: u64 = 0x5EED_0000;
    // ANCHOR_END: compat_tests

    /// Benchmark: input [kind, n]; time n operations of `kind` (BENCH_*) on
    /// the path in `arg` (or BENCH_PATH_CALL). Output [TSC ticks, failures].
    pub const BENCH: u64 = 0x60;
    /// The entry instruction and its return, to a kernel stub that returns at once.
    pub const BENCH_BARE: u64 = 0;
    /// NtNull through the path's stubs.
    pub const BENCH_NULL: u64 = 1;
    /// CreateMutex(NULL, FALSE, NULL) + CloseHandle through the path's stubs.
    pub const BENCH_CREATE_CLOSE: u64 = 2;
    /// `lab=anatomy`: warm the path up, call `syslab_anatomy_begin`, then
    /// make one NtNull, one CreateMutex and one CloseHandle call for the
    /// grader to single-step.
    pub const BENCH_ANATOMY: u64 = 3;
    /// The path of the `call` floor: a plain call/ret in ring 3.
    pub const BENCH_PATH_CALL: u64 = 9;
    /// The path that runs `sysenter` (through SharedUserData on an Intel boot).
    pub const BENCH_PATH_SYSENTER: u64 = 10;

    /// The boot self-test's probes: `int 0x81`, `syscall`, `sysenter`.
    pub const PROBE_INT: u64 = 0x100;
    pub const PROBE_SYSCALL: u64 = 0x101;
    pub const PROBE_SYSENTER: u64 = 0x102;

    /// Register names in the order of the preserved-registers report.
    pub const REGISTER_NAMES: [&str; 15] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15",
    ];

    /// The privileged instructions tried by `PRIVILEGED`.
    pub const PRIVILEGED_NAMES: [&str; 5] =
        ["hlt", "cli", "mov cr3", "wrmsr", "in from port 0x3f8"];
}

/// The system-call fuzzer's generator and model, shared by the user
/// program, the kernel and the grader.
pub mod fuzz;
