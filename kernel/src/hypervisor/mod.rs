//! The kernel's side of the platform interface (`hyperv::platform`): which hypervisor we run on,
//! and the backends that carry MSR accesses, hypercalls and interrupts to it.
//!
//! - On Hyper-V, CPUID leaves 0x40000000.. say so; [`real::RealHypervisor`] uses `rdmsr`/`wrmsr`
//!   and the hypercall page, and the SynIC raises its vector directly.
//! - Under QEMU without Hyper-V, the emulator sits behind an `ivshmem-doorbell` device
//!   ([`ivshmem::IvshmemLink`]: shared mailboxes, a doorbell, MSI-X) or, when the runner was
//!   asked for it (`--link com2`), behind COM2 ([`com2::Com2Link`], interrupts on IRQ 3); the
//!   `hyperv::emulated_link` backend speaks the same frame protocol over either ([`Link`]).
//!
//! [`physical_memory::PhysicalMemory`] is `GuestMemory` for the guest's own RAM, used by both.

pub mod com2;
pub mod ivshmem;
pub mod mmio_grants;
pub mod page_allocator;
pub mod physical_memory;
pub mod real;
pub mod shared;

use hyperv::cpuid::{CpuidError, HypervisorFeatures, HypervisorLeaves, PartitionPrivileges};
use hyperv::emulated_link::{EmulatedLinkBackend, SerialLink};
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::platform::{HypervisorBackend, MmioAccess, PlatformError};

use crate::arch::cpu::cpuid;

/// The emulated link the last detection found: 0 none, 1 ivshmem, 2 COM2.
static EMULATED_LINK: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The emulated link's transport (`"ivshmem"` or `"COM2"`) the last detection found; `None`
/// on real Hyper-V or before detection.
pub fn emulated_link_name() -> Option<&'static str> {
    match EMULATED_LINK.load(core::sync::atomic::Ordering::Relaxed) {
        1 => Some("ivshmem"),
        2 => Some("COM2"),
        _ => None,
    }
}

/// The hypervisor interface the kernel found.
pub enum Backend {
    /// Microsoft Hyper-V.
    Real(real::RealHypervisor),
    /// The dxgos emulator behind ivshmem or COM2.
    Emulated(EmulatedLinkBackend<Link>),
}

/// The transport to the emulator.
pub enum Link {
    /// QEMU's `ivshmem-doorbell` device.
    Ivshmem(alloc::boxed::Box<ivshmem::IvshmemLink>),
    /// The COM2 UART.
    Com2(com2::Com2Link),
}

impl SerialLink for Link {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError> {
        match self {
            Link::Ivshmem(link) => link.send(bytes),
            Link::Com2(link) => link.send(bytes),
        }
    }
    fn receive(&mut self) -> Result<u8, PlatformError> {
        match self {
            Link::Ivshmem(link) => link.receive(),
            Link::Com2(link) => link.receive(),
        }
    }
    fn try_receive(&mut self) -> Option<u8> {
        match self {
            Link::Ivshmem(link) => link.try_receive(),
            Link::Com2(link) => link.try_receive(),
        }
    }
    fn try_receive_into(&mut self, buffer: &mut [u8]) -> usize {
        match self {
            Link::Ivshmem(link) => link.try_receive_into(buffer),
            Link::Com2(link) => link.try_receive_into(buffer),
        }
    }
    fn has_waiting_input(&self) -> bool {
        match self {
            Link::Ivshmem(link) => link.has_waiting_input(),
            Link::Com2(link) => link.has_waiting_input(),
        }
    }
    fn receive_into(&mut self, buffer: &mut [u8]) -> Result<usize, PlatformError> {
        match self {
            Link::Ivshmem(link) => link.receive_into(buffer),
            Link::Com2(link) => link.receive_into(buffer),
        }
    }
}

impl Link {
    /// Delivers the link's interrupt on `vector` to this processor: MSI-X vector 0 of the
    /// ivshmem device, or COM2's ISA IRQ 3 through the I/O APIC. Returns the I/O APIC input
    /// used (to mask when the bus task ends), if any.
    pub fn route_interrupt(
        &self,
        vector: u8,
    ) -> Result<Option<u32>, crate::interrupts::InterruptError> {
        match self {
            Link::Ivshmem(link) => {
                let apic_id = crate::platform::local_apic::id();
                link.route_interrupt(vector, apic_id).map_err(|error| {
                    log::warn!("ivshmem: MSI-X: {error}");
                    crate::interrupts::InterruptError::DestinationOutOfRange(apic_id)
                })?;
                Ok(None)
            }
            Link::Com2(_) => crate::interrupts::route_isa_irq(com2::IRQ, vector).map(Some),
        }
    }
}

/// No usable hypervisor interface was found.
#[derive(Debug)]
pub enum DetectError {
    /// Hyper-V's CPUID leaves are absent or lack VMBus privileges, and no emulator answered.
    NotFound {
        /// Why the CPUID check failed.
        cpuid: CpuidError,
        /// Why the emulator probe failed (`None`: neither ivshmem nor COM2 is present).
        emulator: Option<PlatformError>,
    },
    /// The ivshmem device is there but unusable.
    Ivshmem(ivshmem::IvshmemError),
}

impl core::fmt::Display for DetectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DetectError::NotFound {
                cpuid,
                emulator: Some(error),
            } => {
                write!(
                    f,
                    "no Hyper-V ({cpuid:?}) and the emulator did not answer ({error})"
                )
            }
            DetectError::NotFound {
                cpuid,
                emulator: None,
            } => {
                write!(
                    f,
                    "no Hyper-V ({cpuid:?}) and no ivshmem device or COM2 for the emulator"
                )
            }
            DetectError::Ivshmem(error) => write!(f, "the emulator's ivshmem device: {error}"),
        }
    }
}

fn read_leaves() -> HypervisorLeaves {
    let (_, _, processor_info_ecx, _) = cpuid(1, 0);
    let (a, b, c, d) = cpuid(0x4000_0000, 0);
    let (interface, _, _, _) = cpuid(0x4000_0001, 0);
    let (fa, fb, fc, fd) = cpuid(0x4000_0003, 0);
    let (recommendations, _, _, _) = cpuid(0x4000_0004, 0);
    HypervisorLeaves {
        processor_info_ecx,
        vendor: [a, b, c, d],
        interface,
        features: [fa, fb, fc, fd],
        recommendations,
    }
}

/// Finds the hypervisor: Hyper-V by CPUID first, then the emulator behind an ivshmem device,
/// then behind COM2.
pub fn detect() -> Result<(Backend, Option<HypervisorFeatures>), DetectError> {
    let cpuid_error = match read_leaves().check() {
        Ok(features) => {
            log::info!("platform: Hyper-V (privileges {:?})", features.privileges);
            return Ok((Backend::Real(real::RealHypervisor::new()), Some(features)));
        }
        Err(error) => error,
    };
    log::debug!("platform: not Hyper-V ({cpuid_error:?}); probing for the emulator");
    let link = match ivshmem::IvshmemLink::probe() {
        Some(Ok(link)) => Link::Ivshmem(alloc::boxed::Box::new(link)),
        Some(Err(error)) => return Err(DetectError::Ivshmem(error)),
        None => match com2::Com2Link::probe() {
            Some(link) => Link::Com2(link),
            None => {
                return Err(DetectError::NotFound {
                    cpuid: cpuid_error,
                    emulator: None,
                });
            }
        },
    };
    let transport = match link {
        Link::Ivshmem(_) => "ivshmem",
        Link::Com2(_) => "COM2",
    };
    EMULATED_LINK.store(
        if matches!(link, Link::Com2(_)) { 2 } else { 1 },
        core::sync::atomic::Ordering::Relaxed,
    );
    match EmulatedLinkBackend::connect(link) {
        Ok(backend) => {
            log::info!(
                "platform: dxgos emulated Hyper-V (link version {}, {transport})",
                backend.host_version()
            );
            Ok((Backend::Emulated(backend), None))
        }
        Err(error) => Err(DetectError::NotFound {
            cpuid: cpuid_error,
            emulator: Some(error),
        }),
    }
}

impl Backend {
    /// Whether every SynIC interrupt of this platform arrives as an Interrupt frame that
    /// [`Backend::acknowledge_interrupt`] latches, so that the link's own interrupt with
    /// nothing latched brings nothing into the SynIC: true over ivshmem, whose MSI-X vector
    /// the emulator raises only after it wrote frames (docs/emulated-platform.md, "The ivshmem
    /// link") and whose frames `acknowledge_interrupt` drains and decodes, wherever the
    /// reading task was. False on Hyper-V (the interrupt is the SynIC's own) and over COM2
    /// (skipping there is not shown safe: docs/performance.md §3, "Branch s5/wakes").
    pub fn synic_interrupts_are_latched(&self) -> bool {
        matches!(self, Backend::Emulated(link) if matches!(link.link(), Link::Ivshmem(_)))
    }

    /// Whether the emulated link latched a SynIC interrupt that [`Backend::acknowledge_interrupt`]
    /// has not taken yet: an Interrupt frame read while a request (a hypercall, an MSR or MMIO
    /// access) polled for its reply. Over COM2 the link's own interrupt need not fire for it
    /// (the poll read the bytes), so a task about to sleep on that interrupt checks this first.
    /// Also `true` while the link holds bytes that [`Backend::acknowledge_interrupt`] left
    /// unread at its budget (a host flooding the mailbox): no interrupt may come for them.
    /// Always `false` on real Hyper-V (nothing is latched: the SynIC vector is the interrupt).
    pub fn has_latched_interrupt(&self) -> bool {
        match self {
            Backend::Real(_) => false,
            Backend::Emulated(link) => link.has_pending_vector() || link.has_unread_input(),
        }
    }

    /// Work to do after the interrupt for this platform fired: for the emulated platform, the
    /// bytes the link received are decoded (interrupt frames latch their vectors) and the
    /// latched vectors taken. `raised`: whether the platform's interrupt fired since the last
    /// call. Returns whether the SynIC may hold something new: on real Hyper-V that is
    /// `raised` (the interrupt is the SynIC's own vector); on the emulated platform, whether
    /// an Interrupt frame was latched (every SynIC interrupt is one, while the link's own
    /// interrupt also fires for other frames: over COM2, for every byte of a hypercall's reply).
    pub fn acknowledge_interrupt(&mut self, raised: bool) -> bool {
        match self {
            Backend::Real(_) => raised,
            Backend::Emulated(link) => crate::host_time::in_hypervisor(|| {
                link.service_receive_interrupt();
                let mut any = false;
                while link.take_pending_vector().is_some() {
                    any = true;
                }
                any
            }),
        }
    }

    /// The partition privileges this platform grants: CPUID 0x40000003 EAX/EBX on Hyper-V,
    /// the privileges the emulator announced on the link otherwise.
    pub fn privileges(&self) -> PartitionPrivileges {
        match self {
            Backend::Real(_) => read_leaves()
                .check()
                .map_or(PartitionPrivileges::empty(), |features| features.privileges),
            Backend::Emulated(link) => link.privileges(),
        }
    }

    /// The partition reference counter (MSR TIME_REF_COUNT, 100 ns units), the same path the
    /// TSC calibration reads on Hyper-V (`platform::reference_timer`); `None` when the
    /// privilege is not granted or the read fails.
    pub fn reference_counter(&mut self) -> Option<u64> {
        let privileges = self.privileges();
        hyperv::platform::read_reference_counter(self, privileges)
    }
}

impl HypervisorBackend for Backend {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        crate::host_time::in_hypervisor(|| match self {
            Backend::Real(backend) => backend.write_msr(msr, value),
            Backend::Emulated(backend) => backend.write_msr(msr, value),
        })
    }
    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        crate::host_time::in_hypervisor(|| match self {
            Backend::Real(backend) => backend.read_msr(msr),
            Backend::Emulated(backend) => backend.read_msr(msr),
        })
    }
    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        crate::host_time::in_hypercall(|| match self {
            Backend::Real(backend) => backend.hypercall(input, input_parameter, output_parameter),
            Backend::Emulated(backend) => {
                let latched_before = backend.has_pending_vector();
                let result = backend.hypercall(input, input_parameter, output_parameter);
                // An answer latched while the request polled, or waiting behind its result in
                // the mailbox (newer than the result: the poll read everything before it; no
                // interrupt comes for it, the caller takes it at once). A vector latched
                // before the call is an older answer.
                if (!latched_before && backend.has_pending_vector())
                    || backend.link().has_waiting_input()
                {
                    crate::host_time::answer_latched();
                }
                result
            }
        })
    }
    fn vp_index(&self) -> u32 {
        match self {
            Backend::Real(backend) => backend.vp_index(),
            Backend::Emulated(backend) => backend.vp_index(),
        }
    }
    fn hypercall_page_enabled(&mut self, gpa: u64) {
        match self {
            Backend::Real(backend) => backend.hypercall_page_enabled(gpa),
            Backend::Emulated(backend) => backend.hypercall_page_enabled(gpa),
        }
    }
}

impl MmioAccess for Backend {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        crate::host_time::in_hypervisor(|| match self {
            Backend::Real(backend) => backend.mmio_read(gpa, size),
            Backend::Emulated(backend) => backend.mmio_read(gpa, size),
        })
    }
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        crate::host_time::in_hypervisor(|| match self {
            Backend::Real(backend) => backend.mmio_write(gpa, size, value),
            Backend::Emulated(backend) => backend.mmio_write(gpa, size, value),
        })
    }
}
