//! In-process loopback: the dxg guest core wired straight to the emulated vGPU host (no VMBus).
//! Used by integration tests and benchmarks; fault injection through [`Loopback::intercept`].

use super::{GpuHost, HostChannel, HostOutput, VgpuDescription};
use dxg::core::{
    Action, ChannelId, Driver, DriverConfig, PacketKind, ProcessId, ProtocolError, Reply, Request,
    Ticket,
};
use dxg::wire::{NtStatus, PCI_DEVICE_VIRTUAL_RENDER};
use hyperv::memory::AtomicMemory;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Guest-physical base of the IO space in loopback setups.
pub const IO_SPACE_BASE: u64 = 0x8_0000_0000;
/// Bytes of ordinary guest RAM right after the IO space (for existing-sysmem allocations, whose
/// pages are the guest's own, not IO space).
pub const GUEST_RAM_BYTES: usize = 1 << 20;

/// A host output filter: return `false` to drop the output (it may also be modified).
pub type Intercept = Box<dyn FnMut(&mut HostOutput) -> bool>;

/// Guest driver + emulated host.
pub struct Loopback {
    /// The guest driver core.
    pub driver: Driver,
    /// The emulated host.
    pub host: GpuHost<Arc<AtomicMemory>>,
    /// Memory backing the IO space, then [`GUEST_RAM_BYTES`] of guest RAM
    /// ([`Loopback::guest_ram_base`]).
    pub memory: Arc<AtomicMemory>,
    /// Finished requests.
    pub completions: BTreeMap<Ticket, Result<Reply, NtStatus>>,
    /// Protocol errors reported by the driver.
    pub protocol_errors: Vec<ProtocolError>,
    /// Other actions (adapter state changes, notifications, channel open/close) in order.
    pub events: Vec<Action>,
    /// Optional filter on host outputs.
    pub intercept: Option<Intercept>,
}

impl Loopback {
    /// A VM with `vgpus` and an IO space of `mmio_megabytes`, brought up to ACTIVE.
    pub fn new(vgpus: Vec<VgpuDescription>, mmio_megabytes: u32) -> Self {
        let memory = Arc::new(AtomicMemory::new(
            IO_SPACE_BASE,
            ((mmio_megabytes as usize) << 20) + GUEST_RAM_BYTES,
        ));
        let mut host = GpuHost::new(memory.clone(), mmio_megabytes);
        for description in vgpus {
            host.add_vgpu(description);
        }
        let mut loopback = Self {
            driver: Driver::new(DriverConfig::default()),
            host,
            memory,
            completions: BTreeMap::new(),
            protocol_errors: Vec::new(),
            events: Vec::new(),
            intercept: None,
        };
        loopback.driver.global_channel_offered(mmio_megabytes);
        let count = (0..)
            .take_while(|index| loopback.host.vgpu(*index).is_some())
            .count();
        for index in 0..count {
            loopback.probe(index);
        }
        loopback.pump();
        loopback
    }

    /// Probes vGPU `index`'s PCI function and offers its channel.
    pub fn probe(&mut self, index: usize) {
        let Some(config) = self.host.pci_config(index) else {
            return;
        };
        let instance = config.channel_instance;
        let _ = self
            .driver
            .probe_pci_function(index as u32, PCI_DEVICE_VIRTUAL_RENDER, config);
        self.driver.vgpu_channel_offered(instance);
    }

    fn channel_to_host(&self, channel: ChannelId) -> Option<HostChannel> {
        match channel {
            ChannelId::Global => Some(HostChannel::Global),
            ChannelId::Vgpu(instance) => {
                self.host.vgpu_by_instance(instance).map(HostChannel::Vgpu)
            }
        }
    }

    fn channel_to_guest(&self, channel: HostChannel) -> Option<ChannelId> {
        match channel {
            HostChannel::Global => Some(ChannelId::Global),
            HostChannel::Vgpu(index) => self
                .host
                .vgpu(index)
                .map(|vgpu| ChannelId::Vgpu(vgpu.description.config.channel_instance)),
        }
    }

    /// Moves packets both ways until both sides are idle.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(action) = self.driver.poll_action() {
                progressed = true;
                match action {
                    Action::Send(packet) => {
                        if let Some(channel) = self.channel_to_host(packet.channel) {
                            self.host.receive(
                                channel,
                                packet.transaction_id,
                                packet.completion_requested,
                                &packet.bytes,
                            );
                        }
                    }
                    Action::AllocateIoSpace { bytes, .. } => {
                        self.driver
                            .io_space_allocated(IO_SPACE_BASE, bytes.min(self.memory.size()));
                    }
                    Action::Complete { ticket, result } => {
                        self.completions.insert(ticket, result);
                    }
                    Action::ProtocolError(error) => self.protocol_errors.push(error),
                    other => self.events.push(other),
                }
            }
            while let Some(mut output) = self.host.poll_output() {
                progressed = true;
                if let Some(intercept) = self.intercept.as_mut()
                    && !intercept(&mut output)
                {
                    continue;
                }
                match output {
                    HostOutput::Completion {
                        channel,
                        transaction_id,
                        bytes,
                    } => {
                        if let Some(channel) = self.channel_to_guest(channel) {
                            self.driver.receive(
                                channel,
                                PacketKind::Completion,
                                transaction_id,
                                &bytes,
                            );
                        }
                    }
                    HostOutput::Notification(bytes) => {
                        self.driver
                            .receive(ChannelId::Global, PacketKind::InBand, 0, &bytes)
                    }
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Submits a request, pumps, and returns its result (`None` if it has not completed).
    pub fn try_call(
        &mut self,
        process: ProcessId,
        request: Request,
    ) -> Option<Result<Reply, NtStatus>> {
        let ticket = self.driver.submit(process, request);
        self.pump();
        self.completions.remove(&ticket)
    }

    /// First guest-physical address of the guest RAM after the IO space.
    pub fn guest_ram_base(&self) -> u64 {
        IO_SPACE_BASE + (u64::from(self.host.mmio_megabytes) << 20)
    }

    /// Like [`Loopback::try_call`] but treats "not completed" as an UNSUCCESSFUL status.
    pub fn call(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus> {
        self.try_call(process, request)
            .unwrap_or(Err(NtStatus::UNSUCCESSFUL))
    }
}
