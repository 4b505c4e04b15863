//! The dxg driver task: runs the sans-I/O GPU-PV core (`dxg::core::Driver`) on the VMBus
//! channels the bus task opens for it, and serves typed GPU calls from the rest of the kernel.
//!
//! Inputs: offers and channel events from the bus task (its event channel), PCI functions from
//! the virtual PCI layer, and [`GpuCall`]s from clients (kernel tests, the syscall gateway).
//! Outputs: ring packets on the dxg channels, requests to the bus task (open, close, signal),
//! and typed replies. All state lives in the task's own [`DxgTask`] value.
//!
//! Time bounds: every packet that asks for a completion has a deadline
//! ([`REPLY_MILLISECONDS`]); when the host has not answered by then, the dxg core is told to
//! give the transaction up (`Driver::abandon_transaction`) and the caller gets
//! STATUS_IO_TIMEOUT. A packet the task could not send (no channel, or the ring refused it)
//! fails its request at once with STATUS_DEVICE_NOT_CONNECTED. A probed PCI function whose
//! adapter does not start within [`ADAPTER_START_MILLISECONDS`] (its vGPU channel never came,
//! or its start was never answered) is removed. So a process blocked in a GPU call always gets
//! an answer, and can be killed, within these bounds. (Linux's dxgkrnl waits for a reply
//! without a bound but killably, `wait_for_completion_killable` in `dxgvmb_send_sync_msg`,
//! microsoft/WSL2-Linux-Kernel drivers/hv/dxgkrnl/dxgvmbus.c; here the bound also ends the
//! wait of a process nobody kills.)

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use drivers::deadlines::Deadlines;
use drivers::vmbus_bus::{BusRequest, ChannelRings, DriverEvent, OpenFailure, RingMemory};
use dxg::core::{
    Action, AdapterId, AdapterState, ChannelId, ConfigSpace, Driver, DriverConfig, OutgoingPacket,
    PacketKind, ProcessId, Reply, Request, Ticket,
};
use dxg::wire::NtStatus;
use litemap::LiteMap;
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::guid::class;
use vmbus::ring::{OutgoingPacket as RingPacket, PacketType, RingError};

use crate::diagnostics::{self, Stage};
use crate::hvdiag;
use crate::hypervisor::physical_memory::{PhysicalMemory, map_device_range, release_device_range};
use crate::ipc::{self, ReplySender, Sender};
use crate::memory::ContiguousPages;
use crate::services::channel_signal::{ChannelSignal, SignalInbox};
use crate::services::mmio_space::MmioSpace;
use crate::services::vmbus_task::{self, BusEvent, BusMessage, EVENT_CAPACITY};
use crate::task::{self, TaskHandle, TaskSlot};
use hyperv::mmio::Placement;

/// A GPU call: what a process asks of the dxg driver.
pub struct GpuCall {
    /// The calling process.
    pub process: ProcessId,
    /// The request.
    pub request: Request,
}

/// The answer to a [`GpuCall`].
pub type GpuReply = Result<Reply, NtStatus>;

/// A client of the dxg task (clonable; one per caller is fine).
pub type GpuClient = ipc::Client<GpuCall, GpuReply>;

/// Asks the dxg task how many objects a process holds (devices, contexts, allocations,
/// resources, sync objects, paging and hardware queues, plus one per open adapter reference):
/// the `DxgObjectCount` debug query. A process the dxg core does not know holds none.
pub type ObjectCountClient = ipc::Client<ProcessId, u64>;

/// An adapter's state change, as the dxg task reports it to whoever started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdapterEvent {
    /// The adapter.
    pub adapter: dxg::core::AdapterId,
    /// Its LUID.
    pub luid: dxg::wire::Luid,
    /// Its new state.
    pub state: AdapterState,
}

/// Capacity of the adapter event channel (events beyond it are dropped, never waited for).
const ADAPTER_EVENT_CAPACITY: usize = 64;

/// A PCI function of a vGPU, found by the virtual PCI layer.
pub struct PciFunction {
    /// The function's id for the dxg core, unique across vPCI buses: its bus's PCI domain and
    /// its slot (`drivers::vpci::FunctionAddress::as_u32`).
    pub id: u32,
    /// PCI device id.
    pub device_id: u16,
    /// Access to its configuration space.
    pub config: Box<dyn ConfigSpace + Send>,
}

/// How long the host may take to answer one dxg request (a Hyper-V host answers in
/// milliseconds; generous for a loaded host). A CPU wait's own timeout is separate: its
/// transaction is answered at once, the signal comes later.
pub const REPLY_MILLISECONDS: u64 = 30_000;

/// How long a probed PCI function's adapter may take to become active (its vGPU channel
/// offered and opened, OPENADAPTER answered) before the function is given up.
pub const ADAPTER_START_MILLISECONDS: u64 = 60_000;

/// dxg requests given up since boot because the host did not answer within the bound.
static REQUESTS_TIMED_OUT: AtomicU64 = AtomicU64::new(0);

/// How many dxg requests every dxg instance since boot gave up because the host did not
/// answer within [`super::host_waits::reply_milliseconds`] (each failed with
/// STATUS_IO_TIMEOUT): lets a test see that a request stayed unanswered.
pub fn requests_timed_out() -> u64 {
    REQUESTS_TIMED_OUT.load(Ordering::Relaxed)
}

/// Ring pages per direction, control page included (256 KiB of data, dxg's size).
const RING_PAGES: u64 = 65;

struct OpenChannel {
    id: ChannelId,
    rings: Option<ChannelRings<PhysicalMemory>>,
    /// The ring pages; freed only when the channel is closed (the host is done with them).
    pages: Option<ContiguousPages>,
    backlog: VecDeque<OutgoingPacket>,
    /// The signal to the host for this channel, once it is open.
    signal: Option<ChannelSignal>,
}

impl OpenChannel {
    /// Writes queued packets while the ring has room, then signals the host if the ring asks
    /// for it. Returns the packets the ring refused for good (their requests must fail); an
    /// empty `Vec` does not allocate.
    fn flush(&mut self, relid: u32) -> Vec<OutgoingPacket> {
        let mut dropped = Vec::new();
        let Some(rings) = self.rings.as_mut() else {
            return dropped;
        };
        let mut signal = false;
        while let Some(packet) = self.backlog.front() {
            match write_packet(rings, packet, relid) {
                Written::Sent { signal: needed } => {
                    signal |= needed;
                    self.backlog.pop_front();
                }
                Written::NoRoom => break,
                Written::Refused => {
                    if let Some(packet) = self.backlog.pop_front() {
                        dropped.push(packet);
                    }
                }
            }
        }
        if signal {
            super::channel_signal::signal_host("dxg", relid, self.signal.as_ref());
        }
        dropped
    }

    /// Sends `packet` now when nothing is queued before it (no trip through the backlog), else
    /// queues it behind the others and flushes. Returns the packet when the ring refused it for
    /// good (its request must fail).
    fn send_or_queue(&mut self, packet: OutgoingPacket, relid: u32) -> Vec<OutgoingPacket> {
        if let (true, Some(rings)) = (self.backlog.is_empty(), self.rings.as_mut()) {
            match write_packet(rings, &packet, relid) {
                Written::Sent { signal } => {
                    if signal {
                        super::channel_signal::signal_host("dxg", relid, self.signal.as_ref());
                    }
                    return Vec::new();
                }
                Written::Refused => return alloc::vec![packet],
                // The host signals once there is room; the packet waits in the backlog.
                Written::NoRoom => {}
            }
        }
        self.backlog.push_back(packet);
        self.flush(relid)
    }
}

/// What writing one packet to a channel's outbound ring did.
enum Written {
    /// Written; `signal`: the host must be signalled.
    Sent { signal: bool },
    /// No room yet: the host signals once there is (pending_send_sz); the packet must wait.
    NoRoom,
    /// The ring refused the packet for good (logged).
    Refused,
}

/// Writes `packet` to the outbound ring of `rings` (channel `relid`, for the logs).
fn write_packet(
    rings: &mut ChannelRings<PhysicalMemory>,
    packet: &OutgoingPacket,
    relid: u32,
) -> Written {
    let ring_packet = RingPacket::in_band(
        packet.transaction_id,
        packet.completion_requested,
        &packet.bytes,
    );
    loop {
        match rings.outbound.send(&ring_packet) {
            Ok(signal) => return Written::Sent { signal },
            Err(RingError::Full { needed }) => match rings.outbound.wait_for_space(needed) {
                // The host read meanwhile: the room is there, write now.
                Ok(true) => continue,
                // The host signals once `needed` bytes are free (pending_send_sz).
                Ok(false) => return Written::NoRoom,
                Err(error) => {
                    // The packet stays in the backlog for the next signal or flush.
                    log::warn!("dxg: ring wait on relid {relid}: {error:?}");
                    return Written::NoRoom;
                }
            },
            Err(error) => {
                log::warn!("dxg: dropping a packet on relid {relid}: {error:?}");
                return Written::Refused;
            }
        }
    }
}

/// A request the dxg core is working on, and who waits for it.
struct PendingCall {
    ticket: Ticket,
    process: ProcessId,
    reply: ReplySender<GpuReply>,
}

/// The calls the dxg core is working on, in a `Vec` searched linearly: as many as callers wait
/// for the host (one or a few), so a scan of adjacent entries is cheaper than a tree's search
/// and node edits, and the `Vec` keeps its room between calls (no allocation per call once it
/// grew). Tickets are unique (the core numbers them), so each is here at most once.
#[derive(Default)]
struct PendingCalls {
    calls: Vec<PendingCall>,
}

impl PendingCalls {
    fn insert(&mut self, call: PendingCall) {
        self.calls.push(call);
    }

    /// Takes the call of `ticket` out, if it waits.
    fn remove(&mut self, ticket: Ticket) -> Option<PendingCall> {
        let index = self.calls.iter().position(|call| call.ticket == ticket)?;
        Some(self.calls.swap_remove(index))
    }

    fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Keeps the calls for which `keep` is true.
    fn retain(&mut self, keep: impl FnMut(&PendingCall) -> bool) {
        self.calls.retain(keep);
    }
}

/// The dxg task's state.
struct DxgTask {
    driver: Driver,
    bus: Sender<BusMessage>,
    subscriber: SubscriberId,
    /// Where the bus task leaves the signals of opened channels.
    signals: SignalInbox,
    /// relid of each dxg channel the host offered.
    relids: LiteMap<ChannelId, u32>,
    channels: LiteMap<u32, OpenChannel>,
    /// Base of the IO space, once allocated from the MMIO gaps.
    io_space: Option<u64>,
    /// The VMBus MMIO gaps the IO space comes from.
    mmio: MmioSpace,
    pending: PendingCalls,
    receive_buffer: Vec<u8>,
    adapter_events: Sender<AdapterEvent>,
    /// Deadlines (timer ticks) of the transactions waiting for the host's completion.
    replies: Deadlines<(ChannelId, u64)>,
    /// Deadlines (timer ticks) of adapters waiting to start, with their PCI function ids.
    starting_adapters: Deadlines<AdapterId>,
    pci_functions: BTreeMap<AdapterId, u32>,
    /// Messages handled by this instance (for fault injection).
    handled: u64,
}

/// What [`spawn`] returns: the clients, the adapter events and the task.
pub struct DxgHandles {
    /// GPU calls.
    pub gpu: GpuClient,
    /// Object counts per process.
    pub objects: ObjectCountClient,
    /// The adapter state changes.
    pub adapter_events: ipc::Receiver<AdapterEvent>,
    /// The task and its state.
    pub task: DxgTaskHandle,
}

/// The kernel's handle on a running dxg task.
pub struct DxgTaskHandle {
    task: TaskHandle<()>,
    slot: TaskSlot<DxgRun>,
    stop: Sender<()>,
}

/// How long releasing a dead dxg task's state waits for its channels' closes.
const RELEASE_WAIT_MILLISECONDS: u64 = 1_000;

impl DxgTaskHandle {
    /// Whether the task has ended (normally or by a contained fault).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the task to end (pending calls then fail with STATUS_DEVICE_REMOVED).
    pub fn stop(&self) {
        let _ = self.stop.try_send(());
    }

    /// Waits for the task to end, then releases its state (taken back from its slot): the
    /// channels are closed (each close confirmed by the bus, within a bound; ring pages of a
    /// close never confirmed are kept, since the host may still write them), the IO space goes
    /// back to the MMIO pool, and dropping the rest ends every waiting call (its caller sees
    /// the service gone: STATUS_DEVICE_REMOVED) and closes the task's channel ends. `Err`: the
    /// fault that ended the task.
    pub fn join_and_release(self) -> Result<(), crate::task::TaskFault> {
        self.join_and_release_with(false)
    }

    /// As [`Self::join_and_release`], after VMBus was unloaded: the host has forgotten every
    /// channel and GPADL, so the ring pages are freed without waiting for closes.
    pub fn join_and_release_after_unload(self) -> Result<(), crate::task::TaskFault> {
        self.join_and_release_with(true)
    }

    fn join_and_release_with(self, unloaded: bool) -> Result<(), crate::task::TaskFault> {
        let DxgTaskHandle { task, slot, .. } = self;
        let owner = task.task().clone();
        let result = task.join();
        if let Some(mut run) = slot.reclaim(&owner) {
            if unloaded {
                run.state.channels.clear();
            }
            run.release();
        }
        result
    }
}

/// The dxg task's state, owned through its [`TaskSlot`] so that a contained fault releases
/// it: the dxg core, the channels' rings, the waiting calls, and the task's channel ends.
struct DxgRun {
    state: DxgTask,
    events: ipc::Receiver<BusEvent>,
    pci_functions: ipc::Receiver<PciFunction>,
    calls: ipc::Receiver<ipc::Request<GpuCall, GpuReply>>,
    object_queries: ipc::Receiver<ipc::Request<ProcessId, u64>>,
    stop: ipc::Receiver<()>,
}

/// Spawns the dxg task with fault containment; it registers with the bus task as
/// `subscriber` and takes GPU-PV functions from `pci_functions`. `None` when the bus task is
/// gone.
pub fn spawn(
    bus: Sender<BusMessage>,
    subscriber: SubscriberId,
    pci_functions: ipc::Receiver<PciFunction>,
    mmio: MmioSpace,
) -> Option<DxgHandles> {
    let (client, calls) = ipc::service::<GpuCall, GpuReply>(64);
    let (objects, object_queries) = ipc::service::<ProcessId, u64>(8);
    let (adapter_events, adapter_event_receiver) = ipc::channel(ADAPTER_EVENT_CAPACITY);
    let (stop, stop_receiver) = ipc::channel(1);
    let (events_sender, events) = ipc::channel(EVENT_CAPACITY);
    let state = DxgTask {
        driver: Driver::new(DriverConfig::default()),
        bus,
        subscriber,
        signals: SignalInbox::default(),
        relids: LiteMap::new(),
        channels: LiteMap::new(),
        io_space: None,
        mmio,
        pending: PendingCalls::default(),
        receive_buffer: Vec::new(),
        adapter_events,
        replies: Deadlines::new(),
        starting_adapters: Deadlines::new(),
        pci_functions: BTreeMap::new(),
        handled: 0,
    };
    if !state.bus_send(BusMessage::Register {
        subscriber,
        events: events_sender,
        signals: state.signals.clone(),
    }) {
        return None;
    }
    for class in [class::DXG_GLOBAL, class::DXG_VIRTUAL_GPU] {
        state.request(BusRequest::Subscribe { class, subscriber });
    }
    let slot = TaskSlot::new(DxgRun {
        state,
        events,
        pci_functions,
        calls,
        object_queries,
        stop: stop_receiver,
    });
    let task = task::Builder::new("dxg")
        .contain_faults()
        .spawn_in_slot(slot.clone(), |entered| {
            if let Some(mut run) = entered {
                run.serve();
            }
        });
    Some(DxgHandles {
        gpu: client,
        objects,
        adapter_events: adapter_event_receiver,
        task: DxgTaskHandle { task, slot, stop },
    })
}

/// The sources the dxg task waits on, in the order a wait looks at them: a stop first, then
/// the bus (the host's completions), new PCI functions, object queries, and GPU calls last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Stop,
    BusEvents,
    PciFunctions,
    ObjectQueries,
    Calls,
}

/// Which of the task's sources are still open. A closed channel is always ready: it leaves
/// the wait's sources, or the task would never block again (a vPCI task that ended closes
/// `pci_functions`).
struct OpenSources {
    pci_functions: bool,
    object_queries: bool,
    calls: bool,
}

/// What handling a ready source asks of the loop.
enum Flow {
    /// Go on serving.
    Continue,
    /// End the task.
    End,
}

impl DxgRun {
    /// The task's loop: bus events, PCI functions, object queries and GPU calls, until the
    /// clients are gone (and no call waits) or the kernel asks it to stop.
    ///
    /// One pass per wake-up: the dxg core's actions run and the waits for the host are checked
    /// (cheap when there is nothing to do: see [`DxgTask::settle`]), then the wait names the
    /// first ready source and only that source is read. A pass takes at most one GPU
    /// call, so a stop or the host's completions (earlier in the wait's order) are never
    /// starved by callers.
    fn serve(&mut self) {
        let mut open = OpenSources {
            pci_functions: true,
            object_queries: true,
            calls: true,
        };
        loop {
            crate::faults::checkpoint(crate::faults::Driver::Dxg, self.state.handled);
            self.state.settle();
            if !open.calls && self.state.pending.is_empty() {
                // Every client is gone and no call waits for an answer.
                self.state.close_all();
                return;
            }
            if let Some(source) = self.wait(&open)
                && let Flow::End = self.handle(source, &mut open)
            {
                return;
            }
        }
    }

    /// Waits until a source is ready or the earliest wait for the host may have ended
    /// (`None`).
    fn wait(&self, open: &OpenSources) -> Option<Source> {
        let candidates: [(&dyn ipc::Selectable, Source, bool); 5] = [
            (&self.stop, Source::Stop, true),
            (&self.events, Source::BusEvents, true),
            (
                &self.pci_functions,
                Source::PciFunctions,
                open.pci_functions,
            ),
            (
                &self.object_queries,
                Source::ObjectQueries,
                open.object_queries,
            ),
            (&self.calls, Source::Calls, open.calls),
        ];
        let mut sources: [&dyn ipc::Selectable; 5] = [&self.stop; 5];
        let mut kinds = [Source::Stop; 5];
        let mut count = 0;
        for (source, kind, is_open) in candidates {
            if is_open {
                sources[count] = source;
                kinds[count] = kind;
                count += 1;
            }
        }
        ipc::select_until(&sources[..count], self.state.next_deadline())
            .and_then(|index| kinds.get(index).copied())
    }

    /// Reads the ready `source`: every queued bus event, PCI function or object query, or one
    /// GPU call.
    fn handle(&mut self, source: Source, open: &mut OpenSources) -> Flow {
        let DxgRun {
            state,
            events,
            pci_functions,
            calls,
            object_queries,
            stop: _,
        } = self;
        match source {
            // A stop request, or the kernel's end of the stop channel gone.
            Source::Stop => return Flow::End,
            Source::BusEvents => loop {
                match events.try_recv() {
                    Ok(event) => {
                        state.handled += 1;
                        state.on_bus_event(event);
                    }
                    Err(ipc::TryRecvError::Empty) => break,
                    // The bus task has ended: no channel can be used any more.
                    Err(ipc::TryRecvError::Closed) => return Flow::End,
                }
            },
            Source::PciFunctions => loop {
                match pci_functions.try_recv() {
                    Ok(function) => {
                        state.handled += 1;
                        state.probe(function);
                    }
                    Err(ipc::TryRecvError::Empty) => break,
                    Err(ipc::TryRecvError::Closed) => {
                        open.pci_functions = false;
                        break;
                    }
                }
            },
            Source::ObjectQueries => loop {
                match object_queries.try_recv() {
                    Ok(query) => {
                        state.handled += 1;
                        let (process, reply) = query.into_parts();
                        let _ = reply.send(state.object_count(process));
                    }
                    Err(ipc::TryRecvError::Empty) => break,
                    Err(ipc::TryRecvError::Closed) => {
                        open.object_queries = false;
                        break;
                    }
                }
            },
            Source::Calls => match calls.try_recv() {
                Ok(call) => {
                    state.handled += 1;
                    let (GpuCall { process, request }, reply) = call.into_parts();
                    let ticket = state.driver.submit(process, request);
                    state.pending.insert(PendingCall {
                        ticket,
                        process,
                        reply,
                    });
                }
                Err(ipc::TryRecvError::Closed) => open.calls = false,
                Err(ipc::TryRecvError::Empty) => {}
            },
        }
        Flow::Continue
    }

    /// Releases what the task held (see [`DxgTaskHandle::join_and_release`]).
    fn release(&mut self) {
        self.state.close_all();
        let deadline =
            crate::clock::ticks() + crate::clock::milliseconds_to_ticks(RELEASE_WAIT_MILLISECONDS);
        while !self.state.channels.is_empty() {
            match self.events.recv_until(deadline) {
                Ok(DriverEvent::Closed { relid }) => {
                    self.state.channels.remove(&relid);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for (relid, channel) in core::mem::take(&mut self.state.channels).into_tuple_vec() {
            log::warn!("dxg: the close of relid {relid} was not confirmed; its ring pages stay");
            core::mem::forget(channel.pages);
        }
        if let Some(base) = self.state.io_space.take()
            && let Err(error) = {
                release_device_range(base);
                self.state.mmio.free(base)
            }
        {
            log::warn!("dxg: returning the io space at {base:#x}: {error}");
        }
    }
}

impl DxgTask {
    /// Probes a GPU-PV function from the virtual PCI layer: a new adapter, waiting to start.
    fn probe(&mut self, function: PciFunction) {
        let mut config = function.config;
        match self
            .driver
            .probe_pci_function(function.id, function.device_id, config.as_mut())
        {
            Ok(adapter) => {
                log::debug!(
                    "dxg: PCI function {:#x} is adapter {adapter:?}",
                    function.id
                );
                self.starting_adapters.start(
                    adapter,
                    crate::clock::ticks(),
                    crate::clock::milliseconds_to_ticks(
                        super::host_waits::adapter_start_milliseconds(),
                    ),
                );
                self.pci_functions.insert(adapter, function.id);
            }
            Err(error) => log::warn!("dxg: PCI function {:#x} rejected: {error:?}", function.id),
        }
    }

    /// The objects `process` holds in the dxg core, open adapter references included.
    fn object_count(&self, process: ProcessId) -> u64 {
        self.driver.process(process).map_or(0, |entry| {
            let adapters: u64 = entry
                .adapters
                .values()
                .map(|(_, references)| u64::from(*references))
                .sum();
            (entry.object_count() as u64).saturating_add(adapters)
        })
    }

    /// After the messages of a pass: runs the dxg core's actions, cancels abandoned calls, and
    /// ends the waits for the host whose bound passed. Nothing is scanned when nothing can be
    /// due: no waiting call to look at, no deadline reached ([`Deadlines::wake_at`]).
    fn settle(&mut self) {
        self.run_actions();
        if self.cancel_abandoned_calls() {
            self.run_actions();
        }
        self.end_expired_waits();
    }

    /// Calls whose caller stopped waiting (a CPU wait that timed out, a killed process's call)
    /// leave the list of waiting calls; the dxg core is told (`Driver::caller_gone`), which
    /// gives up a CPU wait, so its state does not grow with abandoned waits, and leaves any
    /// other request to its answer or its bound. Their completions then find no caller and are
    /// dropped. Returns whether a wait was given up (the core then has actions to run).
    fn cancel_abandoned_calls(&mut self) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let driver = &mut self.driver;
        let mut cancelled = false;
        self.pending.retain(|pending| {
            if !pending.reply.is_closed() {
                return true;
            }
            cancelled |= driver.caller_gone(pending.process, pending.ticket);
            false
        });
        cancelled
    }

    fn bus_send(&self, message: BusMessage) -> bool {
        self.bus.send(message).is_ok()
    }

    fn request(&self, request: BusRequest) {
        vmbus_task::send_request(&self.bus, self.subscriber, request, "dxg");
    }

    fn on_offer(&mut self, offer: ChannelOffer) {
        if offer.class == class::DXG_GLOBAL {
            self.relids.insert(ChannelId::Global, offer.relid);
            self.driver
                .global_channel_offered(u32::from(offer.mmio_megabytes));
        } else if offer.class == class::DXG_VIRTUAL_GPU {
            let guid = offer.instance;
            self.relids.insert(ChannelId::Vgpu(guid), offer.relid);
            self.driver.vgpu_channel_offered(guid);
        }
    }

    fn channel_of(&self, relid: u32) -> Option<ChannelId> {
        self.relids
            .iter()
            .find(|(_, value)| **value == relid)
            .map(|(id, _)| *id)
    }

    fn on_bus_event(&mut self, event: BusEvent) {
        match event {
            DriverEvent::Offer(offer) => self.on_offer(*offer),
            DriverEvent::Opened { relid, result } => {
                let Some(channel) = self.channels.get_mut(&relid) else {
                    return;
                };
                match result {
                    Ok(rings) => {
                        channel.rings = Some(*rings);
                        channel.signal = self.signals.take(relid);
                        // The inbound ring is read (normally empty at open), then the
                        // packets queued while the channel opened go out.
                        self.service(relid);
                    }
                    Err(failure) => {
                        log::warn!("dxg: opening relid {relid} failed: {failure:?}");
                        diagnostics::fail(format_args!(
                            "dxg: opening relid {relid} failed: {failure:?}"
                        ));
                        let id = channel.id;
                        // After a time-out the host may still map the rings: the pages stay
                        // until the bus reports the channel closed.
                        if !matches!(failure, OpenFailure::TimedOut { .. }) {
                            self.channels.remove(&relid);
                        }
                        self.driver.channel_open_failed(id);
                    }
                }
            }
            DriverEvent::Signalled { relid } => self.service(relid),
            DriverEvent::Rescinded { relid } => {
                match self.channel_of(relid) {
                    Some(ChannelId::Global) => self.driver.global_channel_rescinded(),
                    Some(ChannelId::Vgpu(guid)) => self.driver.vgpu_channel_rescinded(guid),
                    None => {}
                }
                if let Some(channel) = self.channels.get_mut(&relid) {
                    channel.rings = None;
                    channel.signal = None;
                    self.request(BusRequest::Close { relid });
                }
                self.relids.retain(|_, value| *value != relid);
            }
            DriverEvent::Closed { relid } => {
                self.channels.remove(&relid);
            }
        }
    }

    /// Reads every packet waiting on `relid` into the dxg core, then writes the packets queued
    /// for the host while its ring has room: one lookup of the channel for both, and for the
    /// signals to the host.
    fn service(&mut self, relid: u32) {
        let Some(channel) = self.channels.get_mut(&relid) else {
            return;
        };
        let id = channel.id;
        let Some(rings) = channel.rings.as_mut() else {
            return;
        };
        let mut signal = false;
        let mut corrupt = false;
        for round in 1..=super::DRAIN_ROUNDS {
            loop {
                match rings.inbound.read_packet(&mut self.receive_buffer) {
                    Ok(Some(packet)) => {
                        let kind = if packet.packet_type == PacketType::COMPLETION {
                            PacketKind::Completion
                        } else {
                            PacketKind::InBand
                        };
                        if kind == PacketKind::Completion {
                            self.replies.finish(&(id, packet.transaction_id));
                        }
                        // The core reads the payload in place (no copy of it per packet).
                        self.driver.receive(
                            id,
                            kind,
                            packet.transaction_id,
                            packet.payload(&self.receive_buffer),
                        );
                    }
                    Ok(None) => break,
                    Err(error) => {
                        log::warn!("dxg: corrupt inbound ring on relid {relid}: {error:?}");
                        corrupt = true;
                        break;
                    }
                }
            }
            match rings.inbound.commit() {
                Ok(needed) => signal |= needed,
                Err(error) => {
                    log::warn!("dxg: ring commit on relid {relid}: {error:?}");
                    break;
                }
            }
            if corrupt || super::drained(&mut rings.inbound, relid, round) {
                break;
            }
        }
        if signal {
            super::channel_signal::signal_host("dxg", relid, channel.signal.as_ref());
        }
        if !channel.backlog.is_empty() {
            for packet in channel.flush(relid) {
                self.fail_unsent(&packet);
            }
        }
    }

    /// A packet that could not be sent: its request (if it waits for a completion) fails now
    /// with STATUS_DEVICE_NOT_CONNECTED instead of waiting for an answer that cannot come.
    fn fail_unsent(&mut self, packet: &OutgoingPacket) {
        if packet.completion_requested {
            self.replies
                .finish(&(packet.channel, packet.transaction_id));
            self.driver.abandon_transaction(
                packet.channel,
                packet.transaction_id,
                NtStatus::DEVICE_NOT_CONNECTED,
            );
        }
    }

    /// When the task must look at its waits for the host again, in timer ticks: at or before
    /// the earliest deadline ([`Deadlines::wake_at`]).
    fn next_deadline(&self) -> Option<u64> {
        match (self.replies.wake_at(), self.starting_adapters.wake_at()) {
            (Some(replies), Some(adapters)) => Some(replies.min(adapters)),
            (replies, adapters) => replies.or(adapters),
        }
    }

    /// Ends the waits for the host whose bound passed: requests fail with STATUS_IO_TIMEOUT,
    /// adapters that never started are removed.
    fn end_expired_waits(&mut self) {
        let now = crate::clock::ticks();
        if self.next_deadline().is_none_or(|deadline| deadline > now) {
            return;
        }
        let late_replies = self.replies.take_expired(now);
        let late_adapters = self.starting_adapters.take_expired(now);
        if late_replies.is_empty() && late_adapters.is_empty() {
            return;
        }
        for (channel, transaction_id) in late_replies {
            log::warn!(
                "dxg: no reply to transaction {transaction_id} on {channel:?} within {} ms; \
                 the request fails with STATUS_IO_TIMEOUT",
                super::host_waits::reply_milliseconds()
            );
            REQUESTS_TIMED_OUT.fetch_add(1, Ordering::Relaxed);
            self.driver
                .abandon_transaction(channel, transaction_id, NtStatus::IO_TIMEOUT);
        }
        for adapter in late_adapters {
            if let Some(function) = self.pci_functions.remove(&adapter) {
                log::warn!(
                    "dxg: adapter {adapter:?} (PCI function {function:#x}) did not start within \
                     {} ms (no vGPU channel?); removed",
                    super::host_waits::adapter_start_milliseconds()
                );
                self.driver.remove_pci_function(function);
            }
        }
        self.run_actions();
    }

    fn open_channel(&mut self, id: ChannelId) {
        let Some(&relid) = self.relids.get(&id) else {
            self.driver.channel_open_failed(id);
            return;
        };
        let Ok(pages) = ContiguousPages::allocate_zeroed(2 * RING_PAGES as usize) else {
            log::warn!("dxg: no memory for the rings of {id:?}");
            self.driver.channel_open_failed(id);
            return;
        };
        let rings = RingMemory {
            gpa: pages.physical_address().as_u64(),
            outbound_bytes: RING_PAGES * 4096,
            inbound_bytes: RING_PAGES * 4096,
        };
        self.channels.insert(
            relid,
            OpenChannel {
                id,
                rings: None,
                pages: Some(pages),
                backlog: VecDeque::new(),
                signal: None,
            },
        );
        self.request(BusRequest::Open {
            relid,
            rings,
            user_data: [0; 120],
        });
    }

    /// Takes the IO space from the VMBus MMIO gaps, as Linux's `dxgglobal_getiospace` does
    /// (`mmio_megabytes` of the global channel's offer, 64 KiB aligned), maps it uncached into
    /// the physical-memory window, and tells the core. Never guest RAM: the host maps GPU
    /// memory, fence pages and CPU views of allocations there.
    fn allocate_io_space(&mut self, bytes: u64, alignment: u64) {
        diagnostics::enter(Stage::DxgIoSpace);
        let base = match self.mmio.allocate(bytes, alignment, Placement::HighFirst) {
            Ok(base) => base,
            Err(error) => {
                self.io_space_failed(format_args!(
                    "io space does not fit: {} MiB: {error}",
                    bytes >> 20
                ));
                return;
            }
        };
        if let Err(error) = map_device_range(base, bytes) {
            let _ = self.mmio.free(base);
            self.io_space_failed(format_args!(
                "io space base={base:#x} could not be mapped: {error:?}"
            ));
            return;
        }
        log::debug!("dxg: io space at {base:#x}, {} MiB", bytes >> 20);
        hvdiag!("io space base={base:#x} size={} MiB", bytes >> 20);
        self.io_space = Some(base);
        self.driver.io_space_allocated(base, bytes);
    }

    /// Reports why the IO space could not be had (a report line, and the boot's result), and
    /// tells the core, which fails the adapters that wait for it.
    fn io_space_failed(&mut self, reason: core::fmt::Arguments<'_>) {
        log::debug!("dxg: {reason}");
        hvdiag!("{reason}");
        diagnostics::fail(reason);
        self.driver.io_space_failed();
    }

    fn run_actions(&mut self) {
        while let Some(action) = self.driver.poll_action() {
            match action {
                Action::OpenChannel { channel, .. } => self.open_channel(channel),
                Action::CloseChannel(id) => {
                    if let Some(&relid) = self.relids.get(&id) {
                        self.request(BusRequest::Close { relid });
                    }
                }
                Action::AllocateIoSpace { bytes, alignment } => {
                    self.allocate_io_space(bytes, alignment)
                }
                Action::FreeIoSpace { .. } => {
                    // The window mapping stays (it is permanent); the range goes back to the pool.
                    if let Some(base) = self.io_space.take() {
                        release_device_range(base);
                        let _ = self.mmio.free(base);
                    }
                }
                Action::Send(packet) => self.send(packet),
                Action::Complete { ticket, result } => {
                    if let Some(pending) = self.pending.remove(ticket) {
                        let _ = pending.reply.send(result);
                    }
                }
                Action::AdapterStateChanged {
                    adapter,
                    luid,
                    state,
                } => {
                    log::info!("dxg: adapter {adapter:?} (LUID {luid:?}) is {state:?}");
                    if state != AdapterState::WaitingVmbus && state != AdapterState::Starting {
                        self.starting_adapters.finish(&adapter);
                        self.pci_functions.remove(&adapter);
                    }
                    // Nobody may be listening; a full channel only drops the report.
                    let _ = self.adapter_events.try_send(AdapterEvent {
                        adapter,
                        luid,
                        state,
                    });
                }
                Action::SyncObjectNotified {
                    process,
                    sync_object,
                } => {
                    log::debug!("dxg: sync object {sync_object:?} of {process:?} signalled");
                }
                Action::ProtocolError(error) => log::warn!("dxg: host protocol error: {error:?}"),
            }
        }
    }

    /// Sends a packet of the dxg core on its channel (looked up once), starting its reply
    /// deadline first when it asks for a completion.
    fn send(&mut self, packet: OutgoingPacket) {
        let relid = self.relids.get(&packet.channel).copied();
        let Some((relid, channel)) =
            relid.and_then(|relid| Some((relid, self.channels.get_mut(&relid)?)))
        else {
            log::warn!("dxg: send on {:?}, which has no channel", packet.channel);
            self.fail_unsent(&packet);
            return;
        };
        if packet.completion_requested {
            self.replies.start(
                (packet.channel, packet.transaction_id),
                crate::clock::ticks(),
                crate::clock::milliseconds_to_ticks(super::host_waits::reply_milliseconds()),
            );
        }
        for packet in channel.send_or_queue(packet, relid) {
            self.fail_unsent(&packet);
        }
    }

    fn close_all(&mut self) {
        let relids: Vec<u32> = self.channels.keys().copied().collect();
        for relid in relids {
            self.request(BusRequest::Close { relid });
        }
    }
}
