//! Every vPCI bus of the VM: one [`VpciClient`] per vPCI channel, sans-I/O.
//!
//! Each vPCI channel is a PCI bus of its own (Linux runs `hv_pci_probe` once per channel,
//! torvalds/linux `drivers/pci/controller/pci-hyperv.c`), with its own config window and PCI
//! domain. A VM with a NIC VF, an assigned device or several GPU partitions has several, in
//! any offer order. [`VpciBuses`] keeps them apart by relid: the glue adds a bus with the
//! window it reserved ([`VpciBuses::add_bus`]), feeds each channel's events and packets, and
//! carries out the [`BusesAction`]s. A bus that fails (its channel does not open, version
//! negotiation or BUS_D0ENTRY is refused) is closed and dropped; the others go on.
//!
//! Which functions are handed on: those Linux's dxgkrnl PCI driver binds, vendor 0x1414 with
//! device 0x008E (virtual render) or 0x008A (compute accelerator), on whichever bus
//! (microsoft/WSL2-Linux-Kernel `drivers/hv/dxgkrnl/dxgmodule.c`, `dxg_pci_id_table`).
//! Anything else (a NIC VF, say) is left alone. The dxg core then pairs each function with its
//! vGPU channel through the channel instance GUID in the function's config space (offset
//! 0xC0; `dxg_pci_probe_device`), so bus order does not matter.

// vPCI messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::client::{Action, FunctionInfo, OutboundMessage, Phase, VpciClient};
use super::domain::{FunctionAddress, PciDomains};
use super::error::VpciError;
use super::wire::SlotNumber;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use dxg::wire::{PCI_DEVICE_COMPUTE_ACCELERATOR, PCI_DEVICE_VIRTUAL_RENDER, PCI_VENDOR_MICROSOFT};
use vmbus::guid::Guid;
use vmbus::ring::IncomingPacket;

/// Whether Linux's dxgkrnl would bind `function` (see the module docs).
pub fn is_gpu_pv(function: &FunctionInfo) -> bool {
    function.vendor_id == PCI_VENDOR_MICROSOFT
        && matches!(
            function.device_id,
            PCI_DEVICE_VIRTUAL_RENDER | PCI_DEVICE_COMPUTE_ACCELERATOR
        )
}

/// Why a bus could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddBusError {
    /// A bus with this relid is already known.
    Duplicate(u32),
    /// Every PCI domain number is taken.
    NoDomain,
    /// The window is not usable ([`VpciClient::new`]).
    Client(VpciError),
}

impl core::fmt::Display for AddBusError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AddBusError::Duplicate(relid) => write!(f, "bus of relid {relid} already known"),
            AddBusError::NoDomain => f.write_str("no PCI domain number left"),
            AddBusError::Client(error) => write!(f, "{error}"),
        }
    }
}

/// A GPU-PV function that is ready: what the dxg core probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuFunction {
    /// Its bus's channel.
    pub relid: u32,
    /// Its bus-qualified address; `address.as_u32()` is its id for the dxg core.
    pub address: FunctionAddress,
    /// Its bus's config window (reach its config space with `ConfigWindow::new(.., window)`).
    pub window: u64,
    /// Its description.
    pub info: FunctionInfo,
}

/// Something for the glue to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusesAction {
    /// Open channel `relid` (a bus was added); answer with [`VpciBuses::opened`].
    Open {
        /// The channel.
        relid: u32,
    },
    /// Write this packet to channel `relid`'s outbound ring (and signal the host).
    Send {
        /// The channel.
        relid: u32,
        /// The message.
        message: OutboundMessage,
    },
    /// The host completed a bus's BUS_D0ENTRY: the boot report's `config window` line.
    D0EntryCompleted {
        /// The channel.
        relid: u32,
        /// The channel's instance GUID (the bus's name in the report).
        instance: Guid,
        /// The config window announced.
        window: u64,
        /// The completion's NTSTATUS (0: success; otherwise the bus is closed).
        status: u32,
    },
    /// A GPU-PV function is ready; hand it to the dxg core.
    GpuFunctionArrived(GpuFunction),
    /// A function handed on earlier is gone.
    GpuFunctionRemoved {
        /// The channel.
        relid: u32,
        /// Its address.
        address: FunctionAddress,
    },
    /// Close channel `relid` (the bus failed, was rescinded or shut down); answer with
    /// [`VpciBuses::closed`].
    Close {
        /// The channel.
        relid: u32,
    },
    /// The bus of `relid` is gone (its channel closed, or it never opened): return its config
    /// window to the MMIO pool.
    Removed {
        /// The channel.
        relid: u32,
        /// The window to free.
        window: u64,
    },
}

struct Bus {
    instance: Guid,
    domain: u16,
    window: u64,
    client: VpciClient,
    /// Slots of the GPU-PV functions handed on.
    gpu_slots: BTreeSet<SlotNumber>,
    d0_reported: bool,
    stopped: bool,
    closing: bool,
    /// When the bring-up (version, relations, D0 entry) started, while it has not reached
    /// `Running` (the glue's clock; see [`VpciBuses::bring_up_started`]).
    bring_up_since: Option<u64>,
}

/// The vPCI buses, by relid.
#[derive(Default)]
pub struct VpciBuses {
    buses: BTreeMap<u32, Bus>,
    domains: PciDomains,
    actions: VecDeque<BusesAction>,
}

impl VpciBuses {
    /// No bus yet.
    pub fn new() -> Self {
        VpciBuses::default()
    }

    /// Adds the bus of vPCI channel `relid` (instance `instance`) with its config window at
    /// `window` (8 KiB, page-aligned, reserved by the glue), and asks for the channel to be
    /// opened. On an error nothing is kept; the window stays the caller's.
    pub fn add_bus(&mut self, relid: u32, instance: Guid, window: u64) -> Result<(), AddBusError> {
        if self.buses.contains_key(&relid) {
            return Err(AddBusError::Duplicate(relid));
        }
        let client = VpciClient::new(window).map_err(AddBusError::Client)?;
        let domain = self
            .domains
            .allocate(&instance.bytes)
            .ok_or(AddBusError::NoDomain)?;
        self.buses.insert(
            relid,
            Bus {
                instance,
                domain,
                window,
                client,
                gpu_slots: BTreeSet::new(),
                d0_reported: false,
                stopped: false,
                closing: false,
                bring_up_since: None,
            },
        );
        self.actions.push_back(BusesAction::Open { relid });
        Ok(())
    }

    /// The glue opened `relid`'s channel at `now` (its clock, any unit): the host's answers
    /// to the bring-up (protocol version, bus relations, D0 entry) are timed from here, and
    /// [`VpciBuses::end_late_bring_ups`] gives the bus up if it is not running in time.
    pub fn bring_up_started(&mut self, relid: u32, now: u64) {
        if let Some(bus) = self.buses.get_mut(&relid) {
            bus.bring_up_since = Some(now);
        }
    }

    /// When the earliest bring-up passes `bound`, if one is running.
    pub fn next_bring_up_deadline(&mut self, bound: u64) -> Option<u64> {
        self.forget_finished_bring_ups();
        self.buses
            .values()
            .filter_map(|bus| bus.bring_up_since)
            .map(|start| start.saturating_add(bound))
            .min()
    }

    /// Closes every bus whose bring-up has lasted `bound` or more at `now` without reaching
    /// `Running` (the host did not answer a bring-up message); returns their relids. Their
    /// functions never appeared, so nothing else is affected.
    pub fn end_late_bring_ups(&mut self, now: u64, bound: u64) -> Vec<u32> {
        self.forget_finished_bring_ups();
        let late: Vec<u32> = self
            .buses
            .iter()
            .filter(|(_, bus)| {
                bus.bring_up_since
                    .is_some_and(|start| now.saturating_sub(start) >= bound)
            })
            .map(|(relid, _)| *relid)
            .collect();
        for relid in &late {
            if let Some(bus) = self.buses.get_mut(relid) {
                bus.bring_up_since = None;
                log::warn!(
                    "vpci: bus {} did not come up in time ({:?}); closed",
                    bus.instance,
                    bus.client.phase()
                );
            }
            self.close(*relid);
        }
        late
    }

    fn forget_finished_bring_ups(&mut self) {
        for bus in self.buses.values_mut() {
            if !matches!(
                bus.client.phase(),
                Phase::Created | Phase::Negotiating | Phase::Discovering
            ) || bus.closing
            {
                bus.bring_up_since = None;
            }
        }
    }

    /// Whether `relid` is one of the buses.
    pub fn contains(&self, relid: u32) -> bool {
        self.buses.contains_key(&relid)
    }

    /// Whether no bus is left.
    pub fn is_empty(&self) -> bool {
        self.buses.is_empty()
    }

    /// Whether every bus finished its D0 exit (or had nothing to power down).
    pub fn all_stopped(&self) -> bool {
        self.buses.values().all(|bus| bus.stopped)
    }

    /// The phase of `relid`'s client.
    pub fn phase(&self, relid: u32) -> Option<Phase> {
        self.buses.get(&relid).map(|bus| bus.client.phase())
    }

    /// The channel of `relid` opened (`true`: bring-up starts) or failed to (`false`: the bus
    /// is dropped).
    pub fn opened(&mut self, relid: u32, success: bool) {
        if success {
            if let Some(bus) = self.buses.get_mut(&relid) {
                bus.client.start();
            }
        } else {
            if let Some(bus) = self.buses.get(&relid) {
                log::warn!("vpci: the channel of bus {} did not open", bus.instance);
            }
            self.remove(relid);
        }
    }

    /// A packet read from `relid`'s inbound ring. Errors are the client's (logged there; a
    /// fatal one closes the bus).
    pub fn receive_packet(
        &mut self,
        relid: u32,
        packet: &IncomingPacket,
        buffer: &[u8],
    ) -> Result<(), VpciError> {
        match self.buses.get_mut(&relid) {
            Some(bus) => bus.client.receive_packet(packet, buffer),
            None => Ok(()),
        }
    }

    /// The host rescinded `relid`: its functions are gone, nothing more is sent, the channel
    /// is closed.
    pub fn rescinded(&mut self, relid: u32) {
        if let Some(bus) = self.buses.get_mut(&relid) {
            bus.client.rescinded();
            self.close(relid);
        }
    }

    /// The channel of `relid` is closed: the bus is dropped and its window returned.
    pub fn closed(&mut self, relid: u32) {
        self.remove(relid);
    }

    /// Powers every bus down (RESOURCES_RELEASED, BUS_D0EXIT); [`VpciBuses::all_stopped`]
    /// tells when the host has answered. The glue then closes the channels
    /// ([`VpciBuses::close_all`]).
    pub fn shutdown(&mut self) {
        for bus in self.buses.values_mut() {
            // A bus that is not running has nothing to power down.
            if bus.client.shutdown().is_err() {
                bus.stopped = true;
            }
        }
    }

    /// The host forgot every channel (VMBus UNLOAD): every bus is dropped and its window
    /// returned ([`BusesAction::Removed`]), since no close will ever be confirmed.
    pub fn forget_all(&mut self) {
        let relids: Vec<u32> = self.buses.keys().copied().collect();
        for relid in relids {
            self.remove(relid);
        }
    }

    /// Closes every channel.
    pub fn close_all(&mut self) {
        let relids: Vec<u32> = self.buses.keys().copied().collect();
        for relid in relids {
            self.close(relid);
        }
    }

    #[cfg(test)]
    #[allow(
        clippy::expect_used,
        reason = "test helper: the test names a bus it added"
    )]
    pub(super) fn buses_client_for_test(&mut self, relid: u32) -> &mut VpciClient {
        &mut self.buses.get_mut(&relid).expect("bus").client
    }

    /// Takes the next action.
    pub fn poll_action(&mut self) -> Option<BusesAction> {
        if self.actions.is_empty() {
            self.collect_client_actions();
        }
        self.actions.pop_front()
    }

    fn collect_client_actions(&mut self) {
        let relids: Vec<u32> = self.buses.keys().copied().collect();
        for relid in relids {
            let Some(bus) = self.buses.get_mut(&relid) else {
                continue;
            };
            let actions: Vec<Action> = core::iter::from_fn(|| bus.client.poll_action()).collect();
            if !bus.d0_reported
                && let Some(status) = bus.client.d0_status()
            {
                bus.d0_reported = true;
                self.actions.push_back(BusesAction::D0EntryCompleted {
                    relid,
                    instance: bus.instance,
                    window: bus.window,
                    status,
                });
            }
            for action in actions {
                self.client_action(relid, action);
            }
        }
    }

    fn client_action(&mut self, relid: u32, action: Action) {
        let Some(bus) = self.buses.get_mut(&relid) else {
            return;
        };
        let address = |slot| FunctionAddress {
            domain: bus.domain,
            slot,
        };
        match action {
            Action::Send(message) => self.actions.push_back(BusesAction::Send { relid, message }),
            Action::FunctionArrived(info) if is_gpu_pv(&info) => {
                bus.gpu_slots.insert(info.slot);
                let function = GpuFunction {
                    relid,
                    address: address(info.slot),
                    window: bus.window,
                    info,
                };
                self.actions
                    .push_back(BusesAction::GpuFunctionArrived(function));
            }
            Action::FunctionArrived(info) => log::debug!(
                "vpci: bus {}: function {:#x} ({:04x}:{:04x}, class {:02x}{:02x}) is not GPU-PV; ignored",
                bus.instance,
                info.slot.0,
                info.vendor_id,
                info.device_id,
                info.base_class,
                info.sub_class
            ),
            Action::FunctionRemoved { slot } => {
                if !bus.gpu_slots.remove(&slot) {
                    return;
                }
                let address = address(slot);
                self.actions
                    .push_back(BusesAction::GpuFunctionRemoved { relid, address });
            }
            Action::Stopped => bus.stopped = true,
            Action::Failed(error) => {
                log::warn!("vpci: bus {} failed: {error}; closing it", bus.instance);
                bus.stopped = true;
                self.close(relid);
            }
        }
    }

    fn close(&mut self, relid: u32) {
        if let Some(bus) = self.buses.get_mut(&relid)
            && !bus.closing
        {
            bus.closing = true;
            self.actions.push_back(BusesAction::Close { relid });
        }
    }

    fn remove(&mut self, relid: u32) {
        if let Some(bus) = self.buses.remove(&relid) {
            self.domains.release(bus.domain);
            self.actions.push_back(BusesAction::Removed {
                relid,
                window: bus.window,
            });
        }
    }
}
