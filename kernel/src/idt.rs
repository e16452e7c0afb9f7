//! The Interrupt Descriptor Table.
//!
//! All CPUs share one IDT. Every vector gets a gate to a small stub that
//! pushes the vector number (and a zero where the CPU pushes no error code)
//! and jumps to `trap_common` in trap.rs. Lab 1 replaces gate 0x2E with the
//! student's `KiSystemService`.
//!
//! Every gate has DPL 0 except #BP (int3), which ring 3 may raise: user
//! threads end through it (see thread.rs), as Linux also allows. A ring-3
//! `int n` through a DPL-0 gate raises #GP with error code `n * 8 + 2`
//! (Intel SDM Vol. 3A §7.12.1, "Exception- or Interrupt-Handler
//! Procedures"). QEMU before 8.0 reports `n * 16 + 2` instead (QEMU issue
//! #1382), which the Lab 1 test accepts too.

use crate::gdt::KERNEL_CS;

/// IST slot (1-based) of the double-fault handler's stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot of the NMI handler's stack.
pub const IST_NMI: u8 = 2;
/// IST slot of the debug-exception handler's stack.
pub const IST_DEBUG: u8 = 3;
/// IST slot of the machine-check handler's stack.
pub const IST_MACHINE_CHECK: u8 = 4;

// ANCHOR: paranoid_vectors
/// The paranoid vectors, each with its IST slot and name. They can arrive
/// at any instruction, including the few where CS already says ring 0 but
/// GS is still the user's (KiSystemCall64's first instruction, the
/// instructions between an exit's `swapgs` and its `sysretq`, `sysexitq`
/// or `iretq`) and where RSP is still the user's. So the CPU always
/// switches them to a stack of their own, and their entry (paranoid.rs)
/// decides `swapgs` from the GS base, not from the saved CS.
pub const PARANOID: [(u8, u8, &str); 4] = [
    (8, IST_DOUBLE_FAULT, "#DF"),
    (2, IST_NMI, "NMI"),
    (1, IST_DEBUG, "#DB"),
    (18, IST_MACHINE_CHECK, "#MC"),
];
// ANCHOR_END: paranoid_vectors

/// The IST slot of a paranoid `vector`, or 0 for the others.
pub fn ist_of(vector: u8) -> u8 {
    PARANOID
        .iter()
        .find(|(v, _, _)| *v == vector)
        .map_or(0, |(_, ist, _)| *ist)
}

/// The vector of the NT system-service gate.
pub const VECTOR_SYSTEM_SERVICE: u8 = 0x2E;

/// The two gate types of a 64-bit IDT (Intel SDM Vol. 3A §7.14.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GateType {
    /// Clears RFLAGS.IF on entry: no interrupt can arrive before the
    /// handler has saved what it needs.
    Interrupt = 0xE,
    /// Leaves RFLAGS.IF as it was.
    Trap = 0xF,
}

// ANCHOR: gate
/// A 16-byte 64-bit interrupt or trap gate (Intel SDM Vol. 3A Figure 7-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Gate {
    offset_low: u16,
    /// The code segment the CPU loads: the kernel's, 0x08.
    selector: u16,
    /// Bits 2:0: IST slot to switch to (0 = none).
    ist: u8,
    /// Bit 7 P, bits 6:5 DPL, bits 3:0 type.
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}
// ANCHOR_END: gate

const _: () = assert!(size_of::<Gate>() == 16);

const PRESENT: u8 = 1 << 7;

impl Gate {
    /// A gate to `handler` through code segment `selector`. `dpl` is the
    /// highest privilege level (numerically) allowed to reach it with `int n`.
    pub const fn new(handler: u64, selector: u16, kind: GateType, dpl: u8, ist: u8) -> Self {
        Self {
            offset_low: handler as u16,
            selector,
            ist: ist & 7,
            type_attr: PRESENT | ((dpl & 3) << 5) | kind as u8,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }

    pub const fn is_present(&self) -> bool {
        self.type_attr & PRESENT != 0
    }
    pub const fn handler(&self) -> u64 {
        self.offset_low as u64 | (self.offset_mid as u64) << 16 | (self.offset_high as u64) << 32
    }
    pub const fn selector(&self) -> u16 {
        self.selector
    }
    pub const fn dpl(&self) -> u8 {
        (self.type_attr >> 5) & 3
    }
    pub const fn ist(&self) -> u8 {
        self.ist
    }
    pub fn kind(&self) -> Option<GateType> {
        match self.type_attr & 0xF {
            0xE => Some(GateType::Interrupt),
            0xF => Some(GateType::Trap),
            _ => None,
        }
    }
    /// The raw 16 bytes, low quadword first.
    pub fn raw(&self) -> [u64; 2] {
        let low = self.offset_low as u64
            | (self.selector as u64) << 16
            | (self.ist as u64) << 32
            | (self.type_attr as u64) << 40
            | (self.offset_mid as u64) << 48;
        [low, self.offset_high as u64]
    }
}

/// The table: 256 gates.
#[repr(C, align(16))]
pub struct Idt(pub [Gate; 256]);

const _: () = assert!(size_of::<Idt>() == 256 * 16);

impl core::ops::Index<u8> for Idt {
    type Output = Gate;
    fn index(&self, v: u8) -> &Gate {
        &self.0[v as usize]
    }
}
impl core::ops::IndexMut<u8> for Idt {
    fn index_mut(&mut self, v: u8) -> &mut Gate {
        &mut self.0[v as usize]
    }
}

static mut IDT: Idt = Idt([Gate::new(0, 0, GateType::Interrupt, 0, 0); 256]);
static IDT_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Changes the shared IDT. The CPUs see a change at their next interrupt.
pub fn with_idt<R>(f: impl FnOnce(&mut Idt) -> R) -> R {
    let _guard = IDT_LOCK.lock();
    // SAFETY: the lock serialises writers; the CPU only reads the table.
    f(unsafe { &mut *core::ptr::addr_of_mut!(IDT) })
}

/// A copy of gate `v`.
pub fn gate(v: u8) -> Gate {
    with_idt(|idt| idt[v])
}

/// Whether the CPU pushes an error code for this vector (Intel SDM Vol. 3A Table 7-1).
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// The stub for `vector`: the stubs are 16 bytes apart (see trap.rs).
#[cfg(target_os = "none")]
pub fn stub_address(vector: u8) -> u64 {
    unsafe extern "C" {
        fn trap_stubs();
    }
    trap_stubs as *const () as u64 + vector as u64 * 16
}

/// The kernel's own gate for `vector`.
#[cfg(target_os = "none")]
pub fn default_gate(vector: u8) -> Gate {
    // #BP (int3) is the user-thread exit path, so ring 3 may raise it.
    let dpl = if vector == 3 { 3 } else { 0 };
    let ist = ist_of(vector);
    Gate::new(
        stub_address(vector),
        KERNEL_CS,
        GateType::Interrupt,
        dpl,
        ist,
    )
}

/// Fills every gate with the kernel's stubs. Boot CPU, once.
#[cfg(target_os = "none")]
pub fn init() {
    with_idt(|idt| {
        for v in 0..=255u8 {
            idt[v] = default_gate(v);
        }
    });
}

/// Loads the IDT on the running CPU.
#[cfg(target_os = "none")]
pub fn load() {
    let ptr = crate::gdt::DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    // SAFETY: the IDT is static and fully initialised by `init`.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encodes_fields_where_the_sdm_puts_them() {
        let g = Gate::new(0x1234_5678_9abc_def0, 0x08, GateType::Interrupt, 3, 1);
        let [low, high] = g.raw();
        assert_eq!(low & 0xffff, 0xdef0, "offset 15:0");
        assert_eq!((low >> 16) & 0xffff, 0x08, "selector");
        assert_eq!((low >> 32) & 0x7, 1, "IST");
        assert_eq!((low >> 40) & 0xf, 0xE, "64-bit interrupt gate");
        assert_eq!((low >> 45) & 0x3, 3, "DPL");
        assert_eq!((low >> 47) & 1, 1, "present");
        assert_eq!(low >> 48, 0x9abc, "offset 31:16");
        assert_eq!(high, 0x1234_5678, "offset 63:32");
        assert_eq!(g.handler(), 0x1234_5678_9abc_def0);
        assert_eq!(g.kind(), Some(GateType::Interrupt));
        assert_eq!(g.dpl(), 3);
    }

    #[test]
    fn error_code_vectors() {
        assert!(has_error_code(13) && has_error_code(14) && has_error_code(8));
        assert!(!has_error_code(3) && !has_error_code(0x2E));
    }
}
