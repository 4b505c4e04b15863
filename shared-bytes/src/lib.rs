//! Bytes shared with a concurrent, untrusted peer.
//!
//! [`SharedBytes`] is a block of zeroed memory that any number of threads read and write at the
//! same time through `&SharedBytes`, none trusting the others: the dxgos host-side memory model
//! (`hyperv::memory::AtomicMemory`) is built on it, and a guest's rings, SynIC pages and IO
//! space live in it in host tests, fuzzers and the emulator's loopback harness. Every access is
//! bounds-checked and sound whatever the other threads do meanwhile: a racing writer changes
//! which bytes a copy sees, never the program's behaviour, so readers copy and then validate.
//!
//! # How the copies stay sound and fast
//!
//! Rust's memory model makes a non-atomic access that races with a write undefined, and
//! atomics that race must have the same size, so `memcpy` over shared memory is out, and a
//! copy made of atomics is limited to one word per instruction (about a fifth of `memcpy`'s
//! speed here). OpenVMM meets the same problem for guest memory: `support/safeatomic/src/lib.rs`
//! (microsoft/openvmm) copies `[AtomicU8]` with `copy_nonoverlapping` and calls it technically
//! undefined behaviour; `support/trycopy/src/lib.rs` and `support/trycopy/src/memcpy.rs` copy
//! in inline assembly (32-, 8- then 1-byte pieces), outside the compiler's view.
//!
//! This crate takes trycopy's way on x86-64: the shared memory is touched **only** by inline
//! assembly (bulk copies, and the 32-bit loads, stores, swaps and ORs alike), never by a Rust
//! load, store or atomic, as memory shared with another process or a device is. What racing
//! accesses do is then defined by the x86-64 memory model (every byte a copy reads holds some
//! value written to it; aligned 32-bit accesses are single-copy atomic; loads are not
//! reordered with later accesses nor stores with earlier ones, so a plain `mov` is an acquire
//! load or a release store), and each `asm!` block is a compiler barrier (no `nomem`,
//! `readonly` or `pure` option). Where the target has SSE2, copies of 16
//! to 64 bytes are two overlapping SSE pieces, longer ones 64-byte SSE blocks; from 512
//! bytes (256 on AMD CPUs) to 8 KiB (256 KiB on AMD) 32-byte AVX2 registers where the CPU and
//! the OS support them (detected once at run time); `rep movsb` beyond, or from 2 KiB
//! without AVX2. Without SSE (a kernel's target) every copy is `rep movsq` + `rep movsb`.
//!
//! Elsewhere the memory is reached through relaxed 64-bit atomics only (`portable`), one
//! word per access, in safe code: slower, equally sound.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::sync::atomic::AtomicU64;

#[cfg(any(test, not(target_arch = "x86_64")))]
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(not(target_arch = "x86_64"))]
use portable as backend;
#[cfg(target_arch = "x86_64")]
use x86_64 as backend;

/// Bytes per storage word.
const WORD: usize = 8;

/// A failed access to [`SharedBytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// `[offset, offset + length)` is not inside the memory.
    OutOfBounds {
        /// First byte of the access.
        offset: usize,
        /// Length of the access in bytes.
        length: usize,
    },
    /// A 32-bit access at an offset that is not a multiple of 4.
    Misaligned {
        /// The offset of the access.
        offset: usize,
    },
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::OutOfBounds { offset, length } => {
                write!(f, "shared range {offset:#x}+{length:#x} is out of bounds")
            }
            AccessError::Misaligned { offset } => {
                write!(f, "misaligned 32-bit access at {offset:#x}")
            }
        }
    }
}

/// Zeroed memory shared between threads that do not trust each other; see the crate docs.
///
/// The storage is a boxed slice of `AtomicU64` (so it is 8-byte aligned, `Sync`, and writable
/// through a shared reference); no reference to its bytes is ever handed out, so the only
/// accesses to it are this type's methods.
pub struct SharedBytes {
    words: Box<[AtomicU64]>,
}

impl core::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedBytes")
            .field("len", &format_args!("{:#x}", self.len()))
            .finish()
    }
}

impl SharedBytes {
    /// `size` zeroed bytes, rounded up to a multiple of 8.
    #[inline]
    pub fn new(size: usize) -> Self {
        let mut words = Vec::with_capacity(size.div_ceil(WORD));
        words.resize_with(size.div_ceil(WORD), || AtomicU64::new(0));
        SharedBytes {
            words: words.into_boxed_slice(),
        }
    }

    /// Number of bytes.
    #[inline]
    pub fn len(&self) -> usize {
        // The words were allocated, so their byte count fits a usize.
        self.words.len().saturating_mul(WORD)
    }

    /// Whether there are no bytes at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Copies `buffer.len()` bytes starting at `offset` into `buffer`.
    #[inline]
    pub fn read(&self, offset: usize, buffer: &mut [u8]) -> Result<(), AccessError> {
        backend::read(&self.words, offset, buffer)
    }

    /// Copies `data` into the memory starting at `offset`. Bytes outside the range keep what
    /// other threads write to them meanwhile (on x86-64 they are not accessed at all).
    #[inline]
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError> {
        backend::write(&self.words, offset, data)
    }

    /// Reads the little-endian `u64` at `offset` (any alignment; no ordering). On x86-64 it is
    /// one 8-byte load, single-copy atomic when `offset` is a multiple of 8.
    #[inline]
    pub fn read_u64(&self, offset: usize) -> Result<u64, AccessError> {
        backend::read_u64(&self.words, offset)
    }

    /// Writes `value` as the little-endian `u64` at `offset` (any alignment; no ordering). On
    /// x86-64 it is one 8-byte store, single-copy atomic when `offset` is a multiple of 8.
    #[inline]
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), AccessError> {
        backend::write_u64(&self.words, offset, value)
    }

    /// Reads the little-endian `u128` at `offset` (any alignment; no ordering, no
    /// atomicity: a racing writer may leave any mix of old and new bytes). On x86-64 it is
    /// one 16-byte SSE load where the target has SSE2: a 16-byte header in one access.
    #[inline]
    pub fn read_u128(&self, offset: usize) -> Result<u128, AccessError> {
        backend::read_u128(&self.words, offset)
    }

    /// Writes `value` as the little-endian `u128` at `offset` (any alignment; no ordering,
    /// no atomicity). On x86-64 it is one 16-byte SSE store where the target has SSE2.
    #[inline]
    pub fn write_u128(&self, offset: usize, value: u128) -> Result<(), AccessError> {
        backend::write_u128(&self.words, offset, value)
    }

    /// Loads the little-endian `u32` at `offset` (a multiple of 4) with acquire ordering.
    #[inline]
    pub fn load_u32(&self, offset: usize) -> Result<u32, AccessError> {
        backend::load_u32(&self.words, offset)
    }

    /// Stores `value` as the little-endian `u32` at `offset` (a multiple of 4) with release
    /// ordering. The other bytes of its 8-byte word are left as they are, even if another
    /// thread writes them meanwhile.
    #[inline]
    pub fn store_u32(&self, offset: usize, value: u32) -> Result<(), AccessError> {
        backend::store_u32(&self.words, offset, value)
    }

    /// Atomically replaces the `u32` at `offset` (a multiple of 4) with `value` and returns
    /// the old value (acquire and release ordering).
    #[inline]
    pub fn swap_u32(&self, offset: usize, value: u32) -> Result<u32, AccessError> {
        backend::swap_u32(&self.words, offset, value)
    }

    /// Atomically ORs `bits` into the `u32` at `offset` (a multiple of 4) and returns the old
    /// value (acquire and release ordering).
    #[inline]
    pub fn fetch_or_u32(&self, offset: usize, bits: u32) -> Result<u32, AccessError> {
        backend::fetch_or_u32(&self.words, offset, bits)
    }
}

impl SharedBytes {
    /// The range `[offset, offset + length)` as a [`Window`], checked once here: accesses
    /// through the window check only against its length, with window-relative offsets. A
    /// ring takes one window per packet, so a packet's several accesses cost one bounds check
    /// against the whole memory.
    #[inline]
    pub fn window(&self, offset: usize, length: usize) -> Result<Window<'_>, AccessError> {
        check(&self.words, offset, length)?;
        Ok(Window {
            #[cfg(target_arch = "x86_64")]
            base: x86_64::address(&self.words, offset),
            #[cfg(not(target_arch = "x86_64"))]
            words: &self.words,
            #[cfg(not(target_arch = "x86_64"))]
            start: offset,
            length,
            memory: PhantomData,
        })
    }
}

/// A range of a [`SharedBytes`] checked once ([`SharedBytes::window`]); its accesses take
/// offsets relative to the range and check them only against its length. The bytes are as
/// shared as ever: the same race-safe copies reach them. On x86-64 it is two words (the
/// range's address and length), small enough to keep in a packet handle.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// Address of the range's first byte. Invariant (established by [`SharedBytes::window`],
    /// the only constructor): `[base, base + length)` lies inside the storage of the
    /// `SharedBytes` borrowed for `'a`.
    #[cfg(target_arch = "x86_64")]
    base: *mut u8,
    /// The whole storage.
    #[cfg(not(target_arch = "x86_64"))]
    words: &'a [AtomicU64],
    /// First byte of the range in `words`; `start + length ≤ size_of_val(words)`.
    #[cfg(not(target_arch = "x86_64"))]
    start: usize,
    /// Length of the range in bytes.
    length: usize,
    /// The borrow of the storage that keeps it alive and unmoved.
    memory: PhantomData<&'a [AtomicU64]>,
}

// SAFETY: a `Window` is a shared borrow of a `SharedBytes` (which is `Sync`: its storage is
// atomics, reached only by race-safe accesses) in the form of an address; sending or sharing
// it across threads is sending or sharing that borrow.
#[allow(unsafe_code)]
unsafe impl Send for Window<'_> {}
// SAFETY: as for `Send`.
#[allow(unsafe_code)]
unsafe impl Sync for Window<'_> {}

impl<'a> Window<'a> {
    /// A window over `length` bytes at `base` that are not a [`SharedBytes`]' storage: memory
    /// shared with another party that a kernel reaches by address (guest RAM it lends to a
    /// hypervisor). Its accesses are this crate's race-safe assembly copies, as for a
    /// `SharedBytes`.
    ///
    /// # Safety
    /// For all of `'a`: `[base, base + length)` must be valid for reads and writes and must
    /// not wrap around the address space; no Rust reference to those bytes may exist, and
    /// every other access to them must be outside Rust's view of this program's memory
    /// (another party such as a hypervisor or device, inline assembly, or atomics through
    /// this crate), as it is for a `SharedBytes`' storage.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[inline]
    pub unsafe fn from_raw_parts(base: *mut u8, length: usize) -> Self {
        Window {
            base,
            length,
            memory: PhantomData,
        }
    }
}

impl<'a> Window<'a> {
    /// Number of bytes in the window.
    #[inline]
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether the window is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The part `[offset, offset + length)` of this window as a window of its own, checked
    /// against this window's length only: a ring holding a window of its whole data area
    /// takes each packet's window with one compare, instead of a check against the memory.
    #[inline]
    pub fn window(&self, offset: usize, length: usize) -> Result<Window<'a>, AccessError> {
        self.check(offset, length)?;
        Ok(Window {
            // Inside this window (checked above), so inside the storage it borrows: the
            // invariant holds for the part.
            #[cfg(target_arch = "x86_64")]
            base: self.base.wrapping_add(offset),
            #[cfg(not(target_arch = "x86_64"))]
            words: self.words,
            // `start + offset + length ≤ start + self.length ≤ size_of_val(words)`.
            #[cfg(not(target_arch = "x86_64"))]
            start: self.start.wrapping_add(offset),
            length,
            memory: PhantomData,
        })
    }

    /// Checks that `[offset, offset + length)` lies inside the window.
    #[inline]
    fn check(&self, offset: usize, length: usize) -> Result<(), AccessError> {
        match self.length.checked_sub(length) {
            Some(last) if offset <= last => Ok(()),
            _ => Err(out_of_bounds(offset, length)),
        }
    }

    /// Copies `buffer.len()` bytes starting at window offset `offset` into `buffer`.
    #[inline]
    pub fn read(&self, offset: usize, buffer: &mut [u8]) -> Result<(), AccessError> {
        self.check(offset, buffer.len())?;
        window_backend::read(self, offset, buffer);
        Ok(())
    }

    /// Copies `data` into the window starting at window offset `offset`.
    #[inline]
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), AccessError> {
        self.check(offset, data.len())?;
        window_backend::write(self, offset, data);
        Ok(())
    }

    /// Reads the little-endian `u64` at window offset `offset` (as [`SharedBytes::read_u64`]).
    #[inline]
    pub fn read_u64(&self, offset: usize) -> Result<u64, AccessError> {
        self.check(offset, 8)?;
        Ok(window_backend::read_u64(self, offset))
    }

    /// Writes the little-endian `u64` at window offset `offset` (as
    /// [`SharedBytes::write_u64`]).
    #[inline]
    pub fn write_u64(&self, offset: usize, value: u64) -> Result<(), AccessError> {
        self.check(offset, 8)?;
        window_backend::write_u64(self, offset, value);
        Ok(())
    }

    /// Reads the little-endian `u128` at window offset `offset` (as
    /// [`SharedBytes::read_u128`]).
    #[inline]
    pub fn read_u128(&self, offset: usize) -> Result<u128, AccessError> {
        self.check(offset, 16)?;
        Ok(window_backend::read_u128(self, offset))
    }

    /// Writes the little-endian `u128` at window offset `offset` (as
    /// [`SharedBytes::write_u128`]).
    #[inline]
    pub fn write_u128(&self, offset: usize, value: u128) -> Result<(), AccessError> {
        self.check(offset, 16)?;
        window_backend::write_u128(self, offset, value);
        Ok(())
    }
}

/// A window's accesses at a window offset that [`Window::check`] found inside it.
#[cfg(target_arch = "x86_64")]
mod window_backend {
    #![allow(unsafe_code)]
    use super::{Window, x86_64};

    // SAFETY (every function): the callers checked (`Window::check`) that the access lies
    // inside the window, hence inside the storage it borrows (the window's invariant); the
    // offset is below the window's length, so `base + offset` does not wrap.

    #[inline]
    pub(super) fn read(window: &Window<'_>, offset: usize, buffer: &mut [u8]) {
        // SAFETY: see the module note.
        unsafe { x86_64::read_unchecked(window.base.wrapping_add(offset), buffer) }
    }
    #[inline]
    pub(super) fn write(window: &Window<'_>, offset: usize, data: &[u8]) {
        // SAFETY: see the module note.
        unsafe { x86_64::write_unchecked(window.base.wrapping_add(offset), data) }
    }
    #[inline]
    pub(super) fn read_u64(window: &Window<'_>, offset: usize) -> u64 {
        // SAFETY: see the module note.
        unsafe { x86_64::read_u64_unchecked(window.base.wrapping_add(offset)) }
    }
    #[inline]
    pub(super) fn write_u64(window: &Window<'_>, offset: usize, value: u64) {
        // SAFETY: see the module note.
        unsafe { x86_64::write_u64_unchecked(window.base.wrapping_add(offset), value) }
    }
    #[inline]
    pub(super) fn read_u128(window: &Window<'_>, offset: usize) -> u128 {
        // SAFETY: see the module note.
        unsafe { x86_64::read_u128_unchecked(window.base.wrapping_add(offset)) }
    }
    #[inline]
    pub(super) fn write_u128(window: &Window<'_>, offset: usize, value: u128) {
        // SAFETY: see the module note.
        unsafe { x86_64::write_u128_unchecked(window.base.wrapping_add(offset), value) }
    }
}

/// A window's accesses at a window offset that [`Window::check`] found inside it: the
/// portable backend checks again against the whole storage (it is safe code throughout), and
/// cannot fail there.
#[cfg(not(target_arch = "x86_64"))]
mod window_backend {
    use super::{Window, portable};

    /// The storage offset of window offset `offset` (inside the storage: no overflow).
    fn at(window: &Window<'_>, offset: usize) -> usize {
        window.start.saturating_add(offset)
    }
    #[inline]
    pub(super) fn read(window: &Window<'_>, offset: usize, buffer: &mut [u8]) {
        let _ = portable::read(window.words, at(window, offset), buffer);
    }
    #[inline]
    pub(super) fn write(window: &Window<'_>, offset: usize, data: &[u8]) {
        let _ = portable::write(window.words, at(window, offset), data);
    }
    #[inline]
    pub(super) fn read_u64(window: &Window<'_>, offset: usize) -> u64 {
        portable::read_u64(window.words, at(window, offset)).unwrap_or_default()
    }
    #[inline]
    pub(super) fn write_u64(window: &Window<'_>, offset: usize, value: u64) {
        let _ = portable::write_u64(window.words, at(window, offset), value);
    }
    #[inline]
    pub(super) fn read_u128(window: &Window<'_>, offset: usize) -> u128 {
        portable::read_u128(window.words, at(window, offset)).unwrap_or_default()
    }
    #[inline]
    pub(super) fn write_u128(window: &Window<'_>, offset: usize, value: u128) {
        let _ = portable::write_u128(window.words, at(window, offset), value);
    }
}

/// Checks that `[offset, offset + length)` lies inside `words`.
#[inline]
fn check(words: &[AtomicU64], offset: usize, length: usize) -> Result<(), AccessError> {
    // `size_of_val` is the storage's byte length, known not to overflow (it was allocated).
    // `offset ≤ size − length` is `offset + length ≤ size` without the sum (which could
    // overflow): one subtraction and two compares, as `Window::check`.
    match core::mem::size_of_val(words).checked_sub(length) {
        Some(last) if offset <= last => Ok(()),
        _ => Err(out_of_bounds(offset, length)),
    }
}

/// The error of an access outside the memory (out of line: the cold path).
#[cold]
fn out_of_bounds(offset: usize, length: usize) -> AccessError {
    AccessError::OutOfBounds { offset, length }
}

/// Checks a naturally aligned 32-bit access at `offset` inside `words`.
#[inline]
fn check_u32(words: &[AtomicU64], offset: usize) -> Result<(), AccessError> {
    if !offset.is_multiple_of(4) {
        return Err(AccessError::Misaligned { offset });
    }
    check(words, offset, 4)
}

#[cfg(test)]
mod tests;
