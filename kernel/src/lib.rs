//! syslab: an SMP x86_64 teaching kernel.
//!
//! This crate is the whole kernel except the students' code. The kernel
//! image is the binary of `labs/` or `solutions/`: it links this library and
//! hands it the student's functions through [`student::Student`]. The kernel
//! never knows which of the two it was linked with.
//!
//! [`kmain_bsp`] reads as the boot sequence; each step is its own module.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod arch;
pub mod cmdline;
pub mod gdt;
pub mod mm;
pub mod pvh;
pub mod serial;

#[cfg(target_os = "none")]
mod boot;

/// The boot CPU's Rust entry, called from boot.rs in 64-bit mode with the
/// identity-mapped boot page tables and the boot stack.
#[cfg(target_os = "none")]
extern "C" fn kmain_bsp(start_info: u64) -> ! {
    serial::init();
    kprintln!("syslab: hello from the boot CPU");
    // SAFETY: boot.rs passes EBX from the PVH entry.
    let info = unsafe { pvh::StartInfo::from_phys(start_info) };
    match info {
        Some(info) => {
            kprintln!("cmdline: {}", info.cmdline());
            for m in info.modules() {
                kprintln!("module at {:#x} size {:#x}", m.paddr, m.size);
            }
            for e in info.memmap() {
                kprintln!("mem {:#x} {:#x} {}", e.addr, e.size, e.kind);
            }
        }
        None => kprintln!("no PVH start info"),
    }
    arch::qemu_exit(arch::ExitCode::Done)
}

#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("PANIC: {info}");
    arch::qemu_exit(arch::ExitCode::KernelFault)
}
