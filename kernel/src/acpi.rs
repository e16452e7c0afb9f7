//! The ACPI tables, read with the `acpi` crate: the MADT lists the CPUs.

use alloc::vec::Vec;
use core::ptr::NonNull;

/// The kernel identity-maps RAM, where QEMU puts the tables, so "mapping"
/// a physical region is just taking its address.
#[derive(Clone, Copy)]
struct IdentityMapped;

impl acpi::AcpiHandler for IdentityMapped {
    unsafe fn map_physical_region<T>(
        &self,
        phys: usize,
        size: usize,
    ) -> acpi::PhysicalMapping<Self, T> {
        let virt = NonNull::new(phys as *mut T).expect("ACPI table at address 0");
        // SAFETY: the region is identity-mapped and stays so.
        unsafe { acpi::PhysicalMapping::new(phys, virt, size, size, *self) }
    }
    fn unmap_physical_region<T>(_region: &acpi::PhysicalMapping<Self, T>) {}
}

// ANCHOR: cpu_apic_ids
/// The local APIC ids of the usable CPUs, from the MADT ("APIC" table),
/// boot CPU included (ACPI 6.5 §5.2.12.2: flags bit 0 Enabled, bit 1
/// Online Capable).
pub fn cpu_apic_ids(rsdp: u64) -> Result<Vec<u32>, acpi::AcpiError> {
    // SAFETY: the RSDP address comes from the PVH start info.
    let tables = unsafe { acpi::AcpiTables::from_rsdp(IdentityMapped, rsdp as usize)? };
    let madt = tables.find_table::<acpi::madt::Madt>()?;
    let mut ids = Vec::new();
    for entry in madt.get().entries() {
        match entry {
            acpi::madt::MadtEntry::LocalApic(e) if e.flags & 0b11 != 0 => {
                ids.push(e.apic_id as u32)
            }
            acpi::madt::MadtEntry::LocalX2Apic(e) if e.flags & 0b11 != 0 => ids.push(e.x2apic_id),
            _ => {}
        }
    }
    Ok(ids)
}
// ANCHOR_END: cpu_apic_ids
