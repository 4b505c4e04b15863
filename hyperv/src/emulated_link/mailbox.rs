//! The link's shared-memory mailboxes (sans-I/O): two byte rings in the shared memory of QEMU's
//! `ivshmem-doorbell` device (its BAR2), carrying the same frames as COM2 did.
//!
//! The frames keep their magic and CRC although shared memory does not garble bytes: the
//! decoder stays the one place that validates what the other side wrote, and a ring whose
//! indices the peer corrupted is resynchronised by it like a noisy UART.
//!
//! Layout (offsets in the shared memory; every index a little-endian `u32`, free-running: the
//! byte at index `i` is at `data + i % size`):
//!
//! | Offset | Field | Written by |
//! |---|---|---|
//! | 0x000 | magic `DXLK` (0x4B4C_5844) | host, at creation |
//! | 0x004 | layout version (1) | host, at creation |
//! | 0x040 | guest → host head (bytes produced) | guest |
//! | 0x080 | guest → host tail (bytes consumed) | host |
//! | 0x0C0 | host → guest head | host |
//! | 0x100 | host → guest tail | guest |
//! | 0x1000 | guest → host data, 4 KiB | guest |
//! | 0x2000 | host → guest data, 8 KiB | host |
//!
//! The indices sit on separate 64-byte lines so neither side's stores disturb the other's.
//! Each side keeps its own index locally and only ever *reads* the peer's, checking it: a peer
//! index that claims more than the ring holds is [`RingError::Corrupt`].
//!
//! Signalling is outside the rings: the guest rings the device's Doorbell register after
//! producing (the host wakes on that eventfd); the host raises the device's interrupt after
//! producing `Interrupt` frames (synchronous replies are polled for by the guest, which is
//! already waiting).

use crate::memory::{GuestMemory, MemoryError};

/// `DXLK` at offset 0: the host has laid the mailboxes out.
pub const MAILBOX_MAGIC: u32 = 0x4B4C_5844;
/// The layout version at offset 4.
pub const MAILBOX_VERSION: u32 = 1;
/// Offset of the magic.
pub const MAGIC_OFFSET: u64 = 0x000;
/// Offset of the layout version.
pub const VERSION_OFFSET: u64 = 0x004;
/// Size of the shared memory (a power of two, as a PCI BAR must be).
pub const SHARED_MEMORY_SIZE: u64 = 0x4000;

/// One direction's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLayout {
    /// Offset of the producer's index.
    pub head: u64,
    /// Offset of the consumer's index.
    pub tail: u64,
    /// Offset of the data.
    pub data: u64,
    /// Bytes of data (a power of two).
    pub size: u32,
}

/// Guest → host: request frames.
pub const TO_HOST: RingLayout = RingLayout {
    head: 0x040,
    tail: 0x080,
    data: 0x1000,
    size: 0x1000,
};

/// Host → guest: reply and interrupt frames.
pub const TO_GUEST: RingLayout = RingLayout {
    head: 0x0C0,
    tail: 0x100,
    data: 0x2000,
    size: 0x2000,
};

/// Why a ring operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The shared memory refused the access.
    Memory(MemoryError),
    /// The peer's index claims more bytes than the ring holds.
    Corrupt {
        /// Our index.
        ours: u32,
        /// The peer's index as read.
        theirs: u32,
    },
}

impl From<MemoryError> for RingError {
    fn from(error: MemoryError) -> Self {
        RingError::Memory(error)
    }
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::Memory(error) => write!(f, "mailbox memory: {error}"),
            RingError::Corrupt { ours, theirs } => {
                write!(f, "mailbox index corrupt (ours {ours}, peer's {theirs})")
            }
        }
    }
}

/// The producing side of a ring: keeps its head locally and publishes it.
#[derive(Debug, Clone)]
pub struct RingProducer {
    layout: RingLayout,
    head: u32,
}

impl RingProducer {
    /// A producer that continues from the head currently published in `memory` (so that a
    /// rebooted guest, or a restarted host, appends after what it wrote before).
    pub fn attach(layout: RingLayout, memory: &dyn GuestMemory) -> Result<Self, RingError> {
        Ok(Self {
            layout,
            head: memory.load_u32(layout.head)?,
        })
    }

    /// Bytes that fit now.
    pub fn free(&self, memory: &dyn GuestMemory) -> Result<u32, RingError> {
        let tail = memory.load_u32(self.layout.tail)?;
        let used = self.head.wrapping_sub(tail);
        if used > self.layout.size {
            return Err(RingError::Corrupt {
                ours: self.head,
                theirs: tail,
            });
        }
        Ok(self.layout.size - used)
    }

    /// Whether the consumer has read everything published (a corrupt peer tail counts as
    /// not drained).
    pub fn is_drained(&self, memory: &dyn GuestMemory) -> Result<bool, RingError> {
        Ok(memory.load_u32(self.layout.tail)? == self.head)
    }

    /// Writes as much of `bytes` as fits, publishes the new head and returns how many bytes
    /// were written.
    pub fn push(&mut self, memory: &dyn GuestMemory, bytes: &[u8]) -> Result<usize, RingError> {
        let count = bytes.len().min(self.free(memory)? as usize);
        let mut written = 0;
        while written < count {
            let position = (self.head.wrapping_add(written as u32) % self.layout.size) as usize;
            let run = (count - written).min(self.layout.size as usize - position);
            memory.write(
                self.layout.data + position as u64,
                &bytes[written..written + run],
            )?;
            written += run;
        }
        if count > 0 {
            self.head = self.head.wrapping_add(count as u32);
            memory.store_u32(self.layout.head, self.head)?;
        }
        Ok(count)
    }
}

/// The consuming side of a ring: keeps its tail locally and publishes it.
#[derive(Debug, Clone)]
pub struct RingConsumer {
    layout: RingLayout,
    tail: u32,
}

impl RingConsumer {
    /// A consumer that continues from the tail currently published in `memory`.
    pub fn attach(layout: RingLayout, memory: &dyn GuestMemory) -> Result<Self, RingError> {
        Ok(Self {
            layout,
            tail: memory.load_u32(layout.tail)?,
        })
    }

    /// A consumer that drops everything produced so far (a rebooted guest ignores replies
    /// meant for its previous life) and publishes that.
    pub fn attach_skipping(
        layout: RingLayout,
        memory: &dyn GuestMemory,
    ) -> Result<Self, RingError> {
        let head = memory.load_u32(layout.head)?;
        memory.store_u32(layout.tail, head)?;
        Ok(Self { layout, tail: head })
    }

    /// Whether the producer published bytes not yet popped (a corrupt peer head counts:
    /// [`Self::pop`] reports it).
    pub fn has_bytes(&self, memory: &dyn GuestMemory) -> Result<bool, RingError> {
        Ok(memory.load_u32(self.layout.head)? != self.tail)
    }

    /// Copies up to `buffer.len()` produced bytes into `buffer`, publishes the new tail and
    /// returns how many. A corrupt peer head is reported once and then skipped over (our tail
    /// jumps to it), so the next call resumes at whatever the peer writes next.
    pub fn pop(&mut self, memory: &dyn GuestMemory, buffer: &mut [u8]) -> Result<usize, RingError> {
        let head = memory.load_u32(self.layout.head)?;
        let available = head.wrapping_sub(self.tail);
        if available > self.layout.size {
            let ours = self.tail;
            self.tail = head;
            memory.store_u32(self.layout.tail, head)?;
            return Err(RingError::Corrupt { ours, theirs: head });
        }
        let count = buffer.len().min(available as usize);
        let mut read = 0;
        while read < count {
            let position = (self.tail.wrapping_add(read as u32) % self.layout.size) as usize;
            let run = (count - read).min(self.layout.size as usize - position);
            memory.read(
                self.layout.data + position as u64,
                &mut buffer[read..read + run],
            )?;
            read += run;
        }
        if count > 0 {
            self.tail = self.tail.wrapping_add(count as u32);
            memory.store_u32(self.layout.tail, self.tail)?;
        }
        Ok(count)
    }
}

/// Lays the mailboxes out in fresh (zeroed) shared memory: magic and version.
pub fn initialise(memory: &dyn GuestMemory) -> Result<(), MemoryError> {
    memory.store_u32(VERSION_OFFSET, MAILBOX_VERSION)?;
    memory.store_u32(MAGIC_OFFSET, MAILBOX_MAGIC)
}

/// Whether the shared memory carries the mailbox magic and the version this crate speaks.
pub fn is_initialised(memory: &dyn GuestMemory) -> Result<bool, MemoryError> {
    Ok(memory.load_u32(MAGIC_OFFSET)? == MAILBOX_MAGIC
        && memory.load_u32(VERSION_OFFSET)? == MAILBOX_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::AtomicMemory;
    use alloc::vec;
    use alloc::vec::Vec;

    fn memory() -> AtomicMemory {
        AtomicMemory::new(0, SHARED_MEMORY_SIZE as usize)
    }

    #[test]
    fn the_layout_is_pinned() {
        let memory = memory();
        initialise(&memory).unwrap();
        let mut first = [0u8; 8];
        memory.read(0, &mut first).unwrap();
        assert_eq!(first, [0x44, 0x58, 0x4C, 0x4B, 1, 0, 0, 0]);
        assert_eq!(
            (TO_HOST.head, TO_HOST.tail, TO_HOST.data),
            (0x40, 0x80, 0x1000)
        );
        assert_eq!(
            (TO_GUEST.head, TO_GUEST.tail, TO_GUEST.data),
            (0xC0, 0x100, 0x2000)
        );
        assert_eq!(TO_GUEST.data + u64::from(TO_GUEST.size), SHARED_MEMORY_SIZE);
        assert!(is_initialised(&memory).unwrap());
    }

    #[test]
    fn bytes_cross_in_order_and_wrap() {
        let memory = memory();
        let mut producer = RingProducer::attach(TO_HOST, &memory).unwrap();
        let mut consumer = RingConsumer::attach(TO_HOST, &memory).unwrap();
        let mut received = Vec::new();
        let mut next = 0u8;
        for round in 0..50 {
            let chunk: Vec<u8> = (0..(round * 37 % 400 + 1))
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            assert_eq!(producer.push(&memory, &chunk).unwrap(), chunk.len());
            let mut buffer = [0u8; 512];
            let count = consumer.pop(&memory, &mut buffer).unwrap();
            received.extend_from_slice(&buffer[..count]);
        }
        let expected: Vec<u8> = (1..=received.len()).map(|i| i as u8).collect();
        assert_eq!(received, expected);
        // The data wrapped at least once.
        assert!(received.len() > TO_HOST.size as usize);
    }

    #[test]
    fn both_sides_see_whether_bytes_wait() {
        let memory = memory();
        let mut producer = RingProducer::attach(TO_GUEST, &memory).unwrap();
        let mut consumer = RingConsumer::attach(TO_GUEST, &memory).unwrap();
        assert!(!consumer.has_bytes(&memory).unwrap());
        assert!(producer.is_drained(&memory).unwrap());
        producer.push(&memory, &[1, 2, 3]).unwrap();
        assert!(consumer.has_bytes(&memory).unwrap());
        assert!(!producer.is_drained(&memory).unwrap());
        let mut buffer = [0u8; 2];
        consumer.pop(&memory, &mut buffer).unwrap();
        assert!(consumer.has_bytes(&memory).unwrap());
        assert!(!producer.is_drained(&memory).unwrap());
        consumer.pop(&memory, &mut buffer).unwrap();
        assert!(!consumer.has_bytes(&memory).unwrap());
        assert!(producer.is_drained(&memory).unwrap());
    }

    #[test]
    fn a_full_ring_takes_only_what_fits() {
        let memory = memory();
        let mut producer = RingProducer::attach(TO_HOST, &memory).unwrap();
        let big = vec![7u8; TO_HOST.size as usize + 10];
        assert_eq!(producer.push(&memory, &big).unwrap(), TO_HOST.size as usize);
        assert_eq!(producer.push(&memory, &[1]).unwrap(), 0);
    }

    #[test]
    fn a_corrupt_peer_index_is_an_error_not_a_panic() {
        let memory = memory();
        let mut consumer = RingConsumer::attach(TO_GUEST, &memory).unwrap();
        memory.store_u32(TO_GUEST.head, 0x8000_0000).unwrap();
        let mut buffer = [0u8; 16];
        assert_eq!(
            consumer.pop(&memory, &mut buffer),
            Err(RingError::Corrupt {
                ours: 0,
                theirs: 0x8000_0000
            })
        );
        // Resynchronised: nothing more to read until the peer writes.
        assert_eq!(consumer.pop(&memory, &mut buffer), Ok(0));
        let mut producer = RingProducer::attach(TO_HOST, &memory).unwrap();
        memory.store_u32(TO_HOST.tail, 12345).unwrap();
        assert!(matches!(
            producer.push(&memory, &[1]),
            Err(RingError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_rebooted_consumer_skips_what_was_meant_for_its_previous_life() {
        let memory = memory();
        let mut producer = RingProducer::attach(TO_GUEST, &memory).unwrap();
        producer.push(&memory, b"stale").unwrap();
        let mut consumer = RingConsumer::attach_skipping(TO_GUEST, &memory).unwrap();
        producer.push(&memory, b"new").unwrap();
        let mut buffer = [0u8; 16];
        let count = consumer.pop(&memory, &mut buffer).unwrap();
        assert_eq!(&buffer[..count], b"new");
    }
}
