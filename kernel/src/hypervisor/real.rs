//! The real Hyper-V backend: synthetic MSRs with `rdmsr`/`wrmsr`, hypercalls through the
//! hypercall page. It cannot run on these machines (no Hyper-V), so it is kept small: every
//! encoding it relies on lives, unit-tested, in the `hyperv` crate.

use alloc::collections::BTreeMap;
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::msr::{self, PageMsr};

use hyperv::platform::{HypervisorBackend, MmioAccess, PagePurpose, PlatformError};
use x86_64::PhysAddr;

use super::page_allocator;
use crate::memory::physical_to_virtual;
use crate::memory::registers::RegisterBlock;

/// Microsoft Hyper-V, detected by CPUID.
pub struct RealHypervisor {
    hypercall_page: Option<u64>,
    vp_index: u32,
    /// Uncached mappings of the MMIO pages touched so far (e.g. the vPCI config window).
    mmio_pages: BTreeMap<u64, RegisterBlock>,
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

/// Checks an MSR write before `wrmsr`: only the synthetic MSRs the SynIC client needs
/// (GUEST_OS_ID, HYPERCALL, SCONTROL, SIMP, SIEFP, EOM, SINT0–15; TLFS §3.13, §11.8) may be
/// written, and an enabled overlay MSR (HYPERCALL, SIMP, SIEFP) must name a page the kernel's
/// page allocator granted for that purpose, since the hypervisor then overlays that page
/// (replacing its contents). Anything else is refused as the #GP it could be.
fn check_msr_write(register: u32, value: u64) -> Result<(), PlatformError> {
    let purpose = match register {
        msr::GUEST_OS_ID | msr::SCONTROL | msr::EOM => return Ok(()),
        msr::HYPERCALL => PagePurpose::HypercallCode,
        msr::SIMP => PagePurpose::SynicMessages,
        msr::SIEFP => PagePurpose::SynicEventFlags,
        sint if msr::sint_index(sint).is_some() => return Ok(()),
        _ => return Err(PlatformError::GeneralProtection { msr: register }),
    };
    let page = PageMsr::from_bits(value);
    if page.enabled() && !page_allocator::is_granted(page.gpa(), purpose) {
        log::warn!(
            "hypervisor: refused {register:#x} <- {value:#x}: not a granted {purpose:?} page"
        );
        return Err(PlatformError::GeneralProtection { msr: register });
    }
    Ok(())
}

/// Whether a slow hypercall's parameter is acceptable: 0 (none) or an 8-byte aligned address
/// inside a granted hypercall-input page (the hypervisor reads the input block there and may
/// write output there).
fn is_hypercall_block(gpa: u64) -> bool {
    gpa == 0
        || (gpa.is_multiple_of(8)
            && page_allocator::is_granted(gpa & !0xfff, PagePurpose::HypercallInput))
}

impl HypervisorBackend for RealHypervisor {
    fn write_msr(&mut self, register: u32, value: u64) -> Result<(), PlatformError> {
        check_msr_write(register, value)?;
        // SAFETY: `check_msr_write` admitted only synthetic SynIC MSRs, which exist on Hyper-V
        // (this backend is chosen only when CPUID says so) and touch no memory the kernel
        // uses, except the overlay MSRs, whose page is then one the page allocator granted
        // to the SynIC for exactly that overlay.
        unsafe { x86_64::registers::model_specific::Msr::new(register).write(value) };
        Ok(())
    }

    fn read_msr(&mut self, register: u32) -> Result<u64, PlatformError> {
        // SAFETY: `rdmsr` has no memory effects; an absent MSR raises #GP, which the
        // exception handler reports (no undefined behaviour).
        Ok(unsafe { x86_64::registers::model_specific::Msr::new(register).read() })
    }

    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        let page = self.hypercall_page.ok_or(PlatformError::LinkFailure)?;
        if !input.fast
            && !(is_hypercall_block(input_parameter) && is_hypercall_block(output_parameter))
        {
            log::warn!("hypervisor: refused a slow hypercall with blocks outside granted pages");
            return Err(PlatformError::LinkFailure);
        }
        let entry = physical_to_virtual(PhysAddr::new(page)).as_u64();
        let result: u64;
        // SAFETY: the hypervisor filled the hypercall page (enabled through the HYPERCALL MSR)
        // with the calling sequence; it is mapped executable in the physical window. The
        // call follows the TLFS x64 convention: RCX input, RDX and R8 parameters, RAX result;
        // it may clobber the caller-saved registers. A slow call's blocks were checked to lie
        // in the granted hypercall-input page, so the hypervisor touches no other memory.
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
        // Only the granted hypercall page is ever called into (its code is the hypervisor's).
        if page_allocator::is_granted(gpa, PagePurpose::HypercallCode) {
            self.hypercall_page = Some(gpa);
        } else {
            log::warn!("hypervisor: {gpa:#x} is not the granted hypercall page");
        }
    }
}

impl RealHypervisor {
    /// The uncached mapping of `gpa`'s page (made on first use, kept) and `gpa`'s offset in it,
    /// after [`check_mmio_access`].
    fn mmio_register(
        &mut self,
        gpa: u64,
        size: u8,
    ) -> Result<(RegisterBlock, usize), PlatformError> {
        check_mmio_access(gpa, size)?;
        let page = gpa & !0xfff;
        let block = match self.mmio_pages.get(&page) {
            Some(&block) => block,
            None => {
                let block = RegisterBlock::map_device(PhysAddr::new(page), 4096)
                    .map_err(|_| PlatformError::UnhandledMmio { gpa })?;
                self.mmio_pages.insert(page, block);
                block
            }
        };
        Ok((block, (gpa & 0xfff) as usize))
    }
}

/// Checks a trapped-MMIO access before it is made: 1, 2, 4 or 8 bytes, aligned to its size,
/// inside a range the kernel's MMIO allocator handed out ([`super::mmio_grants`]). Anything
/// else (RAM, the local APIC, an address a driver or the host made up) is refused as unhandled
/// MMIO: `MmioAccess` is a safe trait, so this check is what keeps it from reaching memory
/// that is not the caller's.
fn check_mmio_access(gpa: u64, size: u8) -> Result<(), PlatformError> {
    if !matches!(size, 1 | 2 | 4 | 8) || !gpa.is_multiple_of(u64::from(size)) {
        return Err(PlatformError::InvalidAccessSize);
    }
    if !super::mmio_grants::is_granted(gpa, u64::from(size)) {
        log::warn!("hypervisor: refused MMIO at {gpa:#x}: not in a granted MMIO range");
        return Err(PlatformError::UnhandledMmio { gpa });
    }
    Ok(())
}

impl MmioAccess for RealHypervisor {
    /// An aligned access of `size` bytes; it traps to the hypervisor, which emulates it.
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        let (block, offset) = self.mmio_register(gpa, size)?;
        let value = match size {
            1 => block.read_at::<u8>(offset).map(u64::from),
            2 => block.read_at::<u16>(offset).map(u64::from),
            4 => block.read_at::<u32>(offset).map(u64::from),
            _ => block.read_at::<u64>(offset),
        };
        value.map_err(|_| PlatformError::InvalidAccessSize)
    }

    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        let (block, offset) = self.mmio_register(gpa, size)?;
        let result = match size {
            1 => block.write_at(offset, value as u8),
            2 => block.write_at(offset, value as u16),
            4 => block.write_at(offset, value as u32),
            _ => block.write_at(offset, value),
        };
        result.map_err(|_| PlatformError::InvalidAccessSize)
    }
}

/// The MSR-write check: only the SynIC's MSRs, and overlay MSRs only onto pages the kernel's
/// page allocator granted for that overlay (and has not taken back).
fn msr_writes_are_checked() -> crate::testing::TestResult {
    use crate::ensure;
    use hyperv::platform::PageAllocator;
    const IA32_APIC_BASE: u32 = 0x1b;
    const IA32_EFER: u32 = 0xc000_0080;
    for register in [IA32_APIC_BASE, IA32_EFER, msr::VP_INDEX, msr::REFERENCE_TSC] {
        ensure!(
            check_msr_write(register, 0).is_err(),
            "write to MSR {register:#x} was admitted"
        );
    }
    for register in [
        msr::GUEST_OS_ID,
        msr::SCONTROL,
        msr::EOM,
        msr::SINT0,
        msr::SINT15,
    ] {
        ensure!(
            check_msr_write(register, 0x1_0000_0031).is_ok(),
            "SynIC MSR {register:#x} refused"
        );
    }
    let mut allocator = super::page_allocator::KernelPageAllocator;
    let page = allocator
        .allocate_page(PagePurpose::SynicMessages)
        .map_err(|_| alloc::string::String::from("no page"))?;
    let enabled = |gpa: u64| PageMsr::default().with_gpa(gpa).with_enabled(true).bits();
    let granted = check_msr_write(msr::SIMP, enabled(page)).is_ok();
    let other_purpose = check_msr_write(msr::SIEFP, enabled(page)).is_err();
    let other_page = check_msr_write(msr::SIMP, enabled(0x20_0000)).is_err();
    let disabled = check_msr_write(msr::SIMP, page).is_ok();
    let kernel_code = check_msr_write(msr::HYPERCALL, enabled(0x10_0000)).is_err();
    let input_block = !is_hypercall_block(page) && is_hypercall_block(0);
    allocator.free_page(page, PagePurpose::SynicMessages);
    let after_free = check_msr_write(msr::SIMP, enabled(page)).is_err();
    ensure!(granted, "the granted message page was refused");
    ensure!(
        other_purpose,
        "a message page was admitted as the event-flags page"
    );
    ensure!(other_page, "a page never granted was admitted");
    ensure!(disabled, "disabling the overlay was refused");
    ensure!(
        kernel_code,
        "an arbitrary page was admitted as the hypercall page"
    );
    ensure!(
        input_block,
        "hypercall blocks are not limited to input pages"
    );
    ensure!(after_free, "a freed page was still admitted");
    Ok(())
}
crate::kernel_test!(msr_writes_are_checked, msr_writes_are_checked);

/// Trapped MMIO reaches only granted MMIO ranges: not RAM (a ring page, the heap), not the
/// local APIC, and a range no longer once it is taken back (issue 12: `mmio_read`/`mmio_write`
/// mapped and accessed any guest-physical address from safe code).
fn mmio_accesses_are_checked() -> crate::testing::TestResult {
    use crate::ensure;
    use hyperv::mmio::MmioRange;
    let pages = crate::memory::ContiguousPages::allocate_zeroed(1)
        .map_err(|_| alloc::string::String::from("no pages"))?;
    let ram = pages.physical_address().as_u64();
    ensure!(
        !super::mmio_grants::grant(MmioRange::new(ram, 4096)),
        "a RAM range was granted"
    );
    ensure!(check_mmio_access(ram, 4).is_err(), "RAM admitted");
    ensure!(
        check_mmio_access(0xfee0_0030, 4).is_err(),
        "the local APIC admitted"
    );
    // A range from the top of the 64-bit space, never RAM on these machines.
    let window = 0x7f_0000_0000u64;
    ensure!(
        super::mmio_grants::grant(MmioRange::new(window, 0x2000)),
        "a device range was refused"
    );
    let inside = check_mmio_access(window + 0x1004, 4).is_ok();
    let misaligned = check_mmio_access(window + 0x1002, 4).is_err();
    let straddling = check_mmio_access(window + 0x1ffc, 8).is_err();
    super::mmio_grants::revoke(window);
    let after_revoke = check_mmio_access(window + 0x1004, 4).is_err();
    ensure!(inside, "an access inside the granted range was refused");
    ensure!(misaligned, "a misaligned access was admitted");
    ensure!(straddling, "an access past the range's end was admitted");
    ensure!(after_revoke, "a revoked range was still admitted");
    Ok(())
}
crate::kernel_test!(mmio_accesses_are_checked, mmio_accesses_are_checked);
