//! Lab 0: the kernel's own tour. No student code runs here, so these tests
//! pass on the skeleton; they check the foundation every lab stands on.

use super::Test;
use super::user::{all_cpus, describe, describe_fault};
use crate::percpu::{self, PerCpu};
use crate::thread::ThreadExit;
use alloc::format;
use alloc::string::String;
use syslab_abi::user_test;

pub static TESTS: &[Test] = &[
    Test {
        name: "lab0.boot",
        points: 5,
        description: "the kernel boots, reads its command line and loads the user program",
        run: boot,
    },
    Test {
        name: "lab0.cpus_online",
        points: 10,
        description: "every CPU in the MADT is online with its own APIC id, stacks and GS block",
        run: cpus_online,
    },
    Test {
        name: "lab0.tss_rsp0",
        points: 5,
        description: "each CPU's TSS.RSP0 is the top of its own kernel stack",
        run: tss_rsp0,
    },
    Test {
        name: "lab0.guard_pages",
        points: 5,
        description: "kernel stacks have unmapped guard pages; #DF, NMI, #DB and #MC run on their own IST stacks",
        run: guard_pages,
    },
    Test {
        name: "lab0.ring3_entry",
        points: 10,
        description: "each CPU enters ring 3 with iretq and its thread exits back to the kernel",
        run: ring3_entry,
    },
    Test {
        name: "lab0.kernel_read_fault",
        points: 10,
        description: "a ring-3 read of kernel memory is a page fault that kills only that thread",
        run: kernel_read_fault,
    },
    Test {
        name: "lab0.kernel_write_fault",
        points: 5,
        description: "a ring-3 write to kernel memory is a page fault",
        run: kernel_write_fault,
    },
    Test {
        name: "lab0.privileged",
        points: 10,
        description: "privileged instructions in ring 3 raise #GP",
        run: privileged,
    },
    Test {
        name: "lab0.watchdog",
        points: 5,
        description: "a thread that loops in ring 3 is killed by the LAPIC-timer watchdog, with a report",
        run: watchdog,
    },
    Test {
        name: "lab0.nx",
        points: 5,
        description: "ring 3 cannot execute its own stack (NX)",
        run: nx,
    },
    Test {
        name: "lab0.nmi",
        points: 5,
        description: "NMIs from the other CPU, in ring 3, in ring 0 and between swapgs and iretq, are counted as NMIs; GS stays right",
        run: nmi,
    },
    Test {
        name: "lab0.compat_thread",
        points: 5,
        description: "each CPU starts a 32-bit thread in compatibility mode (CS 0x1b, SS and DS 0x23, a stack below 4 GiB) that exits back to the kernel",
        run: compat_thread,
    },
    Test {
        name: "lab0.article_bytes",
        points: 5,
        description: "the 32-bit ntdll's ZwCreateMutant and SharedUserData's 32-bit stubs are the article's bytes",
        run: article_bytes,
    },
    Test {
        name: "lab0.umip",
        points: 5,
        description: "CR4.UMIP is on exactly when CPUID has it: ring-3 sgdt/sidt then raise #GP",
        run: umip,
    },
];

/// Page-fault error-code bits (Intel SDM Vol. 3A §5.7).
const PF_PRESENT: u64 = 1;
const PF_WRITE: u64 = 2;
const PF_USER: u64 = 4;
const PF_FETCH: u64 = 16;

fn boot() -> Result<String, String> {
    let image = crate::process::image().ok_or("the user program was not loaded")?;
    Ok(format!(
        "lab={} on {} CPU(s); user entry {:#x}",
        crate::cmdline().lab,
        percpu::online(),
        image.entry
    ))
}

fn cpus_online() -> Result<String, String> {
    let expected = crate::expected_cpus();
    let cpus: alloc::vec::Vec<&PerCpu> = percpu::all().collect();
    if percpu::online() as usize != expected || cpus.len() != expected {
        return Err(format!(
            "{} CPU(s) in the MADT but {} online",
            expected,
            percpu::online()
        ));
    }
    for (i, a) in cpus.iter().enumerate() {
        for b in &cpus[i + 1..] {
            if a.apic_id == b.apic_id {
                return Err(format!(
                    "CPUs {} and {} share APIC id {}",
                    a.cpu, b.cpu, a.apic_id
                ));
            }
            if a.self_ptr == b.self_ptr {
                return Err(format!("CPUs {} and {} share a GS block", a.cpu, b.cpu));
            }
            let overlap = |x: percpu::Stack, y: percpu::Stack| x.bottom < y.top && y.bottom < x.top;
            if overlap(a.kernel_stack, b.kernel_stack) || overlap(a.idle_stack, b.idle_stack) {
                return Err(format!(
                    "CPUs {} and {} have overlapping stacks",
                    a.cpu, b.cpu
                ));
            }
        }
    }
    // Each CPU checks, on itself, that GS and CPUID agree with its block.
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let gs = percpu::gs_base();
        let apic = crate::arch::apic_id_from_cpuid();
        if gs != c.self_ptr as u64 {
            Err(format!(
                "IA32_GS_BASE is {gs:#x}, block at {:#x}",
                c.self_ptr as u64
            ))
        } else if apic != c.apic_id {
            Err(format!(
                "CPUID says APIC id {apic}, block says {}",
                c.apic_id
            ))
        } else {
            Ok(format!("APIC id {apic}, GS {gs:#x}"))
        }
    }))
}

/// The TSS this CPU's task register points at, found through SGDT and STR.
fn live_tss_rsp0() -> u64 {
    let mut gdtr = crate::gdt::DescriptorTablePointer { limit: 0, base: 0 };
    let tr: u16;
    // SAFETY: SGDT and STR only store.
    unsafe {
        core::arch::asm!("sgdt [{}]", in(reg) &mut gdtr, options(nostack));
        core::arch::asm!("str {:x}", out(reg) tr, options(nomem, nostack));
    }
    let gdt = gdtr.base as *const u64;
    // SAFETY: TR selects a 16-byte TSS descriptor in the live GDT.
    let (low, high) = unsafe { (*gdt.add(tr as usize / 8), *gdt.add(tr as usize / 8 + 1)) };
    let base = ((low >> 16) & 0xff_ffff) | (((low >> 56) & 0xff) << 24) | (high << 32);
    // SAFETY: RSP0 sits at offset 4 of the TSS.
    unsafe { core::ptr::read_unaligned((base + 4) as *const u64) }
}

fn tss_rsp0() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let rsp0 = live_tss_rsp0();
        if rsp0 != c.kernel_stack.top {
            return Err(format!(
                "TSS.RSP0 is {rsp0:#x}, kernel stack top is {:#x}",
                c.kernel_stack.top
            ));
        }
        if let Some(other) = percpu::all().find(|o| o.cpu != c.cpu && o.kernel_stack.contains(rsp0))
        {
            return Err(format!(
                "TSS.RSP0 {rsp0:#x} is inside CPU {}'s stack",
                other.cpu
            ));
        }
        Ok(format!("RSP0 {rsp0:#x}"))
    }))
}

fn guard_pages() -> Result<String, String> {
    let space = crate::kernel_space();
    for c in percpu::all() {
        let ists =
            crate::idt::PARANOID.map(|(_, ist, what)| (what, c.ist_stacks[ist as usize - 1]));
        for (what, s) in [("idle", c.idle_stack), ("kernel", c.kernel_stack)]
            .into_iter()
            .chain(ists)
        {
            if space.translate(s.bottom - 4096).is_some() {
                return Err(format!(
                    "CPU {}: the page below its {what} stack is mapped",
                    c.cpu
                ));
            }
            if space.translate(s.top - 8).is_none() {
                return Err(format!("CPU {}: its {what} stack is not mapped", c.cpu));
            }
        }
        for (_, slot, what) in crate::idt::PARANOID {
            let (ist, stack) = (
                c.tss.ist[slot as usize - 1],
                c.ist_stacks[slot as usize - 1],
            );
            if !stack.contains(ist) {
                return Err(format!(
                    "CPU {}: IST{slot} {ist:#x} is not its {what} stack",
                    c.cpu
                ));
            }
            // SAFETY: the IST stacks are mapped (checked above).
            let block = unsafe { *(ist as *const u64) };
            if block != c.self_ptr as u64 {
                return Err(format!(
                    "CPU {}: the word above IST{slot}'s frame is {block:#x}, not its block {:#x}",
                    c.cpu, c.self_ptr as u64
                ));
            }
        }
    }
    for (vector, want, what) in crate::idt::PARANOID {
        let ist = crate::idt::gate(vector).ist();
        if ist != want {
            return Err(format!("the {what} gate uses IST {ist}, expected {want}"));
        }
    }
    Ok("guard pages unmapped; #DF, NMI, #DB and #MC each on its own IST stack, which names its CPU".into())
}

fn ring3_entry() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let exit = super::user::run(c, user_test::WHOAMI, 0);
        if exit != ThreadExit::Exited(user_test::EXIT_OK_STATUS) {
            return Err(format!("the user thread {}", describe(&exit)));
        }
        let r = crate::process::report(c.cpu).words;
        let (cs, rsp, cpu_arg) = (r[0], r[1], r[2]);
        let stack_top = syslab_abi::layout::user_stack_top(c.cpu as u64);
        if cs != crate::gdt::USER_CS as u64 {
            return Err(format!(
                "ring 3 ran with CS {cs:#x}, expected {:#x}",
                crate::gdt::USER_CS
            ));
        }
        if !(stack_top - syslab_abi::layout::USER_STACK_SIZE..stack_top).contains(&rsp) {
            return Err(format!(
                "ring 3 ran on RSP {rsp:#x}, outside this CPU's user stack"
            ));
        }
        if cpu_arg != c.cpu as u64 {
            return Err(format!("the thread saw CPU {cpu_arg} in RSI"));
        }
        Ok(format!("CS {cs:#x}, RSP {rsp:#x}"))
    }))
}

/// Checks that a thread died of a page fault with these error-code bits.
fn expect_pf(exit: &ThreadExit, addr: u64, must: u64, must_not: u64) -> Result<(), String> {
    match exit {
        ThreadExit::Killed(f)
            if f.vector == 14
                && f.cr2 == addr
                && f.error_code & must == must
                && f.error_code & must_not == 0 =>
        {
            Ok(())
        }
        ThreadExit::Killed(f) => Err(format!(
            "expected a #PF at {addr:#x} with error bits {must:#x} set and {must_not:#x} clear, but the thread was {}",
            describe_fault(f)
        )),
        other => Err(format!(
            "expected a #PF at {addr:#x}, but the thread {}",
            describe(other)
        )),
    }
}

/// After a killed thread, the same CPU must still run user code.
fn still_alive(c: &PerCpu) -> Result<(), String> {
    match super::user::run(c, user_test::EXIT_OK, 0) {
        ThreadExit::Exited(user_test::EXIT_OK_STATUS) => Ok(()),
        other => Err(format!(
            "after the fault, a fresh thread {}",
            describe(&other)
        )),
    }
}

fn kernel_read_fault() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let target = c.self_ptr as u64; // this CPU's block: mapped, kernel-only
        let exit = super::user::run(c, user_test::READ, target);
        expect_pf(&exit, target, PF_PRESENT | PF_USER, PF_WRITE)?;
        still_alive(c)?;
        Ok(format!(
            "read of {target:#x} killed the thread; the kernel lives on"
        ))
    }))
}

fn kernel_write_fault() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let target = c.kernel_stack.top - 64;
        let exit = super::user::run(c, user_test::WRITE, target);
        expect_pf(&exit, target, PF_PRESENT | PF_USER | PF_WRITE, 0)?;
        still_alive(c)?;
        Ok(format!("write to {target:#x} killed the thread"))
    }))
}

fn privileged() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        for (i, name) in user_test::PRIVILEGED_NAMES.iter().enumerate() {
            match super::user::run(c, user_test::PRIVILEGED, i as u64) {
                ThreadExit::Killed(f) if f.vector == 13 => {}
                other => {
                    return Err(format!(
                        "`{name}` in ring 3: expected #GP, but the thread {}",
                        describe(&other)
                    ));
                }
            }
        }
        still_alive(c)?;
        Ok(format!(
            "{} instructions refused",
            user_test::PRIVILEGED_NAMES.len()
        ))
    }))
}

fn nx() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let target = syslab_abi::layout::user_stack_top(c.cpu as u64) - 256;
        let exit = super::user::run(c, user_test::JUMP, target);
        expect_pf(&exit, target, PF_PRESENT | PF_USER | PF_FETCH, 0)?;
        Ok(format!("fetch from {target:#x} faulted"))
    }))
}

fn watchdog() -> Result<String, String> {
    const BUDGET_MS: u64 = 300;
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let start = crate::time::rdtsc();
        let exit = super::user::run_limited(c, user_test::SPIN, 0, &[], BUDGET_MS);
        let ms = (crate::time::rdtsc() - start) / crate::time::tsc_khz().max(1);
        match exit {
            ThreadExit::Killed(f)
                if f.vector == crate::apic::VECTOR_TIMER as u64 && f.cs & 3 == 3 =>
            {
                still_alive(c)?;
                Ok(format!("killed after {ms} ms (budget {BUDGET_MS} ms)"))
            }
            other => Err(format!(
                "a spinning thread with a {BUDGET_MS} ms watchdog {}",
                describe(&other)
            )),
        }
    }))
}

fn nmi() -> Result<String, String> {
    // Threads that enter ring 3 and leave through the exit trap: the NMIs
    // land in ring 3, in the kernel, and in enter_user's swapgs/iretq pair.
    let c = percpu::current();
    let storm = super::nmi::storm(2000, |c: &PerCpu| {
        match super::user::run(c, user_test::EXIT_OK, 0) {
            ThreadExit::Exited(user_test::EXIT_OK_STATUS) => Ok(()),
            other => Err(format!("under NMIs, a thread {}", describe(&other))),
        }
    });
    storm.check(c)?;
    let threads = storm.result.clone()?;
    Ok(format!(
        "CPU {}: {threads} threads; {}",
        c.cpu,
        storm.summary()
    ))
}

fn umip() -> Result<String, String> {
    let has = crate::cr4::cpu_has_umip();
    all_cpus(super::user::on_each_cpu(|c: &PerCpu| {
        let on = crate::cr4::read() & crate::cr4::UMIP != 0;
        if on != has {
            return Err(format!(
                "CR4.UMIP is {} but CPUID.7:ECX[2] says the CPU {} it",
                on as u8,
                if has { "has" } else { "lacks" }
            ));
        }
        let exit = super::user::run(c, user_test::DESCRIPTOR_TABLES, 0);
        match (on, exit) {
            (true, ThreadExit::Killed(f)) if f.vector == 13 && f.cs & 3 == 3 => {
                Ok("UMIP on: ring-3 sgdt raised #GP".into())
            }
            (false, ThreadExit::Exited(user_test::EXIT_OK_STATUS)) => {
                let r = crate::process::report(c.cpu).words;
                let gdt = &c.gdt as *const crate::gdt::Gdt as u64;
                if r[0] != gdt {
                    return Err(format!(
                        "without UMIP, ring-3 sgdt should read this CPU's GDT base {gdt:#x}, but read {:#x}",
                        r[0]
                    ));
                }
                Ok(format!(
                    "UMIP absent on this CPU model: ring 3 read the GDT base {:#x} and the IDT base {:#x}",
                    r[0], r[1]
                ))
            }
            (on, other) => Err(format!(
                "with CR4.UMIP {}, ring-3 sgdt/sidt: expected {}, but the thread {}",
                on as u8,
                if on { "#GP" } else { "them to work" },
                describe(&other)
            )),
        }
    }))
}

fn compat_thread() -> Result<String, String> {
    all_cpus(super::user::on_each_cpu(super::compat::whoami))
}

// ANCHOR: article_bytes
/// The article's disassembly, byte for byte: Windows 2000's and XP's
/// ZwCreateMutant and XP's SystemCallStub, and XP's `int 0x2e` stub.
pub const ARTICLE_BYTES: [(&str, &[u8]); 2] = [
    (
        "ntdll32.nt.ZwCreateMutant",
        &[
            0xb8, 0x25, 0, 0, 0, 0x8d, 0x54, 0x24, 0x04, 0xcd, 0x2e, 0xc2, 0x10, 0x00,
        ],
    ),
    (
        "ntdll32.xp.ZwCreateMutant",
        &[
            0xb8, 0x2b, 0, 0, 0, 0xba, 0x00, 0x03, 0xfe, 0x7f, 0xff, 0xd2, 0xc2, 0x10, 0x00,
        ],
    ),
];

fn article_bytes() -> Result<String, String> {
    use crate::shared_user_data::{StubKind, UserMode, stub_code};
    let hex = |b: &[u8]| {
        b.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<alloc::vec::Vec<_>>()
            .join(" ")
    };
    let mut checked = alloc::vec::Vec::new();
    for (name, want) in ARTICLE_BYTES {
        let at = crate::process::user_symbol(name)
            .ok_or_else(|| format!("the user program has no {name}"))?;
        let mut got = alloc::vec![0u8; want.len()];
        crate::usercopy::copy_from_user(&mut got, at)
            .map_err(|_| format!("{name} at {at:#x} is not readable user memory"))?;
        if got != want {
            return Err(format!(
                "{name} at {at:#x} is {}, not the article's {}",
                hex(&got),
                hex(want)
            ));
        }
        checked.push(name);
    }
    for (kind, want) in [
        (StubKind::Sysenter, &[0x8b, 0xd4, 0x0f, 0x34, 0xc3][..]),
        (StubKind::Syscall, &[0x8b, 0xd4, 0x0f, 0x05, 0xc3][..]),
        (
            StubKind::Int2e,
            &[0x8d, 0x54, 0x24, 0x08, 0xcd, 0x2e, 0xc3][..],
        ),
    ] {
        let got = stub_code(kind, UserMode::Compat);
        if got != want {
            return Err(format!(
                "SharedUserData's 32-bit {} stub is {}, not {}",
                kind.name(),
                hex(got),
                hex(want)
            ));
        }
    }
    Ok(format!(
        "{} and the three 32-bit SystemCallStubs match byte for byte",
        checked.join(", ")
    ))
}
// ANCHOR_END: article_bytes
