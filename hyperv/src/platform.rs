//! The one platform interface the VMBus driver uses.
//!
//! [`HypervisorBackend`] is the narrow waist between the SynIC/VMBus logic and whatever
//! carries MSR accesses and hypercalls: the kernel implements it with `rdmsr`/`wrmsr` and the
//! hypercall page on real Hyper-V, or with frames of the [emulated link] over COM2 under QEMU;
//! host tests implement it by calling the emulated host in-process (the emulator crate's
//! loopback). Everything above it ([`crate::synic_client::SynicClient`], the VMBus client) is
//! generic over the backend and over [`GuestMemory`], so the same code runs in all three.
//!
//! [`PageAllocator`] hands out the dedicated pages the SynIC needs, and [`MmioAccess`] is the
//! reserved place for the trapped MMIO windows that virtual PCI configuration space needs.
//!
//! [emulated link]: crate::emulated_link
//! [`GuestMemory`]: crate::memory::GuestMemory

use crate::cpuid::PartitionPrivileges;
use crate::hypercall::{HypercallInput, HypercallOutput};
use crate::memory::PAGE_SIZE;
use crate::msr;

/// A failure of the platform itself (not a hypercall status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// The MSR access would raise #GP: unknown MSR, write to a read-only MSR, invalid value.
    GeneralProtection {
        /// The MSR accessed.
        msr: u32,
    },
    /// The trapped MMIO access was not handled by anybody.
    UnhandledMmio {
        /// Guest-physical address of the access.
        gpa: u64,
    },
    /// The access size is not 1, 2, 4 or 8 bytes.
    InvalidAccessSize,
    /// The transport to the (emulated) hypervisor failed: no reply, or a reply of the wrong
    /// kind.
    LinkFailure,
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlatformError::GeneralProtection { msr } => write!(f, "#GP accessing MSR {msr:#x}"),
            PlatformError::UnhandledMmio { gpa } => write!(f, "unhandled MMIO at {gpa:#x}"),
            PlatformError::InvalidAccessSize => f.write_str("invalid MMIO access size"),
            PlatformError::LinkFailure => f.write_str("the link to the hypervisor failed"),
        }
    }
}

/// MSR access and hypercalls of one virtual processor.
pub trait HypervisorBackend {
    /// Writes a (synthetic) MSR.
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError>;
    /// Reads a (synthetic) MSR.
    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError>;
    /// Issues a hypercall: `input` goes in RCX, `input_parameter` in RDX (the input block's
    /// GPA, or the first 8 input bytes of a fast call) and `output_parameter` in R8. Returns
    /// RAX.
    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError>;
    /// The hypervisor VP index of this processor (MSR VP_INDEX, cached by the backend).
    fn vp_index(&self) -> u32;
    /// Called once the HYPERCALL MSR reads back enabled with the page at `gpa`. A backend that
    /// calls through the hypercall page learns its address here (and must map it executable);
    /// others ignore it.
    fn hypercall_page_enabled(&mut self, gpa: u64) {
        let _ = gpa;
    }
}

impl<B: HypervisorBackend + ?Sized> HypervisorBackend for &mut B {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        (**self).write_msr(msr, value)
    }
    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        (**self).read_msr(msr)
    }
    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        (**self).hypercall(input, input_parameter, output_parameter)
    }
    fn vp_index(&self) -> u32 {
        (**self).vp_index()
    }
    fn hypercall_page_enabled(&mut self, gpa: u64) {
        (**self).hypercall_page_enabled(gpa)
    }
}

/// What a page from [`PageAllocator`] is for (so the kernel can map it suitably).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagePurpose {
    /// The hypercall page: the hypervisor writes code into it; map it executable.
    HypercallCode,
    /// The SynIC message page (overlay).
    SynicMessages,
    /// The SynIC event-flags page (overlay).
    SynicEventFlags,
    /// A page for hypercall input blocks.
    HypercallInput,
}

/// No page could be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfPages;

/// Hands out zeroed, 4 KiB-aligned, otherwise unused guest pages by GPA.
pub trait PageAllocator {
    /// Allocates one zeroed page and returns its GPA.
    fn allocate_page(&mut self, purpose: PagePurpose) -> Result<u64, OutOfPages>;
    /// Returns a page to the allocator.
    fn free_page(&mut self, gpa: u64, purpose: PagePurpose);
}

impl<A: PageAllocator + ?Sized> PageAllocator for &mut A {
    fn allocate_page(&mut self, purpose: PagePurpose) -> Result<u64, OutOfPages> {
        (**self).allocate_page(purpose)
    }
    fn free_page(&mut self, gpa: u64, purpose: PagePurpose) {
        (**self).free_page(gpa, purpose)
    }
}

/// A bump allocator over a range of never-used (hence zeroed) pages; `free_page` forgets the
/// page. For tests and early boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BumpPageAllocator {
    next: u64,
    end: u64,
}

impl BumpPageAllocator {
    /// Allocates from `[start, end)`; `start` is rounded up to a page.
    pub const fn new(start: u64, end: u64) -> Self {
        match start.checked_next_multiple_of(PAGE_SIZE) {
            Some(next) => Self { next, end },
            None => Self { next: end, end },
        }
    }
}

impl PageAllocator for BumpPageAllocator {
    fn allocate_page(&mut self, _purpose: PagePurpose) -> Result<u64, OutOfPages> {
        let end = self.next.checked_add(PAGE_SIZE).ok_or(OutOfPages)?;
        if end > self.end {
            return Err(OutOfPages);
        }
        let page = self.next;
        self.next = end;
        Ok(page)
    }

    fn free_page(&mut self, _gpa: u64, _purpose: PagePurpose) {}
}

/// Trapped MMIO: accesses to guest-physical windows that the host emulates instead of RAM
/// (the configuration-space windows of virtual PCI devices).
///
/// On real Hyper-V the kernel implements this with volatile loads and stores to the mapped
/// window; under the emulated link it sends `MmioRead`/`MmioWrite` frames and the emulator
/// routes them to the virtual PCI model. `size` is 1, 2, 4 or 8; values are little-endian in
/// the low bytes.
pub trait MmioAccess {
    /// Reads `size` bytes at `gpa`.
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError>;
    /// Writes the low `size` bytes of `value` at `gpa`.
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError>;
}

/// Reads the partition reference counter (MSR TIME_REF_COUNT, 100 ns units since the partition
/// started), or `None` when `privileges` (CPUID 0x40000003 EAX/EBX) do not grant it
/// (AccessPartitionReferenceCounter, bit 1; the MSR is then not read, as it would raise #GP)
/// or the read fails. Linux reads the same counter for time sync (`hv_read_reference_counter`
/// in `drivers/hv/hv_util.c`, torvalds/linux).
pub fn read_reference_counter(
    backend: &mut impl HypervisorBackend,
    privileges: PartitionPrivileges,
) -> Option<u64> {
    if !privileges.contains(PartitionPrivileges::ACCESS_PARTITION_REFERENCE_COUNTER) {
        return None;
    }
    backend.read_msr(msr::TIME_REF_COUNT).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloc::vec::Vec;

    /// A backend whose TIME_REF_COUNT reads `counter` (or fails), counting the reads.
    struct CounterBackend {
        counter: Result<u64, PlatformError>,
        reads: Vec<u32>,
    }

    impl HypervisorBackend for CounterBackend {
        fn write_msr(&mut self, msr: u32, _value: u64) -> Result<(), PlatformError> {
            Err(PlatformError::GeneralProtection { msr })
        }
        fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
            self.reads.push(msr);
            if msr == 0x4000_0020 {
                self.counter
            } else {
                Err(PlatformError::GeneralProtection { msr })
            }
        }
        fn hypercall(
            &mut self,
            _input: HypercallInput,
            _input_parameter: u64,
            _output_parameter: u64,
        ) -> Result<HypercallOutput, PlatformError> {
            Err(PlatformError::LinkFailure)
        }
        fn vp_index(&self) -> u32 {
            0
        }
    }

    #[test]
    fn the_reference_counter_is_read_only_when_granted() {
        let granted = PartitionPrivileges::REQUIRED_FOR_VMBUS
            .union(PartitionPrivileges::ACCESS_PARTITION_REFERENCE_COUNTER);
        let mut backend = CounterBackend {
            counter: Ok(123_456_789),
            reads: Vec::new(),
        };
        assert_eq!(
            read_reference_counter(&mut backend, granted),
            Some(123_456_789)
        );
        // MSR 0x40000020, written from the TLFS number, not from our constant.
        assert_eq!(backend.reads, [0x4000_0020]);
        // Not granted (CPUID 0x40000003 EAX bit 1 clear): not read at all.
        assert_eq!(
            read_reference_counter(&mut backend, PartitionPrivileges::REQUIRED_FOR_VMBUS),
            None
        );
        assert_eq!(backend.reads.len(), 1);
        // A failing read gives None.
        backend.counter = Err(PlatformError::LinkFailure);
        assert_eq!(read_reference_counter(&mut backend, granted), None);
    }

    #[test]
    fn bump_allocator_hands_out_aligned_pages_until_the_end() {
        let mut pages = BumpPageAllocator::new(0x1001, 0x4000);
        assert_eq!(pages.allocate_page(PagePurpose::SynicMessages), Ok(0x2000));
        assert_eq!(
            pages.allocate_page(PagePurpose::SynicEventFlags),
            Ok(0x3000)
        );
        assert_eq!(
            pages.allocate_page(PagePurpose::HypercallInput),
            Err(OutOfPages)
        );
        let mut top = BumpPageAllocator::new(u64::MAX - 0xfff, u64::MAX);
        assert_eq!(
            top.allocate_page(PagePurpose::HypercallCode),
            Err(OutOfPages)
        );
    }
}
