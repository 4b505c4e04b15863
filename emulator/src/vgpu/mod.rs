//! The emulated vGPU: the host side of the GPU-PV protocol, sans-I/O.
//!
//! [`GpuHost`] is one VM's GPU-PV host: the global DXGK channel plus any number of vGPUs (each
//! with its PCI config words and its vGPU channel). Feed it guest packets with
//! [`GpuHost::receive`]; drain completions and host→guest notifications with
//! [`GpuHost::poll_output`]. It shares `dxg::wire` with the guest driver.
//!
//! Objects live per host process with D3DKMT handles from a per-process allocator. Allocation
//! storage, monitored-fence values and paging fences live in the IO space the guest announced
//! with SETIOSPACEREGION, reached through `GuestMemory`. SUBMITCOMMAND runs the command
//! processor ([`command_processor`]); CPU waits complete with SIGNALGUESTEVENT.

// Guest commands reach this module: nothing here may panic on what the guest sends.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod command_processor;
pub mod config;
mod dispatch;
mod dispatch_memory;
mod dispatch_objects;
mod dispatch_scheduling;
mod dispatch_sharing;
mod dispatch_submit;
mod dispatch_support;
mod dispatch_sync;
pub mod gpu_va;
pub mod handles;
pub mod io_space;
#[allow(
    clippy::arithmetic_side_effects,
    reason = "an in-process test and benchmark harness: its sizes are the harness's own \
              constants, no guest input"
)]
pub mod loopback;
mod objects;
pub mod sysmem;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests;

pub use config::VgpuPciConfig;
pub use objects::{ExecutionCounters, HostObject, HostProcess, Owned, ResidencyState};

use crate::platform::PlatformLayout;
use dxg::wire::{D3dkmtHandle, Guid, Luid};
use handles::HandleAllocator;
use hyperv::memory::GuestMemory;
use io_space::IoSpace;
use std::collections::{BTreeMap, VecDeque};
use sysmem::SysmemWindows;

/// A host-side channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostChannel {
    /// The global DXGK channel.
    Global,
    /// The vGPU channel of vGPU `index`.
    Vgpu(usize),
}

/// Output of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostOutput {
    /// A completion packet answering `transaction_id` on `channel`.
    Completion {
        /// Channel.
        channel: HostChannel,
        /// Transaction id of the request.
        transaction_id: u64,
        /// Result payload.
        bytes: Vec<u8>,
    },
    /// An in-band host→guest notification on the global channel.
    Notification(Vec<u8>),
}

/// Description of one vGPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VgpuDescription {
    /// PCI config words.
    pub config: VgpuPciConfig,
    /// Device description string.
    pub description: String,
    /// Report async messaging in GETINTERNALADAPTERINFO.
    pub async_messaging: bool,
}

impl VgpuDescription {
    /// A vGPU whose channel instance GUID starts with `adapter_luid` (so that is the LUID user
    /// mode sees) and whose host vGPU LUID is `vgpu_luid`.
    pub fn new(adapter_luid: u64, vgpu_luid: u64) -> Self {
        let mut guid = [0u8; 16];
        guid[..8].copy_from_slice(&adapter_luid.to_le_bytes());
        guid[8..].copy_from_slice(&[0x8A, 0x3C, 0x11, 0x4D, 0xD0, 0x65, 0x70, 0x75]);
        Self {
            config: VgpuPciConfig::new(Guid::from_bytes(guid), Luid::from_u64(vgpu_luid)),
            description: String::from("dxgos emulated vGPU"),
            async_messaging: false,
        }
    }
}

/// One vGPU's host state.
#[derive(Debug)]
pub struct Vgpu {
    /// Description and config words.
    pub description: VgpuDescription,
    /// Host adapter handle once opened.
    pub host_adapter: D3dkmtHandle,
    /// Removed by the host (hot remove).
    pub removed: bool,
}

/// Pending CPU waits (WAITFORSYNCOBJECTFROMCPU with an event) one process may have at once.
///
/// Neither the TLFS nor the dxgkrnl sources state a host limit: on Windows each pending wait
/// is a kernel wait block charged to the process, and an exhausted quota fails the call. The
/// emulator keeps the list bounded the same way: the wait past this many is refused with
/// `STATUS_NO_MEMORY` (the status the host gives for every other exhausted resource, e.g. a
/// full handle table) and nothing is queued. 1024 is far above what a driver keeps in flight
/// (one or two waits per queue) and keeps the host's wait list at most 1024 × 32 objects per
/// process.
pub const MAX_CPU_WAITS_PER_PROCESS: usize = 1024;

/// A pending CPU wait.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CpuWait {
    process: D3dkmtHandle,
    event: u64,
    objects: Vec<(D3dkmtHandle, u64)>,
    wait_any: bool,
}

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatistics {
    /// Commands received.
    pub commands: u64,
    /// Commands answered with a failure status.
    pub failures: u64,
    /// Command packets executed by the command processor.
    pub packets_executed: u64,
    /// SIGNALGUESTEVENTs sent.
    pub events_signalled: u64,
    /// Submissions executed (SUBMITCOMMAND and SUBMITCOMMANDTOHWQUEUE).
    pub submissions: u64,
    /// Host time spent executing submissions, in 100 ns units.
    pub running_time: u64,
}

/// The emulated GPU-PV host of one VM.
pub struct GpuHost<M: GuestMemory> {
    memory: M,
    vgpus: Vec<Vgpu>,
    io_space: Option<IoSpace>,
    process_handles: HandleAllocator,
    processes: BTreeMap<D3dkmtHandle, HostProcess>,
    adapter_handles: HandleAllocator,
    waits: Vec<CpuWait>,
    outputs: VecDeque<HostOutput>,
    /// Cookie from CREATEDEVICE.error_code (for SETGUESTDATA).
    device_state_cookie: u64,
    statistics: HostStatistics,
    /// Time base of QUERYCLOCKCALIBRATION.
    clock_origin: std::time::Instant,
    /// `mmio_megabytes` of the global channel offer.
    pub mmio_megabytes: u32,
    /// Host-global handles: NT shared objects and global sync-object handles.
    shared_handles: HandleAllocator,
    /// NT shared objects (CREATENTSHAREDOBJECT) by handle.
    shared: BTreeMap<D3dkmtHandle, dispatch_sharing::SharedObject>,
    /// Global handles of sync objects created shared: global → (process, sync object).
    global_sync: BTreeMap<D3dkmtHandle, (D3dkmtHandle, D3dkmtHandle)>,
    /// Extra holders of IO-space storage shared between processes (address → count).
    storage_holders: BTreeMap<u64, u32>,
    /// Existing-sysmem allocation windows.
    sysmem: SysmemWindows,
    /// GPADLs the VMBus side made known to the vGPU (handle → page frame numbers).
    gpadls: BTreeMap<u32, Vec<u64>>,
    /// Next SHAREOBJECTWITHHOST token.
    next_vail_handle: u64,
    /// RAM and the VMBus MMIO gaps, when the platform told us (SETIOSPACEREGION is checked
    /// against them as Hyper-V would).
    layout: Option<PlatformLayout>,
}

impl<M: GuestMemory> GpuHost<M> {
    /// A host with no vGPUs; `mmio_megabytes` is announced in the global channel offer.
    pub fn new(memory: M, mmio_megabytes: u32) -> Self {
        Self {
            memory,
            vgpus: Vec::new(),
            io_space: None,
            process_handles: HandleAllocator::new(),
            processes: BTreeMap::new(),
            adapter_handles: HandleAllocator::new(),
            waits: Vec::new(),
            outputs: VecDeque::new(),
            device_state_cookie: 0,
            statistics: HostStatistics::default(),
            clock_origin: std::time::Instant::now(),
            mmio_megabytes,
            shared_handles: HandleAllocator::new(),
            shared: BTreeMap::new(),
            global_sync: BTreeMap::new(),
            storage_holders: BTreeMap::new(),
            sysmem: SysmemWindows::default(),
            gpadls: BTreeMap::new(),
            next_vail_handle: 1,
            layout: None,
        }
    }

    /// Tells the host where RAM and the VMBus MMIO gaps are: from then on SETIOSPACEREGION
    /// must name a range inside one gap, outside RAM, and backed by host memory.
    pub fn set_platform_layout(&mut self, layout: PlatformLayout) {
        self.layout = Some(layout);
    }

    /// The platform layout, if set.
    pub fn platform_layout(&self) -> Option<&PlatformLayout> {
        self.layout.as_ref()
    }

    /// Adds a vGPU; returns its index (the `HostChannel::Vgpu` index).
    pub fn add_vgpu(&mut self, description: VgpuDescription) -> usize {
        self.vgpus.push(Vgpu {
            description,
            host_adapter: D3dkmtHandle::NULL,
            removed: false,
        });
        // Just pushed, so the vector is not empty.
        self.vgpus.len().saturating_sub(1)
    }

    /// Hot-removes a vGPU: later commands for it fail with DEVICE_REMOVED.
    pub fn remove_vgpu(&mut self, index: usize) {
        if let Some(vgpu) = self.vgpus.get_mut(index) {
            vgpu.removed = true;
        }
    }

    /// Sets the driver description vGPU `index` reports (KMTQAITYPE_DRIVER_DESCRIPTION), e.g.
    /// a real GPU's, so that the guest takes it for another host's adapter.
    pub fn set_driver_description(&mut self, index: usize, description: &str) {
        if let Some(vgpu) = self.vgpus.get_mut(index) {
            vgpu.description.description = String::from(description);
        }
    }

    /// The PCI config of vGPU `index` (for the vPCI emulation).
    pub fn pci_config(&mut self, index: usize) -> Option<&mut VgpuPciConfig> {
        self.vgpus
            .get_mut(index)
            .map(|vgpu| &mut vgpu.description.config)
    }

    /// vGPU `index`.
    pub fn vgpu(&self, index: usize) -> Option<&Vgpu> {
        self.vgpus.get(index)
    }

    /// The vGPU channel index with this instance GUID.
    pub fn vgpu_by_instance(&self, instance: Guid) -> Option<usize> {
        self.vgpus
            .iter()
            .position(|vgpu| vgpu.description.config.channel_instance == instance)
    }

    /// Guest memory.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// The IO space (base, length) once registered.
    pub fn io_space(&self) -> Option<(u64, u64)> {
        self.io_space
            .as_ref()
            .map(|space| (space.base(), space.length()))
    }

    /// IO-space pages in use.
    pub fn io_pages_in_use(&self) -> usize {
        self.io_space.as_ref().map(IoSpace::used_pages).unwrap_or(0)
    }

    /// Live host processes.
    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    /// Live objects of all processes.
    pub fn object_count(&self) -> usize {
        self.processes
            .values()
            .map(|process| process.objects.len())
            .sum()
    }

    /// Pending CPU waits.
    pub fn pending_waits(&self) -> usize {
        self.waits.len()
    }

    /// Counters.
    pub fn statistics(&self) -> HostStatistics {
        self.statistics
    }

    /// Takes the next output.
    pub fn poll_output(&mut self) -> Option<HostOutput> {
        self.outputs.pop_front()
    }

    /// Whether guest messages carry the 16-byte extension header (guest wrote version ≥ 40).
    fn extension_headers(&self) -> bool {
        self.vgpus
            .iter()
            .any(|vgpu| vgpu.description.config.guest_version >= dxg::wire::INTERFACE_VERSION)
    }

    /// Sends SETGUESTDATA telling the guest that device state changed.
    pub fn notify_device_state_changed(&mut self) {
        let mut message = dxg::wire::SetGuestDataMessage::zeroed();
        message.header = dxg::wire::CommandHeader::host_to_guest(
            dxg::wire::HostToGuestCommand::SetGuestData.as_u32(),
        );
        message.guest_pointer = self.device_state_cookie;
        message.data = 1;
        self.outputs.push_back(HostOutput::Notification(
            zerocopy::IntoBytes::as_bytes(&message).to_vec(),
        ));
    }
}
