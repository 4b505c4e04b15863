//! The CPU view of a monitored fence's value.
//!
//! One of the few `unsafe` places outside the kernel: a volatile read of the u64 the GPU side
//! writes, at the address the kernel returned in `FenceValueCPUVirtualAddress` (sound because
//! `crate::sys::Syscall` is an `unsafe trait` whose implementations promise that address). The kernel maps
//! that page read-only into the process for as long as the sync object lives, and the
//! [`super::SyncObject`] that owns this view destroys the object only on drop.
#![allow(unsafe_code)]

/// A fence value's read-only mapping.
#[derive(Debug)]
pub(super) struct FenceView {
    address: u64,
}

impl FenceView {
    /// A view at `address`; `None` for a null or misaligned address (no view).
    pub(super) fn new(address: u64) -> Option<FenceView> {
        (address != 0 && address.is_multiple_of(8)).then_some(FenceView { address })
    }

    /// The mapped address.
    pub(super) fn address(&self) -> u64 {
        self.address
    }

    /// Reads the fence value (another agent may change it at any time: a volatile copy).
    pub(super) fn read(&self) -> u64 {
        // SAFETY: the CreateSynchronizationObject2 clause of the `unsafe trait Syscall`
        // contract, which the owning `SyncObject`'s kernel promises: `address` is an 8-byte
        // aligned, readable user mapping of the fence value that stays mapped until the sync
        // object is destroyed, which only the owning `SyncObject`'s drop does; the value is
        // plain data written by the GPU, so a volatile read of any bits is sound.
        unsafe { core::ptr::read_volatile(self.address as *const u64) }
    }
}
