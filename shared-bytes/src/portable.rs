//! The portable backend: the storage is reached through relaxed 64-bit atomics only, one per
//! aligned word, in safe code. A concurrent writer can change what a copy sees, never make it
//! undefined; since every access is a whole-word atomic, racing accesses never differ in size
//! (Rust forbids mixed-size atomic races). Only the partial words at the ends of an unaligned
//! write are read-modify-writes (a compare-exchange loop, so bytes outside the range written
//! are never disturbed), and so are 32-bit stores (the other half of the word is kept).
//!
//! Used where there is no assembly backend; compiled for tests everywhere, so it stays
//! checked against the same model.

use super::{AccessError, WORD, check, check_u32};
use core::sync::atomic::{AtomicU64, Ordering};

/// The words covering `[offset, offset + length)` (already checked) and the byte offset of
/// `offset` in the first.
#[inline]
fn span(words: &[AtomicU64], offset: usize, length: usize) -> (&[AtomicU64], usize) {
    let first = offset / WORD;
    let head = offset % WORD;
    let count = head.saturating_add(length).div_ceil(WORD);
    let end = first.saturating_add(count).min(words.len());
    (words.get(first..end).unwrap_or_default(), head)
}

/// Writes `bytes` into `word` starting at byte `start` (`start + bytes.len() ≤ 8`), leaving the
/// word's other bytes as they are even if another thread changes them meanwhile.
#[inline]
fn write_partial_word(word: &AtomicU64, start: usize, bytes: &[u8]) {
    let mut value = [0u8; WORD];
    let mut mask = [0u8; WORD];
    for (index, byte) in bytes.iter().enumerate() {
        if let (Some(value), Some(mask)) = (
            value.get_mut(start.saturating_add(index)),
            mask.get_mut(start.saturating_add(index)),
        ) {
            *value = *byte;
            *mask = 0xff;
        }
    }
    let (value, mask) = (u64::from_le_bytes(value), u64::from_le_bytes(mask));
    // One read-modify-write of the whole word (the peer never sees the masked bytes cleared
    // first); written as a compare-exchange loop, which every supported Rust version has.
    let mut old = word.load(Ordering::Relaxed);
    while let Err(current) = word.compare_exchange_weak(
        old,
        (old & !mask) | value,
        Ordering::Relaxed,
        Ordering::Relaxed,
    ) {
        old = current;
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
    let (words, head) = span(words, offset, buffer.len());
    let mut words = words.iter();
    let mut rest = buffer;
    if head != 0 {
        let take = WORD.saturating_sub(head).min(rest.len());
        let (first, tail) = rest.split_at_mut(take);
        if let Some(word) = words.next() {
            let bytes = word.load(Ordering::Relaxed).to_le_bytes();
            first.copy_from_slice(
                bytes
                    .get(head..head.saturating_add(take))
                    .unwrap_or_default(),
            );
        }
        rest = tail;
    }
    let (chunks, tail) = rest.as_chunks_mut::<WORD>();
    for (chunk, word) in chunks.iter_mut().zip(&mut words) {
        *chunk = word.load(Ordering::Relaxed).to_le_bytes();
    }
    if let (false, Some(word)) = (tail.is_empty(), words.next()) {
        let bytes = word.load(Ordering::Relaxed).to_le_bytes();
        tail.copy_from_slice(bytes.get(..tail.len()).unwrap_or_default());
    }
    Ok(())
}

/// Copies `data` into `words` at `offset`.
#[inline]
pub(super) fn write(words: &[AtomicU64], offset: usize, data: &[u8]) -> Result<(), AccessError> {
    check(words, offset, data.len())?;
    let (words, head) = span(words, offset, data.len());
    let mut words = words.iter();
    let mut rest = data;
    if head != 0 {
        let take = WORD.saturating_sub(head).min(rest.len());
        let (first, tail) = rest.split_at(take);
        if let Some(word) = words.next() {
            write_partial_word(word, head, first);
        }
        rest = tail;
    }
    let (chunks, tail) = rest.as_chunks::<WORD>();
    for (chunk, word) in chunks.iter().zip(&mut words) {
        word.store(u64::from_le_bytes(*chunk), Ordering::Relaxed);
    }
    if let (false, Some(word)) = (tail.is_empty(), words.next()) {
        write_partial_word(word, 0, tail);
    }
    Ok(())
}

/// The word holding the aligned `u32` at `offset` (checked) and the bit shift of that `u32`
/// inside it.
#[inline]
fn half_word(words: &[AtomicU64], offset: usize) -> Result<(&AtomicU64, u32), AccessError> {
    check_u32(words, offset)?;
    let word = words
        .get(offset / WORD)
        .ok_or(AccessError::OutOfBounds { offset, length: 4 })?;
    // `offset % 8` is 0 or 4 (the offset is 4-aligned): a shift of 0 or 32 bits.
    Ok((word, if offset.is_multiple_of(WORD) { 0 } else { 32 }))
}

/// Replaces the `u32` at `offset` with `update(old)` atomically; returns the old value.
#[inline]
fn update_u32(
    words: &[AtomicU64],
    offset: usize,
    update: impl Fn(u32) -> u32,
) -> Result<u32, AccessError> {
    let (word, shift) = half_word(words, offset)?;
    let mask = u64::from(u32::MAX) << shift;
    let mut current = word.load(Ordering::Relaxed);
    loop {
        let old = (current >> shift) as u32;
        let new = (current & !mask) | (u64::from(update(old)) << shift);
        match word.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Ok(old),
            Err(actual) => current = actual,
        }
    }
}

/// Loads the `u32` at `offset` with acquire ordering.
#[inline]
pub(super) fn load_u32(words: &[AtomicU64], offset: usize) -> Result<u32, AccessError> {
    let (word, shift) = half_word(words, offset)?;
    Ok((word.load(Ordering::Acquire) >> shift) as u32)
}

/// Stores the `u32` at `offset` (release), keeping the other half of its word.
#[inline]
pub(super) fn store_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<(), AccessError> {
    update_u32(words, offset, |_| value).map(|_| ())
}

/// Swaps the `u32` at `offset`.
#[inline]
pub(super) fn swap_u32(words: &[AtomicU64], offset: usize, value: u32) -> Result<u32, AccessError> {
    update_u32(words, offset, |_| value)
}

/// ORs `bits` into the `u32` at `offset`.
#[inline]
pub(super) fn fetch_or_u32(
    words: &[AtomicU64],
    offset: usize,
    bits: u32,
) -> Result<u32, AccessError> {
    let (word, shift) = half_word(words, offset)?;
    Ok((word.fetch_or(u64::from(bits) << shift, Ordering::AcqRel) >> shift) as u32)
}

/// Reads the little-endian `u64` at `offset` (a copy; one atomic load when 8-aligned).
pub(super) fn read_u64(words: &[AtomicU64], offset: usize) -> Result<u64, AccessError> {
    let mut bytes = [0u8; WORD];
    read(words, offset, &mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Writes the little-endian `u64` at `offset` (a copy; one atomic store when 8-aligned).
pub(super) fn write_u64(words: &[AtomicU64], offset: usize, value: u64) -> Result<(), AccessError> {
    write(words, offset, &value.to_le_bytes())
}

/// Reads the little-endian `u128` at `offset` (a copy, as [`read`]).
pub(super) fn read_u128(words: &[AtomicU64], offset: usize) -> Result<u128, AccessError> {
    let mut bytes = [0u8; 16];
    read(words, offset, &mut bytes)?;
    Ok(u128::from_le_bytes(bytes))
}

/// Writes the little-endian `u128` at `offset` (a copy, as [`write`]).
pub(super) fn write_u128(
    words: &[AtomicU64],
    offset: usize,
    value: u128,
) -> Result<(), AccessError> {
    write(words, offset, &value.to_le_bytes())
}
