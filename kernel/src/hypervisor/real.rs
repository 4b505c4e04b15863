//! The real Hyper-V backend: synthetic MSRs with `rdmsr`/`wrmsr`, hypercalls through the
//! hypercall page. It cannot run on these machines (no Hyper-V), so it is kept small: every
//! encoding it relies on lives, unit-tested, in the `hyperv` crate.

use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::msr;
use hyperv::platform::{HypervisorBackend, PlatformError};
use x86_64::PhysAddr;

use crate::memory::physical_to_virtual;

/// Microsoft Hyper-V, detected by CPUID.
pub struct RealHypervisor {
    hypercall_page: Option<u64>,
    vp_index: u32,
}

impl RealHypervisor {
    /// A backend for the current processor.
    pub fn new() -> Self {
        let mut backend = RealHypervisor {
            hypercall_page: None,
            vp_index: 0,
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
