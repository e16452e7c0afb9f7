//! Symbols for `u`, `!idt` and addresses typed at the prompt: the kernel's,
//! the user program's and SharedUserData's, in one table sorted by address.
//!
//! Where each comes from:
//! - **The kernel.** Its ELF symbol table is not loaded into memory (QEMU
//!   loads only the PT_LOAD segments). The grader extracts it from the
//!   image it built and hands it over through QEMU's fw_cfg device as the
//!   file [`KERNEL_SYMBOLS_FILE`], one `address size name` line per symbol
//!   with Rust names already demangled; the grader and the image can then
//!   never disagree. Without that file (another loader, real hardware) the
//!   entry points the kernel knows by address are still named.
//! - **The user program.** Its ELF is in memory already (it is the initrd)
//!   and keeps its `.symtab`, read here with `xmas-elf` and demangled with
//!   `rustc-demangle`. Names become DLL-style: `ntdll!xp::ZwCreateMutant`,
//!   `kernel32!create_mutex`, `user!bench::run`. `ntdll!ZwCreateMutant`
//!   names the stub this OS's ntdll uses (the `nt` family under `--os 2000`,
//!   `xp` under `--os xp`).
//! - **SharedUserData.** `SharedUserData!SystemCallStub` and, for the
//!   SYSENTER stub, `SharedUserData!KiFastSystemCallRet`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The fw_cfg file the grader passes with `-fw_cfg name=...,file=...`.
pub const KERNEL_SYMBOLS_FILE: &str = "opt/syslab/kernel.sym";

/// How far past a symbol of unknown size an address is still named after it.
const UNSIZED_REACH: u64 = 0x1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub address: u64,
    /// 0 when unknown (an assembly label).
    pub size: u64,
    pub name: String,
}

impl Symbol {
    pub fn new(address: u64, size: u64, name: impl Into<String>) -> Self {
        Symbol {
            address,
            size,
            name: name.into(),
        }
    }
}

/// Every symbol, sorted by address.
#[derive(Default)]
pub struct Symbols {
    list: Vec<Symbol>,
    /// The ntdll stub family `ntdll!Name` (and `ntdll32!Name`) means (`nt` or `xp`).
    ntdll_family: &'static str,
    /// Where 32-bit code lies: `u` decodes it as 32-bit code.
    code32: Vec<core::ops::Range<u64>>,
}

impl Symbols {
    /// Sorts `list`; among symbols at one address the first one given wins.
    pub fn new(mut list: Vec<Symbol>, ntdll_family: &'static str) -> Self {
        list.retain(|s| s.address != 0 && !s.name.is_empty());
        list.sort_by_key(|s| s.address); // stable: the first given stays first
        list.dedup_by(|later, first| later.address == first.address);
        Symbols {
            list,
            ntdll_family,
            code32: Vec::new(),
        }
    }

    /// The same table, with `ranges` marked as 32-bit code.
    pub fn with_code32(mut self, ranges: Vec<core::ops::Range<u64>>) -> Self {
        self.code32 = ranges;
        self
    }

    /// 32 when `address` lies in 32-bit code (the 32-bit user code and
    /// SharedUserData's 32-bit stub), else 64: how `u` decodes it.
    pub fn bitness_at(&self, address: u64) -> u32 {
        if self.code32.iter().any(|r| r.contains(&address)) {
            32
        } else {
            64
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The symbol called `name`: exactly, else ignoring case (as WinDbg
    /// does). `nt!Name` is the kernel's `Name`; `ntdll!Name` is this OS's
    /// family of stubs.
    pub fn lookup(&self, name: &str) -> Option<&Symbol> {
        let name = name.strip_prefix("nt!").unwrap_or(name);
        let family;
        let mut candidates = alloc::vec![name];
        let dll = ["ntdll!", "ntdll32!"]
            .into_iter()
            .find_map(|dll| Some((dll, name.strip_prefix(dll)?)));
        if let Some((dll, stub)) = dll
            && !stub.contains("::")
        {
            family = format!("{dll}{}::{stub}", self.ntdll_family);
            candidates.insert(0, &family);
        }
        for c in &candidates {
            if let Some(s) = self.list.iter().find(|s| s.name == *c) {
                return Some(s);
            }
        }
        candidates
            .iter()
            .find_map(|c| self.list.iter().find(|s| s.name.eq_ignore_ascii_case(c)))
    }

    /// The symbol `address` lies in, and the offset into it.
    pub fn at(&self, address: u64) -> Option<(&Symbol, u64)> {
        let i = self.list.partition_point(|s| s.address <= address);
        let s = self.list.get(i.checked_sub(1)?)?;
        let offset = address - s.address;
        let inside = if s.size != 0 {
            offset < s.size
        } else {
            offset < UNSIZED_REACH
        };
        inside.then_some((s, offset))
    }

    /// `name` or `name+0xoff` for `address`, if a symbol covers it.
    pub fn name_of(&self, address: u64) -> Option<String> {
        self.at(address).map(|(s, off)| match off {
            0 => s.name.clone(),
            off => format!("{}+{off:#x}", s.name),
        })
    }
}

/// Parses the grader's symbol file: `address size name` per line, hex.
/// Lines that do not parse are skipped: a damaged file costs names, not the boot.
pub fn parse_symbol_file(text: &str) -> Vec<Symbol> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let address = u64::from_str_radix(parts.next()?, 16).ok()?;
            let size = u64::from_str_radix(parts.next()?, 16).ok()?;
            let name = parts.next()?.trim();
            (!name.is_empty()).then(|| Symbol::new(address, size, name))
        })
        .collect()
}

/// The labels of the user program's 32-bit code, written as `dll.name`
/// or `dll.family.name` in its assembly (kernel/user/src/ntdll32.rs).
const CODE32_DLLS: [&str; 3] = ["ntdll32.", "kernel32_32.", "wow32."];

/// The prompt's name for a demangled user-program symbol.
pub fn user_name(demangled: &str) -> String {
    if CODE32_DLLS.iter().any(|dll| demangled.starts_with(dll)) {
        // ntdll32.xp.ZwCreateMutant -> ntdll32!xp::ZwCreateMutant
        let (dll, rest) = demangled.split_once('.').unwrap_or((demangled, ""));
        return format!("{dll}!{}", rest.replace('.', "::"));
    }
    match demangled.strip_prefix("syslab_user::") {
        Some(rest) => match rest.split_once("::") {
            Some((dll @ ("ntdll" | "kernel32"), name)) => format!("{dll}!{name}"),
            _ => format!("user!{rest}"),
        },
        None => format!("user!{demangled}"),
    }
}

/// The function and label symbols of the user program's ELF, named for the prompt.
pub fn user_symbols(elf_bytes: &[u8]) -> Result<Vec<Symbol>, String> {
    use xmas_elf::ElfFile;
    use xmas_elf::sections::SectionData;
    use xmas_elf::symbol_table::{Entry, Type};
    let elf = ElfFile::new(elf_bytes).map_err(|e| format!("not an ELF file: {e}"))?;
    let mut out = Vec::new();
    for section in elf.section_iter() {
        let Ok(SectionData::SymbolTable64(entries)) = section.get_data(&elf) else {
            continue;
        };
        for e in entries {
            if !matches!(e.get_type(), Ok(Type::Func | Type::NoType)) || e.value() == 0 {
                continue;
            }
            let Ok(raw) = e.get_name(&elf) else { continue };
            if raw.is_empty() || raw.starts_with('.') || raw.starts_with('$') {
                continue;
            }
            let demangled = format!("{:#}", rustc_demangle::demangle(raw));
            out.push(Symbol::new(e.value(), e.size(), user_name(&demangled)));
        }
    }
    Ok(out)
}

/// The user program's 32-bit code, between the labels its link script
/// puts around it (kernel/user/user.ld).
pub fn code32_range(user: &[Symbol]) -> Option<core::ops::Range<u64>> {
    let at = |name: &str| user.iter().find(|s| s.name == name).map(|s| s.address);
    Some(at("user!syslab_code32_start")?..at("user!syslab_code32_end")?)
}

static TABLE: spin::Once<Symbols> = spin::Once::new();

/// The session's symbols, gathered on first use.
#[cfg(target_os = "none")]
pub fn table() -> &'static Symbols {
    TABLE.call_once(gather)
}

/// The kernel's (from the grader's fw_cfg file, else the entry points it
/// knows), the user program's and SharedUserData's.
#[cfg(target_os = "none")]
fn gather() -> Symbols {
    use crate::shared_user_data::{self as sud, StubKind};
    let mut code32 = Vec::new();
    let mut list = crate::fw_cfg::read_file(KERNEL_SYMBOLS_FILE)
        .map(|bytes| parse_symbol_file(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    if list.is_empty() {
        crate::kprintln!(
            "kd: no kernel symbol file ({KERNEL_SYMBOLS_FILE}); naming the entry points only"
        );
    }
    let student = crate::student::student();
    unsafe extern "C" {
        fn trap_stubs();
    }
    let known: [(&str, u64); 6] = [
        (
            "KiSystemService",
            student.lab1.ki_system_service as *const () as u64,
        ),
        (
            "KiFastCallEntry",
            student.lab2.ki_fast_call_entry as *const () as u64,
        ),
        (
            "KiSystemCall64",
            student.lab3.ki_system_call64 as *const () as u64,
        ),
        (
            "KiSystemServiceExit",
            crate::syscall::exit::ki_system_service_exit(),
        ),
        (
            "KiSystemCall32",
            student.lab3.ki_system_call32 as *const () as u64,
        ),
        ("trap_stubs", trap_stubs as *const () as u64),
    ];
    list.extend(known.iter().map(|&(n, a)| Symbol::new(a, 0, n)));
    if let Some(module) = crate::start_info().and_then(|i| i.modules().first()) {
        // SAFETY: QEMU placed the initrd there, in identity-mapped RAM that
        // nothing else uses.
        let elf =
            unsafe { core::slice::from_raw_parts(module.paddr as *const u8, module.size as usize) };
        match user_symbols(elf) {
            Ok(user) => {
                code32.extend(code32_range(&user));
                list.extend(user);
            }
            Err(e) => crate::kprintln!("kd: the user program's symbols: {e}"),
        }
    }
    if let Some(kind) = sud::chosen() {
        use crate::mode::UserMode::{Compat, Long};
        list.push(Symbol::new(sud::SHARED_USER_DATA, 0x300, "SharedUserData"));
        for (mode, stub, ret, ret_name) in [
            (
                Compat,
                "SharedUserData!SystemCallStub",
                sud::KI_FAST_SYSTEM_CALL_RET,
                "SharedUserData!KiFastSystemCallRet",
            ),
            (
                Long,
                "SharedUserData!SystemCallStub64",
                sud::KI_FAST_SYSTEM_CALL_RET64,
                "SharedUserData!KiFastSystemCallRet64",
            ),
        ] {
            let at = sud::stub_address(mode);
            let len = sud::stub_code(kind, mode).len() as u64;
            list.push(Symbol::new(at, len, stub));
            if kind == StubKind::Sysenter {
                list.push(Symbol::new(ret, at + len - ret, ret_name));
            }
            if mode == Compat {
                code32.push(at..at + len);
            }
        }
    }
    let family = match crate::os::current() {
        crate::os::Os::Windows2000 => "nt",
        crate::os::Os::WindowsXp => "xp",
    };
    Symbols::new(list, family).with_code32(code32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Symbols {
        Symbols::new(
            alloc::vec![
                Symbol::new(0x10_5000, 0x40, "KiFastCallEntry"),
                Symbol::new(0x10_5000, 0x40, "an_alias"),
                Symbol::new(0x10_6000, 0, "trap_stubs"),
                Symbol::new(0x4000_0044, 0x10, "ntdll!nt::ZwCreateMutant"),
                Symbol::new(0x4000_0144, 0x10, "ntdll!xp::ZwCreateMutant"),
                Symbol::new(0x7ffe_0300, 6, "SharedUserData!SystemCallStub"),
                Symbol::new(0, 4, "at_zero"),
            ],
            "xp",
        )
    }

    #[test]
    fn names_by_address() {
        let t = table();
        assert_eq!(t.len(), 5, "duplicates and address 0 are dropped");
        assert_eq!(t.name_of(0x10_5000).as_deref(), Some("KiFastCallEntry"));
        assert_eq!(
            t.name_of(0x10_503f).as_deref(),
            Some("KiFastCallEntry+0x3f")
        );
        assert_eq!(t.name_of(0x10_5040), None, "past the end of a sized symbol");
        assert_eq!(t.name_of(0x10_6ff0).as_deref(), Some("trap_stubs+0xff0"));
        assert_eq!(t.name_of(0x10_7000), None, "too far past a label");
        assert_eq!(
            t.name_of(0x7ffe_0302).as_deref(),
            Some("SharedUserData!SystemCallStub+0x2")
        );
        assert_eq!(t.name_of(0), None);
        assert_eq!(t.name_of(u64::MAX), None);
    }

    #[test]
    fn lookups() {
        let t = table();
        assert_eq!(t.lookup("kifastcallentry").unwrap().address, 0x10_5000);
        assert_eq!(t.lookup("nt!KiFastCallEntry").unwrap().address, 0x10_5000);
        assert_eq!(
            t.lookup("ntdll!ZwCreateMutant").unwrap().address,
            0x4000_0144
        );
        assert_eq!(
            t.lookup("ntdll!nt::ZwCreateMutant").unwrap().address,
            0x4000_0044
        );
        let t2000 = Symbols::new(
            alloc::vec![
                Symbol::new(0x44, 0x10, "ntdll!nt::ZwNull"),
                Symbol::new(0x54, 0xe, "ntdll32!nt::ZwCreateMutant"),
                Symbol::new(0x64, 0xf, "ntdll32!xp::ZwCreateMutant"),
            ],
            "nt",
        )
        .with_code32(alloc::vec![0x54..0x80]);
        assert_eq!(t2000.lookup("ntdll!ZwNull").unwrap().address, 0x44);
        assert_eq!(
            t2000.lookup("ntdll32!ZwCreateMutant").unwrap().address,
            0x54
        );
        assert_eq!(
            t2000.lookup("ntdll32!xp::ZwCreateMutant").unwrap().address,
            0x64
        );
        assert_eq!(
            (
                t2000.bitness_at(0x44),
                t2000.bitness_at(0x54),
                t2000.bitness_at(0x80)
            ),
            (64, 32, 64)
        );
        assert!(t.lookup("NoSuchThing").is_none());
        assert!(t.lookup("").is_none());
    }

    #[test]
    fn symbol_file_and_user_names() {
        let parsed = parse_symbol_file(
            "105000 40 KiFastCallEntry\nzz 1 bad\n106000 0 syslab_kernel::trap::imp::trap_common\n\n1 2\n",
        );
        assert_eq!(
            parsed,
            [
                Symbol::new(0x10_5000, 0x40, "KiFastCallEntry"),
                Symbol::new(0x10_6000, 0, "syslab_kernel::trap::imp::trap_common"),
            ]
        );
        assert_eq!(
            user_name("syslab_user::ntdll::xp::ZwNull"),
            "ntdll!xp::ZwNull"
        );
        assert_eq!(
            user_name("syslab_user::kernel32::create_mutex"),
            "kernel32!create_mutex"
        );
        assert_eq!(user_name("syslab_user::bench::run"), "user!bench::run");
        assert_eq!(
            user_name("ntdll32.xp.ZwCreateMutant"),
            "ntdll32!xp::ZwCreateMutant"
        );
        assert_eq!(
            user_name("kernel32_32.CreateMutex"),
            "kernel32_32!CreateMutex"
        );
        assert_eq!(user_name("_start"), "user!_start");
    }

    #[test]
    fn user_symbols_refuse_garbage() {
        assert!(user_symbols(b"not an elf").is_err());
        assert!(user_symbols(&[]).is_err());
    }
}
