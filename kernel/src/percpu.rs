//! Per-CPU data, found through the GS base.
//!
//! Each CPU owns one [`PerCpu`] block, padded to its own cache lines with
//! `CachePadded`. While the CPU runs kernel code, IA32_GS_BASE points at the
//! block; while it runs user code, `swapgs` has parked that pointer in
//! IA32_KERNEL_GS_BASE and GS holds the user's value. Every entry from ring 3
//! therefore starts with `swapgs`, and every return to ring 3 ends with one.
//!
//! Fields read by assembly have fixed offsets, exported as constants derived
//! with `offset_of!` so that no stub counts bytes by hand.

use crate::gdt::{Gdt, Tss};
use crate::mode::{SysenterFrame, ThreadMode, UserMode};
use crate::msr;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

/// Most CPUs the kernel will start (QEMU `-smp 1` to `-smp 8`).
pub const MAX_CPUS: usize = 8;

/// A stack's bounds: `bottom..top`, growing down from `top`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    pub bottom: u64,
    pub top: u64,
}

impl Stack {
    pub fn contains(&self, addr: u64) -> bool {
        (self.bottom..=self.top).contains(&addr)
    }
}

/// A CPU's stacks, each above an unmapped guard page: the idle and kernel
/// stacks, and one IST stack for each paranoid vector (`idt::PARANOID`).
#[derive(Clone, Copy, Debug)]
pub struct Stacks {
    pub idle: Stack,
    pub kernel: Stack,
    pub ist: [Stack; IST_STACKS],
}

/// How many IST stacks each CPU has: one per paranoid vector.
pub const IST_STACKS: usize = 4;

/// Bytes reserved at the top of each IST stack for the address of the CPU's
/// block: TSS.IST points just below them, so the paranoid entry finds its
/// CPU without trusting GS (paranoid.rs), at a fixed distance above the
/// frame the CPU pushes there.
pub const IST_TOP_RESERVED: u64 = 16;

/// The slots of `Counters::exits`: one per `SystemCallExit`, and slot 0.
pub const EXIT_SLOTS: usize = 6;

/// Counters, readable from any CPU. The exit counters record which return
/// instruction each system call took, which is how the tests tell a safe
/// fallback from a lucky return (FACTS.md: QEMU does not fault where
/// Intel CPUs do).
#[derive(Default)]
pub struct Counters {
    /// Returns to ring 3 by exit, indexed by `student::SystemCallExit as
    /// usize` (1 iretq, 2 sysexitq, 3 sysretq, 4 the 32-bit sysexit, 5
    /// sysretl; slot 0 is unused): an index, so that counting takes no branch.
    pub exits: [AtomicU64; EXIT_SLOTS],
    pub user_faults: AtomicU64,
    /// NMIs taken, whatever they interrupted (paranoid.rs).
    pub nmis: AtomicU64,
    /// Paranoid entries (NMI, #DB, #MC, #DF) that found the user's GS while
    /// the CPU was in ring 0: an entry or exit stub's window between its
    /// `swapgs` and the ring change. A CS-based swapgs would get these wrong.
    pub paranoid_user_gs_in_ring0: AtomicU64,
}

// ANCHOR: percpu
/// One CPU's private data. The first fields are read by entry stubs.
#[repr(C)]
pub struct PerCpu {
    /// `gs:[0]`: the block's own address, so `mov rax, gs:[0]` yields a pointer.
    pub self_ptr: *const PerCpu,
    /// `gs:[8]`: the top of this CPU's kernel stack. TSS.RSP0 and
    /// IA32_SYSENTER_ESP hold the same value; KiSystemCall64 loads it.
    pub kernel_stack_top: u64,
    /// `gs:[16]`: where KiSystemCall64 parks the user RSP while it switches stacks.
    pub user_rsp_scratch: UnsafeCell<u64>,
    /// `gs:[24]`..: the mode of the user thread on this CPU, and the parts of
    /// its SYSENTER frame that the CPU does not save (mode.rs). Written by
    /// `thread::run_user` before the thread starts; read by KiFastCallEntry.
    pub thread_mode: UnsafeCell<ThreadMode>,
    /// This CPU's number, 0 for the boot CPU.
    pub cpu: u32,
    /// Its local APIC id (from the MADT).
    pub apic_id: u32,
    /// `STARTING`, `CLAIMED`, `ONLINE` or `ABANDONED`: the boot CPU and a
    /// late AP agree by one compare-and-swap on whether it may join (smp.rs).
    pub state: AtomicU8,
    /// The stack the CPU boots on and runs the test runner on.
    pub idle_stack: Stack,
    /// The stack of the user thread's kernel side (top = `kernel_stack_top`).
    pub kernel_stack: Stack,
    /// The IST stacks of #DF, NMI, #DB and #MC, in the order of
    /// `idt::IST_DOUBLE_FAULT`.. (slot n - 1 is ISTn). An NMI can arrive
    /// anywhere, even on KiSystemCall64's first instruction, which runs on
    /// the user's RSP; a single-step #DB arrives on KiFastCallEntry's first.
    pub ist_stacks: [Stack; IST_STACKS],
    /// The runner's stack pointer while a user thread runs (see thread/mod.rs).
    pub runner_rsp: UnsafeCell<u64>,
    /// The user thread running on this CPU, if any (see thread/mod.rs).
    pub thread: UnsafeCell<Option<crate::thread::record::Thread>>,
    /// The test this CPU is running, for fault reports.
    pub current_test: AtomicPtr<&'static str>,
    pub counters: Counters,
    /// Work posted by the boot CPU (see smp.rs).
    pub mailbox: AtomicPtr<Job>,
    /// The last SYSENTER or SYSCALL frame that KiSystemServiceExit sent
    /// back through iretq, for the tests' messages: which rule refused it.
    pub last_fallback: UnsafeCell<crate::frame::KTrapFrame>,
    pub gdt: Gdt,
    pub tss: Tss,
}
// ANCHOR_END: percpu

/// `PerCpu::state`: made, not yet running kernel code.
pub const STARTING: u8 = 0;
/// `PerCpu::state`: the AP arrived in time and is installing itself.
pub const CLAIMED: u8 = 1;
/// `PerCpu::state`: running; takes part in tests.
pub const ONLINE: u8 = 2;
/// `PerCpu::state`: the boot CPU gave up waiting; if the AP shows up
/// after all, it parks itself.
pub const ABANDONED: u8 = 3;

/// Offsets of the fields that assembly reads through GS.
pub const PERCPU_SELF: usize = core::mem::offset_of!(PerCpu, self_ptr);
pub const PERCPU_KERNEL_STACK: usize = core::mem::offset_of!(PerCpu, kernel_stack_top);
pub const PERCPU_USER_RSP: usize = core::mem::offset_of!(PerCpu, user_rsp_scratch);
const _: () = assert!(PERCPU_SELF == 0 && PERCPU_KERNEL_STACK == 8 && PERCPU_USER_RSP == 16);
// ANCHOR: sysenter_offsets
/// What KiFastCallEntry pushes for the thread on this CPU: `gs:[PERCPU_SYSENTER_SS]`
/// is its `KTrapFrame::ss`, and so on (mode.rs, `SysenterFrame`).
pub const PERCPU_SYSENTER_SS: usize =
    core::mem::offset_of!(PerCpu, thread_mode) + core::mem::offset_of!(SysenterFrame, ss);
pub const PERCPU_SYSENTER_CS: usize =
    core::mem::offset_of!(PerCpu, thread_mode) + core::mem::offset_of!(SysenterFrame, cs);
pub const PERCPU_SYSENTER_RIP: usize =
    core::mem::offset_of!(PerCpu, thread_mode) + core::mem::offset_of!(SysenterFrame, rip);
/// What to add to RDX for the arguments: 16 for a 64-bit thread, 8 for a 32-bit one.
pub const PERCPU_SYSENTER_ARGS: usize =
    core::mem::offset_of!(PerCpu, thread_mode) + core::mem::offset_of!(SysenterFrame, args);
// ANCHOR_END: sysenter_offsets
const _: () = assert!(core::mem::offset_of!(ThreadMode, sysenter) == 0);
const _: () = assert!(PERCPU_SYSENTER_SS == 24 && PERCPU_SYSENTER_ARGS == 48);

// SAFETY: the UnsafeCell fields are touched only by the owning CPU.
unsafe impl Sync for PerCpu {}
unsafe impl Send for PerCpu {}

/// Work posted to CPUs' mailboxes by `smp::run_on_all`: a closure, and a
/// count of the CPUs still running it.
pub struct Job {
    pub(crate) func: *const (dyn Fn(&PerCpu) + Sync),
    pub(crate) pending: AtomicU32,
}

static CPUS: [AtomicPtr<CachePadded<PerCpu>>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static ONLINE_COUNT: AtomicU32 = AtomicU32::new(0);

impl PerCpu {
    /// Allocates CPU `cpu`'s block with the stacks already mapped.
    pub fn new(cpu: u32, apic_id: u32, stacks: Stacks) -> &'static mut PerCpu {
        let block = alloc::boxed::Box::leak(alloc::boxed::Box::new(CachePadded::new(PerCpu {
            self_ptr: core::ptr::null(),
            kernel_stack_top: stacks.kernel.top,
            user_rsp_scratch: UnsafeCell::new(0),
            thread_mode: UnsafeCell::new(ThreadMode::new(UserMode::Long, crate::os::Os::WindowsXp)),
            cpu,
            apic_id,
            state: AtomicU8::new(STARTING),
            idle_stack: stacks.idle,
            kernel_stack: stacks.kernel,
            ist_stacks: stacks.ist,
            runner_rsp: UnsafeCell::new(0),
            thread: UnsafeCell::new(None),
            current_test: AtomicPtr::new(core::ptr::null_mut()),
            counters: Counters::default(),
            mailbox: AtomicPtr::new(core::ptr::null_mut()),
            last_fallback: UnsafeCell::new(crate::frame::KTrapFrame::default()),
            gdt: Gdt::new(),
            tss: Tss::new(),
        })));
        let ptr: *mut CachePadded<PerCpu> = block;
        block.self_ptr = ptr.cast();
        block.tss.rsp[0] = stacks.kernel.top;
        for (slot, stack) in stacks.ist.iter().enumerate() {
            let top = stack.top - IST_TOP_RESERVED;
            block.tss.ist[slot] = top;
            // SAFETY: the stack is mapped (the caller made it) and its top
            // 16 bytes are reserved for this word; nothing else writes them.
            unsafe { (top as *mut u64).write(ptr as u64) };
        }
        CPUS[cpu as usize].store(ptr, Ordering::Release);
        block
    }

    /// Makes this block the running CPU's: loads its GDT and TSS and points
    /// IA32_GS_BASE at it. Called once on each CPU.
    ///
    /// # Safety
    /// Must run on the CPU the block was made for, once.
    #[cfg(target_os = "none")]
    pub unsafe fn install(&'static mut self) {
        let tss: *const Tss = &self.tss;
        // SAFETY: the TSS lives as long as the block (forever).
        self.gdt.set_tss(unsafe { &*tss });
        let me: &'static PerCpu = self;
        unsafe {
            me.gdt.load();
            me.state.store(ONLINE, Ordering::Release);
            debug_assert_eq!(msr::read(msr::IA32_GS_BASE), 0, "GS base set twice");
            msr::write(msr::IA32_GS_BASE, me.self_ptr as u64);
            msr::write(msr::IA32_KERNEL_GS_BASE, 0);
        }
        ONLINE_COUNT.fetch_add(1, Ordering::AcqRel);
    }
}

/// The running CPU's block. Valid in kernel mode after `install`.
#[inline]
pub fn current() -> &'static PerCpu {
    let p: *const PerCpu;
    // SAFETY: in kernel mode GS points at this CPU's block, whose first
    // field is its own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: blocks are never freed.
    unsafe { &*p }
}

/// The running CPU's number.
#[inline]
pub fn cpu_id() -> u32 {
    current().cpu
}

/// The offset in the block of `counters.exits[0]`, which
/// `syscall::exit::count_exit` indexes, derived from the types like the
/// stubs' offsets above.
pub const COUNT_EXITS: usize = core::mem::offset_of!(PerCpu, counters.exits);
const _: () = assert!(COUNT_EXITS.is_multiple_of(8));

/// CPU `n`'s block, if it exists.
pub fn get(n: usize) -> Option<&'static PerCpu> {
    let p = CPUS.get(n)?.load(Ordering::Acquire);
    // SAFETY: blocks are never freed.
    (!p.is_null()).then(|| unsafe { &**p })
}

/// Every online CPU, in CPU order.
pub fn all() -> impl Iterator<Item = &'static PerCpu> {
    (0..MAX_CPUS)
        .map_while(get)
        .filter(|c| c.state.load(Ordering::Acquire) == ONLINE)
}

/// How many CPUs have installed their block.
pub fn online() -> u32 {
    ONLINE_COUNT.load(Ordering::Acquire)
}

/// Finds the block for the CPU executing this, without trusting GS: by the
/// APIC id from CPUID. Fault handlers use it to check GS.
pub fn by_cpuid_apic_id() -> Option<&'static PerCpu> {
    let id = crate::arch::apic_id_from_cpuid();
    all().find(|c| c.apic_id == id)
}

/// The value IA32_GS_BASE holds now.
pub fn gs_base() -> u64 {
    // SAFETY: IA32_GS_BASE exists on every x86_64 CPU.
    unsafe { msr::read(msr::IA32_GS_BASE) }
}
