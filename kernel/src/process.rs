//! The user process: the user program's image, two stacks (one for its
//! 64-bit threads above 4 GiB, one for its 32-bit threads below) and one
//! report page per CPU, all in the one address space that every CPU shares.
//!
//! The grader passes the user program (kernel/user) as QEMU's `-initrd`,
//! which PVH hands over as boot module 0. Each PT_LOAD segment is copied
//! into fresh pages mapped with U/S set, writable only if the segment is,
//! and NX unless it is executable.

use crate::mm::paging::{self, AddressSpace, PAGE_SIZE, flags};
use alloc::string::String;
use syslab_abi::layout;
use xmas_elf::ElfFile;
use xmas_elf::program::{Flags, Type};
use xmas_elf::sections::SectionData;
use xmas_elf::symbol_table::Entry;

/// What the kernel learned from loading the user program.
#[derive(Clone, Copy, Debug)]
pub struct UserImage {
    pub entry: u64,
    /// The `int3` of `syslab_exit`: the thread-exit trap.
    pub exit_trap: u64,
    /// `syslab_landing`: a place to send a thread by changing its frame.
    pub landing: u64,
    /// `syslab_start32`: where a 32-bit thread starts, in compatibility mode.
    pub entry32: u64,
}

static IMAGE: spin::Once<UserImage> = spin::Once::new();

/// The loaded user program.
pub fn image() -> Option<&'static UserImage> {
    IMAGE.get()
}

/// Loads the ELF in `bytes` into `space` and maps `cpus` stacks and report pages.
pub fn load(space: &mut AddressSpace, bytes: &[u8], cpus: u64) -> Result<UserImage, String> {
    let elf = ElfFile::new(bytes)
        .map_err(|e| alloc::format!("the user program is not an ELF file: {e}"))?;
    for ph in elf.program_iter() {
        if ph.get_type() != Ok(Type::Load) {
            continue;
        }
        let (va, memsz, off, filesz) = (
            ph.virtual_addr(),
            ph.mem_size(),
            ph.offset(),
            ph.file_size(),
        );
        if !paging::is_user_range(va, memsz) {
            return Err(alloc::format!(
                "user segment at {va:#x} lies outside user space"
            ));
        }
        let f: Flags = ph.flags();
        let mut pte = flags::USER;
        if f.is_write() {
            pte |= flags::WRITABLE;
        }
        if !f.is_execute() {
            pte |= flags::NO_EXECUTE;
        }
        let first = va & !(PAGE_SIZE - 1);
        let pages = (va + memsz - first).div_ceil(PAGE_SIZE) as usize;
        let mem = space.map_new(first, pages, pte);
        let src = bytes
            .get(off as usize..(off + filesz) as usize)
            .ok_or("a user segment runs past the end of the file")?;
        // SAFETY: `mem` holds `pages` fresh pages covering [first, va+memsz).
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), mem.add((va - first) as usize), src.len())
        };
    }
    let exit_trap = find_symbol(&elf, "syslab_exit_trap")
        .ok_or("the user program has no syslab_exit_trap symbol")?;
    let landing = find_symbol(&elf, "syslab_landing")
        .ok_or("the user program has no syslab_landing symbol")?;
    let entry32 = find_symbol(&elf, "syslab_start32")
        .ok_or("the user program has no syslab_start32 symbol")?;
    if entry32 >= layout::FOUR_GIB {
        return Err(alloc::format!(
            "the user program's 32-bit entry {entry32:#x} lies above 4 GiB, out of 32-bit code's reach"
        ));
    }
    space.map_new(
        layout::FOUR_GIB_EDGE,
        (layout::FOUR_GIB_EDGE_SIZE / PAGE_SIZE) as usize,
        flags::USER | flags::WRITABLE | flags::NO_EXECUTE,
    );
    for cpu in 0..cpus {
        let pages = (layout::USER_STACK_SIZE / PAGE_SIZE) as usize;
        for top in [layout::user_stack_top(cpu), layout::user32_stack_top(cpu)] {
            space.map_new(
                top - layout::USER_STACK_SIZE,
                pages,
                flags::USER | flags::WRITABLE | flags::NO_EXECUTE,
            );
        }
        space.map_new(
            layout::report_page(cpu),
            1,
            flags::USER | flags::WRITABLE | flags::NO_EXECUTE,
        );
    }
    let image = UserImage {
        entry: elf.header.pt2.entry_point(),
        exit_trap,
        landing,
        entry32,
    };
    IMAGE.call_once(|| image);
    crate::thread::set_exit_trap(exit_trap);
    Ok(image)
}

/// The address of the user program's symbol `name` (a label of its
/// assembly, say), read from the ELF the kernel loaded.
pub fn user_symbol(name: &str) -> Option<u64> {
    let module = crate::start_info()?.modules().first()?;
    // SAFETY: QEMU placed the initrd there, in identity-mapped RAM that
    // nothing else uses.
    let bytes =
        unsafe { core::slice::from_raw_parts(module.paddr as *const u8, module.size as usize) };
    find_symbol(&ElfFile::new(bytes).ok()?, name)
}

fn find_symbol(elf: &ElfFile, name: &str) -> Option<u64> {
    for section in elf.section_iter() {
        if let Ok(SectionData::SymbolTable64(syms)) = section.get_data(elf) {
            for s in syms {
                if s.get_name(elf) == Ok(name) {
                    return Some(s.value());
                }
            }
        }
    }
    None
}

/// CPU `cpu`'s report page, as the kernel reads it.
pub fn report(cpu: u32) -> &'static mut syslab_abi::Report {
    // SAFETY: mapped by `load` for every CPU; the user thread that writes it
    // has ended (or runs on this CPU) when the kernel reads it.
    unsafe { &mut *(layout::report_page(cpu as u64) as *mut syslab_abi::Report) }
}
