//! The PVH start-info block that QEMU hands to the kernel in EBX
//! (xen/include/public/arch-x86/hvm/start_info.h, version 1).

/// "xEn3" with the high bit of each byte cleared.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    pub magic: u32,
    pub version: u32,
    pub flags: u32,
    pub nr_modules: u32,
    pub modlist_paddr: u64,
    pub cmdline_paddr: u64,
    pub rsdp_paddr: u64,
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}

/// One boot module: QEMU passes `-initrd` as module 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Module {
    pub paddr: u64,
    pub size: u64,
    pub cmdline_paddr: u64,
    pub reserved: u64,
}

/// One E820-style memory-map entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}

/// Memory-map type of usable RAM.
pub const MEMMAP_RAM: u32 = 1;

impl StartInfo {
    /// Reads the block at physical `addr` (identity-mapped during boot).
    ///
    /// # Safety
    /// `addr` must be the address QEMU passed in EBX.
    pub unsafe fn from_phys(addr: u64) -> Option<&'static StartInfo> {
        let info = unsafe { &*(addr as *const StartInfo) };
        (info.magic == START_INFO_MAGIC).then_some(info)
    }

    /// The kernel command line (`-append`), or "" when there is none.
    pub fn cmdline(&self) -> &'static str {
        if self.cmdline_paddr == 0 {
            return "";
        }
        // SAFETY: QEMU wrote a NUL-terminated string there.
        let s =
            unsafe { core::ffi::CStr::from_ptr(self.cmdline_paddr as *const core::ffi::c_char) };
        s.to_str().unwrap_or("")
    }

    pub fn modules(&self) -> &'static [Module] {
        if self.modlist_paddr == 0 {
            return &[];
        }
        // SAFETY: QEMU wrote nr_modules entries there.
        unsafe {
            core::slice::from_raw_parts(
                self.modlist_paddr as *const Module,
                self.nr_modules as usize,
            )
        }
    }

    pub fn memmap(&self) -> &'static [MemmapEntry] {
        if self.version < 1 || self.memmap_paddr == 0 {
            return &[];
        }
        // SAFETY: QEMU wrote memmap_entries entries there.
        unsafe {
            core::slice::from_raw_parts(
                self.memmap_paddr as *const MemmapEntry,
                self.memmap_entries as usize,
            )
        }
    }
}
