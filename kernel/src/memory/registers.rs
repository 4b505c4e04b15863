//! Device registers through the `volatile` crate: the one kernel type for memory the compiler
//! must neither cache nor reorder (local and I/O APIC, HPET, the hypervisor's emulated MMIO such
//! as virtual PCI configuration space, the framebuffer, firmware tables read for ACPI).
//!
//! - [`Register`] describes one register: its byte offset, its value type `T` (`u8` … `u64`) and
//!   its access (`volatile::access::ReadOnly`, `WriteOnly` or `ReadWrite`), so a read-only
//!   register cannot be written: `const COUNTER: Register<u32, ReadOnly> = Register::at(0xf0);`.
//! - [`RegisterBlock`] is a mapped window of registers (base and length). Every access is bounds
//!   and alignment checked and done with a [`volatile::VolatilePtr`] of exactly the register's
//!   width; a bad offset is an [`AccessError`], never an access outside the window.
//!
//! Blocks come from [`RegisterBlock::map_device`] (a fresh uncached mapping, permanent) or
//! [`RegisterBlock::in_window`] (the physical-memory window, checked mapped). Raw
//! `read_volatile`/`write_volatile` appear nowhere else in the kernel except the hypervisor's
//! shared-memory copy (`hypervisor/physical_memory.rs`).
//!
//! The local APIC in x2APIC mode has no memory window: its registers are MSRs. The interface
//! both modes share is `drivers::apic::LocalApicRegisters` (offset-addressed 32-bit registers);
//! its xAPIC side is a [`RegisterBlock`] (through `drivers::apic::MmioWindow`, implemented here)
//! and its x2APIC side the MSR accessor in `platform::local_apic`, so the APIC logic sees one
//! register interface whichever backend the firmware left on.

use core::marker::PhantomData;
use core::ptr::NonNull;

use volatile::VolatilePtr;
use volatile::access::{ReadWrite, Readable, Writable};
use x86_64::{PhysAddr, VirtAddr};

use super::{MapError, is_readable, map_mmio, physical_to_virtual};

/// One register of value type `T` at a fixed byte offset, with access `A` (the `volatile`
/// crate's access markers).
pub struct Register<T, A = ReadWrite> {
    offset: usize,
    _marker: PhantomData<(fn() -> T, A)>,
}

impl<T, A> Register<T, A> {
    /// The register at byte `offset` from the start of its block.
    pub const fn at(offset: usize) -> Self {
        Register {
            offset,
            _marker: PhantomData,
        }
    }
}

impl<T, A> Clone for Register<T, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, A> Copy for Register<T, A> {}

/// Why a register access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// The access would reach past the end of the block.
    OutOfBounds {
        /// Byte offset asked for.
        offset: usize,
        /// Width of the access in bytes.
        width: usize,
        /// Length of the block.
        length: usize,
    },
    /// The offset is not a multiple of the access width.
    Misaligned {
        /// Byte offset asked for.
        offset: usize,
        /// Width of the access in bytes.
        width: usize,
    },
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::OutOfBounds {
                offset,
                width,
                length,
            } => write!(
                f,
                "{width}-byte access at {offset:#x} outside a {length:#x}-byte register block"
            ),
            AccessError::Misaligned { offset, width } => {
                write!(f, "{width}-byte access at misaligned offset {offset:#x}")
            }
        }
    }
}

/// A mapped window of device registers (or other memory only ever accessed volatile).
///
/// Copying the handle copies the address, not the registers: accesses through copies are the
/// same volatile device accesses. Multi-register sequences (select then data) are serialised by
/// the owner, as before (the I/O APIC's lock, the single-threaded boot console).
#[derive(Debug, Clone, Copy)]
pub struct RegisterBlock {
    base: NonNull<u8>,
    length: usize,
}

// SAFETY: a `RegisterBlock` is an address and a length; every access through it is a volatile
// load or store of a device register or of memory no Rust reference covers (`new`'s contract),
// which any processor may perform.
unsafe impl Send for RegisterBlock {}
// SAFETY: as for `Send`: shared use performs only volatile accesses, never creates references.
unsafe impl Sync for RegisterBlock {}

impl RegisterBlock {
    /// The block of `length` bytes at `base`.
    ///
    /// # Safety
    /// `[base, base + length)` is mapped for as long as the block is used, no Rust reference
    /// covers it, and any volatile access inside it, of any width the caller performs, has no
    /// effect on memory Rust code relies on (device registers, firmware or framebuffer memory).
    pub unsafe fn new(base: VirtAddr, length: usize) -> Option<RegisterBlock> {
        let base = NonNull::new(base.as_mut_ptr::<u8>())?;
        Some(RegisterBlock { base, length })
    }

    /// Maps `length` bytes of device registers at `physical` uncached (a fresh, permanent
    /// mapping in the MMIO region) and returns them as a block; kernel RAM is refused
    /// ([`map_mmio`]).
    pub fn map_device(physical: PhysAddr, length: u64) -> Result<RegisterBlock, MapError> {
        let virtual_address = map_mmio(physical, length)?;
        let length = usize::try_from(length).map_err(|_| MapError::NotMapped)?;
        // SAFETY: `map_mmio` made a new uncached mapping of `length` bytes of device memory
        // that is never unmapped and that nothing else in the kernel references.
        unsafe { RegisterBlock::new(virtual_address, length) }.ok_or(MapError::NotMapped)
    }

    /// `length` bytes at `physical` through the physical-memory window (firmware memory, the
    /// framebuffer); `None` unless the whole range is mapped and none of it is kernel RAM
    /// ([`super::is_kernel_ram`]: the frame allocator's memory or the kernel's image).
    pub fn in_window(physical: PhysAddr, length: u64) -> Option<RegisterBlock> {
        let virtual_address = physical_to_virtual(physical);
        if length == 0
            || super::is_kernel_ram(physical, length)
            || !is_readable(virtual_address.as_u64(), length)
        {
            return None;
        }
        // SAFETY: the window maps physical memory permanently and is checked mapped above; the
        // range is not kernel RAM (checked above), so it is firmware, device or framebuffer
        // memory, which the kernel never makes Rust references into.
        unsafe { RegisterBlock::new(virtual_address, usize::try_from(length).ok()?) }
    }

    /// A volatile pointer to the `T` at `offset`, when it lies inside the block and is aligned.
    fn pointer<T>(&self, offset: usize) -> Result<VolatilePtr<'_, T>, AccessError> {
        let width = size_of::<T>();
        let end = offset.checked_add(width);
        if end.is_none_or(|end| end > self.length) {
            return Err(AccessError::OutOfBounds {
                offset,
                width,
                length: self.length,
            });
        }
        if !offset.is_multiple_of(align_of::<T>()) {
            return Err(AccessError::Misaligned { offset, width });
        }
        // SAFETY: `[offset, offset + width)` lies inside the block (checked above), so `add`
        // stays in bounds; `new`'s contract makes the block mapped, unreferenced and safe to
        // access volatile; the pointer is aligned (offset checked above, and every block's base
        // is page- or register-aligned).
        Ok(unsafe { VolatilePtr::new(self.base.add(offset).cast::<T>()) })
    }

    /// Reads the `T` at byte `offset`.
    pub fn read_at<T: Copy>(&self, offset: usize) -> Result<T, AccessError> {
        Ok(self.pointer::<T>(offset)?.read())
    }

    /// Writes `value` as the `T` at byte `offset`.
    pub fn write_at<T: Copy>(&self, offset: usize, value: T) -> Result<(), AccessError> {
        self.pointer::<T>(offset)?.write(value);
        Ok(())
    }

    /// Reads `register`.
    pub fn read<T: Copy, A: Readable>(&self, register: Register<T, A>) -> Result<T, AccessError> {
        self.read_at(register.offset)
    }

    /// Writes `value` to `register`.
    pub fn write<T: Copy, A: Writable>(
        &self,
        register: Register<T, A>,
        value: T,
    ) -> Result<(), AccessError> {
        self.write_at(register.offset, value)
    }

    /// Fills `bytes` with the block's bytes from `offset`, one volatile byte load each.
    pub fn copy_to_slice(&self, offset: usize, bytes: &mut [u8]) -> Result<(), AccessError> {
        let width = bytes.len();
        for (index, byte) in bytes.iter_mut().enumerate() {
            let at = offset.checked_add(index).ok_or(AccessError::OutOfBounds {
                offset,
                width,
                length: self.length,
            })?;
            *byte = self.read_at(at)?;
        }
        Ok(())
    }

    /// The block as shared memory: a [`Window`](hyperv::memory::Window) whose bulk copies stay
    /// sound while another party changes the bytes. Only for blocks that are memory, not
    /// registers (ivshmem's shared-memory BAR): a copy may access them in any width and order.
    pub fn as_shared_memory(&self) -> hyperv::memory::Window<'_> {
        // SAFETY: `new`'s contract: the block stays mapped while it is used (the window
        // borrows it), no Rust reference covers it, and accesses of any width inside it touch
        // nothing Rust relies on; the window only copies in and out of it.
        unsafe { hyperv::memory::Window::from_raw_parts(self.base.as_ptr(), self.length) }
    }

    /// Moves `count` bytes inside the block from `source` to `destination` (the ranges may
    /// overlap), as one block copy: for framebuffer scrolling, where a volatile load and store
    /// per pixel would be needlessly slow and ordering within the copy does not matter.
    pub fn copy_within(
        &self,
        source: usize,
        destination: usize,
        count: usize,
    ) -> Result<(), AccessError> {
        for offset in [source, destination] {
            if offset
                .checked_add(count)
                .is_none_or(|end| end > self.length)
            {
                return Err(AccessError::OutOfBounds {
                    offset,
                    width: count,
                    length: self.length,
                });
            }
        }
        // SAFETY: both ranges lie inside the block (checked above), so the `add`s stay in
        // bounds; `new`'s contract makes the block mapped and unreferenced; `copy` allows
        // overlap.
        unsafe {
            core::ptr::copy(
                self.base.add(source).as_ptr(),
                self.base.add(destination).as_ptr(),
                count,
            );
        }
        Ok(())
    }
}

/// The xAPIC side of the local APIC's register interface (32-bit registers at 16-byte-aligned
/// offsets of its 4 KiB page).
impl drivers::apic::MmioWindow for RegisterBlock {
    fn read32(&self, offset: u16) -> u32 {
        self.read_at(usize::from(offset)).unwrap_or_else(|error| {
            log::error!("local APIC: {error}");
            0
        })
    }

    fn write32(&self, offset: u16, value: u32) {
        if let Err(error) = self.write_at(usize::from(offset), value) {
            log::error!("local APIC: {error}");
        }
    }
}

/// The register block refuses accesses past its end or misaligned for their width, and its
/// typed reads and writes reach the memory they name.
fn register_block_checks_every_access() -> crate::testing::TestResult {
    use crate::ensure;
    const SECOND_WORD: Register<u32> = Register::at(4);
    let pages = super::ContiguousPages::allocate_zeroed(1).map_err(|_| "allocation failed")?;
    // SAFETY: the test's own pages, alive until the end of the test (the block is not used
    // after), no Rust reference covers them.
    let block = unsafe { RegisterBlock::new(pages.virtual_address(), 16) }.ok_or("null")?;
    block
        .write(SECOND_WORD, 0xdead_beef)
        .map_err(|error| alloc::format!("{error}"))?;
    ensure!(
        pages.read_u64(0) == Some(0xdead_beef_0000_0000),
        "typed write not at offset 4"
    );
    ensure!(
        block.read_at::<u16>(6) == Ok(0xdead),
        "16-bit read at 6 wrong"
    );
    ensure!(
        block.read_at::<u64>(16)
            == Err(AccessError::OutOfBounds {
                offset: 16,
                width: 8,
                length: 16
            }),
        "read past the end admitted"
    );
    ensure!(
        block.write_at::<u64>(12, 0).is_err(),
        "write straddling the end admitted"
    );
    ensure!(
        block.read_at::<u32>(usize::MAX - 1).is_err(),
        "overflowing offset admitted"
    );
    ensure!(
        block.read_at::<u32>(2)
            == Err(AccessError::Misaligned {
                offset: 2,
                width: 4
            }),
        "misaligned read admitted"
    );
    let mut bytes = [0u8; 4];
    block
        .copy_to_slice(4, &mut bytes)
        .map_err(|error| alloc::format!("{error}"))?;
    ensure!(bytes == 0xdead_beefu32.to_le_bytes(), "byte copy wrong");
    ensure!(
        block.copy_within(0, 12, 8).is_err(),
        "copy past the end admitted"
    );
    Ok(())
}
crate::kernel_test!(
    register_block_checks_every_access,
    register_block_checks_every_access
);
