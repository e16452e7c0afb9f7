//! How a 32-bit thread runs: its entry in compatibility mode, the far
//! jumps between 32-bit and 64-bit code, and the 32-bit routines that make
//! its system calls.
//!
//! The kernel starts a 32-bit thread at [`syslab_start32`] with CS = 0x1B
//! (32-bit code), SS = DS = ES = 0x23 and a stack below 4 GiB. What the
//! tests check and report is written in Rust, which only compiles to
//! 64-bit code; so, as Windows' WoW64 does in the other direction, the
//! thread far-jumps to the 64-bit user selector (0x2B) to run it, and
//! every system call goes back to 32-bit code through [`call32`]: a far
//! return into compatibility mode, a 32-bit routine, a far return back.
//! Every call into the kernel, and every loop that the tests and the
//! benchmark time, therefore runs in 32-bit code through the exact 32-bit
//! stubs of ntdll32.rs; only the bookkeeping between calls is 64-bit.
//!
//! The 32-bit routines take a [`Job32`] in ESI and leave their results in
//! it. All of it, like the stack, lies below 4 GiB.
//!
//! (Intel SDM Vol. 1 §3.2.1: compatibility mode runs 32-bit code under a
//! 64-bit kernel when CS.L = 0 and CS.D = 1; R8-R15 survive a trip through
//! it, the upper halves of the other registers are undefined afterwards,
//! which is why every register but RSP and R8-R15 is declared clobbered.)

use syslab_abi::user_test::*;

/// The 32-bit user code selector (GDT 0x18, RPL 3) and the 64-bit one.
pub const USER_CS32: u64 = 0x1B;
pub const USER_CS64: u64 = 0x2B;

/// What a 32-bit routine works on: the stub to call and its inputs, and
/// its outputs. 4-byte fields, as 32-bit code reads them.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Job32 {
    /// +0: the function to call (a stub, or kernel32's CreateMutex).
    pub stub: u32,
    /// +4: the argument count, or the iterations.
    pub n: u32,
    /// +8: the arguments, or the routine's other inputs.
    pub args: [u32; 8],
    /// +40: RFLAGS bits to set around the call.
    pub flags: u32,
    /// +44: the results.
    pub out: [u32; 8],
}

const _: () = assert!(core::mem::offset_of!(Job32, flags) == 40);
const _: () = assert!(core::mem::offset_of!(Job32, out) == 44);

// The thread's start and end, and the thunk that calls 32-bit routines.
core::arch::global_asm!(
    ".pushsection .text.code32, \"ax\"",
    ".code32",
    // ANCHOR: start32
    ".global syslab_start32",
    ".type syslab_start32, @function",
    "syslab_start32:",
    // EDI = test, ESI = CPU, EDX = argument, as for a 64-bit thread. Keep
    // the selectors and stack the kernel started the thread with (C_WHOAMI).
    "sub esp, 16",
    "mov eax, cs",
    "mov [esp], eax",
    "mov eax, ss",
    "mov [esp + 4], eax",
    "mov eax, ds",
    "mov [esp + 8], eax",
    "lea eax, [esp + 16]",
    "mov [esp + 12], eax",
    "mov ecx, esp",
    // Far return to the 64-bit user code: [esp] = EIP, [esp + 4] = CS.
    "push {cs64}",
    "mov eax, offset wow32.enter64",
    "push eax",
    "retf",
    ".size syslab_start32, . - syslab_start32",
    // The end: back in 32-bit code, the exit trap (`int3`) with the status
    // in EAX. The kernel knows that `int3` by its address, in either mode.
    "wow32.exit32:",
    "jmp syslab_exit_trap",
    // ANCHOR_END: start32
    // ANCHOR: thunk
    // The 32-bit half of call32: EBX = the routine. [esp] holds the 64-bit
    // return address, whose upper half (0: the code lies below 4 GiB) is
    // overwritten with the 64-bit selector for the far return.
    ".global wow32.thunk",
    "wow32.thunk:",
    "call ebx",
    "mov dword ptr [esp + 4], {cs64}",
    "retf",
    // ANCHOR_END: thunk
    ".code64",
    "wow32.enter64:",
    // 64-bit code now: widen what the 32-bit code left in the registers.
    "mov esp, esp",
    "mov edi, edi",
    "mov esi, esi",
    "mov edx, edx",
    "mov ecx, ecx",
    "and rsp, -16",
    "call {main}",
    // The status in RAX; end the thread in 32-bit code.
    "push {cs32}",
    "lea rcx, [rip + wow32.exit32]",
    "push rcx",
    "retfq",
    ".popsection",
    cs32 = const USER_CS32,
    cs64 = const USER_CS64,
    main = sym crate::compat::main,
);

// ANCHOR: call32
/// Runs the 32-bit routine at `routine` in compatibility mode, with ESI =
/// `job`, EAX = `eax` and RDX = `rdx` (all of it, upper half included: a
/// test can leave a 64-bit value there on purpose). Returns EAX.
pub fn call32(routine: u32, job: &mut Job32, eax: u32, rdx: u64) -> u32 {
    let out: u64;
    // SAFETY: the routines and the stubs they call return through the
    // thunk with the stack as it was; every register they may change is
    // declared, RBX and RBP are saved by hand (the compiler reserves them).
    unsafe {
        core::arch::asm!(
            "push rbx",
            "push rbp",
            "mov ebx, {routine:e}",
            "lea rcx, [rip + 2f]",
            "push rcx",                  // the thunk's return into 64-bit code
            "push {cs32}",               // retfq: [rsp] = RIP, [rsp + 8] = CS
            "lea rcx, [rip + wow32.thunk]",
            "push rcx",
            "retfq",
            "2:",
            "mov esp, esp",              // the upper half of RSP is undefined after 32-bit code
            "pop rbp",
            "pop rbx",
            routine = in(reg) routine,
            cs32 = const USER_CS32,
            inout("rax") eax as u64 => out,
            inout("rdx") rdx => _,
            inout("rsi") job as *mut Job32 as u64 => _,
            out("rcx") _, out("rdi") _,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    out as u32
}
// ANCHOR_END: call32

/// The address of a 32-bit routine.
macro_rules! routine32 {
    ($name:literal) => {{
        unsafe extern "C" {
            #[link_name = $name]
            static ROUTINE: u8;
        }
        &raw const ROUTINE as u64 as u32
    }};
}

/// `stub(args[0..n])` with `flags` set in EFLAGS around the call.
/// out[0] = EAX, out[1] = EFLAGS right after it.
pub fn call_stub() -> u32 {
    routine32!("wow32.call_stub")
}
/// n null calls through `stub`. out = [calls, first bad status, first bad index or !0].
pub fn null_loop() -> u32 {
    routine32!("wow32.null_loop")
}
/// n CreateMutex (`stub`) + CloseHandle (args[0]) pairs. out = [creates, closes, failed creates].
pub fn mutex_loop() -> u32 {
    routine32!("wow32.mutex_loop")
}
/// A null call through `stub` with each register set to C_PATTERN + k.
/// out = [EAX, EBX, ECX, EDX, ESI, EDI, EBP after, ESP before - after].
pub fn preserved() -> u32 {
    routine32!("wow32.preserved")
}
/// `int 0x2e` with the caller's EAX and EDX; returns EAX.
pub fn int2e_raw() -> u32 {
    routine32!("wow32.int2e_raw")
}
/// The benchmark's loop (bench.rs): args[1] = kind, n operations;
/// out[0..2] = TSC before, out[2..4] = after, out[4] = failures.
pub fn bench() -> u32 {
    routine32!("wow32.bench")
}
/// NtNull by the given entry instruction with TF set right before it, and
/// where the single-step trap should land: one instruction after the
/// return (for SYSENTER, after SharedUserData's `ret`). out[0] = the
/// status, if the call came back through `int 0x2e` or SYSCALL.
pub fn single_step(entry: Entry32) -> (u32, u32) {
    match entry {
        Entry32::Int2e => (
            routine32!("wow32.single_step_int2e"),
            routine32!("wow32.single_step_int2e.trap"),
        ),
        Entry32::Sysenter => (
            routine32!("wow32.single_step_sysenter"),
            routine32!("wow32.single_step_sysenter.trap"),
        ),
        Entry32::Syscall => (
            routine32!("wow32.single_step_syscall"),
            routine32!("wow32.single_step_syscall.trap"),
        ),
    }
}

/// The instruction a 32-bit path enters the kernel with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Entry32 {
    Int2e,
    Sysenter,
    Syscall,
}

impl Entry32 {
    /// What SharedUserData's 32-bit stub executes, by its bytes.
    pub fn of_shared_user_data() -> Entry32 {
        // SAFETY: SharedUserData is mapped readable in every thread.
        let stub = unsafe {
            core::ptr::read_volatile(syslab_abi::layout::SYSTEM_CALL_STUB as *const [u8; 4])
        };
        match stub {
            [0x8B, 0xD4, 0x0F, 0x34] => Entry32::Sysenter,
            [0x8B, 0xD4, 0x0F, 0x05] => Entry32::Syscall,
            _ => Entry32::Int2e,
        }
    }

    /// The entry of a 32-bit thread's path.
    pub fn of_path(path: u64) -> Entry32 {
        match path {
            PATH_INT2E => Entry32::Int2e,
            _ => Entry32::of_shared_user_data(),
        }
    }
}

// ANCHOR: routines
// The 32-bit routines. ESI = the Job32; each may change every register but
// ESP and ESI, and returns with EFLAGS as it found them (DF clear).
core::arch::global_asm!(
    ".pushsection .text.code32, \"ax\"",
    ".code32",
    ".global wow32.call_stub",
    "wow32.call_stub:",
    "mov ecx, [esi + 4]",
    "2:",
    "test ecx, ecx",
    "jz 3f",
    "push dword ptr [esi + 4 + ecx*4]", // args[ecx - 1]: right to left, as stdcall pushes
    "dec ecx",
    "jmp 2b",
    "3:",
    "pushfd",
    "mov eax, [esi + 40]",
    "or [esp], eax",
    "popfd",
    "call dword ptr [esi]",             // the stub pops its arguments (ret 4*n)
    "pushfd",
    "pop dword ptr [esi + 48]",
    "push 0x202",                       // IF and the always-one bit: DF, AC, NT clear again
    "popfd",
    "mov [esi + 44], eax",
    "ret",
    //
    ".global wow32.null_loop",
    "wow32.null_loop:",
    "mov dword ptr [esi + 52], -1",
    "xor edi, edi",
    "2:",
    "cmp edi, [esi + 4]",
    "jae 4f",
    "call dword ptr [esi]",
    "test eax, eax",
    "jz 3f",
    "cmp dword ptr [esi + 52], -1",
    "jne 3f",
    "mov [esi + 48], eax",
    "mov [esi + 52], edi",
    "3:",
    "inc edi",
    "mov [esi + 44], edi",
    "jmp 2b",
    "4:",
    "ret",
    //
    ".global wow32.mutex_loop",
    "wow32.mutex_loop:",
    "mov edi, [esi + 4]",
    "2:",
    "test edi, edi",
    "jz 5f",
    "push 0",                           // lpName
    "push 0",                           // bInitialOwner
    "push 0",                           // lpMutexAttributes
    "call dword ptr [esi]",             // CreateMutex
    "test eax, eax",
    "jz 3f",
    "inc dword ptr [esi + 44]",
    "push eax",
    "call dword ptr [esi + 8]",         // CloseHandle
    "test eax, eax",
    "jz 4f",
    "inc dword ptr [esi + 48]",
    "jmp 4f",
    "3:",
    "inc dword ptr [esi + 52]",
    "4:",
    "dec edi",
    "jmp 2b",
    "5:",
    "ret",
    //
    ".global wow32.preserved",
    "wow32.preserved:",
    "push ebp",
    "push esi",
    "mov eax, [esi]",
    "mov [esi + 72], esp",
    "mov ebx, {p} + 1",
    "mov ecx, {p} + 2",
    "mov edx, {p} + 3",
    "mov esi, {p} + 4",
    "mov edi, {p} + 5",
    "mov ebp, {p} + 6",
    "call eax",
    "xchg esi, [esp]",                  // ESI = the job again; [esp] = ESI after the call
    "mov [esi + 44], eax",
    "mov eax, [esi + 72]",
    "sub eax, esp",
    "mov [esi + 72], eax",              // 0 when ESP came back as it was
    "mov [esi + 48], ebx",
    "mov [esi + 52], ecx",
    "mov [esi + 56], edx",
    "pop eax",
    "mov [esi + 60], eax",
    "mov [esi + 64], edi",
    "mov [esi + 68], ebp",
    "pop ebp",
    "ret",
    //
    ".global wow32.int2e_raw",
    "wow32.int2e_raw:",
    "int 0x2e",
    "ret",
    //
    ".global wow32.single_step_int2e",
    "wow32.single_step_int2e:",
    "mov eax, {null}",
    "pushfd",
    "or dword ptr [esp], 0x100",        // TF: the instruction after popfd is stepped
    "popfd",
    "int 0x2e",
    "mov [esi + 44], eax",              // the first instruction after the return...
    ".global wow32.single_step_int2e.trap",
    "wow32.single_step_int2e.trap:",
    "jmp wow32.single_step_int2e.trap", // ...and the trap lands before this one
    //
    ".global wow32.single_step_syscall",
    "wow32.single_step_syscall:",
    "mov eax, {null}",
    "pushfd",
    "or dword ptr [esp], 0x100",
    "popfd",
    "syscall",
    "mov [esi + 44], eax",
    ".global wow32.single_step_syscall.trap",
    "wow32.single_step_syscall.trap:",
    "jmp wow32.single_step_syscall.trap",
    //
    ".global wow32.single_step_sysenter",
    "wow32.single_step_sysenter:",
    "call 3f",                          // SharedUserData's `ret` comes back here...
    ".global wow32.single_step_sysenter.trap",
    "wow32.single_step_sysenter.trap:",
    "jmp 4f",                           // ...and the trap lands here, after that `ret`
    "3:",
    "mov eax, {null}",
    "mov edx, esp",                     // as XP's stub: the kernel returns on this stack
    "pushfd",
    "or dword ptr [esp], 0x100",
    "popfd",
    "sysenter",
    "4:",
    "ret",
    ".code64",
    ".popsection",
    p = const C_PATTERN,
    null = const crate::ntdll32::NULL32,
);
// ANCHOR_END: routines

// ANCHOR: bench32
// The benchmark's 32-bit loop: rdtsc, n operations of one kind, rdtsc.
// ESI = the job: stub, args[0] = CloseHandle, args[1] = kind, args[2] =
// the entry instruction of `bare` (0 int 0x2e, 1 sysenter, 2 syscall).
// EDI counts down: the kernel keeps it, SYSEXIT and SYSRET do not touch it.
core::arch::global_asm!(
    ".pushsection .text.code32, \"ax\"",
    ".code32",
    ".global wow32.bench",
    "wow32.bench:",
    "rdtsc",
    "mov [esi + 44], eax",
    "mov [esi + 48], edx",
    "mov edi, [esi + 4]",
    "test edi, edi",
    "jz 90f",
    "mov eax, [esi + 12]",
    "cmp eax, {null}",
    "je 20f",
    "cmp eax, {create_close}",
    "je 30f",
    "cmp eax, {floor}",
    "je 40f",
    "mov eax, [esi + 16]",
    "cmp eax, 1",
    "je 60f",
    "cmp eax, 2",
    "je 70f",
    "50:",                              // bare int 0x2e: the kernel's stub is iretq
    "int 0x2e",
    "dec edi",
    "jnz 50b",
    "jmp 90f",
    "60:",                              // bare sysenter: the kernel's stub is sti; sysexit
    "mov ecx, esp",
    "mov edx, offset wow32.bench.sysexit_here",
    "sysenter",
    "wow32.bench.sysexit_here:",
    "dec edi",
    "jnz 60b",
    "jmp 90f",
    "70:",                              // bare syscall: the kernel's stub is sysretl
    "syscall",
    "dec edi",
    "jnz 70b",
    "jmp 90f",
    "20:",                              // NtNull through the stub
    "call dword ptr [esi]",
    "test eax, eax",
    "jz 21f",
    "inc dword ptr [esi + 60]",
    "21:",
    "dec edi",
    "jnz 20b",
    "jmp 90f",
    "30:",                              // the article's loop: CreateMutex(NULL, FALSE, NULL), CloseHandle
    "push 0",
    "push 0",
    "push 0",
    "call dword ptr [esi]",
    "test eax, eax",
    "jz 31f",
    "push eax",
    "call dword ptr [esi + 8]",
    "test eax, eax",
    "jnz 32f",
    "31:",
    "inc dword ptr [esi + 60]",
    "32:",
    "dec edi",
    "jnz 30b",
    "jmp 90f",
    "40:",                              // the floor: call/ret in 32-bit code
    "call 49f",
    "dec edi",
    "jnz 40b",
    "jmp 90f",
    "49:",
    "ret",
    "90:",
    "rdtsc",
    "mov [esi + 52], eax",
    "mov [esi + 56], edx",
    "ret",
    ".code64",
    ".popsection",
    null = const BENCH_NULL,
    create_close = const BENCH_CREATE_CLOSE,
    floor = const BENCH_PATH_CALL,
);
// ANCHOR_END: bench32
