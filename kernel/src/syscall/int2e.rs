//! The `int 0x2e` path, Windows NT 4/2000's system call.
//!
//! Ring 3 runs `int 0x2e`. The CPU reads gate 0x2E of the IDT (16 bytes)
//! and checks CPL <= the gate's DPL; it then reads the GDT descriptor of
//! the gate's code segment (8 bytes) and checks it, loads RSP0 from the TSS,
//! pushes SS, RSP, RFLAGS, CS and RIP, clears IF (an interrupt gate), and
//! jumps to the gate's offset, `KiSystemService`. The return, `iretq`,
//! pops and checks all five again (Intel SDM Vol. 3A §7.12.1). Those
//! descriptor loads and checks are why the fast-call instructions exist.
//!
//! The student writes the gate (`install_int2e_gate`), the stub
//! (`KiSystemService`, which exits through `KiSystemCallExit`) and the
//! dispatcher; the kernel installs them at the start of Lab 1.

/// Asks the student's code to install gate 0x2E. Idempotent per boot.
#[cfg(target_os = "none")]
pub fn install() {
    static DONE: spin::Once<()> = spin::Once::new();
    DONE.call_once(|| {
        let lab1 = &crate::student::student().lab1;
        crate::idt::with_idt(|idt| (lab1.install_int2e_gate)(idt));
    });
}
