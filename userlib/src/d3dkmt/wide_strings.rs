//! `D3DKMTQueryAdapterInfo` for programs whose `WCHAR` is `wchar_t`.
//!
//! The host writes strings in UTF-16. A program built with `<wsl/winadapter.h>` before
//! `<dxg/d3dkmthk.h>` has a 4-byte `WCHAR` (`wchar_t` on Linux), so its result structs for the
//! string-carrying query types are larger and expect UTF-32. libdxg converts these results
//! (reference dxg.md section 3.4); userlib does the same, told apart by the size the caller
//! passes: the `wchar_t` layout's size is converted, the UTF-16 layout's size (a standalone
//! `<dxg/d3dkmthk.h>`) and every other size go through unchanged.
//!
//! The conversion needs no buffer of its own: the host fills the first `utf16_size` bytes of the
//! caller's (twice as large) buffer, then [`widen_in_place`] spreads the code units out from the
//! end backwards and joins surrogate pairs. Unpaired surrogates become U+FFFD.

use crate::abi::{self, NTSTATUS, status};
use crate::sys::{Syscall, SyscallNumber};

/// Where the WCHAR array sits in one query type's result struct.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WideStringLayout {
    /// The `KMTQUERYADAPTERINFOTYPE` values with this layout.
    pub query_types: &'static [u32],
    /// Bytes before the array (input fields the host reads; copied unchanged).
    pub prefix: usize,
    /// WCHAR units in the array (all the struct's WCHAR arrays, which are adjacent).
    pub units: usize,
    /// Bytes after the array (copied unchanged).
    pub suffix: usize,
}

impl WideStringLayout {
    /// The struct's size with a 2-byte WCHAR (what the host writes).
    pub const fn utf16_size(&self) -> usize {
        self.prefix + 2 * self.units + self.suffix
    }

    /// The struct's size with a 4-byte WCHAR (`wchar_t`).
    pub const fn wide_size(&self) -> usize {
        self.prefix + 4 * self.units + self.suffix
    }
}

/// The query types whose results carry WCHAR strings, with the layouts of
/// `include/dxg/d3dkmthk.h` (`D3DKMT_UMDFILENAMEINFO`, `D3DKMT_OPENGLINFO`,
/// `D3DKMT_ADAPTERREGISTRYINFO`, `D3DKMT_QUERY_ADAPTER_UNIQUE_GUID`,
/// `D3DKMT_DRIVER_DESCRIPTION`).
pub static WIDE_STRING_QUERIES: &[WideStringLayout] = &[
    // UMDRIVERNAME: KMTUMDVERSION Version (in), WCHAR UmdFileName[MAX_PATH].
    WideStringLayout {
        query_types: &[1],
        prefix: 4,
        units: 260,
        suffix: 0,
    },
    // UMOPENGLINFO: WCHAR UmdOpenGlIcdFileName[MAX_PATH], ULONG Version, ULONG Flags.
    WideStringLayout {
        query_types: &[2],
        prefix: 0,
        units: 260,
        suffix: 8,
    },
    // ADAPTERREGISTRYINFO(_RENDER): four WCHAR[MAX_PATH] strings.
    WideStringLayout {
        query_types: &[8, 54],
        prefix: 0,
        units: 4 * 260,
        suffix: 0,
    },
    // QUERY_ADAPTER_UNIQUE_GUID: WCHAR AdapterUniqueGUID[40].
    WideStringLayout {
        query_types: &[60],
        prefix: 0,
        units: 40,
        suffix: 0,
    },
    // DRIVER_DESCRIPTION(_RENDER): WCHAR DriverDescription[4096].
    WideStringLayout {
        query_types: &[65, 66],
        prefix: 0,
        units: 4096,
        suffix: 0,
    },
];

/// The layout to convert for a query of `query_type` with a buffer of `size` bytes: `Some` only
/// when the type carries strings and the size is its `wchar_t` layout's.
pub fn wide_layout(query_type: u32, size: u32) -> Option<&'static WideStringLayout> {
    WIDE_STRING_QUERIES.iter().find(|layout| {
        layout.query_types.contains(&query_type) && size as usize == layout.wide_size()
    })
}

/// `D3DKMTQueryAdapterInfo`: forwards the query; for a `wchar_t` result layout it asks the host
/// for the UTF-16 layout in the same buffer and, on success, calls `widen` with that layout
/// (which converts the caller's buffer with [`widen_in_place`]).
pub fn query_adapter_info<S: Syscall + ?Sized>(
    kernel: &S,
    arguments: Option<&abi::D3DKMT_QUERYADAPTERINFO>,
    widen: impl FnOnce(&WideStringLayout),
) -> NTSTATUS {
    let Some(arguments) = arguments else {
        return status::STATUS_INVALID_PARAMETER;
    };
    let layout = wide_layout(arguments.Type, arguments.PrivateDriverDataSize);
    let mut sent = *arguments;
    if let Some(layout) = layout {
        // At most 16 KiB: fits a u32.
        sent.PrivateDriverDataSize = layout.utf16_size() as u32;
    }
    let result = super::forward(kernel, SyscallNumber::QueryAdapterInfo, &raw mut sent);
    if let Some(layout) = layout
        && status::nt_success(result)
    {
        widen(layout);
    }
    result
}

/// Turns the UTF-16 layout in the first `utf16_size` bytes of `buffer` into the `wchar_t` layout
/// filling `wide_size` bytes: prefix kept, each code unit (pairs joined) stored as a native
/// 32-bit code point, the rest of the array zero, suffix moved to the end. A buffer of another
/// length is left alone.
pub fn widen_in_place(layout: &WideStringLayout, buffer: &mut [u8]) {
    if buffer.len() != layout.wide_size() {
        return;
    }
    let array = &mut buffer[layout.prefix..];
    let mut suffix = [0u8; 8];
    let suffix = &mut suffix[..layout.suffix.min(8)];
    let utf16_end = 2 * layout.units;
    suffix.copy_from_slice(&array[utf16_end..utf16_end + suffix.len()]);
    // Spread from the end backwards: unit i moves from 2i to 4i, never over an unread unit.
    for index in (0..layout.units).rev() {
        let unit = u16::from_le_bytes([array[2 * index], array[2 * index + 1]]);
        array[4 * index..4 * index + 4].copy_from_slice(&u32::from(unit).to_ne_bytes());
    }
    join_surrogates(&mut array[..4 * layout.units]);
    let wide_end = 4 * layout.units;
    array[wide_end..wide_end + suffix.len()].copy_from_slice(suffix);
}

/// Joins surrogate pairs in an array of 32-bit code units, front to back (the write position
/// never passes the read position), zero-filling what the joining frees.
fn join_surrogates(array: &mut [u8]) {
    let count = array.len() / 4;
    let read = |array: &[u8], index: usize| {
        u32::from_ne_bytes(array[4 * index..4 * index + 4].try_into().unwrap_or([0; 4]))
    };
    let (mut from, mut to) = (0, 0);
    while from < count {
        let unit = read(array, from);
        let next = if from + 1 < count {
            read(array, from + 1)
        } else {
            0
        };
        let (code_point, consumed) = match (unit, next) {
            (0xD800..=0xDBFF, 0xDC00..=0xDFFF) => {
                (0x10000 + ((unit - 0xD800) << 10) + (next - 0xDC00), 2)
            }
            (0xD800..=0xDFFF, _) => (0xFFFD, 1),
            _ => (unit, 1),
        };
        array[4 * to..4 * to + 4].copy_from_slice(&code_point.to_ne_bytes());
        from += consumed;
        to += 1;
    }
    array[4 * to..].fill(0);
}
