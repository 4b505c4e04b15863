//! Guest memory addressed by guest-physical address (GPA).
//!
//! Every piece of memory that the guest shares with the host (ring buffers, SynIC pages,
//! GPADL pages, dxg IO space) is reached through [`GuestMemory`], never through a pointer.
//! The kernel implements it over its physical-memory window, the emulator over QEMU's shared
//! memory file, and host tests over [`AtomicMemory`]. Because the other side may change shared
//! memory at any time, readers copy bytes out and validate the copy.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering, fence};

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
pub struct AtomicMemory {
    base: u64,
    words: Vec<AtomicU32>,
}

impl core::fmt::Debug for AtomicMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AtomicMemory")
            .field("base", &format_args!("{:#x}", self.base))
            .field("size", &format_args!("{:#x}", self.size()))
            .finish()
    }
}

impl AtomicMemory {
    /// Creates `size` bytes of zeroed memory (rounded up to 4 bytes) starting at GPA `base`.
    pub fn new(base: u64, size: usize) -> Self {
        let mut words = Vec::with_capacity(size.div_ceil(4));
        words.resize_with(size.div_ceil(4), || AtomicU32::new(0));
        Self { base, words }
    }

    /// First guest-physical address backed by this memory.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Number of bytes backed.
    pub fn size(&self) -> u64 {
        self.words.len() as u64 * 4
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
        Ok(offset as usize)
    }
}

impl GuestMemory for AtomicMemory {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let mut offset = self.offset(gpa, buffer.len())?;
        let mut done = 0;
        while done < buffer.len() {
            let word = self.words[offset / 4].load(Ordering::Relaxed).to_le_bytes();
            let start = offset % 4;
            let take = (4 - start).min(buffer.len() - done);
            buffer[done..done + take].copy_from_slice(&word[start..start + take]);
            done += take;
            offset += take;
        }
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let mut offset = self.offset(gpa, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let start = offset % 4;
            let take = (4 - start).min(data.len() - done);
            let word = &self.words[offset / 4];
            if take == 4 {
                let value = u32::from_le_bytes(data[done..done + 4].try_into().unwrap_or([0; 4]));
                word.store(value, Ordering::Relaxed);
            } else {
                for (index, byte) in data[done..done + take].iter().enumerate() {
                    let shift = (start + index) * 8;
                    word.fetch_and(!(0xff << shift), Ordering::Relaxed);
                    word.fetch_or(u32::from(*byte) << shift, Ordering::Relaxed);
                }
            }
            done += take;
            offset += take;
        }
        Ok(())
    }

    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        Ok(self.words[offset / 4].load(Ordering::Acquire))
    }

    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        self.words[offset / 4].store(value, Ordering::Release);
        Ok(())
    }

    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        Ok(self.words[offset / 4].swap(value, Ordering::AcqRel))
    }

    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        let offset = self.offset(gpa, 4)?;
        Ok(self.words[offset / 4].fetch_or(bits, Ordering::AcqRel))
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
