//! The MMIO ranges the kernel's MMIO allocator handed out (`services::mmio_space`: vPCI config
//! windows, the dxg IO space), so that the real backend's trapped MMIO
//! ([`super::real::RealHypervisor`]'s `MmioAccess`) reaches only those: not RAM, not the
//! APICs or the HPET the kernel drives itself, not an address the host or a driver made up.
//! As `page_allocator::is_granted` does for the SynIC's overlay pages.

use alloc::vec::Vec;

use hyperv::mmio::MmioRange;
use spin::Mutex;
use x86_64::PhysAddr;

static GRANTED: Mutex<Vec<MmioRange>> = Mutex::new(Vec::new());

/// Records `range` as handed out by the MMIO allocator. A range that touches kernel RAM (a
/// hostile firmware's gap over RAM) is not recorded, and `false` is returned.
pub(crate) fn grant(range: MmioRange) -> bool {
    if range.end().is_none()
        || crate::memory::is_kernel_ram(PhysAddr::new(range.base), range.length)
    {
        log::warn!("hypervisor: MMIO range {range} overlaps kernel RAM; not granted");
        return false;
    }
    x86_64::instructions::interrupts::without_interrupts(|| GRANTED.lock().push(range));
    true
}

/// Forgets the range that starts at `base` (the allocator took it back).
pub(crate) fn revoke(base: u64) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        GRANTED.lock().retain(|range| range.base != base);
    });
}

/// Whether `[gpa, gpa + length)` lies inside one granted range.
pub fn is_granted(gpa: u64, length: u64) -> bool {
    let asked = MmioRange::new(gpa, length);
    x86_64::instructions::interrupts::without_interrupts(|| {
        GRANTED.lock().iter().any(|range| range.contains(&asked))
    })
}
