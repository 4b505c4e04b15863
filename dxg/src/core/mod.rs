//! The dxg protocol state machine, sans-I/O.
//!
//! The kernel's dxg driver task owns one [`Driver`]. It feeds it:
//! * PCI functions ([`Driver::probe_pci_function`], through the [`ConfigSpace`] trait),
//! * VMBus offers and rescinds ([`Driver::global_channel_offered`],
//!   [`Driver::vgpu_channel_offered`], …),
//! * received packets ([`Driver::receive`]),
//! * requests of guest processes ([`Driver::submit`]),
//!
//! and drains [`Action`]s with [`Driver::poll_action`]: packets to send (with the channel, the
//! transaction id and whether a completion is requested), channels to open or close, IO space to
//! allocate, request completions and protocol errors. All state lives in the `Driver` value —
//! per adapter and per process; there are no globals.

mod adapter;
mod bringup;
mod encode;
mod encode_memory;
mod encode_objects;
mod encode_process;
mod encode_scheduling;
mod encode_sharing;
mod encode_sync;
mod prelude;
mod process;
mod replies;
mod replies_extended;
mod replies_memory;
mod replies_pending;
mod replies_sharing;
mod replies_sync;
mod request;
mod request_parameters;
mod request_reply;
mod table;
mod transactions;
mod waits;

pub use adapter::{Adapter, AdapterState};
pub use bringup::{ConfigSpace, ConfigSpaceError, ProbeError};
pub use encode_sharing::SYSMEM_PAGES_MESSAGE_BYTES;
pub use process::{ObjectEntry, ObjectKind, Process, ProcessState};
pub use request::Request;
pub use request_parameters::{AllocationRequest, GpuVirtualAddressOperation, SyncObjectKind};
pub use request_reply::{AdapterEntry, CreatedAllocation, Reply};

use crate::wire::{D3dkmtHandle, Guid, Luid, NtStatus, WireError};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

/// Ring buffer size (each direction) the guest uses for dxg channels.
pub const RING_BUFFER_BYTES: u32 = 256 * 1024;
/// Maximum incoming packet size the guest accepts on dxg channels.
pub const MAX_INCOMING_PACKET: u32 = 128 * 1024;
/// Alignment of the IO space.
pub const IO_SPACE_ALIGNMENT: u64 = 64 * 1024;

/// Index of an adapter in the driver (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdapterId(pub usize);

/// A guest process id chosen by the caller (e.g. the kernel's task group id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub u64);

/// Identifies a submitted request; its completion carries the same ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u64);

/// A dxg VMBus channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChannelId {
    /// The global DXGK channel.
    Global,
    /// A vGPU channel, by its offer's instance GUID.
    Vgpu(Guid),
}

/// A packet to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingPacket {
    /// Channel to send on.
    pub channel: ChannelId,
    /// VMBus transaction id (0 for asynchronous sends).
    pub transaction_id: u64,
    /// Whether the host must answer with a completion packet.
    pub completion_requested: bool,
    /// The in-band payload.
    pub bytes: Vec<u8>,
}

/// Kind of a received VMBus packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// A completion (`VM_PKT_COMP`) answering one of our transactions.
    Completion,
    /// An in-band data packet (host→guest notification).
    InBand,
}

/// Something the host did wrong (logged, reported, never fatal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// A completion whose transaction id matches no outstanding request (dropped).
    UnknownTransaction {
        /// Channel.
        channel: ChannelId,
        /// Transaction id.
        transaction_id: u64,
    },
    /// A reply shorter than the command's result (the request failed with BUFFER_TOO_SMALL).
    ReplyTooShort {
        /// Command number.
        command: u32,
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        received: usize,
    },
    /// A reply field is invalid (null handle, duplicate handle index, …).
    BadReply {
        /// Command number.
        command: u32,
        /// What was wrong.
        reason: &'static str,
    },
    /// An in-band packet on a vGPU channel (ignored).
    InBandOnVgpuChannel(Guid),
    /// A host→guest notification could not be parsed.
    BadNotification(WireError),
    /// A notification for a guest event nobody registered.
    UnknownGuestEvent(u64),
    /// A second global channel offer (rejected).
    DuplicateGlobalChannel,
    /// The global channel offer announced no IO space; no adapter can start.
    NoIoSpace,
    /// An adapter's GETINTERNALADAPTERINFO disagrees with the VM-wide async-message flag that
    /// the first adapter to answer fixed; the adapter is stopped.
    AsyncMessagingMismatch {
        /// The adapter that disagreed.
        adapter: AdapterId,
        /// What it reported.
        reported: bool,
    },
}

/// Output of the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a channel (ring sizes in bytes) before sending on it.
    OpenChannel {
        /// The channel.
        channel: ChannelId,
        /// Send and receive ring size.
        ring_bytes: u32,
        /// Maximum incoming packet size.
        max_packet_bytes: u32,
    },
    /// Close a channel.
    CloseChannel(ChannelId),
    /// Reserve `bytes` of guest-physical MMIO space (aligned), then call
    /// [`Driver::io_space_allocated`].
    AllocateIoSpace {
        /// Size in bytes.
        bytes: u64,
        /// Alignment.
        alignment: u64,
    },
    /// Release the IO space.
    FreeIoSpace {
        /// Base address.
        base: u64,
        /// Length.
        length: u64,
    },
    /// Send a packet.
    Send(OutgoingPacket),
    /// A request finished.
    Complete {
        /// The request's ticket.
        ticket: Ticket,
        /// Its result.
        result: Result<Reply, NtStatus>,
    },
    /// An adapter changed state (Active, Stopped, Removed).
    AdapterStateChanged {
        /// Adapter.
        adapter: AdapterId,
        /// Adapter LUID.
        luid: Luid,
        /// New state.
        state: AdapterState,
    },
    /// A CPU_NOTIFICATION sync object was signalled.
    SyncObjectNotified {
        /// Owning process.
        process: ProcessId,
        /// The sync object.
        sync_object: crate::wire::D3dkmtHandle,
    },
    /// The host broke the protocol.
    ProtocolError(ProtocolError),
}

/// State of the global channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GlobalState {
    /// Offered, not opened.
    Offered,
    /// Opened; waiting for the IO space reservation.
    AwaitingIoSpace,
    /// SETIOSPACEREGION in flight.
    SettingIoSpace,
    /// Ready for traffic.
    Ready,
    /// Bring-up failed.
    Failed,
}

#[derive(Debug)]
struct GlobalChannel {
    mmio_megabytes: u32,
    state: GlobalState,
    io_space: Option<(u64, u64)>,
    next_transaction: u64,
}

/// What a guest event id stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GuestEvent {
    /// A WAITFORSYNCOBJECTFROMCPU (or a SIGNALSYNCOBJECT with enqueue_cpu_event) of `process`;
    /// `acknowledged` once the host's status arrived, `signalled` once SIGNALGUESTEVENT arrived
    /// (the two may come in either order).
    Wait {
        ticket: Ticket,
        acknowledged: bool,
        signalled: bool,
        adapter: AdapterId,
        process: ProcessId,
    },
    /// A CPU_NOTIFICATION sync object (lives as long as the object).
    Notification {
        process: ProcessId,
        sync_object: crate::wire::D3dkmtHandle,
    },
}

/// Driver configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Cookie sent in CREATEDEVICE.error_code and expected back in SETGUESTDATA.
    pub device_state_cookie: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            device_state_cookie: 0x0000_0D06_5747_E000,
        }
    }
}

/// The dxg guest driver state machine. See the module documentation.
#[derive(Debug)]
pub struct Driver {
    config: DriverConfig,
    /// Negotiated interface version (0 until the first PCI function was probed).
    version: u32,
    host_caps: u32,
    global: Option<GlobalChannel>,
    vgpu_offers: Vec<Guid>,
    adapters: Vec<Adapter>,
    processes: BTreeMap<ProcessId, Process>,
    pending: transactions::Transactions,
    /// VM-wide async-message flag: `None` until the first adapter answers
    /// GETINTERNALADAPTERINFO, then fixed (see `on_internal_info_reply`).
    async_messaging: Option<bool>,
    next_event: u64,
    events: BTreeMap<u64, GuestEvent>,
    /// Events of waits given up (CancelWait, process teardown) that the host may still signal:
    /// event → process. Dropped with the process.
    abandoned_events: BTreeMap<u64, ProcessId>,
    next_ticket: u64,
    device_state_counter: u64,
    actions: VecDeque<Action>,
    /// VM-wide registry of shared handles (CREATENTSHAREDOBJECT).
    shared: BTreeMap<D3dkmtHandle, encode_sharing::SharedObject>,
}

impl Driver {
    /// A driver with nothing discovered yet.
    pub fn new(config: DriverConfig) -> Self {
        Self {
            config,
            version: 0,
            host_caps: 0,
            global: None,
            vgpu_offers: Vec::new(),
            adapters: Vec::new(),
            processes: BTreeMap::new(),
            pending: transactions::Transactions::default(),
            async_messaging: None,
            next_event: 1,
            events: BTreeMap::new(),
            abandoned_events: BTreeMap::new(),
            next_ticket: 1,
            device_state_counter: 0,
            actions: VecDeque::new(),
            shared: BTreeMap::new(),
        }
    }

    /// Takes the next output action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Negotiated interface version (0 before the first PCI probe).
    pub fn interface_version(&self) -> u32 {
        self.version
    }

    /// Host capability word (bit 0 = map_guest_memory).
    pub fn host_caps(&self) -> u32 {
        self.host_caps
    }

    /// Whether the host enabled async messaging (VM-global; false until the first adapter
    /// answered GETINTERNALADAPTERINFO).
    pub fn async_messaging(&self) -> bool {
        self.async_messaging == Some(true)
    }

    /// The adapter with this id.
    pub fn adapter(&self, adapter: AdapterId) -> Option<&Adapter> {
        self.adapters.get(adapter.0)
    }

    /// A process's state.
    pub fn process(&self, process: ProcessId) -> Option<&Process> {
        self.processes.get(&process)
    }

    /// Number of outstanding transactions.
    pub fn outstanding_transactions(&self) -> usize {
        self.pending.len()
    }

    /// Number of live shared handles the driver knows (created and not destroyed).
    pub fn shared_handles(&self) -> usize {
        self.shared.len()
    }

    /// Number of registered guest events.
    pub fn registered_events(&self) -> usize {
        self.events.len()
    }

    /// Number of given-up CPU waits whose late host signal would still be ignored quietly.
    pub fn abandoned_events(&self) -> usize {
        self.abandoned_events.len()
    }

    /// The VM-global device-state counter (bumped by SETGUESTDATA).
    pub fn device_state_counter(&self) -> u64 {
        self.device_state_counter
    }

    fn has_extension_header(&self) -> bool {
        self.version >= crate::wire::INTERFACE_VERSION
    }

    fn new_ticket(&mut self) -> Ticket {
        let ticket = Ticket(self.next_ticket);
        // Wrapping is the intended rollover of an id counter (2^64 requests do not happen).
        self.next_ticket = self.next_ticket.wrapping_add(1);
        ticket
    }

    fn new_event(&mut self) -> u64 {
        // Event ids roll over like transaction ids and skip 0, which means "no event".
        self.next_event = self.next_event.wrapping_add(1).max(1);
        self.next_event
    }

    fn complete(&mut self, ticket: Ticket, result: Result<Reply, NtStatus>) {
        self.actions.push_back(Action::Complete { ticket, result });
    }

    fn protocol_error(&mut self, error: ProtocolError) {
        log::warn!("dxg: protocol error: {error:?}");
        self.actions.push_back(Action::ProtocolError(error));
    }
}
