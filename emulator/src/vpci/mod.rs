//! The emulated virtual PCI host (the "PCI pass-through VSP"), sans-I/O (vpci.md §10).
//!
//! One bus (one vPCI channel) with one BAR-less function at slot 0: the GPU-PV function, or
//! a stand-in for another device (a NIC VF) when the host has several buses. [`VpciHost::receive`] takes the
//! guest's packets from the vPCI channel and queues [`HostPacket`]s (completions and
//! unsolicited messages) for [`VpciHost::poll_output`]; [`VpciHost::service_channel`] does
//! both over a VMBus [`HostChannel`]'s rings. Once the guest announced its config window in
//! BUS_D0ENTRY, [`VpciHost::mmio_read`] / [`VpciHost::mmio_write`] serve the trapped accesses:
//! page 0 offset 0 is the function-select register, page 1 the selected function's config
//! space. [`VpciHost::eject`] starts a host-initiated hot remove. `VpciHost` implements
//! [`crate::services::VirtualPciService`], so `HostServices::attach_virtual_pci` takes it as is.
//!
//!
//! BUS_D0ENTRY's config window is refused with STATUS_INVALID_PARAMETER when Hyper-V could not
//! trap it ([`check_config_window`]): unaligned, wrapping, overlapping guest RAM, or (once the
//! host is told the VMBus MMIO gaps) outside them. OpenVMM's vPCI device maps whatever
//! `mmio_start` it gets (microsoft/openvmm `vm/devices/pci/vpci/src/device.rs`, `FdoD0Entry`)
//! and Hyper-V's status for a bad window is not public, so the status is our choice.
//!
//! The wire bytes are built here by hand from the reference, independently of the guest's
//! `drivers::vpci::wire`, so the two implementations check each other in the loopback tests.

// Guest commands reach this module: nothing here may panic on what the guest sends.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod function;
mod service;

pub use function::{
    BASE_CLASS_DISPLAY, BASE_CLASS_NETWORK, PCI_DEVICE_CONNECTX4_LX_VF, PCI_VENDOR_MELLANOX,
    SUB_CLASS_3D, SUB_CLASS_ETHERNET, VpciFunction,
};

use crate::vmbus_server::HostChannel;
use hyperv::memory::GuestMemory;
use hyperv::mmio::{MmioGaps, MmioRange};
use std::collections::VecDeque;
use vmbus::ring::{OutgoingPacket, PacketType, RingError};

/// Message types (0x42490000 + n).
pub mod message {
    /// Host → guest function list, v1 descriptions.
    pub const BUS_RELATIONS: u32 = 0x4249_0000;
    /// Guest → host: send the function list.
    pub const QUERY_BUS_RELATIONS: u32 = 0x4249_0001;
    /// Guest → host: BAR probe masks.
    pub const QUERY_RESOURCE_REQUIREMENTS: u32 = 0x4249_0005;
    /// Guest → host: bus on; window base.
    pub const BUS_D0ENTRY: u32 = 0x4249_0007;
    /// Guest → host: bus off.
    pub const BUS_D0EXIT: u32 = 0x4249_0008;
    /// Host → guest: release a function.
    pub const EJECT: u32 = 0x4249_000B;
    /// Guest → host: function released.
    pub const EJECTION_COMPLETE: u32 = 0x4249_000F;
    /// Guest → host: resources assigned (v1).
    pub const RESOURCES_ASSIGNED: u32 = 0x4249_0010;
    /// Guest → host: resources released.
    pub const RESOURCES_RELEASED: u32 = 0x4249_0011;
    /// Guest → host: version negotiation.
    pub const QUERY_PROTOCOL_VERSION: u32 = 0x4249_0013;
    /// Guest → host: resources assigned (v2).
    pub const RESOURCES_ASSIGNED2: u32 = 0x4249_0016;
    /// Host → guest function list, v2 descriptions.
    pub const BUS_RELATIONS2: u32 = 0x4249_0019;
    /// Guest → host: resources assigned (v3).
    pub const RESOURCES_ASSIGNED3: u32 = 0x4249_001A;
}

/// STATUS_REVISION_MISMATCH.
pub const STATUS_REVISION_MISMATCH: u32 = 0xC000_0059;
/// STATUS_BAD_DATA: malformed or unknown request, bad slot.
pub const STATUS_BAD_DATA: u32 = 0xC000_090B;
/// STATUS_INVALID_PARAMETER: BUS_D0ENTRY with an unusable window ([`check_config_window`]).
pub const STATUS_INVALID_PARAMETER: u32 = 0xC000_000D;

/// Protocol versions the host accepts (1.1 to 1.4).
pub const ACCEPTED_VERSIONS: [u32; 4] = [0x0001_0001, 0x0001_0002, 0x0001_0003, 0x0001_0004];
/// Version 1.3: from here on BUS_RELATIONS2 is sent.
const VERSION_1_3: u32 = 0x0001_0003;

/// Bytes of the config window.
pub const WINDOW_SIZE: u64 = 0x2000;
/// Offset of the config-space page in the window.
const CONFIG_PAGE: u64 = 0x1000;

/// Whether Hyper-V could trap an 8 KiB config window at `base`: not 0, 4 KiB aligned, not
/// wrapping, overlapping none of `guest_ram`, and inside one of `gaps` when they are known.
pub fn check_config_window(
    base: u64,
    guest_ram: &[MmioRange],
    gaps: Option<&MmioGaps>,
) -> Result<(), VpciHostError> {
    if base == 0 || !base.is_multiple_of(0x1000) || base.checked_add(WINDOW_SIZE).is_none() {
        return Err(VpciHostError::BadWindow(base));
    }
    let window = MmioRange::new(base, WINDOW_SIZE);
    if guest_ram.iter().any(|ram| ram.overlaps(&window)) {
        return Err(VpciHostError::WindowInRam(base));
    }
    match gaps {
        Some(gaps) if !gaps.contain(&window) => Err(VpciHostError::WindowOutsideGaps(base)),
        _ => Ok(()),
    }
}

/// A packet for the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPacket {
    /// In-band (unsolicited message) or completion.
    pub packet_type: PacketType,
    /// The request's id for completions; 0 for unsolicited messages.
    pub transaction_id: u64,
    /// The payload.
    pub payload: Vec<u8>,
}

impl HostPacket {
    /// The ring packet (payload at offset8 = 2, no completion requested).
    pub fn outgoing(&self) -> OutgoingPacket<'_> {
        if self.packet_type == PacketType::COMPLETION {
            OutgoingPacket::completion(self.transaction_id, &self.payload)
        } else {
            OutgoingPacket::in_band(self.transaction_id, false, &self.payload)
        }
    }
}

/// Where a host-initiated eject stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EjectState {
    /// No eject.
    None,
    /// EJECT sent; waiting for EJECTION_COMPLETE (the lead rescinds the channel after it, or
    /// after 60 s).
    Requested,
    /// The guest answered EJECTION_COMPLETE; the function is gone.
    Completed,
}

/// Something the guest did wrong (the packet was still answered as the reference says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpciHostError {
    /// Not an in-band packet.
    UnexpectedPacketType(u16),
    /// Shorter than the message's fixed part.
    Truncated {
        /// Message type (0 if even that was missing).
        message_type: u32,
        /// Bytes received.
        length: usize,
    },
    /// The first message was not QUERY_PROTOCOL_VERSION, or it came again after success.
    OutOfOrder(u32),
    /// A version the host does not speak.
    UnsupportedVersion(u32),
    /// A request for a slot other than 0 (or for an ejected function).
    BadSlot(u32),
    /// BUS_D0ENTRY with an unaligned, zero or wrapping window.
    BadWindow(u64),
    /// BUS_D0ENTRY with a window that overlaps guest RAM (nothing could trap it).
    WindowInRam(u64),
    /// BUS_D0ENTRY with a window outside the VMBus MMIO gaps.
    WindowOutsideGaps(u64),
    /// An unknown or unsupported message type.
    UnknownMessage(u32),
    /// A request that wants a completion came with transaction id 0.
    ZeroTransactionId(u32),
}

/// Counters for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VpciHostStatistics {
    /// Packets received.
    pub packets: u64,
    /// Of which rejected ([`VpciHostError`]).
    pub errors: u64,
    /// Trapped MMIO accesses served.
    pub mmio_accesses: u64,
    /// MMIO accesses inside the window that were malformed (answered as unhandled).
    pub bad_mmio_accesses: u64,
}

/// The emulated vPCI bus of one channel.
#[derive(Debug)]
pub struct VpciHost {
    function: VpciFunction,
    present: bool,
    guest_ram: Vec<MmioRange>,
    gaps: Option<MmioGaps>,
    version: Option<u32>,
    window: Option<u64>,
    selected_slot: u32,
    resources_assigned: bool,
    eject: EjectState,
    outputs: VecDeque<HostPacket>,
    errors: Vec<VpciHostError>,
    statistics: VpciHostStatistics,
}

impl VpciHost {
    /// A bus with `function` at slot 0.
    pub fn new(function: VpciFunction) -> Self {
        VpciHost {
            function,
            present: true,
            guest_ram: Vec::new(),
            gaps: None,
            version: None,
            window: None,
            selected_slot: 0,
            resources_assigned: false,
            eject: EjectState::None,
            outputs: VecDeque::new(),
            errors: Vec::new(),
            statistics: VpciHostStatistics::default(),
        }
    }

    /// Tells the bus where guest RAM is and, when known, the VMBus MMIO gaps: D0 entry then
    /// refuses windows [`check_config_window`] rejects. (Until called, only the window's own
    /// shape is checked.)
    pub fn set_address_map(&mut self, guest_ram: Vec<MmioRange>, gaps: Option<MmioGaps>) {
        self.guest_ram = guest_ram;
        self.gaps = gaps;
    }

    /// Forgets the bus state of the last channel open (version, window, resources, a pending
    /// eject, unsent packets); the function and the counters stay.
    pub fn reset_bus(&mut self) {
        self.version = None;
        self.window = None;
        self.selected_slot = 0;
        self.resources_assigned = false;
        self.eject = EjectState::None;
        self.outputs.clear();
    }

    /// The function (its config words record the guest's writes).
    pub fn function(&self) -> &VpciFunction {
        &self.function
    }

    /// The function, to change what it reports.
    pub fn function_mut(&mut self) -> &mut VpciFunction {
        &mut self.function
    }

    /// The negotiated version.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The config window's base while trapped (between D0 entry and D0 exit).
    pub fn window(&self) -> Option<u64> {
        self.window
    }

    /// Whether the guest sent RESOURCES_ASSIGNED (and not RESOURCES_RELEASED since).
    pub fn resources_assigned(&self) -> bool {
        self.resources_assigned
    }

    /// Where a host-initiated eject stands.
    pub fn eject_state(&self) -> EjectState {
        self.eject
    }

    /// The guest's protocol errors so far.
    pub fn errors(&self) -> &[VpciHostError] {
        &self.errors
    }

    /// Counters.
    pub fn statistics(&self) -> VpciHostStatistics {
        self.statistics
    }

    /// Takes the next packet for the guest.
    pub fn poll_output(&mut self) -> Option<HostPacket> {
        self.outputs.pop_front()
    }

    /// Hot remove: sends EJECT for slot 0. Returns `false` when the function is already gone
    /// or an eject is under way. When [`VpciHost::eject_state`] becomes
    /// [`EjectState::Completed`] (or after a timeout) the caller rescinds the channel.
    pub fn eject(&mut self) -> bool {
        if !self.present || self.eject != EjectState::None {
            return false;
        }
        self.eject = EjectState::Requested;
        self.send_message(slot_payload(message::EJECT, 0));
        true
    }

    /// Reads packets from the guest→host ring, handles them, and writes the answers to the
    /// host→guest ring. Answers that do not fit stay queued for the next call. Returns whether
    /// the guest must be signalled.
    pub fn service_channel<M: GuestMemory>(
        &mut self,
        channel: &mut HostChannel<M>,
    ) -> Result<bool, RingError> {
        let mut buffer = Vec::new();
        while let Some(packet) = channel.receiver.read_packet(&mut buffer)? {
            let payload = packet.payload(&buffer).to_vec();
            let _ = self.receive(
                packet.packet_type,
                packet.transaction_id,
                packet.completion_requested,
                &payload,
            );
        }
        let mut signal = channel.receiver.commit()?;
        while let Some(packet) = self.outputs.front() {
            match channel.sender.write_packet(&packet.outgoing()) {
                Ok(()) => {
                    self.outputs.pop_front();
                }
                Err(RingError::Full { needed }) => {
                    signal |= channel.sender.commit()?;
                    let _ = channel.sender.wait_for_space(needed)?;
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        signal |= channel.sender.commit()?;
        Ok(signal)
    }

    /// Handles one guest packet: its type, transaction id, completion flag and payload.
    /// Every request that asked for a completion gets one (BAD_DATA when it was bad); the
    /// error, if any, is also recorded in [`VpciHost::errors`].
    pub fn receive(
        &mut self,
        packet_type: PacketType,
        transaction_id: u64,
        completion_requested: bool,
        payload: &[u8],
    ) -> Result<(), VpciHostError> {
        self.statistics.packets = self.statistics.packets.saturating_add(1);
        let result = if packet_type != PacketType::DATA_IN_BAND {
            Err(VpciHostError::UnexpectedPacketType(packet_type.0))
        } else {
            self.request(transaction_id, completion_requested, payload)
        };
        if let Err(error) = result {
            log::debug!("vpci host: {error:?}");
            self.statistics.errors = self.statistics.errors.saturating_add(1);
            self.errors.push(error);
        }
        result
    }

    fn request(
        &mut self,
        transaction_id: u64,
        completion_requested: bool,
        payload: &[u8],
    ) -> Result<(), VpciHostError> {
        let Some(message_type) = read_u32(payload, 0) else {
            self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
            return Err(VpciHostError::Truncated {
                message_type: 0,
                length: payload.len(),
            });
        };
        if completion_requested && transaction_id == 0 {
            // Hyper-V sends no completion for id 0 (vmbus.md §5.4); answer nothing.
            return Err(VpciHostError::ZeroTransactionId(message_type));
        }
        let truncated = VpciHostError::Truncated {
            message_type,
            length: payload.len(),
        };
        if self.version.is_none() && message_type != message::QUERY_PROTOCOL_VERSION {
            self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
            return Err(VpciHostError::OutOfOrder(message_type));
        }
        match message_type {
            message::QUERY_PROTOCOL_VERSION => {
                if self.version.is_some() {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(VpciHostError::OutOfOrder(message_type));
                }
                let Some(version) = read_u32(payload, 4) else {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(truncated);
                };
                if ACCEPTED_VERSIONS.contains(&version) {
                    self.version = Some(version);
                    self.complete(transaction_id, status_payload(0));
                    Ok(())
                } else {
                    self.complete(transaction_id, status_payload(STATUS_REVISION_MISMATCH));
                    Err(VpciHostError::UnsupportedVersion(version))
                }
            }
            message::QUERY_BUS_RELATIONS => {
                self.send_relations();
                self.complete_if(completion_requested, transaction_id, 0);
                Ok(())
            }
            message::BUS_D0ENTRY => {
                let Some(base) = read_u64(payload, 8) else {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(truncated);
                };
                if let Err(error) = check_config_window(base, &self.guest_ram, self.gaps.as_ref()) {
                    self.complete_if(
                        completion_requested,
                        transaction_id,
                        STATUS_INVALID_PARAMETER,
                    );
                    return Err(error);
                }
                self.window = Some(base);
                self.send_relations();
                self.complete_if(completion_requested, transaction_id, 0);
                Ok(())
            }
            message::BUS_D0EXIT => {
                self.window = None;
                self.complete_if(completion_requested, transaction_id, 0);
                Ok(())
            }
            message::QUERY_RESOURCE_REQUIREMENTS => {
                let Some(slot) = read_u32(payload, 4) else {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(truncated);
                };
                if !self.is_function(slot) {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(VpciHostError::BadSlot(slot));
                }
                // Status 0 and six zero BAR masks.
                self.complete_if_with(completion_requested, transaction_id, vec![0; 28]);
                Ok(())
            }
            message::RESOURCES_ASSIGNED
            | message::RESOURCES_ASSIGNED2
            | message::RESOURCES_ASSIGNED3 => {
                let slot = read_u32(payload, 4);
                if payload.len() < 136 {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(truncated);
                }
                let slot = slot.unwrap_or(u32::MAX);
                if !self.is_function(slot) {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(VpciHostError::BadSlot(slot));
                }
                self.resources_assigned = true;
                // OpenVMM's full translate reply: status, slot, six zero translated
                // descriptors, MSI count 0, reserved 0 (136 bytes).
                let mut reply = vec![0; 136];
                if let Some(slot_field) = reply.get_mut(4..8) {
                    slot_field.copy_from_slice(&slot.to_le_bytes());
                }
                self.complete_if_with(completion_requested, transaction_id, reply);
                Ok(())
            }
            message::RESOURCES_RELEASED => {
                let Some(slot) = read_u32(payload, 4) else {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(truncated);
                };
                if slot != 0 {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(VpciHostError::BadSlot(slot));
                }
                self.resources_assigned = false;
                self.complete_if(completion_requested, transaction_id, 0);
                Ok(())
            }
            message::EJECTION_COMPLETE => {
                let Some(slot) = read_u32(payload, 4) else {
                    return Err(truncated);
                };
                if slot != 0 || self.eject != EjectState::Requested {
                    self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                    return Err(VpciHostError::BadSlot(slot));
                }
                self.eject = EjectState::Completed;
                self.present = false;
                self.resources_assigned = false;
                self.complete_if(completion_requested, transaction_id, 0);
                Ok(())
            }
            other => {
                self.complete_if(completion_requested, transaction_id, STATUS_BAD_DATA);
                Err(VpciHostError::UnknownMessage(other))
            }
        }
    }

    fn is_function(&self, slot: u32) -> bool {
        slot == 0 && self.present
    }

    /// BUS_RELATIONS2 (≥ 1.3) or BUS_RELATIONS, listing the function while present.
    fn send_relations(&mut self) {
        let v2 = self.version.is_some_and(|version| version >= VERSION_1_3);
        let kind = if v2 {
            message::BUS_RELATIONS2
        } else {
            message::BUS_RELATIONS
        };
        let mut payload = kind.to_le_bytes().to_vec();
        payload.extend_from_slice(&u32::from(self.present).to_le_bytes());
        if self.present {
            let function = &self.function;
            payload.extend_from_slice(&function.vendor_id.to_le_bytes());
            payload.extend_from_slice(&function.device_id.to_le_bytes());
            payload.extend_from_slice(&[
                function.revision,
                function.programming_interface,
                function.sub_class,
                function.base_class,
            ]);
            payload.extend_from_slice(&function.subsystem.to_le_bytes());
            payload.extend_from_slice(&0u32.to_le_bytes()); // slot 0
            payload.extend_from_slice(&function.serial_number.to_le_bytes());
            if v2 {
                payload.extend_from_slice(&[0; 8]); // flags 0, NUMA node 0, reserved
            }
        }
        self.send_message(payload);
    }

    fn send_message(&mut self, payload: Vec<u8>) {
        self.outputs.push_back(HostPacket {
            packet_type: PacketType::DATA_IN_BAND,
            transaction_id: 0,
            payload,
        });
    }

    fn complete(&mut self, transaction_id: u64, payload: Vec<u8>) {
        self.outputs.push_back(HostPacket {
            packet_type: PacketType::COMPLETION,
            transaction_id,
            payload,
        });
    }

    fn complete_if(&mut self, requested: bool, transaction_id: u64, status: u32) {
        self.complete_if_with(requested, transaction_id, status_payload(status));
    }

    fn complete_if_with(&mut self, requested: bool, transaction_id: u64, payload: Vec<u8>) {
        if requested && transaction_id != 0 {
            self.complete(transaction_id, payload);
        }
    }

    /// A trapped MMIO read at `gpa` of `size` bytes; `None` when `gpa` is not in the trapped
    /// window or the access is malformed (page-0 read, bad size, misaligned).
    pub fn mmio_read(&mut self, gpa: u64, size: u8) -> Option<u64> {
        let offset = self.config_offset(gpa, size)?;
        self.count_mmio_access();
        let all_ones = access_mask(size);
        if !self.is_function(self.selected_slot) {
            return Some(all_ones);
        }
        let dword = self.function.read_dword(offset & !3);
        // The byte lane: 0 ..= 3 bytes into the dword, so the shift is at most 24 bits.
        let shift = u32::from(offset & 3).saturating_mul(8);
        Some(u64::from(dword).checked_shr(shift).unwrap_or(0) & all_ones)
    }

    /// A trapped MMIO write; `false` when `gpa` is not in the trapped window or the access is
    /// malformed.
    pub fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> bool {
        let Some(window) = self.window else {
            return false;
        };
        if gpa == window && size == 4 {
            self.count_mmio_access();
            self.selected_slot = value as u32;
            return true;
        }
        let Some(offset) = self.config_offset(gpa, size) else {
            return false;
        };
        self.count_mmio_access();
        if self.is_function(self.selected_slot) {
            let mask = access_mask(size);
            self.function.write(offset, size, (value & mask) as u32);
        }
        true
    }

    /// The config-space offset of a page-1 access, or `None` (counted when inside the window).
    fn config_offset(&mut self, gpa: u64, size: u8) -> Option<u16> {
        let window = self.window?;
        let offset = gpa
            .checked_sub(window)
            .filter(|offset| *offset < WINDOW_SIZE)?;
        let valid = offset >= CONFIG_PAGE
            && matches!(size, 1 | 2 | 4)
            && offset.is_multiple_of(u64::from(size));
        if !valid {
            self.statistics.bad_mmio_accesses = self.statistics.bad_mmio_accesses.saturating_add(1);
            return None;
        }
        offset
            .checked_sub(CONFIG_PAGE)
            .map(|config_offset| config_offset as u16)
    }

    fn count_mmio_access(&mut self) {
        self.statistics.mmio_accesses = self.statistics.mmio_accesses.saturating_add(1);
    }
}

/// The value mask of a `size`-byte access (`config_offset` lets only 1, 2 and 4 through).
fn access_mask(size: u8) -> u64 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

fn status_payload(status: u32) -> Vec<u8> {
    status.to_le_bytes().to_vec()
}

fn slot_payload(message_type: u32, slot: u32) -> Vec<u8> {
    let mut payload = message_type.to_le_bytes().to_vec();
    payload.extend_from_slice(&slot.to_le_bytes());
    payload
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let bytes = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let bytes = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests;
