//! Guest memory addressed by guest-physical address (GPA).
//!
//! Every piece of memory that the guest shares with the host (ring buffers, SynIC pages,
//! GPADL pages, dxg IO space) is reached through [`GuestMemory`], never through a pointer.
//! The kernel implements it over its physical-memory window, the emulator over QEMU's shared
//! memory file, and host tests over [`AtomicMemory`]. Because the other side may change shared
//! memory at any time, readers copy bytes out and validate the copy.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering, fence};

/// The page size of the Hyper-V guest interface.
pub const PAGE_SIZE: u64 = 4096;

/// A failed access to guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryError {
    /// The range `[gpa, gpa + length)` is not backed by guest memory.
    OutOfRange {
        /// First guest-physical address of the access.
        gpa: u64,
        /// Length of the access in bytes.
        length: u64,
    },
    /// An atomic access was not naturally aligned.
    Misaligned {
        /// The guest-physical address of the access.
        gpa: u64,
    },
}

impl core::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MemoryError::OutOfRange { gpa, length } => {
                write!(
                    f,
                    "guest range {gpa:#x}+{length:#x} is not backed by memory"
                )
            }
            MemoryError::Misaligned { gpa } => write!(f, "misaligned atomic access at {gpa:#x}"),
        }
    }
}

/// Byte and atomic access to guest memory by guest-physical address.
///
/// `read` and `write` copy bytes with no ordering guarantee of their own; the 32-bit atomic
/// accessors give the acquire/release ordering that ring-buffer indices need, and [`fence`]
/// gives a full barrier (needed between publishing a write index and reading the peer's
/// interrupt mask).
///
/// [`fence`]: GuestMemory::fence
pub trait GuestMemory {
    /// Copies `buffer.len()` bytes starting at `gpa` into `buffer`.
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError>;
    /// Copies `data` into guest memory starting at `gpa`.
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;
    /// Loads a naturally aligned little-endian `u32` with acquire ordering.
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError>;
    /// Stores a naturally aligned little-endian `u32` with release ordering.
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError>;
    /// A full (sequentially consistent) memory barrier.
    fn fence(&self) {
        fence(Ordering::SeqCst);
    }
    /// Reads a little-endian `u64` (no atomicity).
    fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        let mut bytes = [0u8; 8];
        self.read(gpa, &mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }
    /// Writes a little-endian `u64` (no atomicity).
    fn write_u64(&self, gpa: u64, value: u64) -> Result<(), MemoryError> {
        self.write(gpa, &value.to_le_bytes())
    }
    /// Atomically replaces a naturally aligned `u32` and returns the old value (acquire and
    /// release ordering). Used to test-and-clear SynIC event flags.
    ///
    /// The provided body is a plain load then store, which is only correct when nobody else
    /// writes the word meanwhile: implementations over memory shared with a concurrent peer
    /// must override it with a real atomic swap.
    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        let old = self.load_u32(gpa)?;
        self.store_u32(gpa, value)?;
        Ok(old)
    }
    /// Atomically ORs `bits` into a naturally aligned `u32` and returns the old value (acquire
    /// and release ordering). Used by the host to set SynIC event flags.
    ///
    /// The provided body is not atomic; see [`GuestMemory::swap_u32`].
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        let old = self.load_u32(gpa)?;
        self.store_u32(gpa, old | bits)?;
        Ok(old)
    }
}

impl<T: GuestMemory + ?Sized> GuestMemory for &T {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        (**self).read(gpa, buffer)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        (**self).write(gpa, data)
    }
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        (**self).load_u32(gpa)
    }
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        (**self).store_u32(gpa, value)
    }
    fn fence(&self) {
        (**self).fence()
    }
    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        (**self).swap_u32(gpa, value)
    }
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        (**self).fetch_or_u32(gpa, bits)
    }
}

impl<T: GuestMemory + ?Sized> GuestMemory for alloc::sync::Arc<T> {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        (**self).read(gpa, buffer)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        (**self).write(gpa, data)
    }
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        (**self).load_u32(gpa)
    }
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        (**self).store_u32(gpa, value)
    }
    fn fence(&self) {
        (**self).fence()
    }
    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        (**self).swap_u32(gpa, value)
    }
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        (**self).fetch_or_u32(gpa, bits)
    }
}

/// Guest memory made of atomic words, safe to share between threads without `unsafe`.
///
/// Used by in-process tests, fuzzers and the loopback harness: guest and host address the same
/// buffer by GPA, starting at `base`.
///
/// # Copies
/// The memory is a slice of `AtomicU64`, and bulk copies move it one relaxed 64-bit atomic per
/// aligned word: on x86-64 a relaxed atomic load or store is a plain `mov`, so the copy loop is
/// one load and one store per 8 bytes, with no lock prefix and no per-word call. OpenVMM faces
/// the same problem for guest memory: its `safeatomic` crate (microsoft/openvmm
/// `support/safeatomic/src/lib.rs`) copies `[AtomicU8]` with `copy_nonoverlapping` and marks
/// that as technically undefined behaviour under a concurrent writer, and its `trycopy` crate
/// (`support/trycopy/src/lib.rs`) copies with inline assembly, outside Rust's memory model.
/// Here the copy is word-sized relaxed atomics, sound for every input and free of `unsafe`:
/// a concurrent writer can change what a copy sees, never make it undefined, and readers
/// validate what they copied (the ring re-checks every descriptor after copying
/// it out). Only the partial words at the ends of an unaligned write are read-modify-writes
/// (a compare-exchange loop, so bytes outside the range written are never disturbed).
///
/// The 32-bit accessors work on half of a 64-bit word: loads and `fetch_or` are single atomic
/// operations, stores and swaps a compare-exchange loop that leaves the other half as the peer
/// last wrote it (the ring's write and read indices share one word).
pub struct AtomicMemory {
    base: u64,
    words: Vec<AtomicU64>,
}

/// Bytes per word of [`AtomicMemory`].
const WORD: usize = 8;
/// Words per block of a bulk copy: the inner loop over a block has a fixed trip count, so the
/// compiler unrolls it and the copy costs fewer loop checks per word.
const BLOCK: usize = 8;

impl core::fmt::Debug for AtomicMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AtomicMemory")
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.size()))
            .finish()
    }
}

impl AtomicMemory {
    /// Creates `size` bytes of zeroed memory (rounded up to 8 bytes) starting at GPA `base`.
    pub fn new(base: u64, size: usize) -> Self {
        let mut words = Vec::with_capacity(size.div_ceil(WORD));
        words.resize_with(size.div_ceil(WORD), || AtomicU64::new(0));
        Self { base, words }
    }

    /// First guest-physical address backed by this memory.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Number of bytes backed.
    pub fn size(&self) -> u64 {
        self.words.len() as u64 * WORD as u64
    }

    fn offset(&self, gpa: u64, length: usize) -> Result<usize, MemoryError> {
        let error = MemoryError::OutOfRange {
            gpa,
            length: length as u64,
        };
        let offset = gpa.checked_sub(self.base).ok_or(error)?;
        let end = offset.checked_add(length as u64).ok_or(error)?;
        if end > self.size() {
            return Err(error);
        }
        usize::try_from(offset).map_err(|_| error)
    }

    /// The words covering `[gpa, gpa + length)` and the byte offset of `gpa` in the first.
    fn span(&self, gpa: u64, length: usize) -> Result<(&[AtomicU64], usize), MemoryError> {
        let offset = self.offset(gpa, length)?;
        let first = offset / WORD;
        let head = offset % WORD;
        // `offset + length ≤ size` (checked above), so the words exist.
        let count = (head + length).div_ceil(WORD);
        let words = self
            .words
            .get(first..first + count)
            .ok_or(MemoryError::OutOfRange {
                gpa,
                length: length as u64,
            })?;
        Ok((words, head))
    }

    /// The word holding the naturally aligned `u32` at `gpa`, and the bit shift of that `u32`
    /// inside it.
    fn half_word(&self, gpa: u64) -> Result<(&AtomicU64, u32), MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        let word = self
            .words
            .get(offset / WORD)
            .ok_or(MemoryError::OutOfRange { gpa, length: 4 })?;
        Ok((word, (offset % WORD) as u32 * 8))
    }

    /// Replaces the `u32` at `gpa` with `update(old)` atomically; returns the old value.
    fn update_u32(&self, gpa: u64, update: impl Fn(u32) -> u32) -> Result<u32, MemoryError> {
        let (word, shift) = self.half_word(gpa)?;
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
}

/// Splits `words` into the words of the whole blocks of a `length`-byte copy and the rest.
fn split_blocks(words: &[AtomicU64], length: usize) -> (&[AtomicU64], &[AtomicU64]) {
    let block_words = (length / (BLOCK * WORD) * BLOCK).min(words.len());
    words.split_at(block_words)
}

/// Writes `bytes` into `word` starting at byte `start` (`start + bytes.len() ≤ 8`), leaving the
/// word's other bytes as they are even if another thread changes them meanwhile.
fn write_partial_word(word: &AtomicU64, start: usize, bytes: &[u8]) {
    let mut value = [0u8; WORD];
    let mut mask = [0u8; WORD];
    for (index, byte) in bytes.iter().enumerate() {
        if let (Some(value), Some(mask)) =
            (value.get_mut(start + index), mask.get_mut(start + index))
        {
            *value = *byte;
            *mask = 0xff;
        }
    }
    let (value, mask) = (u64::from_le_bytes(value), u64::from_le_bytes(mask));
    // The closure always returns `Some`, so `fetch_update` cannot fail.
    let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some((old & !mask) | value)
    });
}

impl GuestMemory for AtomicMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let (words, head) = self.span(gpa, buffer.len())?;
        let mut words = words.iter();
        let mut rest = buffer;
        if head != 0 {
            let take = (WORD - head).min(rest.len());
            let (first, tail) = rest.split_at_mut(take);
            if let Some(word) = words.next() {
                let bytes = word.load(Ordering::Relaxed).to_le_bytes();
                first.copy_from_slice(bytes.get(head..head + take).unwrap_or_default());
            }
            rest = tail;
        }
        let (block_words, other_words) = split_blocks(words.as_slice(), rest.len());
        let mut blocks = rest.chunks_exact_mut(BLOCK * WORD);
        for (block, source) in (&mut blocks).zip(block_words.chunks_exact(BLOCK)) {
            for (chunk, word) in block.chunks_exact_mut(WORD).zip(source) {
                chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
            }
        }
        let mut words = other_words.iter();
        let mut chunks = blocks.into_remainder().chunks_exact_mut(WORD);
        for (chunk, word) in (&mut chunks).zip(&mut words) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        let tail = chunks.into_remainder();
        if let (false, Some(word)) = (tail.is_empty(), words.next()) {
            let bytes = word.load(Ordering::Relaxed).to_le_bytes();
            tail.copy_from_slice(bytes.get(..tail.len()).unwrap_or_default());
        }
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let (words, head) = self.span(gpa, data.len())?;
        let mut words = words.iter();
        let mut rest = data;
        if head != 0 {
            let take = (WORD - head).min(rest.len());
            let (first, tail) = rest.split_at(take);
            if let Some(word) = words.next() {
                write_partial_word(word, head, first);
            }
            rest = tail;
        }
        let (block_words, other_words) = split_blocks(words.as_slice(), rest.len());
        let mut blocks = rest.chunks_exact(BLOCK * WORD);
        for (block, destination) in (&mut blocks).zip(block_words.chunks_exact(BLOCK)) {
            for (chunk, word) in block.chunks_exact(WORD).zip(destination) {
                let value = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
                word.store(value, Ordering::Relaxed);
            }
        }
        let mut words = other_words.iter();
        let mut chunks = blocks.remainder().chunks_exact(WORD);
        for (chunk, word) in (&mut chunks).zip(&mut words) {
            let value = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            word.store(value, Ordering::Relaxed);
        }
        let tail = chunks.remainder();
        if let (false, Some(word)) = (tail.is_empty(), words.next()) {
            write_partial_word(word, 0, tail);
        }
        Ok(())
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        let (word, shift) = self.half_word(gpa)?;
        Ok((word.load(Ordering::Acquire) >> shift) as u32)
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.update_u32(gpa, |_| value).map(|_| ())
    }

    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        self.update_u32(gpa, |_| value)
    }

    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        let (word, shift) = self.half_word(gpa)?;
        Ok((word.fetch_or(u64::from(bits) << shift, Ordering::AcqRel) >> shift) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_bytes_round_trip() {
        let memory = AtomicMemory::new(0x1000, 64);
        memory.write(0x1003, &[1, 2, 3, 4, 5, 6, 7]).unwrap();
        let mut out = [0u8; 9];
        memory.read(0x1002, &mut out).unwrap();
        assert_eq!(out, [0, 1, 2, 3, 4, 5, 6, 7, 0]);
        assert_eq!(
            memory.load_u32(0x1004).unwrap(),
            u32::from_le_bytes([2, 3, 4, 5])
        );
    }

    #[test]
    fn every_offset_and_length_round_trips_like_a_byte_array() {
        // Longer than two copy blocks, so block, word and byte paths all meet every alignment.
        const SIZE: usize = 168;
        let memory = AtomicMemory::new(0x1000, SIZE);
        let mut model = [0u8; SIZE];
        let mut next = 1u8;
        for start in 0..SIZE {
            for length in 0..=(SIZE - start) {
                let data: alloc::vec::Vec<u8> = (0..length)
                    .map(|_| {
                        next = next.wrapping_mul(31).wrapping_add(7);
                        next
                    })
                    .collect();
                memory.write(0x1000 + start as u64, &data).unwrap();
                model[start..start + length].copy_from_slice(&data);
                let mut all = [0u8; SIZE];
                memory.read(0x1000, &mut all).unwrap();
                assert_eq!(all, model, "after writing {length} bytes at {start}");
                let mut part = alloc::vec![0u8; length];
                memory.read(0x1000 + start as u64, &mut part).unwrap();
                assert_eq!(part, data);
            }
        }
    }

    #[test]
    fn u32_halves_of_one_word_do_not_disturb_each_other() {
        let memory = AtomicMemory::new(0, 16);
        memory.write(0, &[0xaa; 16]).unwrap();
        memory.store_u32(4, 0x1122_3344).unwrap();
        assert_eq!(memory.load_u32(0).unwrap(), 0xaaaa_aaaa);
        assert_eq!(memory.load_u32(4).unwrap(), 0x1122_3344);
        assert_eq!(memory.swap_u32(0, 5).unwrap(), 0xaaaa_aaaa);
        assert_eq!(memory.read_u64(0).unwrap(), 0x1122_3344_0000_0005);
        memory.write(9, &[1, 2]).unwrap();
        assert_eq!(memory.read_u64(8).unwrap(), 0xaaaa_aaaa_aa02_01aa);
    }

    #[test]
    fn concurrent_stores_to_both_halves_of_a_word_are_all_kept() {
        let memory = std::sync::Arc::new(AtomicMemory::new(0, 16));
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

    #[test]
    fn out_of_range_and_misaligned_are_errors() {
        let memory = AtomicMemory::new(0x1000, 16);
        assert!(matches!(
            memory.read(0xfff, &mut [0; 1]),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(matches!(
            memory.write(0x100f, &[0; 2]),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert!(matches!(
            memory.read(u64::MAX, &mut [0; 2]),
            Err(MemoryError::OutOfRange { .. })
        ));
        assert_eq!(
            memory.load_u32(0x1002),
            Err(MemoryError::Misaligned { gpa: 0x1002 })
        );
        memory.store_u32(0x100c, 7).unwrap();
        assert_eq!(memory.read_u64(0x1008).unwrap(), 7 << 32);
    }

    #[test]
    fn swap_and_fetch_or_are_atomic_read_modify_writes() {
        let memory = AtomicMemory::new(0x1000, 16);
        assert_eq!(memory.fetch_or_u32(0x1004, 0b101).unwrap(), 0);
        assert_eq!(memory.fetch_or_u32(0x1004, 0b010).unwrap(), 0b101);
        assert_eq!(memory.swap_u32(0x1004, 0).unwrap(), 0b111);
        assert_eq!(memory.load_u32(0x1004).unwrap(), 0);
        assert_eq!(
            memory.swap_u32(0x1002, 0),
            Err(MemoryError::Misaligned { gpa: 0x1002 })
        );
        assert!(matches!(
            memory.fetch_or_u32(0x1010, 1),
            Err(MemoryError::OutOfRange { .. })
        ));
    }
}
