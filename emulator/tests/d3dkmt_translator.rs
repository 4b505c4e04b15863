//! In-process integration: the D3DKMT translator (`drivers::d3dkmt`) with the real dxg core
//! against the emulated vGPU (loopback, no VMBus). Applications' argument structs are laid out
//! in a fake user address space; IO-space mappings made by the translator alias the loopback's
//! IO-space memory, so the test reads fence values and pixels the way an application would.
//! A range of user memory is backed by the loopback's guest RAM (for existing-sysmem
//! allocations), its pages in reverse order so a wrong page-frame order shows.

mod support;

use drivers::d3dkmt::ViewAccess;
use drivers::d3dkmt::test_memory::SparseUserMemory;
use drivers::d3dkmt::{
    Environment, NtStatus, Reply, Request, Timeout, Translator, UserMemoryError,
};
use dxg::core::ProcessId;
use emulator::vgpu::VgpuDescription;
use emulator::vgpu::loopback::{GUEST_RAM_BYTES, IO_SPACE_BASE, Loopback};
use hyperv::memory::GuestMemory;
use std::cell::RefCell;
use std::rc::Rc;
use support::images::{expected_mandelbrot, fnv1a, words};
use userlib::abi::flags::*;
use userlib::abi::status::*;
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;
use zerocopy::{FromBytes, Immutable, IntoBytes};

const WIDTH: u32 = 64;
const HEIGHT: u32 = 48;
const PITCH: u32 = WIDTH * 4;
const ITERATIONS: u32 = 32;
const ADAPTER_LUID: u64 = 0x1234_5678;
const IO_SPACE_MEGABYTES: u32 = 16;

/// Ordinary user memory of the fake processes.
const USER_BASE: u64 = 0x40_0000;
const USER_SIZE: u64 = 0x10_0000;
/// Where the fake places IO-space views.
const VIEW_BASE: u64 = 0x7E00_0000_0000;
/// User memory backed by the loopback's guest RAM: user page `i` is RAM page
/// `RAM_PAGES - 1 - i`.
const RAM_USER_BASE: u64 = 0x60_0000;
const RAM_PAGES: u64 = (GUEST_RAM_BYTES / 4096) as u64;

/// One IO-space view made by `map_io`.
#[derive(Clone, Copy, Debug)]
struct View {
    user_address: u64,
    physical: u64,
    length: u64,
    writable: bool,
}

/// The kernel side of one process: user memory, the shared loopback VM as its GPU, and IO
/// views aliasing the loopback's IO-space memory.
struct LoopbackEnvironment {
    vm: Rc<RefCell<Loopback>>,
    process: ProcessId,
    memory: SparseUserMemory,
    views: Vec<View>,
    next_view: u64,
    requests: Vec<Request>,
    /// Guest-physical address of the loopback's guest RAM.
    ram_base: u64,
}

impl LoopbackEnvironment {
    fn new(vm: &Rc<RefCell<Loopback>>, process: u64) -> Self {
        let memory = SparseUserMemory::new();
        memory.map(USER_BASE, USER_SIZE, true);
        Self {
            vm: vm.clone(),
            process: ProcessId(process),
            memory,
            views: Vec::new(),
            next_view: VIEW_BASE,
            requests: Vec::new(),
            ram_base: vm.borrow().guest_ram_base(),
        }
    }

    /// The guest-physical address behind a user address of the RAM-backed range.
    fn ram_physical(&self, address: u64) -> Option<u64> {
        let page = address.checked_sub(RAM_USER_BASE)? / 4096;
        (page < RAM_PAGES).then(|| self.ram_base + (RAM_PAGES - 1 - page) * 4096 + address % 4096)
    }

    /// Whether `address .. address + length` touches the RAM-backed range.
    fn touches_ram(address: u64, length: usize) -> bool {
        let end = address.saturating_add(length as u64);
        address < RAM_USER_BASE + RAM_PAGES * 4096 && end > RAM_USER_BASE
    }

    /// Calls `access(physical, offset, length)` for each page piece of a range inside the
    /// RAM-backed user memory.
    fn ram_pieces(
        &self,
        address: u64,
        length: usize,
        mut access: impl FnMut(u64, usize, usize) -> Result<(), ()>,
    ) -> Result<(), UserMemoryError> {
        let mut offset = 0;
        while offset < length {
            let at = address + offset as u64;
            let physical = self
                .ram_physical(at)
                .ok_or(UserMemoryError { address: at })?;
            let piece = (4096 - (at % 4096) as usize).min(length - offset);
            access(physical, offset, piece).map_err(|_| UserMemoryError { address: at })?;
            offset += piece;
        }
        Ok(())
    }

    /// The view holding `address .. address + length` entirely, with the physical address.
    fn view_of(&self, address: u64, length: usize) -> Option<(View, u64)> {
        self.views.iter().find_map(|view| {
            let end = address.checked_add(length as u64)?;
            (address >= view.user_address && end <= view.user_address + view.length)
                .then(|| (*view, view.physical + (address - view.user_address)))
        })
    }

    fn in_any_view(&self, address: u64) -> bool {
        self.views
            .iter()
            .any(|view| address >= view.user_address && address < view.user_address + view.length)
    }
}

/// What backs a range of user memory.
enum Backing {
    /// Entirely inside an IO-space view, at this physical address.
    View(View, u64),
    /// Partly inside a view: refused.
    Refused,
    /// Touches the RAM-backed range.
    Ram,
    /// Ordinary user memory.
    User,
}

impl LoopbackEnvironment {
    fn backing(&self, address: u64, length: usize) -> Backing {
        if let Some((view, physical)) = self.view_of(address, length) {
            Backing::View(view, physical)
        } else if self.in_any_view(address) {
            Backing::Refused
        } else if Self::touches_ram(address, length) {
            Backing::Ram
        } else {
            Backing::User
        }
    }
}

impl Environment for LoopbackEnvironment {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        let vm = self.vm.borrow();
        match self.backing(address, buffer.len()) {
            Backing::View(_, physical) => vm
                .memory
                .read(physical, buffer)
                .map_err(|_| UserMemoryError { address }),
            Backing::Refused => Err(UserMemoryError { address }),
            Backing::Ram => self.ram_pieces(address, buffer.len(), |physical, offset, length| {
                vm.memory
                    .read(physical, &mut buffer[offset..offset + length])
                    .map_err(|_| ())
            }),
            Backing::User => self.memory.read(address, buffer),
        }
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        let vm = self.vm.borrow();
        match self.backing(address, data.len()) {
            Backing::View(view, physical) if view.writable => vm
                .memory
                .write(physical, data)
                .map_err(|_| UserMemoryError { address }),
            Backing::View(..) | Backing::Refused => Err(UserMemoryError { address }),
            Backing::Ram => self.ram_pieces(address, data.len(), |physical, offset, length| {
                vm.memory
                    .write(physical, &data[offset..offset + length])
                    .map_err(|_| ())
            }),
            Backing::User => self.memory.write(address, data),
        }
    }

    fn gpu(&mut self, request: Request, timeout: Timeout) -> Result<Reply, NtStatus> {
        self.requests.push(request.clone());
        let result = self.vm.borrow_mut().try_call(self.process, request);
        match (result, timeout) {
            (Some(result), _) => result,
            // The loopback runs everything to completion: what is still pending now only
            // completes after some later event, i.e. after any finite timeout.
            (None, Timeout::Microseconds(_)) => Err(NtStatus::TIMEOUT),
            (None, Timeout::Infinite) => panic!("an infinite wait would hang"),
        }
    }

    fn map_io(&mut self, physical: u64, length: u64, access: ViewAccess) -> Result<u64, NtStatus> {
        let writable = access.writable;
        assert_eq!(physical % 4096, 0);
        assert_eq!(length % 4096, 0);
        let io_end = IO_SPACE_BASE + (u64::from(IO_SPACE_MEGABYTES) << 20);
        if physical < IO_SPACE_BASE || physical + length > io_end {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let user_address = self.next_view;
        self.next_view += length + 0x1_0000;
        self.views.push(View {
            user_address,
            physical,
            length,
            writable,
        });
        Ok(user_address)
    }

    /// Only the RAM-backed range has frames (ordinary user memory here is not guest RAM).
    fn user_page_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, NtStatus> {
        assert_eq!(address % 4096, 0);
        assert_eq!(length % 4096, 0);
        (0..length / 4096)
            .map(|page| {
                self.ram_physical(address + page * 4096)
                    .map(|physical| physical / 4096)
                    .ok_or(NtStatus(STATUS_ACCESS_VIOLATION))
            })
            .collect()
    }

    fn unmap_io(&mut self, user_address: u64, length: u64) {
        let before = self.views.len();
        self.views
            .retain(|view| !(view.user_address == user_address && view.length == length));
        assert_eq!(self.views.len() + 1, before, "unmap of an unknown view");
    }
}

/// An application: its translator and its kernel side.
struct App {
    translator: Translator,
    environment: LoopbackEnvironment,
    /// Bump allocator in user memory.
    next_free: u64,
}

impl App {
    fn new(vm: &Rc<RefCell<Loopback>>, process: u64, name: &str) -> Self {
        Self {
            translator: Translator::new(1000 + process, name),
            environment: LoopbackEnvironment::new(vm, process),
            next_free: USER_BASE,
        }
    }

    /// Calls `number` with `arguments` (copied in and back out); returns the status.
    fn call<T: IntoBytes + FromBytes + Immutable>(
        &mut self,
        number: N,
        arguments: &mut T,
        arg2: u64,
    ) -> i32 {
        let mut bytes = arguments.as_bytes().to_vec();
        let status = self
            .translator
            .call(&mut self.environment, number as u32, &mut bytes, arg2);
        *arguments = T::read_from_bytes(&bytes).unwrap();
        status
    }

    /// Like [`App::call`], asserting success.
    fn ok<T: IntoBytes + FromBytes + Immutable>(&mut self, number: N, arguments: &mut T) {
        let status = self.call(number, arguments, 0);
        assert_eq!(status, STATUS_SUCCESS, "{number:?} failed with {status:#x}");
    }

    /// Copies `data` into fresh user memory; returns its address.
    fn place<T: IntoBytes + Immutable + ?Sized>(&mut self, data: &T) -> u64 {
        let address = self.next_free;
        let length = data.as_bytes().len().max(1) as u64;
        self.next_free = (address + length).next_multiple_of(64);
        assert!(self.next_free <= USER_BASE + USER_SIZE);
        self.environment
            .memory
            .write(address, data.as_bytes())
            .unwrap();
        address
    }

    fn read<T: FromBytes>(&self, address: u64) -> Result<T, UserMemoryError> {
        let mut bytes = vec![0u8; size_of::<T>()];
        self.environment.read_user(address, &mut bytes)?;
        Ok(T::read_from_bytes(&bytes).unwrap())
    }
}

fn new_vm() -> Rc<RefCell<Loopback>> {
    Rc::new(RefCell::new(Loopback::new(
        vec![VgpuDescription::new(ADAPTER_LUID, 0xABCD)],
        IO_SPACE_MEGABYTES,
    )))
}

/// What `open_session` created.
struct Session {
    adapter: u32,
    device: u32,
    context: u32,
    surface: u32,
    fence: u32,
    fence_cpu_address: u64,
}

/// EnumAdapters2 (count, then list), CreateDevice, CreateContextVirtual, CreateAllocation2 and
/// a monitored fence, all through the translator.
fn open_session(app: &mut App) -> Session {
    let mut count = D3DKMT_ENUMADAPTERS2::default();
    app.ok(N::EnumAdapters2, &mut count);
    assert_eq!(count.NumAdapters, 1);
    let list = app.place(&[D3DKMT_ADAPTERINFO::default(); 4]);
    let mut enumerate = D3DKMT_ENUMADAPTERS2 {
        NumAdapters: 4,
        pAdapters: list,
        ..Default::default()
    };
    app.ok(N::EnumAdapters2, &mut enumerate);
    assert_eq!(enumerate.NumAdapters, 1);
    let adapter_info: D3DKMT_ADAPTERINFO = app.read(list).unwrap();
    assert_eq!(adapter_info.AdapterLuid.LowPart as u64, ADAPTER_LUID);
    let adapter = adapter_info.hAdapter;

    let mut device = D3DKMT_CREATEDEVICE {
        hAdapter: adapter,
        ..Default::default()
    };
    app.ok(N::CreateDevice, &mut device);
    let mut context = D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: device.hDevice,
        ClientHint: D3DKMT_CLIENTHINT_DX12,
        ..Default::default()
    };
    app.ok(N::CreateContextVirtual, &mut context);

    let size = u64::from(PITCH * HEIGHT);
    let private = app.place(&size);
    let infos = app.place(&[D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: private,
        PrivateDriverDataSize: 8,
        ..Default::default()
    }]);
    let mut allocation = D3DKMT_CREATEALLOCATION {
        hDevice: device.hDevice,
        NumAllocations: 1,
        pAllocationInfo2: infos,
        ..Default::default()
    };
    app.ok(N::CreateAllocation2, &mut allocation);
    let surface = app
        .read::<D3DDDI_ALLOCATIONINFO2>(infos)
        .unwrap()
        .hAllocation;
    assert_ne!(surface, 0);

    let mut fence = D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: device.hDevice,
        ..Default::default()
    };
    fence.Info.Type = D3DDDI_MONITORED_FENCE;
    app.ok(N::CreateSynchronizationObject2, &mut fence);
    assert_ne!(fence.Info.FenceValueCPUVirtualAddress, 0);
    Session {
        adapter,
        device: device.hDevice,
        context: context.hContext,
        surface,
        fence: fence.hSyncObject,
        fence_cpu_address: fence.Info.FenceValueCPUVirtualAddress,
    }
}

/// SubmitCommand with the Mandelbrot render and a fence signal to `value`.
fn submit_render(app: &mut App, session: &Session, value: u64) -> i32 {
    let mut stream = words(&[4, 32, session.surface, 0, WIDTH, HEIGHT, PITCH, ITERATIONS]);
    stream.extend(words(&[
        5,
        24,
        session.fence,
        0,
        value as u32,
        (value >> 32) as u32,
    ]));
    let length = stream.len() as u32;
    let stream_address = app.place(stream.as_slice());
    let mut submit = D3DKMT_SUBMITCOMMAND {
        BroadcastContextCount: 1,
        pPrivateDriverData: stream_address,
        PrivateDriverDataSize: length,
        ..Default::default()
    };
    submit.BroadcastContext[0] = session.context;
    app.call(N::SubmitCommand, &mut submit, 0)
}

fn cpu_wait(app: &mut App, session: &Session, value: u64, timeout: u64) -> i32 {
    let objects = app.place(&[session.fence]);
    let values = app.place(&[value]);
    let mut wait = D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: session.device,
        ObjectCount: 1,
        ObjectHandleArray: objects,
        FenceValueArray: values,
        ..Default::default()
    };
    app.call(N::WaitForSynchronizationObjectFromCpu, &mut wait, timeout)
}

fn lock(app: &mut App, session: &Session) -> (i32, u64) {
    let mut lock = D3DKMT_LOCK2 {
        hDevice: session.device,
        hAllocation: session.surface,
        ..Default::default()
    };
    let status = app.call(N::Lock2, &mut lock, 0);
    (status, lock.pData)
}

#[test]
fn an_application_renders_a_mandelbrot_through_the_translator() {
    let vm = new_vm();
    let mut app = App::new(&vm, 1, "mandelbrot");
    let session = open_session(&mut app);

    // QueryAdapterInfo(ADAPTERTYPE_RENDER): the buffer comes back filled in.
    let buffer = app.place(&0u32);
    let mut query = D3DKMT_QUERYADAPTERINFO {
        hAdapter: session.adapter,
        Type: KMTQAITYPE_ADAPTERTYPE_RENDER,
        pPrivateDriverData: buffer,
        PrivateDriverDataSize: 4,
        ..Default::default()
    };
    app.ok(N::QueryAdapterInfo, &mut query);
    let adapter_type: u32 = app.read(buffer).unwrap();
    assert_ne!(adapter_type & D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED, 0);
    assert_eq!(adapter_type & D3DKMT_ADAPTERTYPE_DISPLAY_SUPPORTED, 0);

    // The fence page is mapped read-only: readable, not writable.
    assert_eq!(app.read::<u64>(session.fence_cpu_address), Ok(0));
    assert!(
        app.environment
            .write_user(session.fence_cpu_address, &1u64.to_le_bytes())
            .is_err()
    );

    // Render, the command stream signalling the fence to 7.
    assert_eq!(submit_render(&mut app, &session, 7), STATUS_SUCCESS);
    assert_eq!(app.read::<u64>(session.fence_cpu_address), Ok(7));

    // SignalSynchronizationObjectFromGpu to 9, then CPU waits.
    let objects = app.place(&[session.fence]);
    let values = app.place(&[9u64]);
    let mut signal = D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
        hContext: session.context,
        ObjectCount: 1,
        ObjectHandleArray: objects,
        MonitoredFenceValueArray: values,
        ..Default::default()
    };
    app.ok(N::SignalSynchronizationObjectFromGpu, &mut signal);
    assert_eq!(app.read::<u64>(session.fence_cpu_address), Ok(9));
    assert_eq!(cpu_wait(&mut app, &session, 9, u64::MAX), STATUS_SUCCESS);
    assert_eq!(cpu_wait(&mut app, &session, 7, 0), STATUS_SUCCESS);

    // Lock2: the pixels are the Mandelbrot computed on the CPU.
    let (status, pixels_address) = lock(&mut app, &session);
    assert_eq!(status, STATUS_SUCCESS);
    let mut pixels = vec![0u8; (PITCH * HEIGHT) as usize];
    app.environment
        .read_user(pixels_address, &mut pixels)
        .unwrap();
    assert_eq!(
        fnv1a(&pixels),
        fnv1a(&expected_mandelbrot(WIDTH, HEIGHT, ITERATIONS))
    );
    // The view is writable, and it is the allocation itself.
    app.environment
        .write_user(pixels_address, &[1, 2, 3, 4])
        .unwrap();
    let mut copy = [0u8; 4];
    let physical = app
        .environment
        .views
        .iter()
        .find(|view| view.user_address == pixels_address)
        .unwrap()
        .physical;
    vm.borrow().memory.read(physical, &mut copy).unwrap();
    assert_eq!(copy, [1, 2, 3, 4]);
    // A second Lock2 reuses the view; the second Unlock2 removes it.
    assert_eq!(lock(&mut app, &session), (STATUS_SUCCESS, pixels_address));
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: session.device,
        hAllocation: session.surface,
    };
    app.ok(N::Unlock2, &mut unlock);
    assert!(app.read::<u32>(pixels_address).is_ok());
    app.ok(N::Unlock2, &mut unlock);
    assert!(app.read::<u32>(pixels_address).is_err(), "view unmapped");

    // Residency through a paging queue whose fence page is also read-only.
    let mut queue = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: session.device,
        ..Default::default()
    };
    app.ok(N::CreatePagingQueue, &mut queue);
    let list = app.place(&[session.surface]);
    let mut resident = D3DDDI_MAKERESIDENT {
        hPagingQueue: queue.hPagingQueue,
        NumAllocations: 1,
        AllocationList: list,
        ..Default::default()
    };
    assert_eq!(app.call(N::MakeResident, &mut resident, 0), STATUS_PENDING);
    let paging_fence: u64 = app.read(queue.FenceValueCPUVirtualAddress).unwrap();
    assert!(paging_fence >= resident.PagingFenceValue);
    let mut evict = D3DKMT_EVICT {
        hDevice: session.device,
        NumAllocations: 1,
        AllocationList: list,
        ..Default::default()
    };
    app.ok(N::Evict, &mut evict);

    // Device queries.
    let mut state = D3DKMT_GETDEVICESTATE {
        hDevice: session.device,
        StateType: D3DKMT_DEVICESTATE_EXECUTION,
        ..Default::default()
    };
    app.ok(N::GetDeviceState, &mut state);
    assert_eq!(state.ExecutionState, D3DKMT_DEVICEEXECUTION_ACTIVE);
    let mut memory = D3DKMT_QUERYVIDEOMEMORYINFO {
        hAdapter: session.adapter,
        ..Default::default()
    };
    app.ok(N::QueryVideoMemoryInfo, &mut memory);

    // A wait that cannot be satisfied times out (STATUS_TIMEOUT is a success code).
    assert_eq!(cpu_wait(&mut app, &session, 1000, 50), STATUS_TIMEOUT);

    // Tear everything down.
    let surfaces = app.place(&[session.surface]);
    let mut destroy_allocation = D3DKMT_DESTROYALLOCATION2 {
        hDevice: session.device,
        phAllocationList: surfaces,
        AllocationCount: 1,
        ..Default::default()
    };
    app.ok(N::DestroyAllocation2, &mut destroy_allocation);
    let mut destroy_fence = D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        hSyncObject: session.fence,
    };
    app.ok(N::DestroySynchronizationObject, &mut destroy_fence);
    assert!(
        app.read::<u64>(session.fence_cpu_address).is_err(),
        "fence view unmapped"
    );
    let mut destroy_context = D3DKMT_DESTROYCONTEXT {
        hContext: session.context,
    };
    app.ok(N::DestroyContext, &mut destroy_context);
    let mut destroy_queue = D3DDDI_DESTROYPAGINGQUEUE {
        hPagingQueue: queue.hPagingQueue,
    };
    app.ok(N::DestroyPagingQueue, &mut destroy_queue);
    let mut destroy_device = D3DKMT_DESTROYDEVICE {
        hDevice: session.device,
    };
    app.ok(N::DestroyDevice, &mut destroy_device);
    let mut close = D3DKMT_CLOSEADAPTER {
        hAdapter: session.adapter,
    };
    app.ok(N::CloseAdapter, &mut close);
    assert!(app.environment.views.is_empty());
    assert_eq!(app.translator.mapped_views(), 0);

    app.translator.exit(&mut app.environment);
    assert_eq!(
        app.environment.requests.last(),
        Some(&Request::DestroyProcess)
    );
    let vm = vm.borrow();
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0, "all IO-space pages returned");
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
    assert_eq!(vm.host.pending_waits(), 0);
}

#[test]
fn another_process_cannot_use_foreign_handles() {
    let vm = new_vm();
    let mut first = App::new(&vm, 1, "owner");
    let session = open_session(&mut first);
    let mut second = App::new(&vm, 2, "intruder");

    // B uses A's device, context, allocation and fence.
    let mut device = D3DKMT_CREATECONTEXTVIRTUAL {
        hDevice: session.device,
        ..Default::default()
    };
    assert_eq!(
        second.call(N::CreateContextVirtual, &mut device, 0),
        STATUS_INVALID_HANDLE
    );
    assert!(
        second.translator.process_created(),
        "B is registered, with nothing of its own"
    );
    assert_eq!(
        submit_render(&mut second, &session, 1),
        STATUS_INVALID_HANDLE
    );
    assert_eq!(lock(&mut second, &session).0, STATUS_INVALID_HANDLE);
    assert_eq!(
        cpu_wait(&mut second, &session, 0, u64::MAX),
        STATUS_INVALID_HANDLE
    );
    let mut destroy = D3DKMT_DESTROYDEVICE {
        hDevice: session.device,
    };
    assert_eq!(
        second.call(N::DestroyDevice, &mut destroy, 0),
        STATUS_INVALID_HANDLE
    );
    let mut close = D3DKMT_CLOSEADAPTER {
        hAdapter: session.adapter,
    };
    assert_eq!(
        second.call(N::CloseAdapter, &mut close, 0),
        STATUS_INVALID_HANDLE
    );
    assert!(second.environment.views.is_empty());

    // A is unharmed.
    assert_eq!(submit_render(&mut first, &session, 3), STATUS_SUCCESS);
    assert_eq!(first.read::<u64>(session.fence_cpu_address), Ok(3));
    second.translator.exit(&mut second.environment);
    first.translator.exit(&mut first.environment);
    assert_eq!(vm.borrow().host.process_count(), 0);
}

#[test]
fn a_process_that_exits_without_cleaning_up_leaves_nothing_behind() {
    let vm = new_vm();
    let mut app = App::new(&vm, 7, "careless");
    let session = open_session(&mut app);
    let mut queue = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: session.device,
        ..Default::default()
    };
    app.ok(N::CreatePagingQueue, &mut queue);
    assert_eq!(submit_render(&mut app, &session, 1), STATUS_SUCCESS);
    assert_eq!(lock(&mut app, &session).0, STATUS_SUCCESS);
    assert_eq!(
        app.environment.views.len(),
        3,
        "surface, fence and paging fence"
    );
    assert!(vm.borrow().host.object_count() >= 5);

    app.translator.exit(&mut app.environment);
    assert!(app.environment.views.is_empty(), "every view unmapped");
    assert_eq!(
        app.environment.requests.last(),
        Some(&Request::DestroyProcess)
    );
    let loopback = vm.borrow();
    assert_eq!(loopback.host.process_count(), 0);
    assert_eq!(loopback.host.object_count(), 0);
    assert_eq!(loopback.host.io_pages_in_use(), 0);
    assert!(loopback.driver.process(ProcessId(7)).is_none());
    drop(loopback);
    // Exit is idempotent: nothing more is sent.
    let sent = app.environment.requests.len();
    app.translator.exit(&mut app.environment);
    assert_eq!(app.environment.requests.len(), sent);
}

#[test]
fn gpu_virtual_addresses_hardware_queues_and_priorities_through_the_translator() {
    let vm = new_vm();
    let mut app = App::new(&vm, 1, "queues");
    let session = open_session(&mut app);
    let mut paging = D3DKMT_CREATEPAGINGQUEUE {
        hDevice: session.device,
        ..Default::default()
    };
    app.ok(N::CreatePagingQueue, &mut paging);

    // GPU VA: reserve on the adapter, then on the paging queue (the union's other member).
    let size = u64::from(PITCH * HEIGHT).next_multiple_of(4096);
    let mut reserve = D3DDDI_RESERVEGPUVIRTUALADDRESS {
        hAdapter: session.adapter,
        Size: size,
        ..Default::default()
    };
    app.ok(N::ReserveGpuVirtualAddress, &mut reserve);
    let base = reserve.VirtualAddress;
    assert_ne!(base, 0);
    let mut reserve_by_queue = D3DDDI_RESERVEGPUVIRTUALADDRESS {
        hAdapter: paging.hPagingQueue,
        Size: 4096,
        ..Default::default()
    };
    app.ok(N::ReserveGpuVirtualAddress, &mut reserve_by_queue);
    assert_ne!(reserve_by_queue.VirtualAddress, 0);
    assert_ne!(reserve_by_queue.VirtualAddress, base);
    // Map the surface into the first range.
    let mut map = D3DDDI_MAPGPUVIRTUALADDRESS {
        hPagingQueue: paging.hPagingQueue,
        BaseAddress: base,
        hAllocation: session.surface,
        SizeInPages: size / 4096,
        Protection: 1,
        ..Default::default()
    };
    let status = app.call(N::MapGpuVirtualAddress, &mut map, 0);
    assert!(
        status == STATUS_SUCCESS || status == STATUS_PENDING,
        "{status:#x}"
    );
    assert_eq!(map.VirtualAddress, base);
    // Unknown adapter and paging queue alike: refused.
    let mut bad = D3DDDI_RESERVEGPUVIRTUALADDRESS {
        hAdapter: 0xDEAD,
        Size: 4096,
        ..Default::default()
    };
    assert_eq!(
        app.call(N::ReserveGpuVirtualAddress, &mut bad, 0),
        STATUS_INVALID_HANDLE
    );

    // Context priorities round trip, absolute and in-process.
    let mut set = D3DKMT_SETCONTEXTSCHEDULINGPRIORITY {
        hContext: session.context,
        Priority: 3,
    };
    app.ok(N::SetContextSchedulingPriority, &mut set);
    let mut get = D3DKMT_GETCONTEXTSCHEDULINGPRIORITY {
        hContext: session.context,
        Priority: 0,
    };
    app.ok(N::GetContextSchedulingPriority, &mut get);
    assert_eq!(get.Priority, 3);
    let mut set = D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        hContext: session.context,
        Priority: -2,
    };
    app.ok(N::SetContextInProcessSchedulingPriority, &mut set);
    let mut get = D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY {
        hContext: session.context,
        Priority: 0,
    };
    app.ok(N::GetContextInProcessSchedulingPriority, &mut get);
    assert_eq!(get.Priority, -2);

    // Allocation priority round trip.
    let list = app.place(&[session.surface]);
    let priorities = app.place(&[0x7800_0000u32]);
    let mut set = D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: session.device,
        phAllocationList: list,
        AllocationCount: 1,
        pPriorities: priorities,
        ..Default::default()
    };
    app.ok(N::SetAllocationPriority, &mut set);
    let output = app.place(&[0u32]);
    let mut get = D3DKMT_GETALLOCATIONPRIORITY {
        hDevice: session.device,
        phAllocationList: list,
        AllocationCount: 1,
        pPriorities: output,
        ..Default::default()
    };
    app.ok(N::GetAllocationPriority, &mut get);
    assert_eq!(app.read::<u32>(output), Ok(0x7800_0000));

    // A hardware queue: its progress fence is read through a read-only view.
    let mut queue = D3DKMT_CREATEHWQUEUE {
        hHwContext: session.context,
        ..Default::default()
    };
    app.ok(N::CreateHwQueue, &mut queue);
    let progress = queue.HwQueueProgressFenceCPUVirtualAddress;
    assert_ne!(queue.hHwQueue, 0);
    assert_ne!(progress, 0);
    assert_eq!(app.read::<u64>(progress), Ok(0));
    assert!(
        app.environment
            .write_user(progress, &1u64.to_le_bytes())
            .is_err()
    );
    // Render through the queue (the command stream names the surface; the buffer by GPU VA is
    // unused), then the progress fence shows the submission's value.
    let stream = words(&[4, 32, session.surface, 0, WIDTH, HEIGHT, PITCH, ITERATIONS]);
    let length = stream.len() as u32;
    let stream_address = app.place(stream.as_slice());
    let mut submit = D3DKMT_SUBMITCOMMANDTOHWQUEUE {
        hHwQueue: queue.hHwQueue,
        HwQueueProgressFenceId: 5,
        pPrivateDriverData: stream_address,
        PrivateDriverDataSize: length,
        ..Default::default()
    };
    app.ok(N::SubmitCommandToHwQueue, &mut submit);
    assert_eq!(app.read::<u64>(progress), Ok(5));
    let (status, pixels_address) = lock(&mut app, &session);
    assert_eq!(status, STATUS_SUCCESS);
    let mut pixels = vec![0u8; (PITCH * HEIGHT) as usize];
    app.environment
        .read_user(pixels_address, &mut pixels)
        .unwrap();
    assert_eq!(
        fnv1a(&pixels),
        fnv1a(&expected_mandelbrot(WIDTH, HEIGHT, ITERATIONS))
    );
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: session.device,
        hAllocation: session.surface,
    };
    app.ok(N::Unlock2, &mut unlock);
    // The queue signals the session's fence and waits for it.
    let queues = app.place(&[queue.hHwQueue]);
    let objects = app.place(&[session.fence]);
    let values = app.place(&[11u64]);
    let mut signal = D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE {
        BroadcastHwQueueCount: 1,
        BroadcastHwQueueArray: queues,
        ObjectCount: 1,
        ObjectHandleArray: objects,
        FenceValueArray: values,
        ..Default::default()
    };
    app.ok(N::SubmitSignalSyncObjectsToHwQueue, &mut signal);
    assert_eq!(app.read::<u64>(session.fence_cpu_address), Ok(11));
    let mut wait = D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE {
        hHwQueue: queue.hHwQueue,
        ObjectCount: 1,
        ObjectHandleArray: objects,
        FenceValueArray: values,
    };
    app.ok(N::SubmitWaitForSyncObjectsToHwQueue, &mut wait);
    // DestroyHwQueue unmaps the progress fence.
    let mut destroy = D3DKMT_DESTROYHWQUEUE {
        hHwQueue: queue.hHwQueue,
    };
    app.ok(N::DestroyHwQueue, &mut destroy);
    assert!(app.read::<u64>(progress).is_err(), "progress view unmapped");
    assert_eq!(
        app.call(N::SubmitCommandToHwQueue, &mut submit, 0),
        STATUS_INVALID_HANDLE
    );

    // A queue left behind goes with its context.
    let mut queue = D3DKMT_CREATEHWQUEUE {
        hHwContext: session.context,
        ..Default::default()
    };
    app.ok(N::CreateHwQueue, &mut queue);
    let progress = queue.HwQueueProgressFenceCPUVirtualAddress;
    let mut destroy_context = D3DKMT_DESTROYCONTEXT {
        hContext: session.context,
    };
    app.ok(N::DestroyContext, &mut destroy_context);
    assert!(
        app.read::<u64>(progress).is_err(),
        "view gone with its context"
    );

    // Free the GPU VA ranges.
    let mut free = D3DKMT_FREEGPUVIRTUALADDRESS {
        hAdapter: session.adapter,
        BaseAddress: base,
        Size: size,
        ..Default::default()
    };
    app.ok(N::FreeGpuVirtualAddress, &mut free);
    let mut free = D3DKMT_FREEGPUVIRTUALADDRESS {
        hAdapter: session.adapter,
        BaseAddress: reserve_by_queue.VirtualAddress,
        Size: 4096,
        ..Default::default()
    };
    app.ok(N::FreeGpuVirtualAddress, &mut free);

    let mut destroy_device = D3DKMT_DESTROYDEVICE {
        hDevice: session.device,
    };
    app.ok(N::DestroyDevice, &mut destroy_device);
    assert!(app.environment.views.is_empty());
    app.translator.exit(&mut app.environment);
    let vm = vm.borrow();
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0, "all IO-space pages returned");
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

/// A shared resource of one `WIDTH` × `HEIGHT` surface (CreateResource | CreateShared |
/// NtSecuritySharing); returns (resource, allocation).
fn create_shared_surface(app: &mut App, device: u32) -> (u32, u32) {
    let size = u64::from(PITCH * HEIGHT);
    let private = app.place(&size);
    let infos = app.place(&[D3DDDI_ALLOCATIONINFO2 {
        pPrivateDriverData: private,
        PrivateDriverDataSize: 8,
        ..Default::default()
    }]);
    let mut create = D3DKMT_CREATEALLOCATION {
        hDevice: device,
        NumAllocations: 1,
        pAllocationInfo2: infos,
        Flags: dxg::wire::CREATE_ALLOCATION_CREATE_RESOURCE
            | dxg::wire::CREATE_ALLOCATION_CREATE_SHARED
            | dxg::wire::CREATE_ALLOCATION_NT_SECURITY_SHARING,
        ..Default::default()
    };
    app.ok(N::CreateAllocation2, &mut create);
    assert_ne!(create.hResource, 0);
    let surface = app
        .read::<D3DDDI_ALLOCATIONINFO2>(infos)
        .unwrap()
        .hAllocation;
    (create.hResource, surface)
}

/// ShareObjects of one object; returns the status and the "NT handle".
fn share(app: &mut App, objects: &[u32]) -> (i32, u64) {
    let handles = app.place(objects);
    let output = app.place(&0u64);
    let mut share = D3DKMT_SHAREOBJECTS {
        ObjectCount: objects.len() as u32,
        ObjectHandleArray: handles,
        phSharedNtHandle: output,
        ..Default::default()
    };
    let status = app.call(N::ShareObjectsInternal, &mut share, 0);
    (status, app.read(output).unwrap())
}

/// OpenResourceFromNtHandle with `count` entries; returns the status, the struct and the
/// entries.
fn open_shared(
    app: &mut App,
    device: u32,
    nt_handle: u64,
    count: u32,
) -> (
    i32,
    D3DKMT_OPENRESOURCEFROMNTHANDLE,
    Vec<D3DDDI_OPENALLOCATIONINFO2>,
) {
    let entries = vec![D3DDDI_OPENALLOCATIONINFO2::default(); count as usize];
    let infos = app.place(entries.as_slice());
    let mut open = D3DKMT_OPENRESOURCEFROMNTHANDLE {
        hDevice: device,
        hNtHandle: nt_handle,
        NumAllocations: count,
        pOpenAllocationInfo2: infos,
        ..Default::default()
    };
    let status = app.call(N::OpenResourceFromNtHandle, &mut open, 0);
    let written = (0..u64::from(count))
        .map(|index| app.read(infos + index * 80).unwrap())
        .collect();
    (status, open, written)
}

#[test]
fn process_b_opens_what_process_a_shared_and_sees_its_pixels_and_fence() {
    // The guest's formula, not the emulator's renderer: the pixels are checked independently.
    use userlib::vgpu::gradient_pixel;
    let vm = new_vm();
    let mut a = App::new(&vm, 1, "sharer");
    let session_a = open_session(&mut a);
    let (resource, surface) = create_shared_surface(&mut a, session_a.device);
    // A renders a gradient into the shared surface.
    let stream = words(&[3, 28, surface, 0, WIDTH, HEIGHT, PITCH]);
    let length = stream.len() as u32;
    let stream_address = a.place(stream.as_slice());
    let mut submit = D3DKMT_SUBMITCOMMAND {
        BroadcastContextCount: 1,
        pPrivateDriverData: stream_address,
        PrivateDriverDataSize: length,
        ..Default::default()
    };
    submit.BroadcastContext[0] = session_a.context;
    a.ok(N::SubmitCommand, &mut submit);

    // ShareObjects: exactly one object; the NT handle is the shared handle value.
    assert_eq!(
        share(&mut a, &[resource, resource]).0,
        STATUS_INVALID_PARAMETER
    );
    let (status, nt_handle) = share(&mut a, &[resource]);
    assert_eq!(status, STATUS_SUCCESS);
    assert_ne!(nt_handle, 0);
    assert_eq!(a.translator.shared_handles(), 1);
    assert_eq!(vm.borrow().host.shared_object_count(), 1);

    // B asks what the handle holds, then opens it: a wrong count is refused and leaves
    // nothing behind.
    let mut b = App::new(&vm, 2, "opener");
    let session_b = open_session(&mut b);
    let mut query = D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
        hDevice: session_b.device,
        hNtHandle: nt_handle,
        ..Default::default()
    };
    let status = b.call(N::QueryResourceInfoFromNtHandle, &mut query, 0);
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(query.NumAllocations, 1);
    let objects_before = vm.borrow().host.object_count();
    let (status, ..) = open_shared(&mut b, session_b.device, nt_handle, 2);
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    assert_eq!(vm.borrow().host.object_count(), objects_before);
    let (status, ..) = open_shared(&mut b, session_b.device, 0x7777, 1);
    assert_eq!(status, STATUS_INVALID_HANDLE);
    let (status, open, entries) = open_shared(&mut b, session_b.device, nt_handle, 1);
    assert_eq!(status, STATUS_SUCCESS);
    assert_ne!(open.hResource, 0);
    let b_surface = entries[0].hAllocation;
    assert_ne!(b_surface, 0);

    // B's Lock2 of its own handle shows A's pixels.
    let mut lock = D3DKMT_LOCK2 {
        hDevice: session_b.device,
        hAllocation: b_surface,
        ..Default::default()
    };
    b.ok(N::Lock2, &mut lock);
    let mut pixels = vec![0u8; (PITCH * HEIGHT) as usize];
    b.environment.read_user(lock.pData, &mut pixels).unwrap();
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let offset = (y * PITCH + x * 4) as usize;
            let pixel = u32::from_le_bytes(pixels[offset..offset + 4].try_into().unwrap());
            assert_eq!(
                pixel,
                gradient_pixel(x, y, WIDTH, HEIGHT),
                "pixel ({x}, {y})"
            );
        }
    }
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: session_b.device,
        hAllocation: b_surface,
    };
    b.ok(N::Unlock2, &mut unlock);

    // A shared monitored fence (created shared), opened by B with a read-only view.
    let mut fence = D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: session_a.device,
        ..Default::default()
    };
    fence.Info.Type = D3DDDI_MONITORED_FENCE;
    fence.Info.Flags = dxg::wire::SYNC_FLAG_SHARED | dxg::wire::SYNC_FLAG_NT_SECURITY_SHARING;
    a.ok(N::CreateSynchronizationObject2, &mut fence);
    let (status, fence_handle) = share(&mut a, &[fence.hSyncObject]);
    assert_eq!(status, STATUS_SUCCESS);
    let mut open_fence = D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
        hNtHandle: fence_handle,
        hDevice: session_b.device,
        Flags: dxg::wire::SYNC_FLAG_SHARED | dxg::wire::SYNC_FLAG_NT_SECURITY_SHARING,
        ..Default::default()
    };
    b.ok(N::OpenSyncObjectFromNtHandle2, &mut open_fence);
    let b_fence = open_fence.FenceValueCPUVirtualAddress;
    assert_ne!(b_fence, 0);
    assert_eq!(b.read::<u64>(b_fence), Ok(0));
    assert!(
        b.environment
            .write_user(b_fence, &1u64.to_le_bytes())
            .is_err(),
        "B's fence view is read-only"
    );
    // A's GPU signals 21; B reads it through its own view and its CPU wait is met.
    let signal = words(&[5, 24, fence.hSyncObject, 0, 21, 0]);
    let length = signal.len() as u32;
    submit.pPrivateDriverData = a.place(signal.as_slice());
    submit.PrivateDriverDataSize = length;
    a.ok(N::SubmitCommand, &mut submit);
    assert_eq!(b.read::<u64>(b_fence), Ok(21));
    assert_eq!(
        a.read::<u64>(fence.Info.FenceValueCPUVirtualAddress),
        Ok(21)
    );
    let b_session_fence = Session {
        fence: open_fence.hSyncObject,
        ..session_b
    };
    assert_eq!(cpu_wait(&mut b, &b_session_fence, 21, 0), STATUS_SUCCESS);
    assert_eq!(a.translator.shared_handles(), 2);

    // ShareObjectWithHost gives a token.
    let mut host = D3DKMT_SHAREOBJECTWITHHOST {
        hDevice: session_a.device,
        hObject: resource,
        ..Default::default()
    };
    a.ok(N::ShareObjectWithHost, &mut host);
    assert_ne!(host.hVailNtHandle, 0);

    // A exits without cleaning up: its shared handles go with it; B's copies stay.
    a.translator.exit(&mut a.environment);
    assert_eq!(vm.borrow().host.shared_object_count(), 0);
    assert_eq!(
        a.environment
            .requests
            .iter()
            .filter(|request| matches!(request, Request::DestroyNtSharedObject { .. }))
            .count(),
        0,
        "the core's teardown destroys them, once"
    );
    b.ok(N::Lock2, &mut lock);
    b.environment
        .read_user(lock.pData, &mut pixels[..4])
        .unwrap();
    assert_eq!(
        u32::from_le_bytes(pixels[..4].try_into().unwrap()),
        gradient_pixel(0, 0, WIDTH, HEIGHT)
    );
    assert_eq!(b.read::<u64>(b_fence), Ok(21));
    // B destroys the opened resource (its view goes first) and the opened fence.
    let mut destroy = D3DKMT_DESTROYALLOCATION2 {
        hDevice: session_b.device,
        hResource: open.hResource,
        ..Default::default()
    };
    b.ok(N::DestroyAllocation2, &mut destroy);
    assert!(b.read::<u32>(lock.pData).is_err(), "view unmapped");
    let mut destroy_fence = D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
        hSyncObject: open_fence.hSyncObject,
    };
    b.ok(N::DestroySynchronizationObject, &mut destroy_fence);
    assert!(b.read::<u64>(b_fence).is_err(), "fence view unmapped");
    b.translator.exit(&mut b.environment);
    assert!(b.environment.views.is_empty());
    let vm = vm.borrow();
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0, "all IO-space pages returned");
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}

/// CreateAllocation2 of one `WIDTH` × `HEIGHT` surface over the application's memory at
/// `address`; returns the status and the allocation handle.
fn create_sysmem_surface(app: &mut App, device: u32, address: u64) -> (i32, u32) {
    let size = u64::from(PITCH * HEIGHT);
    let private = app.place(&size);
    let infos = app.place(&[D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: address,
        pPrivateDriverData: private,
        PrivateDriverDataSize: 8,
        ..Default::default()
    }]);
    let mut create = D3DKMT_CREATEALLOCATION {
        hDevice: device,
        NumAllocations: 1,
        pAllocationInfo2: infos,
        Flags: D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM,
        ..Default::default()
    };
    let status = app.call(N::CreateAllocation2, &mut create, 0);
    let allocation = app.read::<D3DDDI_ALLOCATIONINFO2>(infos).unwrap();
    (status, allocation.hAllocation)
}

/// SubmitCommand of a command stream on the session's context.
fn submit_stream(app: &mut App, session: &Session, stream: &[u32]) {
    let stream = words(stream);
    let length = stream.len() as u32;
    let address = app.place(stream.as_slice());
    let mut submit = D3DKMT_SUBMITCOMMAND {
        BroadcastContextCount: 1,
        pPrivateDriverData: address,
        PrivateDriverDataSize: length,
        ..Default::default()
    };
    submit.BroadcastContext[0] = session.context;
    app.ok(N::SubmitCommand, &mut submit);
}

#[test]
fn the_gpu_renders_into_the_applications_own_memory() {
    // The guest's formula, not the emulator's renderer: the pixels are checked independently.
    use userlib::vgpu::gradient_pixel;
    let vm = new_vm();
    let mut app = App::new(&vm, 1, "sysmem");
    let session = open_session(&mut app);
    let size = (PITCH * HEIGHT) as usize;
    let pages = (size / 4096) as u64;
    assert_eq!(size % 4096, 0);

    // Memory that is not guest RAM cannot back an allocation: refused, nothing left behind.
    let objects = vm.borrow().host.object_count();
    let (status, _) = create_sysmem_surface(&mut app, session.device, USER_BASE + 0x8_0000);
    assert_eq!(status, STATUS_ACCESS_VIOLATION);
    assert_eq!(vm.borrow().host.object_count(), objects);
    assert_eq!(vm.borrow().host.sysmem_window_count(), 0);

    // The application fills its memory, then hands it to the GPU.
    let pattern: Vec<u8> = (0..size).map(|index| (index * 7 % 251) as u8).collect();
    app.environment.write_user(RAM_USER_BASE, &pattern).unwrap();
    app.environment.requests.clear();
    let (status, surface) = create_sysmem_surface(&mut app, session.device, RAM_USER_BASE);
    assert_eq!(status, STATUS_SUCCESS);
    assert_ne!(surface, 0);
    let ram_page = |page: u64| vm.borrow().guest_ram_base() / 4096 + RAM_PAGES - 1 - page;
    assert_eq!(
        app.environment.requests[1],
        Request::SetExistingSysmemPages {
            device: dxg::wire::D3dkmtHandle(session.device),
            allocation: dxg::wire::D3dkmtHandle(surface),
            page_frames: (0..pages).map(ram_page).collect(),
        }
    );
    assert_eq!(vm.borrow().host.sysmem_window_count(), 1);

    // The GPU reads the application's bytes: COPY into the IO-space surface, seen by Lock2.
    let length = size as u32;
    submit_stream(
        &mut app,
        &session,
        &[2, 28, surface, 0, session.surface, 0, length],
    );
    let (status, view) = lock(&mut app, &session);
    assert_eq!(status, STATUS_SUCCESS);
    let mut copied = vec![0u8; size];
    app.environment.read_user(view, &mut copied).unwrap();
    assert_eq!(copied, pattern);
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: session.device,
        hAllocation: session.surface,
    };
    app.ok(N::Unlock2, &mut unlock);

    // The GPU renders a gradient into the allocation; the application reads it from its own
    // memory, without Lock2.
    submit_stream(
        &mut app,
        &session,
        &[
            3,
            28,
            surface,
            0,
            WIDTH,
            HEIGHT,
            PITCH,
            5,
            24,
            session.fence,
            0,
            3,
            0,
        ],
    );
    assert_eq!(cpu_wait(&mut app, &session, 3, 0), STATUS_SUCCESS);
    let mut pixels = vec![0u8; size];
    app.environment
        .read_user(RAM_USER_BASE, &mut pixels)
        .unwrap();
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let offset = (y * PITCH + x * 4) as usize;
            let pixel = u32::from_le_bytes(pixels[offset..offset + 4].try_into().unwrap());
            assert_eq!(
                pixel,
                gradient_pixel(x, y, WIDTH, HEIGHT),
                "pixel ({x}, {y})"
            );
        }
    }

    // Lock2 gives the application's own address back (no view); Unlock2 is answered.
    let mut lock = D3DKMT_LOCK2 {
        hDevice: session.device,
        hAllocation: surface,
        ..Default::default()
    };
    app.ok(N::Lock2, &mut lock);
    assert_eq!(lock.pData, RAM_USER_BASE);
    assert_eq!(app.translator.mapped_views(), 1, "only the fence page");
    let mut unlock = D3DKMT_UNLOCK2 {
        hDevice: session.device,
        hAllocation: surface,
    };
    app.ok(N::Unlock2, &mut unlock);

    // Destroyed like any allocation: the window goes, the application's memory stays.
    let list = app.place(&[surface]);
    let mut destroy = D3DKMT_DESTROYALLOCATION2 {
        hDevice: session.device,
        phAllocationList: list,
        AllocationCount: 1,
        ..Default::default()
    };
    app.ok(N::DestroyAllocation2, &mut destroy);
    assert_eq!(vm.borrow().host.sysmem_window_count(), 0);
    let mut first = [0u8; 4];
    app.environment
        .read_user(RAM_USER_BASE, &mut first)
        .unwrap();
    assert_eq!(
        u32::from_le_bytes(first),
        gradient_pixel(0, 0, WIDTH, HEIGHT)
    );

    app.translator.exit(&mut app.environment);
    let vm = vm.borrow();
    assert_eq!(vm.host.process_count(), 0);
    assert_eq!(vm.host.object_count(), 0);
    assert_eq!(vm.host.io_pages_in_use(), 0, "all IO-space pages returned");
    assert!(vm.protocol_errors.is_empty(), "{:?}", vm.protocol_errors);
}
