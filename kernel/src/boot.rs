//! From QEMU's PVH entry to the first Rust function.
//!
//! `qemu-system-x86_64 -kernel syslab.elf` finds the ELF note of type
//! XEN_ELFNOTE_PHYS32_ENTRY and jumps to the address in it with the CPU in
//! 32-bit protected mode, paging off, interrupts off, flat CS/DS/SS and EBX
//! holding the physical address of the `hvm_start_info` block (the PVH boot
//! ABI, xen/include/public/arch-x86/hvm/start_info.h). There is no stack.
//!
//! The code below does the minimum to reach 64-bit mode (Intel SDM Vol. 3A
//! §10.8.5 "Initializing IA-32e Mode"): identity-map the first 4 GiB with
//! 2 MiB pages, set CR4.PAE, load CR3, set IA32_EFER.LME (and NXE, so the
//! real page tables may use the NX bit), set CR0.PG, and far-return into a
//! 64-bit code segment. `paging::init` replaces these tables with real ones.

use crate::gdt::{BOOT_GDT, KERNEL_CS, KERNEL_DS};

/// Size of the boot CPU's first stack; `percpu` gives it a guarded one later.
const BOOT_STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(4096))]
pub struct BootStack(pub [u8; BOOT_STACK_SIZE]);

#[unsafe(no_mangle)]
pub static mut BOOT_STACK: BootStack = BootStack([0; BOOT_STACK_SIZE]);

/// One PML4, one PDPT and four page directories of 2 MiB pages: 0–4 GiB.
#[repr(C, align(4096))]
pub struct BootTables([u64; 512 * 6]);

#[unsafe(no_mangle)]
static mut BOOT_TABLES: BootTables = BootTables([0; 512 * 6]);

core::arch::global_asm!(
    // ANCHOR: pvh_note
    // The PVH note: namesz, descsz, type, "Xen\0", then the 32-bit entry.
    ".pushsection .note.pvh, \"a\", @note",
    ".p2align 2",
    ".long 4",
    ".long 4",
    ".long 18", // XEN_ELFNOTE_PHYS32_ENTRY
    ".asciz \"Xen\"",
    ".p2align 2",
    ".long pvh_start32",
    ".popsection",
    // ANCHOR_END: pvh_note
    "",
    ".pushsection .text.boot, \"ax\"",
    ".code32",
    ".global pvh_start32",
    "pvh_start32:",
    // EBX = &hvm_start_info; keep it in EDI, the first argument register of
    // the 64-bit call below. Nothing between here and there touches EDI.
    "    mov edi, ebx",
    "    mov esp, offset {stack} + {stack_size}",
    // PML4[0] -> PDPT, PDPT[0..4] -> PD0..PD3, PDn[i] -> 2 MiB page.
    // Tables are laid out PML4, PDPT, PD0..PD3 in BOOT_TABLES.
    "    mov eax, offset {tables} + 0x1000 + 3", // present | writable
    "    mov [{tables}], eax",
    "    mov ecx, 0",
    "2:  mov eax, ecx",
    "    shl eax, 12",
    "    add eax, offset {tables} + 0x2000 + 3",
    "    mov [{tables} + 0x1000 + ecx * 8], eax",
    "    inc ecx",
    "    cmp ecx, 4",
    "    jne 2b",
    // 2048 PD entries, entry i maps physical i * 2 MiB (PS | writable | present).
    "    mov ecx, 0",
    "3:  mov eax, ecx",
    "    shl eax, 21",
    "    or eax, 0x83",
    "    mov [{tables} + 0x2000 + ecx * 8], eax",
    "    mov edx, ecx",
    "    shr edx, 11", // high dword of i * 2 MiB
    "    mov [{tables} + 0x2000 + ecx * 8 + 4], edx",
    "    inc ecx",
    "    cmp ecx, 2048",
    "    jne 3b",
    // ANCHOR: long_mode
    "    mov eax, cr4",
    "    or eax, 1 << 5", // CR4.PAE
    "    mov cr4, eax",
    "    mov eax, offset {tables}",
    "    mov cr3, eax",
    "    mov ecx, 0xC0000080", // IA32_EFER
    "    rdmsr",
    "    or eax, (1 << 8) | (1 << 11)", // LME | NXE
    "    wrmsr",
    "    mov eax, cr0",
    "    or eax, (1 << 31) | (1 << 16) | 1", // PG | WP | PE
    "    mov cr0, eax",
    "    lgdt [{gdtr}]",
    // Far return into the 64-bit kernel code segment: EFER.LMA is now set,
    // so loading a CS with L=1 enters 64-bit mode.
    "    push {kcs}",
    "    mov eax, offset pvh_long_mode",
    "    push eax",
    "    retf",
    ".code64",
    "pvh_long_mode:",
    "    mov ax, {kds}",
    "    mov ds, ax",
    "    mov es, ax",
    "    mov ss, ax",
    "    xor eax, eax",
    "    mov fs, ax",
    "    mov gs, ax",
    "    mov edi, edi", // zero-extend the start-info address
    "    lea rsp, [rip + {stack} + {stack_size}]",
    "    xor ebp, ebp",
    "    call {main}",
    // ANCHOR_END: long_mode
    "5:  hlt",
    "    jmp 5b",
    ".popsection",
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE,
    tables = sym BOOT_TABLES,
    gdtr = sym BOOT_GDT,
    kcs = const KERNEL_CS,
    kds = const KERNEL_DS,
    main = sym crate::kmain_bsp,
);
