//! Addresses in the kernel ELF -> `function+0xoff (file:line)`.
//!
//! The symbol table (read with `object`) names the function and gives the
//! offset; the DWARF line table (read with `addr2line`) gives the source
//! line, of the innermost inlined function when there is one. The workspace's
//! release profile keeps `debug = true`, so both are in the kernel image.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// The DWARF sections, each a shared copy of the bytes read from the ELF.
type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

/// A function symbol: `[start, start + size)`; `size` 0 means unknown.
#[derive(Clone, Debug)]
struct Function {
    start: u64,
    size: u64,
    name: String,
}

/// An ELF's symbols and line tables, loaded once per graded image.
pub struct Symbolizer {
    functions: Vec<Function>,
    /// Global labels without a type inside functions, sorted: the
    /// `.global KiSystemCallExit` of an entry stub, whose exit half then
    /// gets its own name.
    labels: Vec<(u64, String)>,
    /// Executable sections, to bound functions whose size is unknown.
    code: Vec<(u64, u64)>,
    lines: Option<addr2line::Context<Reader>>,
    /// Source paths under this directory are shown relative to it.
    root: Option<PathBuf>,
}

/// Where an address is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbolized {
    pub address: u64,
    /// Demangled, without the hash: `syslab_kernel::trap::dispatch`.
    pub function: String,
    pub offset: u64,
    /// When `function` is a label inside a function (a stub's exit label,
    /// such as `KiSystemCallExit` in `KiSystemService`): that function, so
    /// that a report names the function the student wrote.
    pub within: Option<String>,
    /// The line in `function` itself (for inlined code: the call site).
    pub file: Option<String>,
    pub line: Option<u32>,
    /// When the address is in code inlined into `function`: the innermost
    /// inlined function and its line.
    pub inlined: Option<Inlined>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inlined {
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

fn write_place(
    f: &mut fmt::Formatter<'_>,
    file: &Option<String>,
    line: Option<u32>,
) -> fmt::Result {
    match (file, line) {
        (Some(file), Some(line)) => write!(f, "{file}:{line}"),
        (Some(file), None) => write!(f, "{file}"),
        _ => write!(f, "no line information"),
    }
}

impl fmt::Display for Symbolized {
    /// `function+0xoff (file:line)`, `label+0xoff in function` for a
    /// label inside a function, and `; inlined g at file:line` when the
    /// instruction belongs to code inlined into the function.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", self.function, self.offset)?;
        if let Some(within) = &self.within {
            write!(f, " in {within}")?;
        }
        if self.file.is_none() && self.inlined.is_none() {
            return Ok(());
        }
        f.write_str(" (")?;
        write_place(f, &self.file, self.line)?;
        if let Some(inlined) = &self.inlined {
            write!(f, "; inlined {} at ", inlined.function)?;
            write_place(f, &inlined.file, inlined.line)?;
        }
        f.write_str(")")
    }
}

/// One frame of the inline chain: function name and location.
type Frame = (Option<String>, Option<String>, Option<u32>);

impl Symbolizer {
    /// Loads `elf`. Source paths under `root` are printed relative to it.
    pub fn load(elf: &Path, root: Option<&Path>) -> Result<Symbolizer> {
        let data = std::fs::read(elf)
            .with_context(|| format!("cannot read {} to symbolize addresses", elf.display()))?;
        let file = object::File::parse(&*data)
            .with_context(|| format!("{} is not an ELF file the grader can read", elf.display()))?;

        let mut functions: Vec<Function> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
            .filter_map(|s| {
                Some(Function {
                    start: s.address(),
                    size: s.size(),
                    name: s.name().ok()?.to_owned(),
                })
            })
            .collect();
        // Sorted by start; among aliases at one address, the sized one first.
        functions.sort_by(|a, b| a.start.cmp(&b.start).then(b.size.cmp(&a.size)));
        functions.dedup_by_key(|f| f.start);

        let code: Vec<(u64, u64)> = file
            .sections()
            .filter(|s| s.kind() == SectionKind::Text)
            .map(|s| (s.address(), s.address() + s.size()))
            .collect();
        let mut labels: Vec<(u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Unknown && s.is_global() && s.is_definition())
            .filter(|s| code.iter().any(|&(lo, hi)| (lo..hi).contains(&s.address())))
            .filter_map(|s| Some((s.address(), s.name().ok()?.to_owned())))
            .collect();
        labels.sort();

        // Without DWARF the symbol names still help, so a failure here is not fatal.
        let lines = line_tables(&file).ok();
        Ok(Symbolizer {
            functions,
            labels,
            code,
            lines,
            root: root.map(Path::to_path_buf),
        })
    }

    /// The functions as `address size name` lines (hex, names demangled):
    /// the file the kernel's `kd>` prompt reads its symbols from.
    pub fn symbol_file(&self) -> String {
        self.functions
            .iter()
            .map(|f| format!("{:x} {:x} {}\n", f.start, f.size, demangle(&f.name)))
            .collect()
    }

    /// The function symbol containing `address`.
    fn containing(&self, address: u64) -> Option<&Function> {
        let index = self.functions.partition_point(|f| f.start <= address);
        let function = self.functions.get(index.checked_sub(1)?)?;
        let inside = if function.size > 0 {
            address < function.start + function.size
        } else {
            self.code
                .iter()
                .any(|&(lo, hi)| (lo..hi).contains(&function.start) && (lo..hi).contains(&address))
        };
        inside.then_some(function)
    }

    /// The start and demangled name of the function containing `address`,
    /// from the symbol table alone (no line tables: fast enough for every
    /// step of `bench --anatomy`).
    pub fn function_at(&self, address: u64) -> Option<(u64, String)> {
        self.containing(address)
            .map(|f| (f.start, demangle(&f.name)))
    }

    /// The start of every function whose demangled name satisfies `wanted`.
    pub fn functions_named(&self, wanted: impl Fn(&str) -> bool) -> Vec<(u64, String)> {
        self.functions
            .iter()
            .map(|f| (f.start, demangle(&f.name)))
            .filter(|(_, name)| wanted(name))
            .collect()
    }

    /// The function containing `address`, or `None` if no function does.
    pub fn symbolize(&self, address: u64) -> Option<Symbolized> {
        let function = self.containing(address)?;
        // Innermost first; the last frame is the function itself.
        let frames = self.frames(address);
        let (file, line) = match frames.last() {
            Some((_, file, line)) => (file.clone(), *line),
            None => (None, None),
        };
        let inlined = match frames.as_slice() {
            [(name, file, line), _, ..] => Some(Inlined {
                function: name.clone().unwrap_or_else(|| "an unnamed function".into()),
                file: file.clone(),
                line: *line,
            }),
            _ => None,
        };
        // A label inside the function, at or below the address, names the part.
        let label = self
            .labels
            .iter()
            .rev()
            .find(|(at, _)| *at > function.start && *at <= address);
        let (name, start) = label.map_or((function.name.as_str(), function.start), |(at, name)| {
            (name.as_str(), *at)
        });
        Some(Symbolized {
            address,
            function: demangle(name),
            offset: address - start,
            within: label.map(|_| demangle(&function.name)),
            file,
            line,
            inlined,
        })
    }

    fn frames(&self, address: u64) -> Vec<Frame> {
        let Some(loader) = &self.lines else {
            return vec![];
        };
        let mut frames = Vec::new();
        if let Ok(mut iter) = loader.find_frames(address).skip_all_loads() {
            while let Ok(Some(frame)) = iter.next() {
                let name = frame
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok())
                    .map(|n| demangle(&n));
                let file = frame
                    .location
                    .as_ref()
                    .and_then(|l| l.file)
                    .map(|f| self.shorten(f));
                frames.push((name, file, frame.location.and_then(|l| l.line)));
            }
        }
        if frames.is_empty() {
            // No inline information: the plain line table may still know.
            if let Ok(Some(location)) = loader.find_location(address) {
                frames.push((None, location.file.map(|f| self.shorten(f)), location.line));
            }
        }
        frames
    }

    /// `function+0xoff (file:line)`, or a phrase saying the address is not
    /// in any function of the image.
    pub fn describe(&self, address: u64) -> String {
        match self.symbolize(address) {
            Some(place) => place.to_string(),
            None => "not inside any function of the kernel image".into(),
        }
    }

    fn shorten(&self, file: &str) -> String {
        if let Some(root) = &self.root
            && let Ok(inside) = Path::new(file).strip_prefix(root)
        {
            return inside.display().to_string();
        }
        shorten_external(file)
    }
}

/// The ELF's DWARF, for its line tables and inline chains. A missing
/// section reads as empty, which gimli takes as "no such information".
fn line_tables(file: &object::File<'_>) -> Result<addr2line::Context<Reader>, gimli::Error> {
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|section| section.data().ok())
            .unwrap_or(&[]);
        Ok(Reader::new(data.into(), endian))
    })?;
    addr2line::Context::from_dwarf(dwarf)
}

/// The standard library and crates.io sources by their short names:
/// `.../rustlib/src/rust/library/core/src/x.rs` -> `core/src/x.rs`,
/// `/rustc/<hash>/library/core/src/x.rs` -> `core/src/x.rs`,
/// `~/.cargo/registry/src/<index>/spin-0.12.0/src/x.rs` -> `spin-0.12.0/src/x.rs`.
pub fn shorten_external(file: &str) -> String {
    if let Some(at) = file.find("/rustlib/src/rust/library/") {
        return file[at + "/rustlib/src/rust/library/".len()..].to_owned();
    }
    if let Some(rest) = file.strip_prefix("/rustc/")
        && let Some(at) = rest.find("/library/")
    {
        return rest[at + "/library/".len()..].to_owned();
    }
    if let Some(at) = file.find("/registry/src/") {
        let rest = &file[at + "/registry/src/".len()..];
        if let Some(slash) = rest.find('/') {
            return rest[slash + 1..].to_owned();
        }
    }
    file.to_owned()
}

/// A Rust (legacy or v0) or C symbol name, readable, without the hash.
pub fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats() {
        let mut s = Symbolized {
            address: 0x1010,
            function: "k::f".into(),
            offset: 0x10,
            within: None,
            file: Some("kernel/src/trap.rs".into()),
            line: Some(42),
            inlined: Some(Inlined {
                function: "core::ptr::read".into(),
                file: Some("core/src/ptr/mod.rs".into()),
                line: Some(1700),
            }),
        };
        assert_eq!(
            s.to_string(),
            "k::f+0x10 (kernel/src/trap.rs:42; inlined core::ptr::read at core/src/ptr/mod.rs:1700)"
        );
        s.inlined = None;
        assert_eq!(s.to_string(), "k::f+0x10 (kernel/src/trap.rs:42)");
        s.line = None;
        assert_eq!(s.to_string(), "k::f+0x10 (kernel/src/trap.rs)");
        s.file = None;
        assert_eq!(s.to_string(), "k::f+0x10");
    }

    #[test]
    fn library_paths_are_shortened() {
        assert_eq!(
            shorten_external(
                "/root/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/sync/atomic.rs"
            ),
            "core/src/sync/atomic.rs"
        );
        assert_eq!(
            shorten_external("/rustc/0123abcd/library/core/src/ptr/mod.rs"),
            "core/src/ptr/mod.rs"
        );
        assert_eq!(
            shorten_external(
                "/home/s/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spin-0.12.0/src/mutex.rs"
            ),
            "spin-0.12.0/src/mutex.rs"
        );
        assert_eq!(shorten_external("/elsewhere/x.rs"), "/elsewhere/x.rs");
    }

    #[test]
    fn demangles_without_hash() {
        assert_eq!(
            demangle("_ZN13syslab_kernel4trap8dispatch17h0123456789abcdefE"),
            "syslab_kernel::trap::dispatch"
        );
        assert_eq!(demangle("KiSystemCall64"), "KiSystemCall64");
    }

    /// Symbolizing runs against this test executable: the marker functions
    /// below are found by their runtime address, translated back to the
    /// ELF's link-time address through /proc/self/maps (the test binary is a
    /// position-independent executable; the kernel is linked at a fixed
    /// address and needs no such translation).
    #[cfg(target_os = "linux")]
    mod in_this_executable {
        use super::super::*;
        use std::hint::black_box;

        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn syslab_grader_symbolize_marker(x: u64) -> u64 {
            black_box(x).wrapping_mul(3).wrapping_add(black_box(7))
        }

        #[inline(never)]
        fn rust_marker(x: u64) -> u64 {
            black_box(x).rotate_left(5) ^ black_box(0x55)
        }

        /// The address at which this executable's first byte is mapped.
        fn load_base(exe: &Path) -> u64 {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            maps.lines()
                .find_map(|line| {
                    let mut cols = line.split_whitespace();
                    let range = cols.next()?;
                    let offset = cols.nth(1)?;
                    let path = cols.nth(2)?;
                    (Path::new(path) == exe && u64::from_str_radix(offset, 16).ok()? == 0)
                        .then(|| u64::from_str_radix(range.split('-').next()?, 16).ok())
                        .flatten()
                })
                .expect("the executable is mapped")
        }

        fn link_address(runtime: usize) -> u64 {
            let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
            runtime as u64 - load_base(&exe)
        }

        #[test]
        fn finds_a_no_mangle_function_with_its_offset_and_line() {
            assert_eq!(black_box(syslab_grader_symbolize_marker(1)), 10);
            let exe = std::env::current_exe().unwrap();
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let symbolizer = Symbolizer::load(&exe, Some(root)).unwrap();
            let start = link_address(syslab_grader_symbolize_marker as *const () as usize);

            let here = symbolizer.symbolize(start + 4).expect("marker found");
            assert_eq!(here.function, "syslab_grader_symbolize_marker");
            assert_eq!(here.offset, 4);
            assert_eq!(here.file.as_deref(), Some("src/symbolize.rs"));
            assert!(here.line.is_some());
            assert!(
                symbolizer
                    .describe(start)
                    .starts_with("syslab_grader_symbolize_marker+0x0 (src/symbolize.rs:")
            );
            let name = "syslab_grader_symbolize_marker".to_owned();
            assert_eq!(
                symbolizer.function_at(start + 4),
                Some((start, name.clone()))
            );
            assert_eq!(
                symbolizer.functions_named(|n| n == "syslab_grader_symbolize_marker"),
                [(start, name)]
            );
        }

        #[test]
        fn demangles_rust_functions() {
            assert_ne!(black_box(rust_marker(1)), 0);
            let exe = std::env::current_exe().unwrap();
            let symbolizer = Symbolizer::load(&exe, None).unwrap();
            let start = link_address(rust_marker as *const () as usize);
            let here = symbolizer.symbolize(start).expect("rust_marker found");
            assert!(
                here.function
                    .ends_with("symbolize::tests::in_this_executable::rust_marker"),
                "{}",
                here.function
            );
            assert_eq!(here.offset, 0);
        }

        #[test]
        fn addresses_outside_every_function_are_said_so() {
            let exe = std::env::current_exe().unwrap();
            let symbolizer = Symbolizer::load(&exe, None).unwrap();
            assert_eq!(symbolizer.symbolize(0), None);
            assert_eq!(symbolizer.symbolize(u64::MAX), None);
            assert_eq!(
                symbolizer.describe(u64::MAX),
                "not inside any function of the kernel image"
            );
        }
    }

    #[test]
    fn a_label_inside_a_stub_names_its_half() {
        let symbols = Symbolizer {
            functions: vec![Function {
                start: 0x1000,
                size: 0x50,
                name: "KiSystemService".into(),
            }],
            labels: vec![
                (0x1030, "KiSystemCallExit".into()),
                (0x2000, "elsewhere".into()),
            ],
            code: vec![(0x1000, 0x3000)],
            lines: None,
            root: None,
        };
        assert_eq!(symbols.describe(0x1010), "KiSystemService+0x10");
        assert_eq!(
            symbols.describe(0x1030),
            "KiSystemCallExit+0x0 in KiSystemService"
        );
        assert_eq!(
            symbols.describe(0x104f),
            "KiSystemCallExit+0x1f in KiSystemService"
        );
        assert_eq!(
            symbols.describe(0x1050),
            "not inside any function of the kernel image"
        );
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error_that_names_it() {
        let err = Symbolizer::load(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src/symbolize.rs")),
            None,
        )
        .err()
        .unwrap();
        assert!(format!("{err:#}").contains("symbolize.rs"), "{err:#}");
    }
}
