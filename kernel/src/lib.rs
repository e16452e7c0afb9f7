//! syslab: an SMP x86_64 teaching kernel.
//!
//! This crate is the whole kernel except the students' code. The kernel
//! image is the binary of `labs/` or `solutions/`: it links this library and
//! hands it the student's functions through [`student::Student`]. The kernel
//! never knows which of the two it was linked with.
//!
//! [`kmain_bsp`] reads as the boot sequence; each step is its own module.
#![cfg_attr(not(test), no_std)]
// On the host only the pure logic is built and unit-tested; the code that
// needs the CPU is compiled out there, which leaves some items unused.
#![cfg_attr(not(target_os = "none"), allow(dead_code, unused_imports))]

extern crate alloc;

pub mod acpi;
pub mod apic;
pub mod arch;
pub mod bench;
pub mod cmdline;
pub mod cr4;
pub mod frame;
pub mod fuzz;
pub mod fw_cfg;
pub mod gdt;
pub mod idt;
pub mod kd;
pub mod mm;
pub mod mode;
pub mod msr;
pub mod ob;
pub mod os;
pub mod paranoid;
pub mod percpu;
pub mod process;
pub mod pvh;
pub mod rule_cases;
pub mod selftest;
pub mod serial;
pub mod shared_user_data;
pub mod smp;
pub mod student;
pub mod syscall;
pub mod test;
pub mod thread;
pub mod time;
pub mod trap;
pub mod usercopy;

#[cfg(target_os = "none")]
mod boot;

/// The numbers and types the kernel shares with user programs.
pub use syslab_abi as abi;

use cmdline::Cmdline;
use mm::paging::{self, AddressSpace, PAGE_SIZE};
use percpu::{PerCpu, Stack};

static CMDLINE: spin::Once<Cmdline<'static>> = spin::Once::new();
static KERNEL_SPACE: spin::Once<spin::Mutex<AddressSpace>> = spin::Once::new();
static EXPECTED_CPUS: spin::Once<usize> = spin::Once::new();
static START_INFO: spin::Once<&'static pvh::StartInfo> = spin::Once::new();

/// The parsed kernel command line.
pub fn cmdline() -> &'static Cmdline<'static> {
    CMDLINE
        .get()
        .expect("the command line is parsed first thing")
}

/// The address space every CPU runs in.
pub fn kernel_space() -> spin::MutexGuard<'static, AddressSpace> {
    KERNEL_SPACE.get().expect("paging is set up at boot").lock()
}

/// The PVH start info QEMU passed (the boot modules are in it).
pub fn start_info() -> Option<&'static pvh::StartInfo> {
    START_INFO.get().copied()
}

/// How many CPUs the MADT listed.
pub fn expected_cpus() -> usize {
    EXPECTED_CPUS.get().copied().unwrap_or(1)
}

// ANCHOR: stacks
/// Sizes of each CPU's stacks. Each sits above an unmapped guard page, so
/// an overflow faults instead of overwriting a neighbour.
const IDLE_STACK_SIZE: u64 = 64 * 1024;
const KERNEL_STACK_SIZE: u64 = 64 * 1024;
/// The IST stacks of the paranoid vectors: #DF, NMI, #DB and #MC.
const IST_STACK_SIZE: u64 = 16 * 1024;
/// Virtual space reserved per CPU in the stack region.
const CPU_STACK_SLOT: u64 = 256 * 1024;
// ANCHOR_END: stacks

/// Maps a stack of `size` bytes at `bottom`, leaving the page below it unmapped.
fn map_stack(space: &mut AddressSpace, bottom: u64, size: u64) -> Stack {
    use paging::flags::{NO_EXECUTE, WRITABLE};
    space.map_new(bottom, (size / PAGE_SIZE) as usize, WRITABLE | NO_EXECUTE);
    Stack {
        bottom,
        top: bottom + size,
    }
}

/// Makes CPU `cpu`'s per-CPU block and its guarded stacks.
pub fn new_cpu_block(cpu: u32, apic_id: u32) -> &'static mut PerCpu {
    let mut space = kernel_space();
    let slot = paging::STACKS_BASE + cpu as u64 * CPU_STACK_SLOT;
    let idle = map_stack(&mut space, slot + PAGE_SIZE, IDLE_STACK_SIZE);
    let kernel = map_stack(&mut space, idle.top + PAGE_SIZE, KERNEL_STACK_SIZE);
    let mut below = kernel.top;
    let ist = [(); percpu::IST_STACKS].map(|()| {
        let stack = map_stack(&mut space, below + PAGE_SIZE, IST_STACK_SIZE);
        below = stack.top;
        stack
    });
    assert!(below <= slot + CPU_STACK_SLOT);
    drop(space);
    PerCpu::new(cpu, apic_id, percpu::Stacks { idle, kernel, ist })
}

/// Whether this boot uses the code of lab `n` (Lab 2's MSRs are needed in
/// Lab 3's boots too, and the demo and benchmark use everything).
pub fn uses_lab(n: u32) -> bool {
    match cmdline().lab {
        "lab0" | "lab1" => false,
        "lab2" => n <= 2,
        "fuzz" => fuzz::uses_lab(n, cmdline().paths),
        _ => true,
    }
}

// ANCHOR: cpu_setup
/// Per-CPU set-up that every CPU runs as it comes up, after its GDT, IDT
/// and GS are in place: the labs' MSRs go here, because MSRs are per CPU
/// and an AP starts with them all zero.
#[cfg(target_os = "none")]
pub fn cpu_setup_hooks(me: &'static PerCpu) {
    let student = student::student();
    // Windows 2000 wrote no fast-call MSR (os.rs).
    let fast_calls = os::current().programs_fast_call_msrs();
    if uses_lab(2) && fast_calls {
        // The selector rule, on this CPU's own GDT, before the MSRs rely on it.
        if let Err(e) = (student.lab2.check_sysenter_gdt)(&me.gdt.0, gdt::KERNEL_CS) {
            kprintln!(
                "cpu {}: the GDT breaks the SYSENTER/SYSEXIT selector rule: {e}",
                me.cpu
            );
        }
        (student.lab2.program_sysenter_msrs)(me);
    }
    if uses_lab(3) && fast_calls {
        (student.lab3.program_syscall_msrs)(me);
    }
}
// ANCHOR_END: cpu_setup

/// The boot CPU's Rust entry, called from boot.rs in 64-bit mode with the
/// identity-mapped boot page tables and the boot stack.
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
extern "C" fn kmain_bsp(start_info: u64) -> ! {
    serial::init();
    arch::mask_legacy_pic();
    // SAFETY: boot.rs passes EBX from the PVH entry.
    let Some(info) = (unsafe { pvh::StartInfo::from_phys(start_info) }) else {
        kprintln!("syslab: no PVH start info; boot with qemu-system-x86_64 -kernel");
        arch::qemu_exit(arch::ExitCode::KernelFault);
    };
    START_INFO.call_once(|| info);
    let cmdline = *CMDLINE.call_once(|| Cmdline::parse(info.cmdline()));
    test::set_nonce(cmdline.nonce);
    kprintln!(
        "syslab: {} on {} ({})",
        cmdline.lab,
        cmdline.profile,
        cmdline.accel
    );
    // Before anything can crash: the grader then knows what to score.
    test::plan(cmdline.lab);

    time::calibrate();
    let ram_top = info
        .memmap()
        .iter()
        .filter(|e| e.kind == pvh::MEMMAP_RAM)
        .map(|e| e.addr + e.size)
        .max()
        .unwrap_or(128 << 20);
    if ram_top > paging::RAM_LIMIT {
        kprintln!(
            "syslab: only the first {} MiB of RAM are used",
            paging::RAM_LIMIT >> 20
        );
    }
    let space = KERNEL_SPACE.call_once(|| spin::Mutex::new(paging::build_kernel_space(ram_top)));
    // SAFETY: the new tables map the kernel image, the heap and the boot stack.
    unsafe { paging::activate(&space.lock()) };
    idt::init();
    ob::init();

    let bsp = new_cpu_block(0, arch::apic_id_from_cpuid());
    let idle_top = bsp.idle_stack.top;
    // SAFETY: this block was made for the boot CPU.
    unsafe { bsp.install() };
    // Leave the unguarded boot stack for the boot CPU's own guarded one.
    // SAFETY: the idle stack is mapped and unused; bsp_main never returns.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "call {main}",
            top = in(reg) idle_top,
            main = sym bsp_main,
            options(noreturn),
        )
    }
}

/// The rest of the boot CPU's start-up, on its guarded idle stack.
#[cfg(target_os = "none")]
extern "C" fn bsp_main() -> ! {
    let me = percpu::current();
    idt::load();
    apic::init();
    apic::calibrate_timer();
    let umip = cr4::enable();
    let info = START_INFO.get().expect("kmain_bsp keeps the start info");
    kprintln!(
        "cpu 0: APIC id {}, vendor {}, TSC {} MHz, {umip}",
        me.apic_id,
        core::str::from_utf8(&arch::cpu_vendor()).unwrap_or("?"),
        time::tsc_khz() / 1000
    );

    let apic_ids = match acpi::cpu_apic_ids(info.rsdp_paddr) {
        Ok(ids) if !ids.is_empty() => ids,
        Ok(_) | Err(_) => {
            kprintln!("smp: no usable MADT; running on the boot CPU only");
            alloc::vec![me.apic_id]
        }
    };
    EXPECTED_CPUS.call_once(|| apic_ids.len().min(percpu::MAX_CPUS));
    let cr3 = kernel_space().cr3();
    let missing = smp::start_aps(&apic_ids, cr3);
    for id in &missing {
        kprintln!(
            "smp: the CPU with APIC id {id} never came online (no answer to INIT-SIPI-SIPI within 1 s)"
        );
    }
    for c in percpu::all() {
        kprintln!(
            "cpu {}: online, APIC id {}, GS block {:#x}, kernel stack {:#x}-{:#x}",
            c.cpu,
            c.apic_id,
            c.self_ptr as u64,
            c.kernel_stack.bottom,
            c.kernel_stack.top
        );
    }

    // A CPU number per slot, gaps included (a CPU given up on keeps its number).
    let cpu_slots = percpu::all().map(|c| c.cpu as u64 + 1).max().unwrap_or(1);
    match info.modules().first() {
        Some(m) => {
            // SAFETY: QEMU placed the initrd there, in identity-mapped RAM.
            let bytes =
                unsafe { core::slice::from_raw_parts(m.paddr as *const u8, m.size as usize) };
            if let Err(e) = process::load(&mut kernel_space(), bytes, cpu_slots) {
                kprintln!("user program: {e}");
            }
        }
        None => kprintln!("user program: none (pass kernel/user's ELF as -initrd)"),
    }

    if process::image().is_some() {
        selftest::run();
    }
    // After the self-test, which borrows the MSRs. The APs did theirs as
    // they came up.
    cpu_setup_hooks(me);
    if uses_lab(2) && os::current().has_system_call_stub() {
        let stub = shared_user_data::install(&mut kernel_space(), uses_lab(3));
        if stub == shared_user_data::StubKind::Int2e {
            syscall::int2e::install(); // the fallback stub needs gate 0x2E
        }
    }
    let c = cmdline();
    proto!(
        "hello lab={} cpus={} vendor={} profile={} accel={}",
        c.lab,
        percpu::online(),
        core::str::from_utf8(&arch::cpu_vendor()).unwrap_or("?"),
        c.profile,
        c.accel
    );
    match c.lab {
        "bench" => {
            syscall::int2e::install();
            bench::run(c.iterations, c.batches)
        }
        "anatomy" => {
            syscall::int2e::install();
            bench::anatomy()
        }
        "kd" | "demo" => kd::run(),
        "fuzz" => fuzz::run(c),
        _ => test::run(c),
    }
}

#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // No heap here: the panic may have come from the allocator.
    let mut message = test::LineBuf::new();
    let _ = core::fmt::write(&mut message, format_args!("{}", info.message()));
    let message = message.as_str();
    serial::hold();
    let me = percpu::by_cpuid_apic_id();
    let cpu = me.map(|c| c.cpu as i64).unwrap_or(-1);
    let test = me.map(test::current_test_name).unwrap_or("-");
    if message.starts_with("not implemented:") {
        // Unfinished student code, not a kernel bug: the message says where.
        kprintln!("!! {message}");
        proto!("fault {test} cpu={cpu} kind=panic rip=0x0 ring=0 hint={message}");
    } else {
        kprintln!("!! kernel panic: {info}");
        let (file, line) = info
            .location()
            .map(|l| (l.file(), l.line()))
            .unwrap_or(("?", 0));
        proto!("fault {test} cpu={cpu} kind=panic rip=0x0 ring=0 hint={message} at {file}:{line}");
    }
    arch::qemu_exit(arch::ExitCode::KernelFault)
}
