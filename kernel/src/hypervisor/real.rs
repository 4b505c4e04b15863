//! The real Hyper-V backend: synthetic MSRs with `rdmsr`/`wrmsr`, hypercalls through the
//! hypercall page. It cannot run on these machines (no Hyper-V), so it is kept small: every
//! encoding it relies on lives, unit-tested, in the `hyperv` crate.

use alloc::collections::BTreeMap;
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::msr;

use hyperv::platform::{HypervisorBackend, MmioAccess, PlatformError};
use x86_64::PhysAddr;

use crate::memory::physical_to_virtual;

/// Microsoft Hyper-V, detected by CPUID.
pub struct RealHypervisor {
    hypercall_page: Option<u64>,
    vp_index: u32,
    /// Uncached mappings of the MMIO pages touched so far (e.g. the vPCI config window).
    mmio_pages: BTreeMap<u64, u64>,
}

impl RealHypervisor {
    /// A backend for the current processor.
    pub fn new() -> Self {
        let mut backend = RealHypervisor {
            hypercall_page: None,
            vp_index: 0,
            mmio_pages: BTreeMap::new(),
        };
        backend.vp_index = backend.read_msr(msr::VP_INDEX).unwrap_or(0) as u32;
        backend
    }
}

impl HypervisorBackend for RealHypervisor {
    fn write_msr(&mut self, register: u32, value: u64) -> Result<(), PlatformError> {
        // SAFETY: only synthetic MSRs that CPUID said exist are written (the SynIC client
        // writes the ones of the TLFS bring-up order); their effects are the SynIC's.
        unsafe { x86_64::registers::model_specific::Msr::new(register).write(value) };
        Ok(())
    }

    fn read_msr(&mut self, register: u32) -> Result<u64, PlatformError> {
        // SAFETY: reading a synthetic MSR that CPUID said exists has no side effects.
        Ok(unsafe { x86_64::registers::model_specific::Msr::new(register).read() })
    }

    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        let page = self.hypercall_page.ok_or(PlatformError::LinkFailure)?;
        let entry = physical_to_virtual(PhysAddr::new(page)).as_u64();
        let result: u64;
        // SAFETY: the hypervisor filled the hypercall page (enabled through the HYPERCALL MSR)
        // with the calling sequence; it is mapped executable in the physical window. The
        // call follows the TLFS x64 convention: RCX input, RDX and R8 parameters, RAX result;
        // it may clobber the caller-saved registers.
        unsafe {
            core::arch::asm!(
                "call {entry}",
                entry = in(reg) entry,
                inout("rcx") input.to_bits() => _,
                inout("rdx") input_parameter => _,
                inout("r8") output_parameter => _,
                lateout("rax") result,
                lateout("r9") _, lateout("r10") _, lateout("r11") _,
            );
        }
        Ok(HypercallOutput(result))
    }

    fn vp_index(&self) -> u32 {
        self.vp_index
    }

    fn hypercall_page_enabled(&mut self, gpa: u64) {
        self.hypercall_page = Some(gpa);
    }
}

impl RealHypervisor {
    /// The virtual address of `gpa` in an uncached mapping of its page.
    fn mmio_address(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        if !matches!(size, 1 | 2 | 4 | 8) || !gpa.is_multiple_of(u64::from(size)) {
            return Err(PlatformError::InvalidAccessSize);
        }
        let page = gpa & !0xfff;
        let base = match self.mmio_pages.get(&page) {
            Some(&base) => base,
            None => {
                let mapped = crate::memory::map_mmio(PhysAddr::new(page), 4096)
                    .map_err(|_| PlatformError::UnhandledMmio { gpa })?
                    .as_u64();
                self.mmio_pages.insert(page, mapped);
                mapped
            }
        };
        Ok(base + (gpa & 0xfff))
    }
}

impl MmioAccess for RealHypervisor {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        let address = self.mmio_address(gpa, size)?;
        // SAFETY: `address` is an aligned access of `size` bytes inside an uncached mapping of
        // the device page; the access traps to the hypervisor, which emulates it.
        let value = unsafe {
            match size {
                1 => u64::from((address as *const u8).read_volatile()),
                2 => u64::from((address as *const u16).read_volatile()),
                4 => u64::from((address as *const u32).read_volatile()),
                _ => (address as *const u64).read_volatile(),
            }
        };
        Ok(value)
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        let address = self.mmio_address(gpa, size)?;
        // SAFETY: as in `mmio_read`.
        unsafe {
            match size {
                1 => (address as *mut u8).write_volatile(value as u8),
                2 => (address as *mut u16).write_volatile(value as u16),
                4 => (address as *mut u32).write_volatile(value as u32),
                _ => (address as *mut u64).write_volatile(value),
            }
        }
        Ok(())
    }
}
