//! The Global Descriptor Table and the Task State Segment.
//!
//! The layout serves all three system-call mechanisms at once, because each
//! of them computes its selectors from one base instead of reading them from
//! memory (Intel SDM Vol. 2B, SYSENTER/SYSEXIT; AMD APM Vol. 2 §6.1.1 STAR):
//!
//! | selector | descriptor      | who loads it                                  |
//! |----------|-----------------|-----------------------------------------------|
//! | 0x08     | kernel code 64  | SYSENTER: CS = IA32_SYSENTER_CS; SYSCALL: STAR[47:32] |
//! | 0x10     | kernel data     | SYSENTER: SS = CS+8; SYSCALL: SS = STAR[47:32]+8 |
//! | 0x18     | user code 32    | SYSEXIT (32-bit): CS = SYSENTER_CS+16; SYSRET: STAR[63:48] |
//! | 0x20     | user data       | SYSEXIT (32-bit): SS = +24; SYSRET: SS = STAR[63:48]+8 |
//! | 0x28     | user code 64    | SYSEXIT (64-bit): CS = +32; SYSRET (64-bit): CS = STAR[63:48]+16 |
//! | 0x30     | user data       | SYSEXIT (64-bit): SS = +40                     |
//! | 0x38     | TSS (16 bytes)  | `ltr`                                          |
//!
//! Every CPU has its own copy of this table (in its per-CPU block) so that the
//! TSS descriptor at 0x38 can point at that CPU's own TSS.

// ANCHOR: selectors
/// Kernel code, ring 0, 64-bit (IA32_SYSENTER_CS and STAR[47:32] hold this).
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data/stack, ring 0: KERNEL_CS + 8.
pub const KERNEL_DS: u16 = 0x10;
/// User code, ring 3, 32-bit (compatibility mode); STAR[63:48] holds 0x18.
pub const USER_CS32: u16 = 0x18 | 3;
/// User data, ring 3: what SYSRET loads into SS (STAR[63:48] + 8).
pub const USER_DS: u16 = 0x20 | 3;
/// User code, ring 3, 64-bit: SYSENTER_CS + 32 and STAR[63:48] + 16.
pub const USER_CS: u16 = 0x28 | 3;
/// User data, ring 3: what 64-bit SYSEXIT loads into SS (SYSENTER_CS + 40).
pub const USER_SS: u16 = 0x30 | 3;
/// The TSS descriptor (two slots, 16 bytes).
pub const TSS_SEL: u16 = 0x38;
// ANCHOR_END: selectors

/// Number of 8-byte slots in the GDT: null, six segments, a 16-byte TSS.
pub const GDT_ENTRIES: usize = 9;

/// A code or data segment descriptor, built from its named fields
/// (Intel SDM Vol. 3A §3.4.5 "Segment Descriptors"). In 64-bit mode base and
/// limit are ignored for code and data, but we encode the flat 4 GiB values
/// that every other OS uses, so the words match Linux's and the x86_64 crate's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentDescriptor(pub u64);

/// Bit positions of a segment descriptor's high dword, counted in the 64-bit word.
pub mod bits {
    /// Accessed: set so the CPU never has to write the GDT.
    pub const ACCESSED: u64 = 1 << 40;
    /// Readable (code) / writable (data).
    pub const READ_WRITE: u64 = 1 << 41;
    /// Executable: a code segment.
    pub const EXECUTABLE: u64 = 1 << 43;
    /// S: a code or data segment (not a system descriptor).
    pub const USER_SEGMENT: u64 = 1 << 44;
    /// DPL, two bits.
    pub const DPL_SHIFT: u64 = 45;
    /// P: present.
    pub const PRESENT: u64 = 1 << 47;
    /// L: 64-bit code segment.
    pub const LONG_MODE: u64 = 1 << 53;
    /// D/B: 32-bit default operand size (must be 0 when L is set).
    pub const DEFAULT_SIZE: u64 = 1 << 54;
    /// G: limit in 4 KiB units.
    pub const GRANULARITY: u64 = 1 << 55;
    /// Limit 0xFFFFF: bits 15:0 and 51:48.
    pub const LIMIT_MAX: u64 = 0xffff | (0xf << 48);
}

impl SegmentDescriptor {
    const COMMON: u64 = bits::ACCESSED
        | bits::READ_WRITE
        | bits::USER_SEGMENT
        | bits::PRESENT
        | bits::GRANULARITY
        | bits::LIMIT_MAX;

    /// A 64-bit code segment (L=1, D=0) at privilege level `dpl`.
    pub const fn code64(dpl: u8) -> Self {
        Self(
            Self::COMMON
                | bits::EXECUTABLE
                | bits::LONG_MODE
                | ((dpl as u64 & 3) << bits::DPL_SHIFT),
        )
    }

    /// A 32-bit code segment (L=0, D=1), for compatibility mode.
    pub const fn code32(dpl: u8) -> Self {
        Self(
            Self::COMMON
                | bits::EXECUTABLE
                | bits::DEFAULT_SIZE
                | ((dpl as u64 & 3) << bits::DPL_SHIFT),
        )
    }

    /// A writable data segment.
    pub const fn data(dpl: u8) -> Self {
        Self(Self::COMMON | bits::DEFAULT_SIZE | ((dpl as u64 & 3) << bits::DPL_SHIFT))
    }

    pub const fn is_present(self) -> bool {
        self.0 & bits::PRESENT != 0
    }
    pub const fn is_code(self) -> bool {
        self.0 & bits::USER_SEGMENT != 0 && self.0 & bits::EXECUTABLE != 0
    }
    pub const fn is_data(self) -> bool {
        self.0 & bits::USER_SEGMENT != 0 && self.0 & bits::EXECUTABLE == 0
    }
    /// Writable (data) or readable (code).
    pub const fn is_writable(self) -> bool {
        self.0 & bits::READ_WRITE != 0
    }
    pub const fn is_long_mode(self) -> bool {
        self.0 & bits::LONG_MODE != 0
    }
    pub const fn dpl(self) -> u8 {
        ((self.0 >> bits::DPL_SHIFT) & 3) as u8
    }
}

/// The two GDT slots of a 64-bit TSS descriptor (Intel SDM Vol. 3A §8.2.3,
/// "TSS Descriptor in 64-bit mode"): type 0x9 (available 64-bit TSS), present.
pub const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    const TYPE_AVAILABLE_TSS64: u64 = 0x9 << 40;
    let low = (limit as u64 & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | TYPE_AVAILABLE_TSS64
        | bits::PRESENT
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The kernel's GDT contents, minus the TSS descriptor that each CPU fills in.
pub const fn standard_gdt() -> [u64; GDT_ENTRIES] {
    [
        0,
        SegmentDescriptor::code64(0).0,
        SegmentDescriptor::data(0).0,
        SegmentDescriptor::code32(3).0,
        SegmentDescriptor::data(3).0,
        SegmentDescriptor::code64(3).0,
        SegmentDescriptor::data(3).0,
        0,
        0,
    ]
}

/// The operand of `lgdt`/`lidt`: a 16-bit limit and a 64-bit base.
#[repr(C, packed)]
pub struct DescriptorTablePointer {
    pub limit: u16,
    pub base: u64,
}

/// A CPU's own GDT. 16-byte alignment keeps the table on one cache line pair.
#[repr(C, align(16))]
pub struct Gdt(pub [u64; GDT_ENTRIES]);

impl Gdt {
    pub const fn new() -> Self {
        Self(standard_gdt())
    }

    /// Points slot 0x38 at `tss`.
    pub fn set_tss(&mut self, tss: &Tss) {
        let [low, high] = tss_descriptor(tss as *const Tss as u64, (size_of::<Tss>() - 1) as u32);
        self.0[TSS_SEL as usize / 8] = low;
        self.0[TSS_SEL as usize / 8 + 1] = high;
    }

    /// Descriptor at `selector` (RPL bits ignored).
    pub fn descriptor(&self, selector: u16) -> Option<SegmentDescriptor> {
        self.0
            .get(selector as usize / 8)
            .map(|&d| SegmentDescriptor(d))
    }

    // ANCHOR: load
    /// Loads this table, reloads every segment register and the task register.
    ///
    /// # Safety
    /// `self` must stay at this address for as long as the CPU runs, and its
    /// TSS slot must describe a valid TSS.
    #[cfg(target_os = "none")]
    pub unsafe fn load(&'static self) {
        let ptr = DescriptorTablePointer {
            limit: (size_of::<Self>() - 1) as u16,
            base: self as *const Self as u64,
        };
        unsafe {
            core::arch::asm!(
                "lgdt [{ptr}]",
                // Reload CS with a far return: push the selector, then the target.
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov {tmp:e}, {ds}",
                "mov ss, {tmp:e}",
                "mov ds, {tmp:e}",
                "mov es, {tmp:e}",
                "mov {tmp:e}, {tss}",
                "ltr {tmp:x}",
                ptr = in(reg) &ptr,
                cs = const KERNEL_CS as u64,
                ds = const KERNEL_DS as u32,
                tss = const TSS_SEL as u32,
                tmp = out(reg) _,
            );
        }
    }
    // ANCHOR_END: load
}

impl Default for Gdt {
    fn default() -> Self {
        Self::new()
    }
}

// ANCHOR: tss
/// The 64-bit Task State Segment (Intel SDM Vol. 3A §8.7). In long mode it
/// holds no task state, only stack pointers: RSP0 for entries from ring 3
/// and the IST stacks that chosen IDT gates switch to unconditionally.
#[repr(C, packed(4))]
pub struct Tss {
    reserved0: u32,
    /// RSP0..RSP2: stacks for a privilege change to rings 0..2.
    pub rsp: [u64; 3],
    reserved1: u64,
    /// IST1..IST7.
    pub ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    /// Offset of the I/O permission bitmap; past the limit means none, so
    /// ring 3 may touch no port.
    pub iomap_base: u16,
}
// ANCHOR_END: tss

impl Tss {
    pub const fn new() -> Self {
        Self {
            reserved0: 0,
            rsp: [0; 3],
            reserved1: 0,
            ist: [0; 7],
            reserved2: 0,
            reserved3: 0,
            iomap_base: size_of::<Tss>() as u16,
        }
    }
}

impl Default for Tss {
    fn default() -> Self {
        Self::new()
    }
}

const _: () = assert!(size_of::<Tss>() == 104);
const _: () = assert!(size_of::<DescriptorTablePointer>() == 10);

// The boot GDT: just enough for the far return into 64-bit mode in boot.rs.
// In 32-bit mode `lgdt` reads a 32-bit base, which the low half of the
// 64-bit field provides because the kernel is linked below 4 GiB.
#[unsafe(no_mangle)]
pub static BOOT_GDT: BootGdtPtr = BootGdtPtr {
    limit: (3 * 8 - 1) as u16,
    base: &BOOT_GDT_TABLE,
};

static BOOT_GDT_TABLE: [u64; 3] = [
    0,
    SegmentDescriptor::code64(0).0,
    SegmentDescriptor::data(0).0,
];

/// `lgdt` operand for the boot GDT.
#[repr(C, packed)]
pub struct BootGdtPtr {
    limit: u16,
    base: &'static [u64; 3],
}

// SAFETY: immutable after link time.
unsafe impl Sync for BootGdtPtr {}

#[cfg(test)]
mod tests {
    use super::*;

    // Known descriptor words: the same values as Linux's GDT_ENTRY_INIT
    // flat segments and the x86_64 crate's constants.
    #[test]
    fn descriptors_match_known_encodings() {
        assert_eq!(SegmentDescriptor::code64(0).0, 0x00af_9b00_0000_ffff);
        assert_eq!(SegmentDescriptor::data(0).0, 0x00cf_9300_0000_ffff);
        assert_eq!(SegmentDescriptor::code32(3).0, 0x00cf_fb00_0000_ffff);
        assert_eq!(SegmentDescriptor::data(3).0, 0x00cf_f300_0000_ffff);
        assert_eq!(SegmentDescriptor::code64(3).0, 0x00af_fb00_0000_ffff);
    }

    #[test]
    fn descriptor_fields_decode() {
        let ucode = SegmentDescriptor::code64(3);
        assert!(ucode.is_present() && ucode.is_code() && ucode.is_long_mode());
        assert_eq!(ucode.dpl(), 3);
        let kdata = SegmentDescriptor::data(0);
        assert!(kdata.is_data() && !kdata.is_code());
        assert_eq!(kdata.dpl(), 0);
    }

    #[test]
    fn tss_descriptor_splits_base_and_limit() {
        let [low, high] = tss_descriptor(0xffff_8000_1234_5678, 103);
        assert_eq!(low & 0xffff, 103);
        assert_eq!((low >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((low >> 56) & 0xff, 0x12);
        assert_eq!((low >> 40) & 0xf, 0x9, "available 64-bit TSS");
        assert_ne!(low & (1 << 47), 0, "present");
        assert_eq!(high, 0xffff_8000);
    }

    #[test]
    fn layout_satisfies_sysexit_and_sysret_arithmetic() {
        let gdt = Gdt::new();
        let at = |sel: u16| gdt.descriptor(sel).unwrap();
        // SYSENTER: CS = 0x08, SS = 0x10.
        assert!(at(KERNEL_CS).is_code() && at(KERNEL_CS).dpl() == 0);
        assert!(at(KERNEL_CS + 8).is_data() && at(KERNEL_CS + 8).dpl() == 0);
        // 64-bit SYSEXIT: CS = +32, SS = +40, both ring 3.
        assert_eq!(KERNEL_CS + 32, USER_CS & !3);
        assert_eq!(KERNEL_CS + 40, USER_SS & !3);
        assert!(at(USER_CS).is_long_mode() && at(USER_CS).dpl() == 3);
        assert!(at(USER_SS).is_data() && at(USER_SS).dpl() == 3);
        // SYSRET with STAR[63:48] = 0x18: SS = +8, CS = +16.
        assert_eq!((USER_CS32 & !3) + 8, USER_DS & !3);
        assert_eq!((USER_CS32 & !3) + 16, USER_CS & !3);
        assert!(at(USER_DS).is_data() && at(USER_DS).dpl() == 3);
    }
}
