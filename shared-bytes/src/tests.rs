//! Both backends against a byte-array model, alone and under concurrent access.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::*;
use alloc::vec;
use std::sync::Arc;

/// The operations both backends offer, so each test runs against each.
trait Memory: Send + Sync + 'static {
    fn with_size(size: usize) -> Self;
    fn read(&self, offset: usize, buffer: &mut [u8]) -> Result<(), AccessError>;
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError>;
    fn load_u32(&self, offset: usize) -> Result<u32, AccessError>;
    fn store_u32(&self, offset: usize, value: u32) -> Result<(), AccessError>;
    fn swap_u32(&self, offset: usize, value: u32) -> Result<u32, AccessError>;
    fn fetch_or_u32(&self, offset: usize, bits: u32) -> Result<u32, AccessError>;
    fn read_u64(&self, offset: usize) -> Result<u64, AccessError>;
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), AccessError>;
    fn read_u128(&self, offset: usize) -> Result<u128, AccessError>;
    fn write_u128(&self, offset: usize, value: u128) -> Result<(), AccessError>;
}

impl Memory for SharedBytes {
    fn with_size(size: usize) -> Self {
        SharedBytes::new(size)
    }
    fn read(&self, offset: usize, buffer: &mut [u8]) -> Result<(), AccessError> {
        SharedBytes::read(self, offset, buffer)
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError> {
        SharedBytes::write(self, offset, data)
    }
    fn load_u32(&self, offset: usize) -> Result<u32, AccessError> {
        SharedBytes::load_u32(self, offset)
    }
    fn store_u32(&self, offset: usize, value: u32) -> Result<(), AccessError> {
        SharedBytes::store_u32(self, offset, value)
    }
    fn swap_u32(&self, offset: usize, value: u32) -> Result<u32, AccessError> {
        SharedBytes::swap_u32(self, offset, value)
    }
    fn fetch_or_u32(&self, offset: usize, bits: u32) -> Result<u32, AccessError> {
        SharedBytes::fetch_or_u32(self, offset, bits)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, AccessError> {
        SharedBytes::read_u64(self, offset)
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), AccessError> {
        SharedBytes::write_u64(self, offset, value)
    }
    fn read_u128(&self, offset: usize) -> Result<u128, AccessError> {
        SharedBytes::read_u128(self, offset)
    }
    fn write_u128(&self, offset: usize, value: u128) -> Result<(), AccessError> {
        SharedBytes::write_u128(self, offset, value)
    }
}

/// The portable backend over its own words (on x86-64 `SharedBytes` uses the assembly one).
struct Portable(Box<[AtomicU64]>);

impl Memory for Portable {
    fn with_size(size: usize) -> Self {
        Portable(SharedBytes::new(size).words)
    }
    fn read(&self, offset: usize, buffer: &mut [u8]) -> Result<(), AccessError> {
        portable::read(&self.0, offset, buffer)
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError> {
        portable::write(&self.0, offset, data)
    }
    fn load_u32(&self, offset: usize) -> Result<u32, AccessError> {
        portable::load_u32(&self.0, offset)
    }
    fn store_u32(&self, offset: usize, value: u32) -> Result<(), AccessError> {
        portable::store_u32(&self.0, offset, value)
    }
    fn swap_u32(&self, offset: usize, value: u32) -> Result<u32, AccessError> {
        portable::swap_u32(&self.0, offset, value)
    }
    fn fetch_or_u32(&self, offset: usize, bits: u32) -> Result<u32, AccessError> {
        portable::fetch_or_u32(&self.0, offset, bits)
    }
    fn read_u64(&self, offset: usize) -> Result<u64, AccessError> {
        portable::read_u64(&self.0, offset)
    }
    fn write_u64(&self, offset: usize, value: u64) -> Result<(), AccessError> {
        portable::write_u64(&self.0, offset, value)
    }
    fn read_u128(&self, offset: usize) -> Result<u128, AccessError> {
        portable::read_u128(&self.0, offset)
    }
    fn write_u128(&self, offset: usize, value: u128) -> Result<(), AccessError> {
        portable::write_u128(&self.0, offset, value)
    }
}

/// A byte stream that is not periodic in 8 or 64 bytes.
fn pattern(seed: &mut u8, length: usize) -> Vec<u8> {
    (0..length)
        .map(|_| {
            *seed = seed.wrapping_mul(31).wrapping_add(7);
            *seed
        })
        .collect()
}

/// Writes `length` bytes at `start`, then checks the whole memory against `model` and the
/// range read back alone.
fn write_and_compare<M: Memory>(
    memory: &M,
    model: &mut [u8],
    seed: &mut u8,
    start: usize,
    length: usize,
) {
    let data = pattern(seed, length);
    memory.write(start, &data).unwrap();
    model[start..start + length].copy_from_slice(&data);
    let mut all = vec![0u8; model.len()];
    memory.read(0, &mut all).unwrap();
    assert_eq!(all, model, "after writing {length} bytes at {start}");
    let mut part = vec![0u8; length];
    memory.read(start, &mut part).unwrap();
    assert_eq!(part, data);
}

fn every_offset_and_length_round_trips<M: Memory>() {
    // Longer than two 64-byte blocks, so block, word and byte paths meet every alignment.
    const SIZE: usize = 168;
    let memory = M::with_size(SIZE);
    let mut model = [0u8; SIZE];
    let mut seed = 1;
    for start in 0..SIZE {
        for length in 0..=(SIZE - start) {
            write_and_compare(&memory, &mut model, &mut seed, start, length);
        }
    }
}

fn long_copies_round_trip<M: Memory>() {
    // Around the switches to AVX2 (512 bytes), to `rep movsb` without AVX2 (2 KiB) and with
    // it (8 KiB), at several alignments.
    const SIZE: usize = 9000;
    let memory = M::with_size(SIZE);
    let mut model = vec![0u8; SIZE];
    let mut seed = 3;
    for start in [0, 1, 7, 8, 31, 63, 64, 100] {
        for length in [
            511, 512, 513, 1000, 2047, 2048, 2049, 4096, 4097, 8191, 8192, 8193,
        ] {
            write_and_compare(&memory, &mut model, &mut seed, start, length);
        }
    }
}

fn u32_halves_of_one_word_do_not_disturb_each_other<M: Memory>() {
    let memory = M::with_size(16);
    memory.write(0, &[0xaa; 16]).unwrap();
    memory.store_u32(4, 0x1122_3344).unwrap();
    assert_eq!(memory.load_u32(0).unwrap(), 0xaaaa_aaaa);
    assert_eq!(memory.load_u32(4).unwrap(), 0x1122_3344);
    assert_eq!(memory.swap_u32(0, 5).unwrap(), 0xaaaa_aaaa);
    let mut word = [0u8; 8];
    memory.read(0, &mut word).unwrap();
    assert_eq!(u64::from_le_bytes(word), 0x1122_3344_0000_0005);
    memory.write(9, &[1, 2]).unwrap();
    memory.read(8, &mut word).unwrap();
    assert_eq!(u64::from_le_bytes(word), 0xaaaa_aaaa_aa02_01aa);
}

fn concurrent_stores_to_one_word_are_all_kept<M: Memory>() {
    let memory = Arc::new(M::with_size(16));
    let other = memory.clone();
    let thread = std::thread::spawn(move || {
        for value in 1..=20_000u32 {
            other.store_u32(4, value).unwrap();
            other.write(9, &[value as u8]).unwrap();
        }
    });
    for value in 1..=20_000u32 {
        memory.store_u32(0, value).unwrap();
        memory.write(8, &[value as u8]).unwrap();
        assert_eq!(memory.load_u32(0).unwrap(), value);
    }
    thread.join().unwrap();
    assert_eq!(memory.load_u32(4).unwrap(), 20_000);
    let mut bytes = [0u8; 2];
    memory.read(8, &mut bytes).unwrap();
    assert_eq!(bytes, [20_000u32 as u8; 2]);
}

fn racing_copies_see_only_written_bytes<M: Memory>() {
    // A writer refills 4 KiB with one of two patterns while a reader copies it out: every
    // byte the reader sees is one that was written there, and the index beside it, which
    // neither copy covers, keeps the writer's last store.
    const LENGTH: usize = 4096;
    let memory = Arc::new(M::with_size(LENGTH + 8));
    let other = memory.clone();
    let writer = std::thread::spawn(move || {
        for round in 0..2_000u32 {
            let fill = if round % 2 == 0 { 0xaa } else { 0x55 };
            other.write(0, &[fill; LENGTH]).unwrap();
            other.store_u32(LENGTH, round).unwrap();
        }
    });
    let mut buffer = vec![0u8; LENGTH];
    for _ in 0..2_000 {
        memory.read(0, &mut buffer).unwrap();
        assert!(buffer.iter().all(|byte| matches!(byte, 0 | 0xaa | 0x55)));
        memory.write(LENGTH + 4, &[1, 2, 3, 4]).unwrap();
    }
    writer.join().unwrap();
    assert_eq!(memory.load_u32(LENGTH).unwrap(), 1_999);
    assert_eq!(memory.load_u32(LENGTH + 4).unwrap(), 0x0403_0201);
}

fn u64_words_at_every_offset_match_the_bytes<M: Memory>() {
    const SIZE: usize = 40;
    let memory = M::with_size(SIZE);
    let mut model = [0u8; SIZE];
    let mut seed = 5;
    for offset in 0..=(SIZE - 8) {
        let value = u64::from_le_bytes(pattern(&mut seed, 8).try_into().unwrap());
        memory.write_u64(offset, value).unwrap();
        model[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        let mut all = [0u8; SIZE];
        memory.read(0, &mut all).unwrap();
        assert_eq!(all, model, "after writing a u64 at {offset}");
        for start in 0..=(SIZE - 8) {
            let expected = u64::from_le_bytes(model[start..start + 8].try_into().unwrap());
            assert_eq!(memory.read_u64(start).unwrap(), expected);
        }
    }
    assert!(memory.read_u64(SIZE - 7).is_err());
    assert!(memory.write_u64(usize::MAX - 3, 0).is_err());
}

fn u128_words_at_every_offset_match_the_bytes<M: Memory>() {
    const SIZE: usize = 48;
    let memory = M::with_size(SIZE);
    let mut model = [0u8; SIZE];
    let mut seed = 9;
    for offset in 0..=(SIZE - 16) {
        let value = u128::from_le_bytes(pattern(&mut seed, 16).try_into().unwrap());
        memory.write_u128(offset, value).unwrap();
        model[offset..offset + 16].copy_from_slice(&value.to_le_bytes());
        let mut all = [0u8; SIZE];
        memory.read(0, &mut all).unwrap();
        assert_eq!(all, model, "after writing a u128 at {offset}");
        for start in 0..=(SIZE - 16) {
            let expected = u128::from_le_bytes(model[start..start + 16].try_into().unwrap());
            assert_eq!(memory.read_u128(start).unwrap(), expected);
        }
    }
    assert!(memory.read_u128(SIZE - 15).is_err());
    assert!(memory.write_u128(SIZE - 15, 0).is_err());
    assert!(memory.write_u128(usize::MAX - 7, 0).is_err());
    assert!(memory.read_u128(usize::MAX).is_err());
}

fn out_of_bounds_and_misaligned_are_errors<M: Memory>() {
    let memory = M::with_size(16);
    assert_eq!(
        memory.read(15, &mut [0; 2]),
        Err(AccessError::OutOfBounds {
            offset: 15,
            length: 2
        })
    );
    assert!(memory.write(16, &[0; 1]).is_err());
    assert!(memory.read(usize::MAX, &mut [0; 2]).is_err());
    assert!(memory.write(usize::MAX - 1, &[0; 4]).is_err());
    assert_eq!(memory.read(16, &mut []), Ok(()));
    assert_eq!(
        memory.load_u32(2),
        Err(AccessError::Misaligned { offset: 2 })
    );
    assert!(memory.store_u32(16, 1).is_err());
    assert!(memory.swap_u32(6, 1).is_err());
    assert!(memory.fetch_or_u32(usize::MAX - 3, 1).is_err());
    memory.store_u32(12, 7).unwrap();
    let mut word = [0u8; 8];
    memory.read(8, &mut word).unwrap();
    assert_eq!(u64::from_le_bytes(word), 7 << 32);
}

fn swap_and_fetch_or_are_read_modify_writes<M: Memory>() {
    let memory = M::with_size(16);
    assert_eq!(memory.fetch_or_u32(4, 0b101).unwrap(), 0);
    assert_eq!(memory.fetch_or_u32(4, 0b010).unwrap(), 0b101);
    assert_eq!(memory.swap_u32(4, 0).unwrap(), 0b111);
    assert_eq!(memory.load_u32(4).unwrap(), 0);
    // Two threads OR disjoint bits into one word: none is lost.
    let memory = Arc::new(memory);
    let other = memory.clone();
    let thread = std::thread::spawn(move || {
        for bit in 0..16 {
            other.fetch_or_u32(8, 1 << bit).unwrap();
        }
    });
    for bit in 16..32 {
        memory.fetch_or_u32(8, 1 << bit).unwrap();
    }
    thread.join().unwrap();
    assert_eq!(memory.load_u32(8).unwrap(), u32::MAX);
}

/// Runs each generic test against both backends.
macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod fast {
            $(#[test] fn $test() { super::$test::<super::SharedBytes>(); })*
        }
        mod portable_backend {
            $(#[test] fn $test() { super::$test::<super::Portable>(); })*
        }
    };
}

both_backends!(
    every_offset_and_length_round_trips,
    long_copies_round_trip,
    u32_halves_of_one_word_do_not_disturb_each_other,
    concurrent_stores_to_one_word_are_all_kept,
    racing_copies_see_only_written_bytes,
    out_of_bounds_and_misaligned_are_errors,
    u64_words_at_every_offset_match_the_bytes,
    u128_words_at_every_offset_match_the_bytes,
    swap_and_fetch_or_are_read_modify_writes,
);

#[test]
fn windows_reach_exactly_their_range_like_a_byte_array() {
    // Every window of a 40-byte memory, every access kind at every window offset: inside
    // the window it agrees with a byte-array model of the whole memory (bytes outside the
    // window untouched); reaching past the window is an error even where the memory goes on.
    const SIZE: usize = 40;
    let memory = SharedBytes::new(SIZE);
    let mut model = [0u8; SIZE];
    let mut next = 1u8;
    let mut fresh = |length: usize| -> vec::Vec<u8> {
        (0..length)
            .map(|_| {
                next = next.wrapping_mul(31).wrapping_add(7);
                next
            })
            .collect()
    };
    assert!(memory.window(SIZE, 0).is_ok());
    assert!(memory.window(SIZE, 1).is_err());
    assert!(memory.window(1, usize::MAX).is_err());
    assert!(memory.window(usize::MAX, 2).is_err());
    for start in 0..=SIZE {
        for length in 0..=(SIZE - start) {
            let window = memory.window(start, length).unwrap();
            assert_eq!(window.len(), length);
            for offset in 0..=length + 1 {
                for size in [0usize, 1, 3, 8, 16, 17] {
                    let data = fresh(size);
                    let inside = offset + size <= length;
                    assert_eq!(window.write(offset, &data).is_ok(), inside);
                    if inside {
                        model[start + offset..start + offset + size].copy_from_slice(&data);
                    }
                    let mut back = vec![0u8; size];
                    assert_eq!(window.read(offset, &mut back).is_ok(), inside);
                    if inside {
                        assert_eq!(back, data);
                    }
                }
                let word = u64::from_le_bytes(fresh(8).try_into().unwrap());
                let inside = offset + 8 <= length;
                assert_eq!(window.write_u64(offset, word).is_ok(), inside);
                if inside {
                    model[start + offset..start + offset + 8].copy_from_slice(&word.to_le_bytes());
                    assert_eq!(window.read_u64(offset).unwrap(), word);
                } else {
                    assert!(window.read_u64(offset).is_err());
                }
                let wide = u128::from_le_bytes(fresh(16).try_into().unwrap());
                let inside = offset + 16 <= length;
                assert_eq!(window.write_u128(offset, wide).is_ok(), inside);
                if inside {
                    model[start + offset..start + offset + 16].copy_from_slice(&wide.to_le_bytes());
                    assert_eq!(window.read_u128(offset).unwrap(), wide);
                } else {
                    assert!(window.read_u128(offset).is_err());
                }
            }
            assert!(window.read(usize::MAX, &mut [0u8; 2]).is_err());
            assert!(window.write_u64(usize::MAX - 3, 0).is_err());
            let mut all = [0u8; SIZE];
            memory.read(0, &mut all).unwrap();
            assert_eq!(all, model, "window {start}+{length}");
        }
    }
}

#[test]
fn windows_of_windows_reach_exactly_their_range() {
    // Every part of every window of a 24-byte memory: writes through the part land at the
    // window's start plus the part's, reads agree, and a part past its window is refused
    // (including ranges whose end would overflow).
    const SIZE: usize = 24;
    let memory = SharedBytes::new(SIZE);
    let mut model = [0u8; SIZE];
    let mut next = 3u8;
    for start in 0..=SIZE {
        let window = memory.window(start, SIZE - start).unwrap();
        assert!(window.window(1, usize::MAX).is_err());
        assert!(window.window(usize::MAX, 2).is_err());
        for offset in 0..=window.len() + 1 {
            for length in 0..=window.len() + 1 {
                let part = window.window(offset, length);
                if offset + length > window.len() {
                    assert!(part.is_err(), "part {offset}+{length} of {start}");
                    continue;
                }
                let part = part.unwrap();
                assert_eq!(part.len(), length);
                let data: vec::Vec<u8> = (0..length)
                    .map(|_| {
                        next = next.wrapping_mul(29).wrapping_add(11);
                        next
                    })
                    .collect();
                part.write(0, &data).unwrap();
                model[start + offset..start + offset + length].copy_from_slice(&data);
                assert!(part.write(length, &[0]).is_err());
                let mut back = vec![0u8; length];
                part.read(0, &mut back).unwrap();
                assert_eq!(back, data);
                let mut all = [0u8; SIZE];
                memory.read(0, &mut all).unwrap();
                assert_eq!(all, model);
            }
        }
    }
}
