//! The SYSCALL/SYSRET path, AMD's fast system call (AMD APM Vol. 2 §6.1.1,
//! Vol. 3 SYSCALL/SYSRET), and the one every 64-bit kernel uses today.
//!
//! SYSCALL saves RIP in RCX and RFLAGS in R11, clears the RFLAGS bits set in
//! SFMASK, and loads CS and SS from STAR[47:32] (CS) and STAR[47:32] + 8
//! (SS) with fixed ring-0 shapes. Unlike `int` and SYSENTER it switches no
//! stack: the entry runs on the user's RSP until it finds its own, which it
//! can only do through GS after `swapgs`. SYSRET returns with RIP = RCX,
//! RFLAGS = R11, CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8.
//!
//! From 64-bit code SYSCALL jumps to LSTAR (`KiSystemCall64`); from 32-bit
//! code in compatibility mode it jumps to CSTAR (`KiSystemCall32`), which
//! returns with the 32-bit `sysretl`: EIP = ECX, CS = STAR[63:48], SS =
//! STAR[63:48] + 8. Only AMD CPUs run SYSCALL in compatibility mode; Intel
//! CPUs raise #UD for it there (Intel SDM Vol. 2B, SYSCALL), so on Intel a
//! 32-bit program uses SYSENTER and CSTAR is never entered.
//!
//! The student writes the MSRs, both entry stubs and the sysret-safety
//! checks (Lab 3).
