//! Starting the application processors, and giving them work.
//!
//! The boot CPU finds the APs in the MADT and wakes each one with the
//! INIT-SIPI-SIPI sequence (Intel SDM Vol. 3A §9.4.4 "MP Initialization
//! Example"). A SIPI starts the AP in real mode at `vector * 0x1000`, so a
//! small trampoline is copied below 1 MiB: it goes to protected mode, turns
//! on PAE, long mode and paging with the kernel's page tables, and jumps to
//! [`ap_main`] on a stack the boot CPU prepared.
//!
//! Once online, an AP waits for [`Job`]s in its per-CPU mailbox; the test
//! runner uses [`run_on_all`] to run the same code on every CPU at once.

use crate::mm::paging::TRAMPOLINE_ADDR;
use crate::percpu::{self, Job, PerCpu};
use core::sync::atomic::{AtomicU32, Ordering};

/// Runs `f` on every online CPU at the same time, the caller's included,
/// and returns when all have finished.
pub fn run_on_all(f: &(dyn Fn(&PerCpu) + Sync)) {
    let aps: alloc::vec::Vec<_> = percpu::all()
        .filter(|c| c.cpu != percpu::cpu_id())
        .collect();
    // SAFETY: the job outlives its use: we wait for `pending` to reach 0.
    let f_static: *const (dyn Fn(&PerCpu) + Sync) = unsafe { core::mem::transmute(f) };
    let job = Job {
        func: f_static,
        pending: AtomicU32::new(aps.len() as u32),
    };
    for ap in &aps {
        ap.mailbox
            .store(&job as *const Job as *mut Job, Ordering::Release);
        // The AP may be asleep in hlt (see ap_idle_loop).
        #[cfg(target_os = "none")]
        crate::apic::send_wakeup(ap.apic_id);
    }
    f(percpu::current());
    while job.pending.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
}

/// Runs `f` on CPU `cpu` only and waits for it.
pub fn run_on(cpu: u32, f: &(dyn Fn(&PerCpu) + Sync)) {
    run_on_all(&|c: &PerCpu| {
        if c.cpu == cpu {
            f(c)
        }
    });
}

/// The AP's idle loop: run whatever the boot CPU posts, and sleep in `hlt`
/// in between, so that an idle CPU leaves the host's cores to the ones
/// being measured. `sti; hlt` cannot miss the wake-up IPI: STI delays
/// interrupts until after the next instruction, so one that is already
/// pending is taken inside `hlt`, and wakes it.
fn ap_idle_loop(me: &'static PerCpu) -> ! {
    loop {
        let job = me.mailbox.swap(core::ptr::null_mut(), Ordering::Acquire);
        if job.is_null() {
            #[cfg(target_os = "none")]
            // SAFETY: interrupts are enabled only for the duration of hlt;
            // the only one that arrives is the wake-up IPI.
            unsafe {
                core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack))
            };
            continue;
        }
        // SAFETY: the poster keeps the job alive until `pending` drops.
        let job = unsafe { &*job };
        unsafe { (*job.func)(me) };
        job.pending.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::kprintln;

    // The trampoline. It is assembled into .rodata and copied to
    // TRAMPOLINE_ADDR, so the code refers to its own data by fixed offsets
    // (`.org` places the data there) and far jumps are emitted as bytes:
    // the assembler cannot encode "TRAMPOLINE_ADDR + label offset" operands.
    core::arch::global_asm!(
        ".pushsection .rodata.trampoline, \"a\"",
        ".global trampoline_start",
        ".global trampoline_end",
        // ANCHOR: trampoline
        "trampoline_start:",
        ".code16",
        "    cli",
        "    cld",
        "    xor ax, ax",
        "    mov ds, ax",
        "    lgdt [{base} + {gdtr}]",
        "    mov eax, cr0",
        "    or eax, 1", // CR0.PE
        "    mov cr0, eax",
        // ljmp 0x08:tr_pm32 (the 32-bit code segment of the trampoline GDT)
        "    .byte 0x66, 0xEA",
        "    .4byte {base} + tr_pm32 - trampoline_start",
        "    .2byte 0x08",
        ".code32",
        "tr_pm32:",
        "    mov ax, 0x10",
        "    mov ds, ax",
        "    mov es, ax",
        "    mov ss, ax",
        "    mov eax, cr4",
        "    or eax, 1 << 5", // CR4.PAE
        "    mov cr4, eax",
        "    mov eax, [{base} + {data}]", // TrampolineData::cr3
        "    mov cr3, eax",
        "    mov ecx, 0xC0000080", // IA32_EFER
        "    rdmsr",
        "    or eax, (1 << 8) | (1 << 11)", // LME | NXE
        "    wrmsr",
        "    mov eax, cr0",
        "    or eax, (1 << 31) | (1 << 16)", // PG | WP
        "    mov cr0, eax",
        // ljmp 0x18:tr_lm64 (the 64-bit code segment)
        "    .byte 0xEA",
        "    .4byte {base} + tr_lm64 - trampoline_start",
        "    .2byte 0x18",
        ".code64",
        "tr_lm64:",
        "    mov rsp, [{base} + {data} + 8]",  // TrampolineData::stack
        "    mov rdi, [{base} + {data} + 16]", // TrampolineData::arg
        "    mov rax, [{base} + {data} + 24]", // TrampolineData::entry
        "    xor ebp, ebp",
        "    call rax",
        // ANCHOR_END: trampoline
        "2:  hlt",
        "    jmp 2b",
        ".org trampoline_start + {gdt}",
        "    .8byte 0",
        "    .8byte 0x00cf9b000000ffff", // 0x08: code, 32-bit
        "    .8byte 0x00cf93000000ffff", // 0x10: data
        "    .8byte 0x00af9b000000ffff", // 0x18: code, 64-bit
        ".org trampoline_start + {gdtr}",
        "    .2byte 4 * 8 - 1",
        "    .4byte {base} + {gdt}",
        ".org trampoline_start + {data}",
        "    .fill 4, 8, 0",
        "trampoline_end:",
        ".popsection",
        base = const TRAMPOLINE_ADDR,
        gdt = const TR_GDT,
        gdtr = const TR_GDTR,
        data = const TR_DATA,
    );

    /// Offsets in the trampoline page of its GDT, GDTR and parameters.
    const TR_GDT: u64 = 0x200;
    const TR_GDTR: u64 = 0x220;
    const TR_DATA: u64 = 0x240;

    /// The trampoline's parameters, in the order of `trampoline_data`.
    #[repr(C)]
    struct TrampolineData {
        cr3: u64,
        stack: u64,
        arg: u64,
        entry: u64,
    }

    unsafe extern "C" {
        static trampoline_start: u8;
        static trampoline_end: u8;
    }

    /// Copies the trampoline below 1 MiB. Boot CPU, once.
    fn install_trampoline() {
        // SAFETY: linker-defined bounds of the trampoline's bytes; the page at
        // TRAMPOLINE_ADDR is mapped writable and executable for it.
        unsafe {
            let start = &raw const trampoline_start;
            let len = (&raw const trampoline_end).offset_from(start) as usize;
            core::ptr::copy_nonoverlapping(start, TRAMPOLINE_ADDR as *mut u8, len);
        }
    }

    fn trampoline_params() -> *mut TrampolineData {
        (TRAMPOLINE_ADDR + TR_DATA) as *mut TrampolineData
    }

    /// Starts every AP listed in `apic_ids` (the boot CPU's id is skipped).
    /// Returns the APIC ids of the CPUs that never came online.
    pub fn start_aps(apic_ids: &[u32], cr3: u64) -> alloc::vec::Vec<u32> {
        install_trampoline();
        let me = crate::arch::apic_id_from_cpuid();
        let mut lapic = crate::apic::local();
        let mut missing = alloc::vec::Vec::new();
        let mut next_cpu = 1;
        for &id in apic_ids.iter().filter(|&&id| id != me) {
            if next_cpu as usize >= percpu::MAX_CPUS {
                kprintln!(
                    "smp: more than {} CPUs; APIC id {id} stays off",
                    percpu::MAX_CPUS
                );
                continue;
            }
            let block = crate::new_cpu_block(next_cpu, id);
            let online_before = percpu::online();
            // SAFETY: the trampoline page is mapped; nothing runs it yet.
            unsafe {
                trampoline_params().write_volatile(TrampolineData {
                    cr3,
                    stack: block.idle_stack.top,
                    arg: block as *mut PerCpu as u64,
                    entry: ap_entry as *const () as u64,
                });
            }
            // ANCHOR: init_sipi_sipi
            // INIT, wait 10 ms, SIPI, wait 200 us, and a second SIPI if the
            // AP has not shown up (the SDM's sequence).
            let vector = (TRAMPOLINE_ADDR >> 12) as u8;
            let dest = crate::apic::ipi_destination(id);
            // SAFETY: the IPIs target an AP that is waiting for INIT.
            unsafe {
                lapic.send_init_ipi(dest);
                crate::time::udelay(10_000);
                lapic.send_sipi(vector, dest);
                crate::time::udelay(200);
                if percpu::online() == online_before {
                    lapic.send_sipi(vector, dest);
                }
            }
            // ANCHOR_END: init_sipi_sipi
            // A second is generous: under TCG on a loaded host an AP has
            // been seen to take more than 100 ms.
            let deadline = crate::time::rdtsc() + 1000 * crate::time::tsc_khz().max(1_000_000);
            while percpu::online() == online_before && crate::time::rdtsc() < deadline {
                core::hint::spin_loop();
            }
            // Give up on it, unless it got in first.
            let gave_up = block
                .state
                .compare_exchange(
                    percpu::STARTING,
                    percpu::ABANDONED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok();
            if gave_up {
                missing.push(id);
            } else {
                while percpu::online() == online_before {
                    core::hint::spin_loop(); // it is installing itself now
                }
            }
            // Never reuse the slot: a late AP may still be on its stacks.
            next_cpu += 1;
        }
        missing
    }

    /// The AP's first Rust code, on its idle stack.
    extern "C" fn ap_entry(block: &'static mut PerCpu) -> ! {
        // Claim the block, unless the boot CPU has given up on this AP.
        if block
            .state
            .compare_exchange(
                percpu::STARTING,
                percpu::CLAIMED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            crate::arch::halt_forever();
        }
        // SAFETY: this block was made for this CPU.
        let me: &'static PerCpu = unsafe {
            let p: *mut PerCpu = block;
            (*p).install();
            &*p
        };
        crate::idt::load();
        crate::apic::init();
        crate::cr4::enable(); // the boot CPU's line says what; all CPUs are one model
        crate::cpu_setup_hooks(me);
        ap_idle_loop(me)
    }
}
