//! In-process integration: the guest's vPCI client (`drivers::vpci`) against the emulated
//! vPCI host (`emulator::vpci`), packets and MMIO accesses handed across directly, plus one
//! run over real VMBus rings of the emulated VMBus server.
//!
//! The emulator crate has no dependency on `drivers`, so the client's source is compiled into
//! this test crate with `#[path]` (it only uses `hyperv`, `vmbus`, `dxg`, `zerocopy` and `log`,
//! which the emulator has too). With `drivers` as a dev-dependency this becomes
//! `use drivers::vpci;`.

extern crate alloc;

#[path = "../../drivers/src/vpci/mod.rs"]
#[allow(dead_code, unused_imports)]
mod vpci;

use dxg::core::{Driver, DriverConfig};
use dxg::wire::{Guid, Luid, PCI_DEVICE_VIRTUAL_RENDER};
use emulator::vgpu::VgpuPciConfig;
use emulator::vmbus_server::ServerConfig;
use emulator::vmbus_server::loopback::Loopback;
use emulator::vpci::{EjectState, HostPacket, VpciFunction, VpciHost};
use hyperv::platform::{MmioAccess, PlatformError};
use vmbus::client::{ClientConfig, ClientEvent};
use vmbus::guid::class;
use vmbus::ring::PacketType;
use vpci::{
    Action, ConfigError, ConfigWindow, FunctionInfo, Phase, SlotNumber, VpciClient, VpciError,
};

const WINDOW: u64 = 0x0000_0010_0000_0000;

fn config() -> VgpuPciConfig {
    let mut guid = [0u8; 16];
    guid[..8].copy_from_slice(&0x0123_4567_89AB_CDEFu64.to_le_bytes());
    guid[8..].copy_from_slice(&[0x8A, 0x3C, 0x11, 0x4D, 0xD0, 0x65, 0x70, 0x75]);
    VgpuPciConfig::new(
        Guid::from_bytes(guid),
        Luid::from_u64(0x0000_0001_0000_ABCD),
    )
}

type Intercept = Box<dyn FnMut(&mut HostPacket) -> bool>;
/// Answers a client message in the host's place: `Some(completion payload)`.
type GuestIntercept = Box<dyn FnMut(&vpci::OutboundMessage) -> Option<Vec<u8>>>;

/// Client and host with packets handed across directly (payloads padded to 8 bytes, as the
/// ring delivers them).
struct Pair {
    client: VpciClient,
    host: VpciHost,
    events: Vec<Action>,
    client_errors: Vec<VpciError>,
    intercept: Option<Intercept>,
    guest_intercept: Option<GuestIntercept>,
}

fn padded(payload: &[u8]) -> Vec<u8> {
    let mut bytes = payload.to_vec();
    bytes.resize(payload.len().next_multiple_of(8), 0);
    bytes
}

impl Pair {
    fn new() -> Self {
        Pair {
            client: VpciClient::new(WINDOW).unwrap(),
            host: VpciHost::new(VpciFunction::gpu_pv(config(), 0x1234_5678)),
            events: Vec::new(),
            client_errors: Vec::new(),
            intercept: None,
            guest_intercept: None,
        }
    }

    /// Moves packets both ways until both sides are quiet.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(action) = self.client.poll_action() {
                moved = true;
                match action {
                    Action::Send(message) => {
                        if let Some(intercept) = &mut self.guest_intercept
                            && let Some(reply) = intercept(&message)
                        {
                            let result = self.client.receive(
                                PacketType::COMPLETION,
                                message.transaction_id,
                                &padded(&reply),
                            );
                            if let Err(error) = result {
                                self.client_errors.push(error);
                            }
                            continue;
                        }
                        let _ = self.host.receive(
                            PacketType::DATA_IN_BAND,
                            message.transaction_id,
                            message.completion_requested,
                            &padded(&message.payload),
                        );
                    }
                    other => self.events.push(other),
                }
            }
            while let Some(mut packet) = self.host.poll_output() {
                moved = true;
                if let Some(intercept) = &mut self.intercept
                    && !intercept(&mut packet)
                {
                    continue;
                }
                if let Err(error) = self.client.receive(
                    packet.packet_type,
                    packet.transaction_id,
                    &padded(&packet.payload),
                ) {
                    self.client_errors.push(error);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn arrived(&self) -> Vec<FunctionInfo> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Action::FunctionArrived(info) => Some(*info),
                _ => None,
            })
            .collect()
    }
}

/// MMIO handed straight to the host model (what `HostEventHandler::mmio_read/write` will do).
struct HostMmio<'a>(&'a mut VpciHost);

impl MmioAccess for HostMmio<'_> {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        self.0
            .mmio_read(gpa, size)
            .ok_or(PlatformError::UnhandledMmio { gpa })
    }
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        if self.0.mmio_write(gpa, size, value) {
            Ok(())
        } else {
            Err(PlatformError::UnhandledMmio { gpa })
        }
    }
}

fn brought_up() -> Pair {
    let mut pair = Pair::new();
    pair.client.start();
    pair.pump();
    assert_eq!(pair.client_errors, vec![]);
    assert_eq!(pair.arrived().len(), 1);
    pair
}

#[test]
fn bring_up_and_dxg_probe_through_the_window() {
    let mut pair = brought_up();
    assert_eq!(pair.client.phase(), Phase::Running);
    assert_eq!(pair.client.version(), Some(vpci::ProtocolVersion::V1_4));
    let info = pair.arrived()[0];
    assert_eq!(info.slot, SlotNumber(0));
    assert_eq!((info.vendor_id, info.device_id), (0x1414, 0x008E));
    assert_eq!((info.base_class, info.sub_class), (0x03, 0x02));
    assert_eq!(info.serial_number, 0x1234_5678);
    assert_eq!(pair.host.window(), Some(WINDOW));
    assert!(pair.host.resources_assigned());
    assert!(pair.host.errors().is_empty());

    // Config words 0xC0..0xDF through the window match the vGPU's.
    let expected = config().words();
    let mut window = ConfigWindow::new(HostMmio(&mut pair.host), WINDOW).unwrap();
    let words: Vec<u32> = (0..8)
        .map(|index| window.read_u32(info.slot, 0xC0 + 4 * index).unwrap())
        .collect();
    assert_eq!(words, expected);
    // The ids through the window equal the description.
    assert_eq!(window.read_u32(info.slot, 0).unwrap(), 0x008E_1414);

    // The dxg core's probe through the adapter: version 40 negotiated, guest caps written.
    let mut driver = Driver::new(DriverConfig::default());
    driver
        .probe_pci_function(
            u32::from(info.slot.0 as u8),
            PCI_DEVICE_VIRTUAL_RENDER,
            &mut window.function(info.slot),
        )
        .unwrap();
    assert_eq!(pair.host.function().config.guest_version, 40);
    assert_eq!(pair.host.function().config.guest_caps, 1);
}

#[test]
fn host_initiated_eject() {
    let mut pair = brought_up();
    assert!(pair.host.eject());
    pair.pump();
    assert_eq!(
        pair.events.last(),
        Some(&Action::FunctionRemoved {
            slot: SlotNumber(0)
        })
    );
    assert_eq!(pair.host.eject_state(), EjectState::Completed);
    assert_eq!(pair.client.functions().count(), 0);
    assert!(pair.host.errors().is_empty());
    // The function reads as gone: vendor id 0xFFFF, which the window reports as absent.
    let mut window = ConfigWindow::new(HostMmio(&mut pair.host), WINDOW).unwrap();
    assert_eq!(
        window.read_u32(SlotNumber(0), 0),
        Err(ConfigError::FunctionAbsent(0))
    );
}

#[test]
fn shutdown_stops_the_trapping() {
    let mut pair = brought_up();
    pair.client.shutdown().unwrap();
    pair.pump();
    assert_eq!(pair.events.last(), Some(&Action::Stopped));
    assert_eq!(pair.host.window(), None);
    assert!(!pair.host.resources_assigned());
    assert!(pair.host.errors().is_empty());
    let mut window = ConfigWindow::new(HostMmio(&mut pair.host), WINDOW).unwrap();
    assert!(window.read_u32(SlotNumber(0), 0xC0).is_err());
}

#[test]
fn version_walk_against_a_host_that_only_knows_1_1() {
    let mut pair = Pair::new();
    // Answer every version request above 1.1 with REVISION_MISMATCH before the host sees it.
    let mut offered = Vec::new();
    pair.guest_intercept = Some(Box::new(move |message: &vpci::OutboundMessage| {
        let payload = &message.payload;
        if payload[..4] == [0x13, 0x00, 0x49, 0x42] {
            offered.push(payload[4..8].to_vec());
            if payload[4..8] != [0x01, 0x00, 0x01, 0x00] {
                return Some(0xC000_0059u32.to_le_bytes().to_vec());
            }
        }
        None
    }));
    pair.client.start();
    pair.pump();
    assert_eq!(pair.client_errors, vec![]);
    assert_eq!(pair.client.version(), Some(vpci::ProtocolVersion::V1_1));
    assert_eq!(pair.host.version(), Some(0x0001_0001));
    // v1 relations and v1 RESOURCES_ASSIGNED (148 bytes) work end to end.
    assert_eq!(pair.arrived().len(), 1);
    assert_eq!(pair.arrived()[0].numa_node, None);
    assert!(pair.host.resources_assigned());
    assert!(pair.host.errors().is_empty());
}

#[test]
fn hostile_host_relations_with_absurd_count_are_dropped() {
    let mut pair = Pair::new();
    pair.intercept = Some(Box::new(|packet: &mut HostPacket| {
        if packet.packet_type == PacketType::DATA_IN_BAND {
            packet.payload[4..8].copy_from_slice(&0x4000_0000u32.to_le_bytes());
        }
        true
    }));
    pair.client.start();
    pair.pump();
    assert!(
        pair.client_errors
            .iter()
            .all(|error| matches!(error, VpciError::TooManyFunctions { count: 0x4000_0000 }))
    );
    assert!(!pair.client_errors.is_empty());
    assert_eq!(pair.client.phase(), Phase::Discovering);
    assert!(pair.arrived().is_empty());
    // The real list still works once the host behaves.
    pair.intercept = None;
    pair.client_errors.clear();
    let list = {
        let mut host = VpciHost::new(VpciFunction::gpu_pv(config(), 0x1234_5678));
        host.receive(
            PacketType::DATA_IN_BAND,
            1,
            true,
            &[0x13, 0, 0x49, 0x42, 4, 0, 1, 0],
        )
        .unwrap();
        host.receive(PacketType::DATA_IN_BAND, 0, false, &[1, 0, 0x49, 0x42])
            .unwrap();
        host.poll_output();
        host.poll_output().unwrap()
    };
    pair.client
        .receive(list.packet_type, 0, &padded(&list.payload))
        .unwrap();
    pair.pump();
    assert_eq!(pair.arrived().len(), 1);
}

#[test]
fn hostile_host_d0_failure_and_truncated_completions() {
    // D0 entry refused (framebuffer overlap on Hyper-V).
    let mut pair = Pair::new();
    pair.intercept = Some(Box::new(|packet: &mut HostPacket| {
        if packet.packet_type == PacketType::COMPLETION && packet.transaction_id == 3 {
            packet.payload = 0xC000_0001u32.to_le_bytes().to_vec();
        }
        true
    }));
    pair.client.start();
    pair.pump();
    assert_eq!(pair.client.phase(), Phase::Failed);
    assert_eq!(
        pair.events.last(),
        Some(&Action::Failed(VpciError::D0EntryFailed {
            status: 0xC000_0001
        }))
    );

    // Every completion emptied (a 16-byte packet, descriptor only): the client errors and
    // waits, never panics. (Cutting to 2 bytes would not do: VMBus pads to 8 with zeros, which
    // reads as STATUS_SUCCESS.)
    let mut pair = Pair::new();
    pair.intercept = Some(Box::new(|packet: &mut HostPacket| {
        if packet.packet_type == PacketType::COMPLETION {
            packet.payload.clear();
        }
        true
    }));
    pair.client.start();
    pair.pump();
    assert!(matches!(
        pair.client_errors[..],
        [VpciError::Truncated { .. }]
    ));
    assert_eq!(pair.client.phase(), Phase::Negotiating);

    // Completions with ids the client never used.
    let mut pair = Pair::new();
    pair.intercept = Some(Box::new(|packet: &mut HostPacket| {
        packet.transaction_id += 100;
        true
    }));
    pair.client.start();
    pair.pump();
    assert_eq!(pair.client_errors, vec![VpciError::UnknownTransaction(101)]);
}

#[test]
fn over_vmbus_rings_of_the_emulated_server() {
    let mut vmbus = Loopback::new(ServerConfig::standard(1), ClientConfig::default(), 16 << 20);
    let events = vmbus.connect();
    let relid = events
        .iter()
        .find_map(|(_, event)| match event {
            ClientEvent::OfferArrived(offer) if offer.class == class::VIRTUAL_PCI => {
                Some(offer.relid)
            }
            _ => None,
        })
        .unwrap();
    // 4 KiB control page + 16 KiB each way (Linux's older size).
    let mut channel = vmbus.open_channel(relid, 5).unwrap();
    let mut client = VpciClient::new(WINDOW).unwrap();
    let mut host = VpciHost::new(VpciFunction::gpu_pv(config(), 7));
    client.start();
    let mut arrived = Vec::new();
    let mut buffer = Vec::new();
    for _ in 0..20 {
        while let Some(action) = client.poll_action() {
            match action {
                Action::Send(message) => {
                    channel.rings.sender.send(&message.packet()).unwrap();
                }
                Action::FunctionArrived(info) => arrived.push(info),
                other => panic!("{other:?}"),
            }
        }
        host.service_channel(vmbus.server.host_channel(relid).unwrap())
            .unwrap();
        while let Some(packet) = channel.rings.receiver.read_packet(&mut buffer).unwrap() {
            assert_eq!(packet.payload_offset, 16);
            client.receive_packet(&packet, &buffer).unwrap();
        }
        channel.rings.receiver.commit().unwrap();
    }
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0].serial_number, 7);
    assert_eq!(host.window(), Some(WINDOW));
    assert!(host.errors().is_empty());
}

/// Issue 14: the vPCI driver restarts by closing its channel and opening it again. The host
/// starts its protocol over on the close (`reset_bus`, as the services call it), the client
/// with `restart`: the bus comes up again, bus relations included, and what the old instance
/// still had in flight is refused.
#[test]
fn a_reopened_channel_brings_the_bus_up_again() {
    let mut pair = brought_up();
    // The old instance's last completion is held back, as if still in the ring at the close.
    pair.client.shutdown().unwrap();
    let stale: Vec<HostPacket> = {
        let mut packets = Vec::new();
        while let Some(action) = pair.client.poll_action() {
            if let Action::Send(message) = action {
                let _ = pair.host.receive(
                    PacketType::DATA_IN_BAND,
                    message.transaction_id,
                    message.completion_requested,
                    &padded(&message.payload),
                );
            }
        }
        while let Some(packet) = pair.host.poll_output() {
            packets.push(packet);
        }
        packets
    };
    assert!(!stale.is_empty(), "the D0 exit's completion");
    // CLOSECHANNEL, then OPENCHANNEL on the same offer.
    pair.host.reset_bus();
    pair.client.restart();
    pair.events.clear();
    pair.client.start();
    pair.pump();
    for packet in &stale {
        let result = pair.client.receive(
            packet.packet_type,
            packet.transaction_id,
            &padded(&packet.payload),
        );
        assert!(
            matches!(result, Err(VpciError::UnknownTransaction(_))),
            "stale: {result:?}"
        );
    }
    assert_eq!(pair.client_errors, vec![]);
    assert_eq!(pair.client.phase(), Phase::Running);
    assert_eq!(
        pair.arrived().len(),
        1,
        "bus relations and the function again"
    );
    assert_eq!(pair.host.window(), Some(WINDOW));
    assert!(pair.host.resources_assigned());
    assert!(pair.host.errors().is_empty());
}
