//! The kernel's share of the VMBus MMIO gaps: one [`MmioSpace`] per boot, cloned into every
//! driver task that needs MMIO addresses (the virtual PCI task for its config windows, the dxg
//! task for its IO space). The policy lives in `hyperv::mmio::MmioAllocator`; this type only
//! shares it between tasks.

use alloc::sync::Arc;

use hyperv::mmio::{MmioAllocator, MmioError, MmioGaps, MmioRange, Placement};
use spin::Mutex;

/// A clonable handle on the boot's MMIO allocator.
#[derive(Clone)]
pub struct MmioSpace {
    allocator: Arc<Mutex<MmioAllocator>>,
}

impl MmioSpace {
    /// A pool over `gaps` with `reserved` (the firmware framebuffer) taken out.
    pub fn new(gaps: MmioGaps, reserved: Option<MmioRange>) -> Result<Self, MmioError> {
        let mut allocator = MmioAllocator::new(&gaps)?;
        if let Some(range) = reserved {
            allocator.reserve(range);
        }
        Ok(MmioSpace {
            allocator: Arc::new(Mutex::new(allocator)),
        })
    }

    /// Allocates `length` bytes aligned to `alignment`; see [`MmioAllocator::allocate`]. The
    /// range becomes reachable through trapped MMIO (`hypervisor::mmio_grants`) until freed;
    /// a range over kernel RAM (a hostile firmware's gap) is taken back and refused.
    pub fn allocate(
        &self,
        length: u64,
        alignment: u64,
        placement: Placement,
    ) -> Result<u64, MmioError> {
        let mut allocator = self.allocator.lock();
        let base = allocator.allocate(length, alignment, placement)?;
        if !crate::hypervisor::mmio_grants::grant(MmioRange::new(base, length)) {
            let _ = allocator.free(base);
            return Err(MmioError::InvalidRequest);
        }
        Ok(base)
    }

    /// Returns an allocation; see [`MmioAllocator::free`].
    pub fn free(&self, base: u64) -> Result<(), MmioError> {
        self.allocator.lock().free(base)?;
        crate::hypervisor::mmio_grants::revoke(base);
        Ok(())
    }
}

/// The GOP framebuffer's physical range, recorded at boot (see [`record_framebuffer`]).
static FRAMEBUFFER: spin::Once<Option<MmioRange>> = spin::Once::new();
/// The GOP framebuffer as the boot stub described it (for grants made outside the boot path,
/// e.g. by the kernel's process tests).
static BOOT_FRAMEBUFFER: spin::Once<Option<boot_info::Framebuffer>> = spin::Once::new();

/// Records the firmware framebuffer (from the boot information) so that the MMIO pool keeps it
/// out, as Linux's `vmbus_reserve_fb` does.
pub fn record_framebuffer(framebuffer: Option<&boot_info::Framebuffer>) {
    BOOT_FRAMEBUFFER.call_once(|| framebuffer.copied());
    FRAMEBUFFER.call_once(|| {
        framebuffer
            .filter(|framebuffer| framebuffer.size != 0)
            .map(|framebuffer| MmioRange::new(framebuffer.physical_address, framebuffer.size))
    });
}

/// The boot framebuffer, if the firmware gave one.
pub fn boot_framebuffer() -> Option<boot_info::Framebuffer> {
    BOOT_FRAMEBUFFER.get().copied().flatten()
}

/// The framebuffer recorded at boot, if any.
pub fn framebuffer() -> Option<MmioRange> {
    FRAMEBUFFER.get().copied().flatten()
}
