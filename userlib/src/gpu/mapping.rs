//! The CPU view of a locked allocation.
//!
//! One of the few `unsafe` places outside the kernel: a slice over memory the kernel mapped
//! into this process by `D3DKMTLock2`. Sound because [`Syscall`] is an `unsafe trait` whose
//! implementations promise what `Lock2` returns. The kernel keeps the mapping until `D3DKMTUnlock2`; the
//! guard unlocks on drop and holds the [`Allocation`] mutably borrowed, so nothing else in the
//! program can unlock, destroy or lock it again while the slice exists.
#![allow(unsafe_code)]

use super::{Allocation, D3dkmtError, check};
use crate::abi::{D3DKMT_LOCK2, D3DKMT_UNLOCK2};
use crate::sys::{Syscall, SyscallNumber, call_d3dkmt};

/// A locked allocation: derefs to its bytes; unlocks on drop.
pub struct Mapping<'m, 'a, S: Syscall + ?Sized> {
    allocation: &'m mut Allocation<'a, S>,
    bytes: &'m mut [u8],
}

impl<'m, 'a, S: Syscall + ?Sized> Mapping<'m, 'a, S> {
    pub(super) fn lock(allocation: &'m mut Allocation<'a, S>) -> Result<Self, D3dkmtError> {
        let kernel = allocation.device.adapter.kernel;
        let mut arguments = D3DKMT_LOCK2 {
            hDevice: allocation.device.handle,
            hAllocation: allocation.handle,
            ..Default::default()
        };
        check(call_d3dkmt(kernel, SyscallNumber::Lock2, &mut arguments, 0))?;
        let length = usize::try_from(allocation.size).map_err(|_| D3dkmtError::InvalidReply)?;
        if arguments.pData == 0 || arguments.pData.checked_add(allocation.size).is_none() {
            // Keep the kernel's lock count balanced even though the mapping is unusable.
            unlock(kernel, allocation.device.handle, allocation.handle);
            return Err(D3dkmtError::InvalidReply);
        }
        // SAFETY: the `Lock2` clause of the `unsafe trait Syscall` contract, which `S`
        // promises to meet: `pData` is a user mapping of the whole
        // allocation (`allocation.size` bytes, as created), readable and writable, that stays
        // valid until `Unlock2`. `Unlock2` is only sent by this guard's drop, and the allocation
        // (the only other way to reach the mapping or to destroy the object) is mutably borrowed
        // for 'm, so the slice is exclusive and outlives nothing it depends on.
        let bytes = unsafe { core::slice::from_raw_parts_mut(arguments.pData as *mut u8, length) };
        Ok(Self { allocation, bytes })
    }
}

fn unlock<S: Syscall + ?Sized>(kernel: &S, device: u32, allocation: u32) {
    let mut arguments = D3DKMT_UNLOCK2 {
        hDevice: device,
        hAllocation: allocation,
    };
    // Nothing useful to do with a failure while dropping.
    let _ = call_d3dkmt(kernel, SyscallNumber::Unlock2, &mut arguments, 0);
}

impl<S: Syscall + ?Sized> core::ops::Deref for Mapping<'_, '_, S> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl<S: Syscall + ?Sized> core::ops::DerefMut for Mapping<'_, '_, S> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

impl<S: Syscall + ?Sized> Drop for Mapping<'_, '_, S> {
    fn drop(&mut self) {
        let device = self.allocation.device;
        unlock(device.adapter.kernel, device.handle, self.allocation.handle);
    }
}
