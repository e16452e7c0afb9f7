//! The kernel's lowest modules depend only on modules below them.
//!
//! The per-CPU block and the page tables are used by nearly everything, so
//! if either of them imports the code above it (threads, traps, the system
//! calls), the kernel's modules become one circle in which no file can be
//! read on its own. This test reads each low module's source and lists the
//! `crate::` paths it names outside comments; a name outside its allowed
//! set is a new edge up, and the message says where to put the type instead.

use std::collections::BTreeSet;

/// Each low module, lowest first, with the modules it may name.
const LAYERS: [(&str, &[&str]); 8] = [
    ("frame.rs", &[]),
    ("gdt.rs", &[]),
    ("arch.rs", &[]),
    ("mm/heap.rs", &[]),
    ("mm/paging.rs", &["mm::heap"]),
    ("mode.rs", &["gdt", "mm::paging", "os"]),
    ("thread/record.rs", &["frame", "mode"]),
    (
        "percpu.rs",
        &[
            "arch",
            "frame",
            "gdt",
            "mode",
            "msr",
            "os",
            "thread::record",
        ],
    ),
];

/// The modules a source names through `crate::` (and, in `mm/`, `super::`),
/// each as its longest prefix that is a module of the kernel.
fn named_modules(source: &str, modules: &BTreeSet<String>, parent: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut named = BTreeSet::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_owned())] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            // `crate::{a, b::C}` names each path in the braces.
            let paths: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(0)].split(',').collect(),
                None => vec![rest],
            };
            for path in paths {
                let path: String = path
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let full = format!("{base}::{path}");
                let parts: Vec<&str> = full.split("::").filter(|p| !p.is_empty()).collect();
                if let Some(module) = (1..=parts.len())
                    .rev()
                    .map(|n| parts[..n].join("::"))
                    .find(|m| modules.contains(m) && *m != base)
                {
                    named.insert(module);
                }
            }
        }
    }
    named
}

/// Every module of the kernel, as `a::b` paths.
fn modules(src: &std::path::Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().with_extension("");
                let name = relative.to_string_lossy().replace('/', "::");
                let name = name.strip_suffix("::mod").unwrap_or(&name).to_owned();
                if name != "lib" {
                    found.insert(name);
                }
            }
        }
    }
    found
}

#[test]
fn the_low_modules_name_only_modules_below_them() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut wrong = Vec::new();
    for (file, allowed) in LAYERS {
        let source = std::fs::read_to_string(src.join(file)).unwrap();
        let this = file.trim_end_matches(".rs").replace('/', "::");
        let parent = this.rsplit_once("::").map_or("", |(p, _)| p);
        for module in named_modules(&source, &modules, parent) {
            if module != this && !allowed.contains(&module.as_str()) {
                wrong.push(format!(
                    "kernel/src/{file} names crate::{module}, which is above it; move the \
                     type it needs into a module below both (as frame.rs and \
                     thread/record.rs were), or allow the edge here if {module} is lower"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_edge_up_is_found() {
    let modules: BTreeSet<String> = [
        "percpu",
        "thread",
        "thread::record",
        "mm::heap",
        "mm::paging",
    ]
    .map(String::from)
    .into();
    let named = named_modules(
        "// crate::thread::run_user in a comment\nuse crate::thread::record::Thread;\n\
         fn f() { crate::thread::end_current(); }\nuse super::heap::alloc_pages;\n\
         use crate::{percpu::current, mm::paging::USER_TOP};\nuse super::*;",
        &modules,
        "mm",
    );
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        [
            "mm::heap",
            "mm::paging",
            "percpu",
            "thread",
            "thread::record"
        ]
    );
}
