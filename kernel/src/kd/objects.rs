//! `!handle` and `!object`: the process's handle table and the kernel's
//! live objects (ob/).

use crate::ob::{self, ObjectBody};
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

fn one(out: &mut String, handle: u64, object: &ob::ObjectRef) {
    let h = object.header();
    let _ = write!(
        out,
        "{handle:04x}: Object: {:#x}  Type: {}  PointerCount: {}",
        h as *const ob::ObjectHeader as u64,
        h.object_type().name(),
        // The reference held to look at it is not the object's own.
        h.pointer_count().saturating_sub(1)
    );
    match h.body() {
        ObjectBody::Mutant(m) => {
            let owner = m.owner().map_or("none".into(), |t| format!("thread {t}"));
            let _ = write!(out, "  Owner: {owner}  SignalState: {}", m.signal_state());
        }
    }
    out.push('\n');
}

/// `!handle` (every open handle) or `!handle H`.
pub fn handle(which: Option<u64>) -> Result<String, String> {
    let table = ob::process_handles();
    let mut out = String::new();
    match which {
        Some(h) => match table.reference(h) {
            Ok(obj) => one(&mut out, h, &obj),
            Err(status) => {
                return Err(format!(
                    "handle {h:#x} is not open in this process (NtClose would return {status:#010x}, STATUS_INVALID_HANDLE)"
                ));
            }
        },
        None => {
            let open = table.open_handles();
            let _ = writeln!(
                out,
                "Handle table of the process (every CPU's threads share it): {} of {} entries in use",
                open.len(),
                table.capacity()
            );
            for h in open {
                // A handle closed since the snapshot is simply not shown.
                if let Ok(obj) = table.reference(h) {
                    one(&mut out, h, &obj);
                }
            }
        }
    }
    Ok(out)
}

/// `!object`: live objects by type.
pub fn objects() -> String {
    format!(
        "Object types: 1\n  Mutant: {} live (each CreateMutex makes one; its CloseHandle frees it)\n",
        ob::live_objects()
    )
}
