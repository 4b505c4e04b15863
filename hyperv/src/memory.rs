//! Guest memory addressed by guest-physical address (GPA).
//!
//! Every piece of memory that the guest shares with the host (ring buffers, SynIC pages,
//! GPADL pages, dxg IO space) is reached through [`GuestMemory`], never through a pointer.
//! The kernel implements it over its physical-memory window, the emulator over QEMU's shared
//! memory file, and host tests over [`AtomicMemory`]. Because the other side may change shared
//! memory at any time, readers copy bytes out and validate the copy.

use core::sync::atomic::{Ordering, fence};
use shared_bytes::SharedBytes;
pub use shared_bytes::{AccessError, Window};

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
    /// Reads a little-endian `u128` (no atomicity), e.g. a 16-byte ring descriptor in one
    /// access. The provided body copies through [`read`](Self::read).
    fn read_u128(&self, gpa: u64) -> Result<u128, MemoryError> {
        let mut bytes = [0u8; 16];
        self.read(gpa, &mut bytes)?;
        Ok(u128::from_le_bytes(bytes))
    }
    /// Writes a little-endian `u128` (no atomicity). The provided body copies through
    /// [`write`](Self::write).
    fn write_u128(&self, gpa: u64, value: u128) -> Result<(), MemoryError> {
        self.write(gpa, &value.to_le_bytes())
    }
    /// The `length` bytes at `gpa` as a [`Window`] of shared bytes, if this memory keeps them
    /// in one and they are all backed: a range checked once, whose accesses take offsets
    /// relative to it and check only against its length. A ring takes one window per packet
    /// instead of checking each of the packet's accesses against the whole memory.
    ///
    /// `None` (the provided body) means "use the checked accessors": a memory without
    /// windows, or a range it does not back (whose accesses then fail one by one). The
    /// bytes of a window stay shared: what is read from it is a copy to validate.
    #[inline]
    fn window(&self, gpa: u64, length: usize) -> Option<Window<'_>> {
        let _ = (gpa, length);
        None
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

/// Implements [`GuestMemory`] for a pointer type by forwarding every method to the memory it
/// points to (so a method with a provided body keeps the pointee's override).
macro_rules! forward_guest_memory {
    ($($pointer:ty),+) => {$(
        impl<T: GuestMemory + ?Sized> GuestMemory for $pointer {
            #[inline]
            fn window(&self, gpa: u64, length: usize) -> Option<Window<'_>> {
                (**self).window(gpa, length)
            }
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
            fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
                (**self).read_u64(gpa)
            }
            fn write_u64(&self, gpa: u64, value: u64) -> Result<(), MemoryError> {
                (**self).write_u64(gpa, value)
            }
            fn read_u128(&self, gpa: u64) -> Result<u128, MemoryError> {
                (**self).read_u128(gpa)
            }
            fn write_u128(&self, gpa: u64, value: u128) -> Result<(), MemoryError> {
                (**self).write_u128(gpa, value)
            }
            fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
                (**self).fetch_or_u32(gpa, bits)
            }
        }
    )+};
}

forward_guest_memory!(&T, alloc::sync::Arc<T>);

/// Guest memory shared between threads, none trusting the others.
///
/// Used by in-process tests, fuzzers and the loopback harness: guest and host address the same
/// buffer by GPA, starting at `base`.
///
/// # Copies
/// The bytes live in a [`SharedBytes`] (crate `dxgos-shared-bytes`, the one named
/// memory-access type with `unsafe` below this crate): on x86-64 every access to them is inline
/// assembly, bulk copies at `memcpy` speed (SSE blocks, `rep movsb` from 2 KiB) and the 32-bit
/// accessors single `mov`/`xchg`/`lock cmpxchg` instructions, so a concurrent writer changes
/// what a copy sees, never makes it undefined; readers validate what they copied (the ring
/// re-checks every descriptor after copying it out). That is the way of OpenVMM's `trycopy`
/// (microsoft/openvmm `support/trycopy/src/lib.rs`); its `safeatomic`
/// (`support/safeatomic/src/lib.rs`) copies `[AtomicU8]` with `copy_nonoverlapping` instead
/// and calls that technically undefined behaviour. Elsewhere `SharedBytes` falls back to
/// relaxed 64-bit atomics, in safe code.
pub struct AtomicMemory {
    base: u64,
    bytes: SharedBytes,
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
    /// Creates `size` bytes of zeroed memory (rounded up to 8 bytes) starting at GPA `base`.
    pub fn new(base: u64, size: usize) -> Self {
        Self {
            base,
            bytes: SharedBytes::new(size),
        }
    }

    /// First guest-physical address backed by this memory.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Number of bytes backed.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The offset of `gpa` in the shared bytes; the access itself is bounds-checked by
    /// [`SharedBytes`].
    #[inline]
    fn offset(&self, gpa: u64, length: usize) -> Result<usize, MemoryError> {
        // A `gpa` below `base` wraps to an offset of at least 2^64 − base, beyond the
        // allocation unless `base + size` itself passes 2^64 (then addresses wrap, as they
        // would in such a memory anyway), so the bounds check of the access itself refuses
        // it: one check, not two, on every access; soundness never depends on it.
        usize::try_from(gpa.wrapping_sub(self.base)).map_err(|_| MemoryError::OutOfRange {
            gpa,
            length: length as u64,
        })
    }

    /// Runs one access of `length` bytes at `gpa` on the shared bytes, its error named by `gpa`.
    #[inline]
    fn access<T>(
        &self,
        gpa: u64,
        length: usize,
        operation: impl FnOnce(&SharedBytes, usize) -> Result<T, AccessError>,
    ) -> Result<T, MemoryError> {
        let offset = self.offset(gpa, length)?;
        operation(&self.bytes, offset).map_err(|error| memory_error(gpa, error))
    }
}

/// The [`MemoryError`] for a failed access to the shared bytes at `gpa`.
#[cold]
fn memory_error(gpa: u64, error: AccessError) -> MemoryError {
    match error {
        AccessError::OutOfBounds { length, .. } => MemoryError::OutOfRange {
            gpa,
            length: length as u64,
        },
        AccessError::Misaligned { .. } => MemoryError::Misaligned { gpa },
    }
}

impl GuestMemory for AtomicMemory {
    #[inline]
    fn window(&self, gpa: u64, length: usize) -> Option<Window<'_>> {
        let offset = usize::try_from(gpa.wrapping_sub(self.base)).ok()?;
        self.bytes.window(offset, length).ok()
    }

    #[inline]
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.access(gpa, buffer.len(), |bytes, offset| {
            bytes.read(offset, buffer)
        })
    }

    #[inline]
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.access(gpa, data.len(), |bytes, offset| bytes.write(offset, data))
    }

    #[inline]
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        self.access(gpa, 4, |bytes, offset| bytes.load_u32(offset))
    }

    #[inline]
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.access(gpa, 4, |bytes, offset| bytes.store_u32(offset, value))
    }

    #[inline]
    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        self.access(gpa, 4, |bytes, offset| bytes.swap_u32(offset, value))
    }

    #[inline]
    fn fetch_or_u32(&self, gpa: u64, bits: u32) -> Result<u32, MemoryError> {
        self.access(gpa, 4, |bytes, offset| bytes.fetch_or_u32(offset, bits))
    }

    #[inline]
    fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        self.access(gpa, 8, |bytes, offset| bytes.read_u64(offset))
    }

    #[inline]
    fn write_u64(&self, gpa: u64, value: u64) -> Result<(), MemoryError> {
        self.access(gpa, 8, |bytes, offset| bytes.write_u64(offset, value))
    }

    #[inline]
    fn read_u128(&self, gpa: u64) -> Result<u128, MemoryError> {
        self.access(gpa, 16, |bytes, offset| bytes.read_u128(offset))
    }

    #[inline]
    fn write_u128(&self, gpa: u64, value: u128) -> Result<(), MemoryError> {
        self.access(gpa, 16, |bytes, offset| bytes.write_u128(offset, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_below_the_base_are_out_of_range() {
        // Offsets are computed with a wrapping subtraction; below the base they must still
        // be refused by the one bounds check, for every access kind.
        let memory = AtomicMemory::new(0x1000, 64);
        let below = MemoryError::OutOfRange {
            gpa: 0xFFF,
            length: 1,
        };
        assert_eq!(memory.read(0xFFF, &mut [0u8; 1]), Err(below));
        assert_eq!(memory.write(0xFFF, &[0u8; 1]), Err(below));
        assert!(memory.read(0, &mut [0u8; 16]).is_err());
        assert!(memory.read_u64(0xFF8).is_err());
        assert!(memory.write_u64(0xFF8, 0).is_err());
        assert!(memory.read_u128(0xFF0).is_err());
        assert!(memory.write_u128(0xFFF, 0).is_err());
        assert!(memory.load_u32(0xFFC).is_err());
        assert!(memory.store_u32(0, 0).is_err());
        // Just inside, both ends.
        memory.write_u128(0x1000, u128::MAX).unwrap();
        memory.write_u128(0x1030, 7).unwrap();
        assert_eq!(memory.read_u128(0x1030).unwrap(), 7);
        assert_eq!(memory.read_u64(0x1008).unwrap(), u64::MAX);
        assert!(memory.read_u128(0x1031).is_err());
    }

    #[test]
    fn windows_cover_backed_ranges_only() {
        let memory = AtomicMemory::new(0x1000, 64);
        memory.write(0x1000, &[7u8; 64]).unwrap();
        // Below the base, past the end, wrapping: no window (the accessors then refuse).
        assert!(memory.window(0xFFF, 1).is_none());
        assert!(memory.window(0x1000, 65).is_none());
        assert!(memory.window(0x1039, 8).is_none());
        assert!(memory.window(u64::MAX, 2).is_none());
        assert!(memory.window(0x1000, usize::MAX).is_none());
        // Inside: offsets relative to the window, bounded by it.
        let window = memory.window(0x1010, 16).unwrap();
        assert_eq!(window.len(), 16);
        window.write_u64(8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(memory.read_u64(0x1018).unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(window.read_u64(0).unwrap(), 0x0707_0707_0707_0707);
        assert!(window.read_u64(9).is_err());
        assert!(window.write(16, &[1]).is_err());
        assert!(memory.window(0x1040, 0).is_some());
        // Through `&T` and `Arc<T>` too.
        assert!(GuestMemory::window(&&memory, 0x1000, 64).is_some());
        let shared = alloc::sync::Arc::new(AtomicMemory::new(0, 8));
        assert!(shared.window(0, 8).is_some());
    }

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
