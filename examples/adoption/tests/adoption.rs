//! Adoption example (issue 18): "another OS" brings up the SynIC, VMBus and a GPU-PV adapter
//! with only the public APIs of `hyperv`, `vmbus`, `dxg` and `d3dkmt`, its own
//! `HypervisorBackend` and `GuestMemory`, against the in-process emulated Hyper-V host, and
//! serves an application's D3DKMT calls (`D3DKMTEnumAdapters2`, `D3DKMTQueryAdapterInfo`) with
//! the D3DKMT translator and its own `d3dkmt::Environment`; the requests travel through real
//! VMBus rings.
//!
//! The emulator is only the host here: the guest side uses nothing of it, and nothing of the
//! dxgos kernel or `drivers` crate. The glue below is what `docs/porting.md` asks an OS to do.

use d3dkmt::abi::flags::{D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED, KMTQAITYPE_ADAPTERTYPE_RENDER};
use d3dkmt::abi::status::STATUS_SUCCESS;
use d3dkmt::abi::{D3DKMT_ADAPTERINFO, D3DKMT_ENUMADAPTERS2, D3DKMT_QUERYADAPTERINFO};
use d3dkmt::{
    Environment, NtStatus, Reply, Request, SyscallNumber, Timeout, Translator, UserMemoryError,
    ViewAccess,
};
use dxg::core::{
    Action as DxgAction, ChannelId, Driver, DriverConfig, PacketKind, ProcessId, Ticket,
};
use dxg::wire::PCI_DEVICE_VIRTUAL_RENDER;
use emulator::platform::{HostConfig, SynicHost, dispatch_host_events};
use emulator::platform::{HostEventHandler, Interrupt};
use emulator::services::HostServices;
use emulator::vmbus_server::ServerConfig;
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::memory::{GuestMemory, MemoryError};
use hyperv::platform::{BumpPageAllocator, HypervisorBackend, PlatformError};
use hyperv::synic::{MessageType, VMBUS_SINT};
use hyperv::synic_client::{SynicClient, SynicConfig};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use vmbus::client::{Action, Client, ClientConfig, ClientEvent, OpenRequest, SubscriberId};
use vmbus::guid::class;
use vmbus::ring::{ChannelRings, OutgoingPacket, PacketType};
use zerocopy::IntoBytes;

/// This OS's guest RAM: 32-bit words at GPA 0 (an OS would map its physical memory instead).
struct Ram(Vec<AtomicU32>);

impl Ram {
    fn word(&self, gpa: u64, length: usize) -> Result<usize, MemoryError> {
        let error = MemoryError::OutOfRange {
            gpa,
            length: length as u64,
        };
        let end = gpa.checked_add(length as u64).ok_or(error)?;
        if end > self.0.len() as u64 * 4 {
            return Err(error);
        }
        Ok(gpa as usize)
    }
}

impl GuestMemory for Ram {
    fn read(&self, gpa: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let start = self.word(gpa, buffer.len())?;
        for (index, byte) in buffer.iter_mut().enumerate() {
            let address = start + index;
            let word = self.0[address / 4].load(Ordering::Acquire);
            *byte = word.to_le_bytes()[address % 4];
        }
        Ok(())
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let start = self.word(gpa, data.len())?;
        for (index, byte) in data.iter().enumerate() {
            let address = start + index;
            let shift = (address % 4) * 8;
            let cell = &self.0[address / 4];
            let mut current = cell.load(Ordering::Relaxed);
            loop {
                let new = (current & !(0xFF << shift)) | (u32::from(*byte) << shift);
                match cell.compare_exchange(current, new, Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(actual) => current = actual,
                }
            }
        }
        Ok(())
    }
    fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        Ok(self.0[self.word(gpa, 4)? / 4].load(Ordering::Acquire))
    }
    fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        self.0[self.word(gpa, 4)? / 4].store(value, Ordering::Release);
        Ok(())
    }
    fn swap_u32(&self, gpa: u64, value: u32) -> Result<u32, MemoryError> {
        if !gpa.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { gpa });
        }
        Ok(self.0[self.word(gpa, 4)? / 4].swap(value, Ordering::AcqRel))
    }
}

type Memory = Arc<Ram>;

/// The emulated machine: the SynIC host and its services (VMBus server, GPU-PV host).
struct Machine {
    synic: SynicHost,
    services: HostServices<Memory>,
    interrupts: Vec<Interrupt>,
}

impl Machine {
    /// Lets the host handle what the guest asked for and records the interrupts it raised.
    fn settle(&mut self, memory: &Memory) {
        self.services.poll(&mut self.synic, memory);
        dispatch_host_events(&mut self.synic, memory, &mut self.services);
        self.interrupts.extend(self.synic.take_interrupts());
    }
}

/// This OS's `HypervisorBackend`: MSR accesses and hypercalls go to the emulated host (on
/// Hyper-V they would be `rdmsr`/`wrmsr` and a call through the hypercall page).
struct Backend {
    machine: Rc<RefCell<Machine>>,
    memory: Memory,
}

impl HypervisorBackend for Backend {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        let mut machine = self.machine.borrow_mut();
        let result = machine.synic.write_msr(0, msr, value, &self.memory);
        machine.settle(&self.memory);
        result.map_err(|_| PlatformError::GeneralProtection { msr })
    }
    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        let mut machine = self.machine.borrow_mut();
        machine
            .synic
            .read_msr(0, msr)
            .map_err(|_| PlatformError::GeneralProtection { msr })
    }
    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        let mut machine = self.machine.borrow_mut();
        let output = machine.synic.hypercall(
            0,
            input.to_bits(),
            input_parameter,
            output_parameter,
            &self.memory,
        );
        machine.settle(&self.memory);
        Ok(output)
    }
    fn vp_index(&self) -> u32 {
        0
    }
}

const MEMORY_BYTES: usize = 32 << 20;
const SYNIC_PAGES: (u64, u64) = (0x10_0000, 0x11_0000);
const RING_BASE: u64 = 0x20_0000;
const IO_SPACE_BASE: u64 = 0x100_0000;
const DXG: SubscriberId = SubscriberId(1);
/// Bound on pump rounds for one step (each round lets the host run once): the host is
/// untrusted, every wait is bounded.
const ROUNDS: usize = 1000;

/// This OS's VMBus + dxg glue.
struct Guest {
    machine: Rc<RefCell<Machine>>,
    memory: Memory,
    synic: SynicClient<Backend, Memory>,
    client: Client,
    driver: Driver,
    events: Vec<ClientEvent>,
    /// relid → (dxg channel, rings once open).
    channels: BTreeMap<u32, (ChannelId, Option<ChannelRings<Memory>>)>,
    /// Channels waiting for their GPADL or open: relid → ring pfns.
    opening: BTreeMap<u32, Vec<u64>>,
    next_ring_page: u64,
    completions: BTreeMap<Ticket, Result<Reply, dxg::wire::NtStatus>>,
    /// Packets of the dxg core waiting for their channel to open.
    pending_sends: Vec<dxg::core::OutgoingPacket>,
    buffer: Vec<u8>,
}

impl Guest {
    /// Carries out the VMBus client's actions.
    fn run_client_actions(&mut self) {
        while let Some(action) = self.client.poll_action() {
            match action {
                Action::PostMessage {
                    connection_id,
                    message_type,
                    payload,
                } => self
                    .synic
                    .post_message(connection_id, MessageType(message_type), &payload)
                    .expect("post"),
                Action::SignalEvent { connection_id } => {
                    self.synic.signal_event(connection_id, 0).expect("signal")
                }
                Action::Event { event, .. } => self.events.push(event),
            }
        }
    }

    /// What the interrupt handler does: event flags first, then messages.
    fn interrupt(&mut self) {
        let interrupts = std::mem::take(&mut self.machine.borrow_mut().interrupts);
        if interrupts.is_empty() {
            return;
        }
        let fired: Vec<u32> = self
            .synic
            .fired_event_flags(VMBUS_SINT)
            .expect("flags")
            .iter()
            .collect();
        for relid in fired {
            // Flags of channels not open yet are ignored, as the client says.
            let _ = self.client.on_channel_signal(relid);
        }
        while let Some(message) = self.synic.poll_message(VMBUS_SINT).expect("poll") {
            if message.message_type == MessageType::VMBUS {
                // A rejected host message is logged by the client and dropped.
                let _ = self.client.on_message(message.payload().expect("payload"));
            }
        }
    }

    /// One round: host runs, interrupts are handled, actions carried out, events handled.
    fn pump(&mut self) {
        self.machine.borrow_mut().settle(&self.memory);
        self.interrupt();
        self.run_client_actions();
        for event in std::mem::take(&mut self.events) {
            self.on_event(event);
        }
        self.run_client_actions();
        while let Some(action) = self.driver.poll_action() {
            self.on_dxg_action(action);
        }
        self.run_client_actions();
    }

    fn pump_until(&mut self, mut done: impl FnMut(&Guest) -> bool) {
        for _ in 0..ROUNDS {
            if done(self) {
                return;
            }
            self.pump();
        }
        panic!("the host did not answer within {ROUNDS} rounds");
    }

    fn on_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { .. } => self.client.request_offers().expect("offers"),
            ClientEvent::OfferArrived(offer) if offer.class == class::DXG_GLOBAL => {
                self.channels.insert(offer.relid, (ChannelId::Global, None));
                self.driver
                    .global_channel_offered(u32::from(offer.mmio_megabytes));
            }
            ClientEvent::OfferArrived(offer) if offer.class == class::DXG_VIRTUAL_GPU => {
                let instance = offer.instance;
                self.channels
                    .insert(offer.relid, (ChannelId::Vgpu(instance), None));
                self.driver.vgpu_channel_offered(instance);
            }
            ClientEvent::GpadlCreated {
                relid,
                gpadl,
                result,
            } => {
                result.expect("GPADL created");
                let pfns = self.opening.get(&relid).expect("opening").clone();
                let rings = ChannelRings::initialize_for_guest(
                    self.memory.clone(),
                    &pfns,
                    (pfns.len() / 2) as u32,
                )
                .expect("rings");
                self.channels.get_mut(&relid).expect("channel").1 = Some(rings);
                self.client
                    .open_channel(
                        relid,
                        &OpenRequest {
                            ring_gpadl: gpadl,
                            downstream_page_offset: (pfns.len() / 2) as u32,
                            target_vp: 0,
                            user_data: [0; 120],
                        },
                    )
                    .expect("open");
            }
            ClientEvent::ChannelOpened { relid, result } => {
                result.expect("channel opened");
                self.opening.remove(&relid);
                // The dxg core queued packets for this channel before it opened: send now.
                self.flush_queued();
            }
            ClientEvent::ChannelSignalled { relid } => self.drain(relid),
            _ => {}
        }
    }

    fn relid_of(&self, channel: ChannelId) -> u32 {
        self.channels
            .iter()
            .find_map(|(relid, (id, _))| (*id == channel).then_some(*relid))
            .expect("offered channel")
    }

    fn on_dxg_action(&mut self, action: DxgAction) {
        match action {
            DxgAction::OpenChannel {
                channel,
                ring_bytes,
                ..
            } => {
                let relid = self.relid_of(channel);
                // One control page plus the data area, per direction.
                let pages_per_ring = 1 + u64::from(ring_bytes) / 4096;
                let first = self.next_ring_page;
                self.next_ring_page += 2 * pages_per_ring;
                let pfns: Vec<u64> = (first..first + 2 * pages_per_ring).collect();
                let bytes = (pfns.len() * 4096) as u32;
                self.client
                    .create_gpadl(relid, 0, bytes, &pfns)
                    .expect("gpadl");
                self.opening.insert(relid, pfns);
            }
            DxgAction::AllocateIoSpace { bytes, .. } => {
                // In guest RAM, as under QEMU; on Hyper-V it comes from the VMBus MMIO gaps.
                self.driver.io_space_allocated(IO_SPACE_BASE, bytes);
            }
            DxgAction::Send(packet) => self.pending_sends.push(packet),
            DxgAction::Complete { ticket, result } => {
                self.completions.insert(ticket, result);
            }
            DxgAction::ProtocolError(error) => panic!("protocol error: {error:?}"),
            _ => {}
        }
        self.flush_queued();
    }

    /// Writes the dxg core's packets into the outbound rings of open channels; signals the
    /// host when a ring says so.
    fn flush_queued(&mut self) {
        let mut waiting = Vec::new();
        for packet in std::mem::take(&mut self.pending_sends) {
            let relid = self.relid_of(packet.channel);
            let Some((_, Some(rings))) = self.channels.get_mut(&relid) else {
                waiting.push(packet);
                continue;
            };
            if self.opening.contains_key(&relid) {
                waiting.push(packet);
                continue;
            }
            let ring_packet = OutgoingPacket::in_band(
                packet.transaction_id,
                packet.completion_requested,
                &packet.bytes,
            );
            if rings.sender.send(&ring_packet).expect("ring has space") {
                self.client.signal_channel(relid).expect("signal");
            }
        }
        self.pending_sends = waiting;
        self.run_client_actions();
    }

    /// Reads every packet of `relid`'s inbound ring into the dxg core.
    fn drain(&mut self, relid: u32) {
        let Some((channel, Some(rings))) = self.channels.get_mut(&relid) else {
            return;
        };
        let channel = *channel;
        let mut received = Vec::new();
        while let Some(packet) = rings.receiver.read_packet(&mut self.buffer).expect("ring") {
            let kind = if packet.packet_type == PacketType::COMPLETION {
                PacketKind::Completion
            } else {
                PacketKind::InBand
            };
            received.push((
                kind,
                packet.transaction_id,
                packet.payload(&self.buffer).to_vec(),
            ));
        }
        if rings.receiver.commit().expect("ring") {
            self.client.signal_channel(relid).expect("signal");
        }
        for (kind, transaction_id, payload) in received {
            self.driver.receive(channel, kind, transaction_id, &payload);
        }
    }

    /// Submits a request of `process` to the dxg core and pumps until it completes.
    fn request(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus> {
        let ticket = self.driver.submit(process, request);
        self.pump_until(|guest| guest.completions.contains_key(&ticket));
        self.completions.remove(&ticket).expect("completed")
    }
}

/// Where this OS's one application keeps the buffers its D3DKMT calls point to.
const USER_BASE: u64 = 0x40_0000;

/// One application of this OS as the D3DKMT translator sees it: its user memory (one region at
/// [`USER_BASE`]) and its way to the dxg core.
struct Process<'g> {
    guest: &'g mut Guest,
    id: ProcessId,
    user: RefCell<Vec<u8>>,
}

impl Process<'_> {
    /// The offsets of `length` bytes at user `address`, if all of them are in the region.
    fn user_range(&self, address: u64, length: usize) -> Result<Range<usize>, UserMemoryError> {
        let start = address
            .checked_sub(USER_BASE)
            .and_then(|offset| usize::try_from(offset).ok());
        let range = start.and_then(|start| Some(start..start.checked_add(length)?));
        match range {
            Some(range) if range.end <= self.user.borrow().len() => Ok(range),
            _ => Err(UserMemoryError { address }),
        }
    }
}

impl Environment for Process<'_> {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        let range = self.user_range(address, buffer.len())?;
        buffer.copy_from_slice(&self.user.borrow()[range]);
        Ok(())
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        let range = self.user_range(address, data.len())?;
        self.user.borrow_mut()[range].copy_from_slice(data);
        Ok(())
    }

    fn gpu(&mut self, request: Request, _timeout: Timeout) -> Result<Reply, NtStatus> {
        // Every wait is bounded by `pump_until` (the host is untrusted).
        self.guest.request(self.id, request)
    }

    fn map_io(&mut self, _: u64, _: u64, _: ViewAccess) -> Result<u64, NtStatus> {
        // This OS gives its application no CPU views (no Lock2, no monitored fences): the
        // translator then fails those calls with this status.
        Err(NtStatus::NOT_SUPPORTED)
    }

    fn unmap_io(&mut self, _: u64, _: u64) {}
}

#[test]
fn another_os_brings_up_vmbus_and_a_gpu_pv_adapter_and_calls_d3dkmt() {
    let memory: Memory = Arc::new(Ram((0..MEMORY_BYTES / 4)
        .map(|_| AtomicU32::new(0))
        .collect()));
    // The host: the emulator's SynIC, VMBus server and one vGPU, over this OS's memory.
    let mut synic_host = SynicHost::new(HostConfig::default());
    let services = HostServices::new(memory.clone(), ServerConfig::standard(1));
    services.register(&mut synic_host);
    let machine = Rc::new(RefCell::new(Machine {
        synic: synic_host,
        services,
        interrupts: Vec::new(),
    }));

    // Bring-up, in the order of docs/porting.md: SynIC, VMBus connect and offers.
    let backend = Backend {
        machine: machine.clone(),
        memory: memory.clone(),
    };
    let mut pages = BumpPageAllocator::new(SYNIC_PAGES.0, SYNIC_PAGES.1);
    let synic = SynicClient::initialize(
        backend,
        memory.clone(),
        &mut pages,
        SynicConfig::vmbus(0xF3),
    )
    .expect("SynIC up");
    let mut client = Client::new(ClientConfig::default());
    client.subscribe(class::DXG_GLOBAL, DXG);
    client.subscribe(class::DXG_VIRTUAL_GPU, DXG);
    client.connect().expect("connect");
    let mut guest = Guest {
        machine: machine.clone(),
        memory: memory.clone(),
        synic,
        client,
        driver: Driver::new(DriverConfig::default()),
        events: Vec::new(),
        channels: BTreeMap::new(),
        opening: BTreeMap::new(),
        next_ring_page: RING_BASE / 4096,
        completions: BTreeMap::new(),
        pending_sends: Vec::new(),
        buffer: Vec::new(),
    };
    guest.run_client_actions();
    // The GPU-PV function's PCI config space (on Hyper-V: over a virtual PCI bus).
    {
        let mut machine = machine.borrow_mut();
        let config = machine.services.gpu().pci_config(0).expect("vGPU");
        guest
            .driver
            .probe_pci_function(0, PCI_DEVICE_VIRTUAL_RENDER, config)
            .expect("probe");
    }
    guest.pump_until(|guest| guest.driver.global_ready() && guest.pending_sends.is_empty());
    guest.pump_until(|guest| {
        guest
            .driver
            .adapter(dxg::core::AdapterId(0))
            .is_some_and(|adapter| adapter.state == dxg::core::AdapterState::Active)
    });

    // An application's D3DKMT calls, served by the translator: the argument struct as the
    // kernel copied it in, the call number, and the process's environment.
    let mut process = Process {
        guest: &mut guest,
        id: ProcessId(1),
        user: RefCell::new(vec![0; 4096]),
    };
    let mut translator = Translator::new(1, "adoption");
    let adapters_address = USER_BASE;
    let mut enumerate = D3DKMT_ENUMADAPTERS2 {
        NumAdapters: 4,
        pAdapters: adapters_address,
        ..Default::default()
    };
    let status = translator.call(
        &mut process,
        SyscallNumber::EnumAdapters2 as u32,
        enumerate.as_mut_bytes(),
        0,
    );
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(enumerate.NumAdapters, 1);
    assert!(translator.process_created(), "CreateProcess went first");
    let mut adapter = D3DKMT_ADAPTERINFO::default();
    process
        .read_user(adapters_address, adapter.as_mut_bytes())
        .expect("the adapter array is user memory");
    assert_ne!(adapter.hAdapter, 0);

    let adapter_type_address = USER_BASE + 0x100;
    let mut query = D3DKMT_QUERYADAPTERINFO {
        hAdapter: adapter.hAdapter,
        Type: KMTQAITYPE_ADAPTERTYPE_RENDER,
        pPrivateDriverData: adapter_type_address,
        PrivateDriverDataSize: 4,
        ..Default::default()
    };
    let status = translator.call(
        &mut process,
        SyscallNumber::QueryAdapterInfo as u32,
        query.as_mut_bytes(),
        0,
    );
    assert_eq!(status, STATUS_SUCCESS);
    let mut adapter_type = [0u8; 4];
    process
        .read_user(adapter_type_address, &mut adapter_type)
        .expect("the query buffer is user memory");
    let adapter_type = u32::from_le_bytes(adapter_type);
    assert_eq!(
        adapter_type & D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED,
        D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED,
        "paravirtualized"
    );

    // The application exits: the translator unregisters it from the host.
    translator.exit(&mut process);
    assert!(!translator.process_created());
}
