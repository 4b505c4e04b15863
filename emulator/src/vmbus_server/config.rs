//! What the emulated VMBus host offers, and how it misbehaves on purpose.

use hyperv::status::HvError;
use vmbus::guid::{Guid, class};
use vmbus::version::{MESSAGE_CONNECTION_ID, Version};

/// How the host drives a device's channel once it is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Echoes every in-band packet back (completion → completion with the same id).
    Echo,
    /// Nothing runs on the host side; the rings are available through
    /// [`super::Server::host_channel`] for another emulated device to drive by hand.
    Passive,
    /// A host device model serves the channel: [`super::Server::run_services`] hands its
    /// packets to a [`super::ChannelService`] and writes the model's replies back
    /// (see [`super::service`]).
    Service,
}

/// `mmio_megabytes` of the dxg global channel in [`ServerConfig::standard`]: the size of the
/// GPU-PV "IO space" the guest must reserve and announce with SETIOSPACEREGION.
///
/// On Hyper-V the guest carves this out of the VMBus MMIO range (guest-physical space that
/// is not RAM, backed by the host). Under QEMU nothing but RAM is shared with the emulator, so
/// the dxgos kernel allocates the IO space from its own RAM and the emulated vGPU reads and
/// writes it there; 16 MiB keeps that affordable for a 512 MiB guest.
pub const DXG_IO_SPACE_MEGABYTES: u16 = 16;

/// One offered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Device class.
    pub class: Guid,
    /// Device instance.
    pub instance: Guid,
    /// MMIO MiB the device asks for.
    pub mmio_megabytes: u16,
    /// Host-side behaviour.
    pub kind: DeviceKind,
}

/// Deliberate protocol faults, for tests of the client's error paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Misbehaviour {
    /// Versions answered with "not supported" even if otherwise acceptable.
    pub refuse_versions: Vec<Version>,
    /// INITIATE_CONTACT is never answered (a host that has gone silent): the guest's wait for
    /// VERSION_RESPONSE must end by its own time bound.
    pub silent: bool,
    /// Relids whose OPENCHANNEL is answered by rescinding the offer (and dropping the open).
    pub rescind_on_open: Vec<u32>,
    /// Answer every OPENCHANNEL with this failure status.
    pub open_status: Option<u32>,
    /// Answer every complete GPADL with this failure status.
    pub gpadl_status: Option<u32>,
    /// Corrupt this many of the next outgoing control messages (alternately: truncated to
    /// 3 bytes, unknown type 0x7F, OPENCHANNEL_RESULT/GPADL_CREATED for an unknown relid).
    pub corrupt_messages: u32,
    /// After a successful open, write a misaligned write index into the host→guest ring and
    /// signal the guest.
    pub corrupt_ring_on_open: bool,
    /// Send the first offer twice (same relid).
    pub duplicate_first_offer: bool,
    /// No connection id 4: the host does not listen on the ≥ 5.0 INITIATE_CONTACT connection
    /// (as a host without protocol 5.0), so HvPostMessage to it fails with
    /// INVALID_CONNECTION_ID and the guest must connect at 4.x on connection id 1.
    pub no_connection_id_4: bool,
    /// The guest's next this-many HvPostMessage calls fail with INSUFFICIENT_BUFFERS /
    /// INSUFFICIENT_MEMORY (alternately) — transient failures a guest retries. Applied by the
    /// SynIC model ([`crate::platform::PostFaults`]) when the services register with it; the
    /// server-only loopback does not see them.
    pub transient_post_failures: u32,
    /// After the transient ones, every HvPostMessage fails with this status (a permanent
    /// failure). Applied like `transient_post_failures`.
    pub permanent_post_failure: Option<HvError>,
    /// Host answers never sent, or sent late (issue 14's host faults; see
    /// [`super::AnswerFault`]). Applied by the server to the control messages it sends and to
    /// the dxg channels' completions.
    pub answer_faults: Vec<super::AnswerFault>,
}

/// What one vPCI bus (one offer of class `VIRTUAL_PCI`) carries, when run by
/// `HostServices`: one function at slot 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpciBus {
    /// The GPU-PV function of vGPU `i` (its config words name vGPU `i`'s channel).
    GpuPv(usize),
    /// A NIC virtual function (Mellanox 15B3:1016): a device the guest must leave alone.
    NetworkVf,
}

/// The host's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Highest version accepted; below 5.0 connection id 4 is not registered (posts to it fail
    /// with INVALID_CONNECTION_ID, as on a host without protocol 5.0).
    pub max_version: Version,
    /// Lowest version accepted.
    pub min_version: Version,
    /// Connection id returned in VERSION_RESPONSE for ≥ 5.0.
    pub message_connection_id: u32,
    /// Offered devices, in relid order from 1.
    pub devices: Vec<DeviceConfig>,
    /// Faults to inject.
    pub misbehaviour: Misbehaviour,
    /// What each vPCI offer carries, in offer order (a vPCI offer beyond the list stays
    /// passive).
    pub vpci_buses: Vec<VpciBus>,
}

/// Instance GUID of the `index`th device of a class: a readable pattern whose first 8 bytes
/// (the dxg adapter LUID) differ per device.
pub fn instance_guid(class_tag: u8, index: u8) -> Guid {
    Guid {
        bytes: [
            index + 1,
            class_tag,
            0,
            0,
            0,
            0,
            0,
            0,
            0xD0,
            0x5E,
            0,
            0,
            0,
            0,
            class_tag,
            index,
        ],
    }
}

/// A device class nobody claims (exercises unclaimed offers).
pub const UNCLAIMED_CLASS: Guid = Guid::from_fields(
    0x0badc1a5,
    0x0000,
    0x4000,
    [0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
);

impl ServerConfig {
    /// The standard test host: the dxg global channel (asking for
    /// [`DXG_IO_SPACE_MEGABYTES`] of IO space), `virtual_gpus` vGPU channels (both served by
    /// a device model when run by `HostServices`), a vPCI bus, an unclaimed device and an echo
    /// device; versions up to 5.3. Relids follow this order from 1.
    pub fn standard(virtual_gpus: u8) -> Self {
        let mut devices = vec![DeviceConfig {
            class: class::DXG_GLOBAL,
            instance: instance_guid(1, 0),
            mmio_megabytes: DXG_IO_SPACE_MEGABYTES,
            kind: DeviceKind::Service,
        }];
        for index in 0..virtual_gpus {
            devices.push(DeviceConfig {
                class: class::DXG_VIRTUAL_GPU,
                instance: instance_guid(2, index),
                mmio_megabytes: 0,
                kind: DeviceKind::Service,
            });
        }
        devices.push(DeviceConfig {
            class: class::VIRTUAL_PCI,
            instance: instance_guid(3, 0),
            mmio_megabytes: 0,
            kind: DeviceKind::Passive,
        });
        devices.push(DeviceConfig {
            class: UNCLAIMED_CLASS,
            instance: instance_guid(4, 0),
            mmio_megabytes: 0,
            kind: DeviceKind::Passive,
        });
        devices.push(DeviceConfig {
            class: class::DXGOS_ECHO,
            instance: instance_guid(5, 0),
            mmio_megabytes: 0,
            kind: DeviceKind::Echo,
        });
        ServerConfig {
            max_version: Version::WIN10_V5_3,
            min_version: Version::WIN8,
            message_connection_id: MESSAGE_CONNECTION_ID,
            devices,
            misbehaviour: Misbehaviour::default(),
            vpci_buses: vec![VpciBus::GpuPv(0)],
        }
    }

    /// Adds the integration services Hyper-V offers every VM (heartbeat, shutdown, time sync,
    /// key-value exchange; Hyper-V's interface GUIDs), after the other devices so their relids
    /// do not change. `HostServices` drives them (`crate::integration`).
    pub fn with_integration_services(mut self) -> Self {
        for (index, service) in crate::integration::IcService::ALL.into_iter().enumerate() {
            self.devices.push(DeviceConfig {
                class: service.class(),
                instance: instance_guid(6, index as u8),
                mmio_megabytes: 0,
                kind: DeviceKind::Service,
            });
        }
        self
    }

    /// Several vPCI buses with the GPU's not first, as on a VM with accelerated networking: a
    /// vPCI bus carrying a NIC VF is offered just before the GPU's bus (each bus has its own
    /// instance GUID; the relids of the GPU's bus and of every later device grow by one).
    pub fn with_network_bus_first(mut self) -> Self {
        let Some(gpu_bus) = self
            .devices
            .iter()
            .position(|device| device.class == class::VIRTUAL_PCI)
        else {
            return self;
        };
        self.devices.insert(
            gpu_bus,
            DeviceConfig {
                class: class::VIRTUAL_PCI,
                // Bytes 4 and 5 (a Linux guest's PCI domain) differ from the GPU bus's too.
                instance: Guid {
                    bytes: [
                        0x11, 0x3C, 0, 0, 0x4E, 0x1C, 0, 0, 0xD0, 0x5E, 0, 0, 0, 0, 3, 0x80,
                    ],
                },
                mmio_megabytes: 0,
                kind: DeviceKind::Passive,
            },
        );
        let first_vpci = self.devices[..gpu_bus]
            .iter()
            .filter(|device| device.class == class::VIRTUAL_PCI)
            .count();
        self.vpci_buses.insert(first_vpci, VpciBus::NetworkVf);
        self
    }
}
