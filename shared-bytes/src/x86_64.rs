//! The x86-64 backend: every access to the shared memory is inline assembly (see the crate
//! docs for why that is sound and what the hardware guarantees).
//!
//! Each public function checks its range first ([`super::check`], [`super::check_u32`]) and
//! only then forms a pointer into the storage, so every pointer the assembly uses is inside
//! the allocation; the storage is `[AtomicU64]`, whose `UnsafeCell`s allow writing through a
//! shared reference.
#![allow(unsafe_code)]

use super::{AccessError, check, check_u32};
use core::arch::asm;
use core::sync::atomic::AtomicU64;

/// Copies from this many bytes on use `rep movsb`: below it, its start-up cost exceeds a
/// register loop's; from it on, with ERMS/FSRM, it matches `memcpy` (glibc switches to it at
/// 2 KiB too, `__x86_rep_movsb_threshold`). Measured on this project's host: at 1 KiB the
/// SSE loop is about 30 % faster than `rep movsb`, at 4 KiB and above `rep movsb` wins.
const REP_MOVSB_THRESHOLD: usize = 2048;

/// The address of byte `offset` of `words`. Forming it is safe; using it is what needs the
/// range check the callers make.
#[inline]
fn address(words: &[AtomicU64], offset: usize) -> *mut u8 {
    words.as_ptr().cast::<u8>().cast_mut().wrapping_add(offset)
}

/// Copies `length` bytes from `source` to `destination` in assembly.
///
/// # Safety
/// `source` must be valid for reads and `destination` for writes of `length` bytes, the two
/// ranges must not overlap, and any of those bytes that other threads access concurrently
/// must be accessed by them only through this module (assembly), never by Rust code.
#[inline]
unsafe fn copy(destination: *mut u8, source: *const u8, length: usize) {
    if length >= REP_MOVSB_THRESHOLD {
        // SAFETY: the caller's contract covers `[source, +length)` and `[destination,
        // +length)`; `rep movsb` copies exactly `length` bytes forwards (the direction flag
        // is clear at every Rust function boundary, as the System V ABI requires).
        unsafe {
            asm!(
                "rep movsb",
                inout("rcx") length => _,
                inout("rdi") destination => _,
                inout("rsi") source => _,
                options(nostack, preserves_flags),
            );
        }
    } else {
        // SAFETY: as above; the loop copies exactly `length` bytes.
        unsafe { copy_small(destination, source, length) }
    }
}

/// [`copy`] below [`REP_MOVSB_THRESHOLD`]: 64-byte blocks through four SSE registers, then
/// [`copy_words_then_bytes`] for the rest.
///
/// # Safety
/// As [`copy`].
#[cfg(target_feature = "sse2")]
#[inline]
unsafe fn copy_small(mut destination: *mut u8, mut source: *const u8, mut length: usize) {
    // SAFETY: every access is at `source + i` or `destination + i` with `i < length`: the loop
    // runs only while at least 64 bytes remain, and it returns the advanced pointers and the
    // bytes left, which the tail copies.
    unsafe {
        asm!(
            "cmp {length}, 64",
            "jb 3f",
            "2:",
            "movdqu {a}, xmmword ptr [{source}]",
            "movdqu {b}, xmmword ptr [{source} + 16]",
            "movdqu {c}, xmmword ptr [{source} + 32]",
            "movdqu {d}, xmmword ptr [{source} + 48]",
            "movdqu xmmword ptr [{destination}], {a}",
            "movdqu xmmword ptr [{destination} + 16], {b}",
            "movdqu xmmword ptr [{destination} + 32], {c}",
            "movdqu xmmword ptr [{destination} + 48], {d}",
            "add {source}, 64",
            "add {destination}, 64",
            "sub {length}, 64",
            "cmp {length}, 64",
            "jae 2b",
            "3:",
            length = inout(reg) length,
            destination = inout(reg) destination,
            source = inout(reg) source,
            a = out(xmm_reg) _,
            b = out(xmm_reg) _,
            c = out(xmm_reg) _,
            d = out(xmm_reg) _,
            options(nostack),
        );
        copy_words_then_bytes(destination, source, length);
    }
}

/// [`copy`] below [`REP_MOVSB_THRESHOLD`] on targets without SSE (a kernel's).
///
/// # Safety
/// As [`copy`].
#[cfg(not(target_feature = "sse2"))]
#[inline]
unsafe fn copy_small(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: as [`copy`], which the caller guarantees.
    unsafe { copy_words_then_bytes(destination, source, length) }
}

/// Copies `length` bytes as 8-byte words, then single bytes.
///
/// # Safety
/// As [`copy`].
#[inline]
unsafe fn copy_words_then_bytes(destination: *mut u8, source: *const u8, length: usize) {
    // SAFETY: every access is at `source + i` or `destination + i` with `i < length`.
    unsafe {
        asm!(
            "cmp {length}, 8",
            "jb 5f",
            "4:",
            "mov {word}, qword ptr [{source}]",
            "mov qword ptr [{destination}], {word}",
            "add {source}, 8",
            "add {destination}, 8",
            "sub {length}, 8",
            "cmp {length}, 8",
            "jae 4b",
            "5:",
            "test {length}, {length}",
            "jz 7f",
            "6:",
            "mov {byte}, byte ptr [{source}]",
            "mov byte ptr [{destination}], {byte}",
            "inc {source}",
            "inc {destination}",
            "dec {length}",
            "jnz 6b",
            "7:",
            length = inout(reg) length => _,
            destination = inout(reg) destination => _,
            source = inout(reg) source => _,
            word = out(reg) _,
            byte = out(reg_byte) _,
            options(nostack),
        );
    }
}

/// Copies `buffer.len()` bytes at `offset` of `words` into `buffer`.
#[inline]
pub(super) fn read(
    words: &[AtomicU64],
    offset: usize,
    buffer: &mut [u8],
) -> Result<(), AccessError> {
    check(words, offset, buffer.len())?;
    // SAFETY: the range is inside `words` (checked above), whose bytes are only ever accessed
    // through this module; `buffer` is an exclusive borrow of other memory (`SharedBytes`
    // never hands out references to its storage, so it cannot overlap).
    unsafe { copy(buffer.as_mut_ptr(), address(words, offset), buffer.len()) };
    Ok(())
}

/// Copies `data` into `words` at `offset`.
#[inline]
pub(super) fn write(words: &[AtomicU64], offset: usize, data: &[u8]) -> Result<(), AccessError> {
    check(words, offset, data.len())?;
    // SAFETY: as in `read`, with the roles swapped; the storage's `UnsafeCell`s allow the
    // write through a shared reference, and `data` (a shared borrow of other memory) is
    // only read.
    unsafe { copy(address(words, offset), data.as_ptr(), data.len()) };
    Ok(())
}

/// Reads the little-endian `u64` at `offset` (any alignment) with one 8-byte load, so a
/// value the caller stored as a whole word is forwarded from the store buffer instead of
/// being reassembled from byte copies.
#[inline]
pub(super) fn read_u64(words: &[AtomicU64], offset: usize) -> Result<u64, AccessError> {
    check(words, offset, 8)?;
    let value: u64;
    // SAFETY: the 8 bytes are inside `words` (checked above); x86-64 allows unaligned loads.
    unsafe {
        asm!(
            "mov {value}, qword ptr [{address}]",
            address = in(reg) address(words, offset),
            value = out(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(value)
}

/// Writes `value` as the little-endian `u64` at `offset` (any alignment) with one 8-byte
/// store.
#[inline]
pub(super) fn write_u64(words: &[AtomicU64], offset: usize, value: u64) -> Result<(), AccessError> {
    check(words, offset, 8)?;
    // SAFETY: as in `read_u64`; the store touches only these 8 bytes.
    unsafe {
        asm!(
            "mov qword ptr [{address}], {value}",
            address = in(reg) address(words, offset),
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(())
}

/// Reads the little-endian `u128` at `offset` (any alignment) with one 16-byte SSE load.
#[cfg(target_feature = "sse2")]
#[inline]
pub(super) fn read_u128(words: &[AtomicU64], offset: usize) -> Result<u128, AccessError> {
    check(words, offset, 16)?;
    let (low, high): (u64, u64);
    // SAFETY: the 16 bytes are inside `words` (checked above); `movdqu` allows any
    // alignment; the two halves leave through general registers (SSE2 instructions only).
    unsafe {
        asm!(
            "movdqu {vector}, xmmword ptr [{address}]",
            "movq {low}, {vector}",
            "punpckhqdq {vector}, {vector}",
            "movq {high}, {vector}",
            address = in(reg) address(words, offset),
            vector = out(xmm_reg) _,
            low = out(reg) low,
            high = out(reg) high,
            options(nostack, preserves_flags),
        );
    }
    Ok(u128::from(high) << 64 | u128::from(low))
}

/// Reads the little-endian `u128` at `offset` on targets without SSE: two 8-byte loads.
#[cfg(not(target_feature = "sse2"))]
#[inline]
pub(super) fn read_u128(words: &[AtomicU64], offset: usize) -> Result<u128, AccessError> {
    check(words, offset, 16)?;
    let low = read_u64(words, offset)?;
    let high = read_u64(
        words,
        offset
            .checked_add(8)
            .ok_or(super::out_of_bounds(offset, 16))?,
    )?;
    Ok(u128::from(high) << 64 | u128::from(low))
}

/// Writes `value` as the little-endian `u128` at `offset` (any alignment) with one 16-byte
/// SSE store.
#[cfg(target_feature = "sse2")]
#[inline]
pub(super) fn write_u128(
    words: &[AtomicU64],
    offset: usize,
    value: u128,
) -> Result<(), AccessError> {
    check(words, offset, 16)?;
    // SAFETY: as in `read_u128`; the store touches only these 16 bytes.
    unsafe {
        asm!(
            "movq {vector}, {low}",
            "movq {upper}, {high}",
            "punpcklqdq {vector}, {upper}",
            "movdqu xmmword ptr [{address}], {vector}",
            address = in(reg) address(words, offset),
            vector = out(xmm_reg) _,
            upper = out(xmm_reg) _,
            low = in(reg) value as u64,
            high = in(reg) (value >> 64) as u64,
            options(nostack, preserves_flags),
        );
    }
    Ok(())
}

/// Writes the little-endian `u128` at `offset` on targets without SSE: two 8-byte stores.
#[cfg(not(target_feature = "sse2"))]
#[inline]
pub(super) fn write_u128(
    words: &[AtomicU64],
    offset: usize,
    value: u128,
) -> Result<(), AccessError> {
    check(words, offset, 16)?;
    write_u64(words, offset, value as u64)?;
    write_u64(
        words,
        offset
            .checked_add(8)
            .ok_or(super::out_of_bounds(offset, 16))?,
        (value >> 64) as u64,
    )
}

/// Loads the `u32` at `offset` (acquire: an x86-64 load is not reordered with later
/// accesses, and the assembly is a compiler barrier).
#[inline]
pub(super) fn load_u32(words: &[AtomicU64], offset: usize) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let value: u32;
    // SAFETY: `offset` is 4-aligned and the 4 bytes are inside `words` (checked above), so
    // the load is in bounds and single-copy atomic.
    unsafe {
        asm!(
            "mov {value:e}, dword ptr [{address}]",
            address = in(reg) address(words, offset),
            value = out(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(value)
}

/// Stores `value` as the `u32` at `offset` (release: an x86-64 store is not reordered with
/// earlier accesses, and the assembly is a compiler barrier).
#[inline]
pub(super) fn store_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<(), AccessError> {
    check_u32(words, offset)?;
    // SAFETY: as in `load_u32`; the store touches only these 4 bytes.
    unsafe {
        asm!(
            "mov dword ptr [{address}], {value:e}",
            address = in(reg) address(words, offset),
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(())
}

/// Atomically swaps the `u32` at `offset` with `value` (`xchg` with memory is locked: a full
/// barrier).
#[inline]
pub(super) fn swap_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let mut value = value;
    // SAFETY: as in `load_u32`.
    unsafe {
        asm!(
            "xchg dword ptr [{address}], {value:e}",
            address = in(reg) address(words, offset),
            value = inout(reg) value,
            options(nostack, preserves_flags),
        );
    }
    Ok(value)
}

/// Atomically ORs `bits` into the `u32` at `offset` and returns the old value (a `lock
/// cmpxchg` loop: a full barrier).
#[inline]
pub(super) fn fetch_or_u32(
    words: &[AtomicU64],
    offset: usize,
    bits: u32,
) -> Result<u32, AccessError> {
    check_u32(words, offset)?;
    let old: u32;
    // SAFETY: as in `load_u32`; `lock cmpxchg` writes the same 4 bytes it compares.
    unsafe {
        asm!(
            "mov eax, dword ptr [{address}]",
            "2:",
            "mov {new:e}, eax",
            "or {new:e}, {bits:e}",
            "lock cmpxchg dword ptr [{address}], {new:e}",
            "jne 2b",
            address = in(reg) address(words, offset),
            bits = in(reg) bits,
            new = out(reg) _,
            out("eax") old,
            options(nostack),
        );
    }
    Ok(old)
}
