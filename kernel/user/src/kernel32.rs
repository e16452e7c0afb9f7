//! kernel32: the Win32 layer over ntdll, as the article's test calls it.

use crate::ntdll::{self, Stub};
use syslab_abi::service::MUTANT_ALL_ACCESS;
use syslab_abi::status::nt_success;

/// The stubs the Win32 layer calls through: those of one system-call path.
#[derive(Clone, Copy)]
pub struct Stubs {
    pub create_mutant: Stub,
    pub close: Stub,
}

impl Stubs {
    /// The Win32 layer over the stubs of one path.
    pub fn of(table: &ntdll::Table) -> Stubs {
        Stubs {
            create_mutant: table.create_mutant,
            close: table.close,
        }
    }
}

// ANCHOR: win32
/// CreateMutex(lpMutexAttributes, bInitialOwner, lpName): a handle, or 0.
/// Never inlined, as a DLL's export is not: a call costs what it costs a
/// Win32 program, and `bench --anatomy` finds it by its symbol.
#[inline(never)]
pub fn create_mutex(stubs: &Stubs, attributes: u64, initial_owner: bool, name: u64) -> u64 {
    if attributes != 0 || name != 0 {
        return 0; // security descriptors and names are not supported
    }
    // NtCreateMutant writes the handle here, when it succeeds.
    let mut handle = core::mem::MaybeUninit::<u64>::uninit();
    let status = ntdll::call(
        stubs.create_mutant,
        &[
            handle.as_mut_ptr() as u64,
            MUTANT_ALL_ACCESS,
            0,
            initial_owner as u64,
        ],
    ) as u32;
    if !nt_success(status) {
        return 0;
    }
    // SAFETY: a successful NtCreateMutant wrote the handle.
    unsafe { handle.assume_init() }
}

/// CloseHandle(hObject): true on success. Never inlined, as above.
#[inline(never)]
pub fn close_handle(stubs: &Stubs, handle: u64) -> bool {
    nt_success(ntdll::call(stubs.close, &[handle]) as u32)
}
// ANCHOR_END: win32
