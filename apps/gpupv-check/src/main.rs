//! `gpupv-check`: checks GPU-PV with only the D3DKMT calls every host's GPU serves, whatever
//! its vendor: no call here carries vendor user-mode-driver data (which a real vendor kernel
//! driver would reject from us), so it can pass on a real Hyper-V host as well as against the
//! emulated vGPU.
//!
//! Steps, one line each (`gpupv-check: <step>: ...`):
//! 1. enumerate the adapters; query the first one's adapter type, physical device ids, driver
//!    description and segment sizes (the types every WDDM driver answers); WDDM 2.7 caps is
//!    optional: STATUS_NOT_SUPPORTED is reported and skipped;
//! 2. create a device and a paging queue;
//! 3. a CPU-visible allocation through the standard-allocation path (an existing heap over this
//!    process's own pages, whose driver data the host supplies); Lock2, write a pattern, read it
//!    back, Unlock2;
//! 4. a monitored fence: signal from the CPU, wait from the CPU, read the fence page;
//! 5. residency (MakeResident, QueryAllocationResidency, Evict), priority (Set / Get) and
//!    QueryClockCalibration;
//! 6. check that the process's dxg object count (the `DxgObjectCount` debug call) names the
//!    live objects, destroy everything and check that the count is back to zero.
//!
//! The last line is `gpupv-check: passed` or `gpupv-check: failed at <step>: 0x<NTSTATUS>`
//! (after the objects made so far were destroyed). Exits 0 when passed, 1 otherwise.
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![no_main]

use userlib::abi::status::{STATUS_NOT_SUPPORTED, STATUS_PENDING};
use userlib::abi::{self, D3DKMT_HANDLE, NTSTATUS, flags};
use userlib::println;
use userlib::sys::{Native, SyscallNumber, call_d3dkmt, process};

/// `STATUS_DATA_ERROR` (ntstatus.h): what a step reports when the calls succeeded but the data
/// read back is wrong.
const STATUS_DATA_ERROR: NTSTATUS = 0xC000_003E_u32 as i32;
/// KMTQAITYPE_GETSEGMENTSIZE: a `D3DKMT_SEGMENTSIZEINFO` (three u64).
const QUERY_SEGMENT_SIZE: u32 = 3;
/// KMTQAITYPE_PHYSICALADAPTERDEVICEIDS: `D3DKMT_QUERY_DEVICE_IDS` (index, then vendor, device,
/// subsystem vendor, subsystem, revision, bus type).
const QUERY_PHYSICAL_DEVICE_IDS: u32 = 31;
/// KMTQAITYPE_DRIVER_DESCRIPTION: UTF-16, at most 256 units.
const QUERY_DRIVER_DESCRIPTION: u32 = 65;
/// KMTQAITYPE_WDDM_2_7_CAPS (optional).
const QUERY_WDDM_2_7_CAPS: u32 = 70;
/// `D3DDDI_ALLOCATIONPRIORITY_NORMAL`.
const PRIORITY_NORMAL: u32 = 0x7800_0000;
/// Every CPU wait's bound: 10 s, in microseconds (generous for a loaded emulator).
const WAIT_MICROSECONDS: u64 = 10_000_000;
/// The heap's size: two pages.
const HEAP_SIZE: usize = 2 * 4096;

/// The existing heap: this process's own page-aligned memory.
#[repr(C, align(4096))]
struct Heap([u8; HEAP_SIZE]);

static mut HEAP: Heap = Heap([0; HEAP_SIZE]);

/// A step that failed: its name and the status.
struct Failure {
    step: &'static str,
    status: NTSTATUS,
}

type Step<T> = Result<T, Failure>;

/// The objects made so far, destroyed in reverse order at the end.
struct Objects {
    adapters: [D3DKMT_HANDLE; abi::D3DKMT_ADAPTERS_MAX],
    adapter_count: usize,
    device: D3DKMT_HANDLE,
    paging_queue: D3DKMT_HANDLE,
    paging_fence: D3DKMT_HANDLE,
    allocation: D3DKMT_HANDLE,
    fence: D3DKMT_HANDLE,
}

impl Objects {
    const fn new() -> Objects {
        Objects {
            adapters: [0; abi::D3DKMT_ADAPTERS_MAX],
            adapter_count: 0,
            device: 0,
            paging_queue: 0,
            paging_fence: 0,
            allocation: 0,
            fence: 0,
        }
    }
}

/// The entry point.
// SAFETY: `_start` is the entry symbol the linker makes the ELF entry point (the kernel starts
// the process there); nothing else linked into this program (userlib, core, compiler_builtins)
// defines a `_start`, so the unmangled name clashes with no other symbol.
#[unsafe(no_mangle)]
pub extern "C" fn _start(_argument: u64) -> ! {
    let mut objects = Objects::new();
    let result = check_empty("object count before")
        .and_then(|()| run(&mut objects))
        .and_then(|()| destroy(&mut objects))
        .and_then(|()| check_empty("object count after"));
    let code = match result {
        Ok(()) => {
            println!("gpupv-check: passed");
            0
        }
        Err(failure) => {
            let _ = destroy(&mut objects);
            println!(
                "gpupv-check: failed at {}: {:#010x}",
                failure.step, failure.status as u32
            );
            1
        }
    };
    process::exit_now(code)
}

/// Calls D3DKMT entry point `number` with `arguments`; an error status fails `step`.
fn call<T>(step: &'static str, number: SyscallNumber, arguments: &mut T) -> Step<NTSTATUS> {
    call_with(step, number, arguments, 0)
}

fn call_with<T>(
    step: &'static str,
    number: SyscallNumber,
    arguments: &mut T,
    arg2: u64,
) -> Step<NTSTATUS> {
    let status = call_d3dkmt(&Native, number, arguments, arg2);
    if status < 0 {
        Err(Failure { step, status })
    } else {
        Ok(status)
    }
}

fn data_error(step: &'static str) -> Failure {
    Failure {
        step,
        status: STATUS_DATA_ERROR,
    }
}

/// The process's dxg object count must be zero.
fn check_empty(step: &'static str) -> Step<()> {
    match process::dxg_object_count(&Native) {
        Ok(0) => {
            println!("gpupv-check: {step}: 0 dxg objects");
            Ok(())
        }
        Ok(count) => {
            println!("gpupv-check: {step}: {count} dxg objects, expected 0");
            Err(data_error(step))
        }
        Err(status) => Err(Failure { step, status }),
    }
}

fn run(objects: &mut Objects) -> Step<()> {
    let adapter = enumerate(objects)?;
    query_adapter(adapter)?;
    create_device(objects, adapter)?;
    create_heap(objects)?;
    write_and_read_back(objects)?;
    fence(objects)?;
    residency(objects)?;
    priority(objects)?;
    clock_calibration(adapter)?;
    check_live(objects)
}

/// While everything lives, the object count names at least the adapter, the device, the paging
/// queue, the allocation and the fence (so the count after the teardown means something).
fn check_live(objects: &Objects) -> Step<()> {
    let step = "object count while live";
    let minimum = objects.adapter_count as u64 + 4;
    match process::dxg_object_count(&Native) {
        Ok(count) if count >= minimum => {
            println!("gpupv-check: {step}: {count} dxg objects (at least {minimum})");
            Ok(())
        }
        Ok(count) => {
            println!("gpupv-check: {step}: {count} dxg objects, expected at least {minimum}");
            Err(data_error(step))
        }
        Err(status) => Err(Failure { step, status }),
    }
}

/// EnumAdapters2: every adapter comes back open (closed in [`destroy`]); returns the first.
fn enumerate(objects: &mut Objects) -> Step<D3DKMT_HANDLE> {
    let step = "enumerate adapters";
    let mut infos = [abi::D3DKMT_ADAPTERINFO::default(); abi::D3DKMT_ADAPTERS_MAX];
    let mut arguments = abi::D3DKMT_ENUMADAPTERS2 {
        NumAdapters: infos.len() as u32,
        pAdapters: infos.as_mut_ptr() as u64,
        ..Default::default()
    };
    call(step, SyscallNumber::EnumAdapters2, &mut arguments)?;
    let count = (arguments.NumAdapters as usize).min(infos.len());
    for (slot, info) in objects.adapters.iter_mut().zip(&infos[..count]) {
        *slot = info.hAdapter;
    }
    objects.adapter_count = count;
    let first = infos[..count].first().ok_or(Failure {
        step,
        status: STATUS_NOT_SUPPORTED,
    })?;
    println!(
        "gpupv-check: {step}: {count} adapter(s), first LUID {:#x}:{:#x}",
        first.AdapterLuid.HighPart, first.AdapterLuid.LowPart
    );
    Ok(first.hAdapter)
}

fn query(step: &'static str, adapter: D3DKMT_HANDLE, kind: u32, buffer: &mut [u8]) -> Step<()> {
    let mut arguments = abi::D3DKMT_QUERYADAPTERINFO {
        hAdapter: adapter,
        Type: kind,
        pPrivateDriverData: buffer.as_mut_ptr() as u64,
        PrivateDriverDataSize: buffer.len() as u32,
        ..Default::default()
    };
    call(step, SyscallNumber::QueryAdapterInfo, &mut arguments).map(|_| ())
}

fn word(bytes: &[u8], index: usize) -> u32 {
    let mut value = [0u8; 4];
    if let Some(slice) = bytes.get(index * 4..index * 4 + 4) {
        value.copy_from_slice(slice);
    }
    u32::from_le_bytes(value)
}

/// The adapter-info types every WDDM driver answers, and the optional WDDM 2.7 caps.
fn query_adapter(adapter: D3DKMT_HANDLE) -> Step<()> {
    let mut adapter_type = [0u8; 4];
    query(
        "query adapter type",
        adapter,
        flags::KMTQAITYPE_ADAPTERTYPE,
        &mut adapter_type,
    )?;
    let bits = word(&adapter_type, 0);
    println!(
        "gpupv-check: query adapter type: {bits:#x} (paravirtualized={})",
        u8::from(bits & flags::D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED != 0)
    );
    let mut ids = [0u8; 28];
    query(
        "query physical device ids",
        adapter,
        QUERY_PHYSICAL_DEVICE_IDS,
        &mut ids,
    )?;
    println!(
        "gpupv-check: query physical device ids: vendor {:#06x} device {:#06x} subsystem {:#06x}:{:#06x} revision {:#x}",
        word(&ids, 1),
        word(&ids, 2),
        word(&ids, 3),
        word(&ids, 4),
        word(&ids, 5)
    );
    describe(adapter)?;
    let mut sizes = [0u8; 24];
    query(
        "query segment sizes",
        adapter,
        QUERY_SEGMENT_SIZE,
        &mut sizes,
    )?;
    let size =
        |index: usize| u64::from(word(&sizes, index)) | u64::from(word(&sizes, index + 1)) << 32;
    println!(
        "gpupv-check: query segment sizes: dedicated video {} MiB, dedicated system {} MiB, shared system {} MiB",
        size(0) >> 20,
        size(2) >> 20,
        size(4) >> 20
    );
    let mut caps = [0u8; 4];
    match query(
        "query WDDM 2.7 caps",
        adapter,
        QUERY_WDDM_2_7_CAPS,
        &mut caps,
    ) {
        Ok(()) => println!("gpupv-check: query WDDM 2.7 caps: {:#x}", word(&caps, 0)),
        Err(failure) if failure.status == STATUS_NOT_SUPPORTED => {
            println!(
                "gpupv-check: query WDDM 2.7 caps: not supported by this host (optional, skipped)"
            )
        }
        Err(failure) => return Err(failure),
    }
    Ok(())
}

/// KMTQAITYPE_DRIVER_DESCRIPTION, printed as text.
fn describe(adapter: D3DKMT_HANDLE) -> Step<()> {
    let mut description = [0u8; 512];
    query(
        "query driver description",
        adapter,
        QUERY_DRIVER_DESCRIPTION,
        &mut description,
    )?;
    let units = description
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0);
    let mut text = [0u8; 256];
    let mut length = 0;
    for character in char::decode_utf16(units) {
        let character = character.unwrap_or(char::REPLACEMENT_CHARACTER);
        let character = if character.is_ascii() && !character.is_ascii_control() {
            character as u8
        } else {
            b'?'
        };
        if let Some(slot) = text.get_mut(length) {
            *slot = character;
            length += 1;
        }
    }
    let text = core::str::from_utf8(&text[..length]).unwrap_or("?");
    println!("gpupv-check: query driver description: \"{text}\"");
    Ok(())
}

/// CreateDevice and CreatePagingQueue.
fn create_device(objects: &mut Objects, adapter: D3DKMT_HANDLE) -> Step<()> {
    let mut device = abi::D3DKMT_CREATEDEVICE {
        hAdapter: adapter,
        ..Default::default()
    };
    call("create device", SyscallNumber::CreateDevice, &mut device)?;
    objects.device = device.hDevice;
    println!("gpupv-check: create device: handle {:#x}", device.hDevice);
    let mut queue = abi::D3DKMT_CREATEPAGINGQUEUE {
        hDevice: objects.device,
        ..Default::default()
    };
    call(
        "create paging queue",
        SyscallNumber::CreatePagingQueue,
        &mut queue,
    )?;
    objects.paging_queue = queue.hPagingQueue;
    objects.paging_fence = queue.hSyncObject;
    println!(
        "gpupv-check: create paging queue: handle {:#x}, fence {:#x} (page mapped: {})",
        queue.hPagingQueue,
        queue.hSyncObject,
        u8::from(queue.FenceValueCPUVirtualAddress != 0)
    );
    Ok(())
}

/// CreateAllocation2 with StandardAllocation (EXISTINGHEAP) over [`HEAP`].
fn create_heap(objects: &mut Objects) -> Step<()> {
    let step = "create existing-heap allocation";
    let memory = (&raw mut HEAP) as u64;
    let mut standard = abi::D3DKMT_CREATESTANDARDALLOCATION {
        Type: flags::D3DKMT_STANDARDALLOCATIONTYPE_EXISTINGHEAP,
        ExistingHeapSize: HEAP_SIZE as u64,
        ..Default::default()
    };
    let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
        pSystemMem: memory,
        ..Default::default()
    };
    let mut arguments = abi::D3DKMT_CREATEALLOCATION {
        hDevice: objects.device,
        pPrivateDriverData: core::ptr::from_mut(&mut standard) as u64,
        NumAllocations: 1,
        pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
        Flags: flags::D3DKMT_CREATEALLOCATIONFLAGS_STANDARD_ALLOCATION
            | flags::D3DKMT_CREATEALLOCATIONFLAGS_EXISTING_SYSMEM,
        ..Default::default()
    };
    call(step, SyscallNumber::CreateAllocation2, &mut arguments)?;
    objects.allocation = info.hAllocation;
    println!(
        "gpupv-check: {step}: handle {:#x}, {} KiB at {memory:#x}",
        info.hAllocation,
        HEAP_SIZE / 1024
    );
    Ok(())
}

/// The byte pattern written at `index`.
fn pattern(index: usize) -> u8 {
    (index as u8)
        .wrapping_mul(31)
        .wrapping_add((index >> 8) as u8)
        ^ 0xA5
}

/// Lock2, write the pattern through the returned pointer, read it back, Unlock2.
fn write_and_read_back(objects: &mut Objects) -> Step<()> {
    let mut lock = abi::D3DKMT_LOCK2 {
        hDevice: objects.device,
        hAllocation: objects.allocation,
        ..Default::default()
    };
    call("lock allocation", SyscallNumber::Lock2, &mut lock)?;
    if lock.pData == 0 || !lock.pData.is_multiple_of(4096) {
        return Err(data_error("lock allocation"));
    }
    println!(
        "gpupv-check: lock allocation: CPU address {:#x}",
        lock.pData
    );
    let pointer = lock.pData as *mut u8;
    for index in 0..HEAP_SIZE {
        // SAFETY: a successful Lock2 maps the allocation's whole size (HEAP_SIZE, as created)
        // at pData, readable and writable, until the Unlock2 below; nothing else uses it now.
        unsafe { pointer.add(index).write_volatile(pattern(index)) };
    }
    let wrong = (0..HEAP_SIZE)
        // SAFETY: as above, the mapping is still live.
        .filter(|index| unsafe { pointer.add(*index).read_volatile() } != pattern(*index))
        .count();
    let mut unlock = abi::D3DKMT_UNLOCK2 {
        hDevice: objects.device,
        hAllocation: objects.allocation,
    };
    if wrong != 0 {
        let _ = call("unlock allocation", SyscallNumber::Unlock2, &mut unlock);
        println!("gpupv-check: write and read back: {wrong} of {HEAP_SIZE} bytes wrong");
        return Err(data_error("write and read back"));
    }
    println!("gpupv-check: write and read back: {HEAP_SIZE} bytes verified");
    call("unlock allocation", SyscallNumber::Unlock2, &mut unlock)?;
    println!("gpupv-check: unlock allocation: ok");
    Ok(())
}

/// Waits from the CPU until `object` reaches `value` (bounded by [`WAIT_MICROSECONDS`]).
fn wait_cpu(
    step: &'static str,
    device: D3DKMT_HANDLE,
    object: D3DKMT_HANDLE,
    value: u64,
) -> Step<()> {
    let objects = [object];
    let values = [value];
    let mut arguments = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: device,
        ObjectCount: 1,
        ObjectHandleArray: objects.as_ptr() as u64,
        FenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    let status = call_with(
        step,
        SyscallNumber::WaitForSynchronizationObjectFromCpu,
        &mut arguments,
        WAIT_MICROSECONDS,
    )?;
    if status == userlib::abi::status::STATUS_TIMEOUT {
        return Err(Failure { step, status });
    }
    Ok(())
}

/// A monitored fence: create, signal 1 from the CPU, wait for 1 from the CPU, read its page.
fn fence(objects: &mut Objects) -> Step<()> {
    let mut create = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
        hDevice: objects.device,
        Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
            Type: flags::D3DDDI_MONITORED_FENCE,
            ..Default::default()
        },
        ..Default::default()
    };
    call(
        "create monitored fence",
        SyscallNumber::CreateSynchronizationObject2,
        &mut create,
    )?;
    objects.fence = create.hSyncObject;
    let page = create.Info.FenceValueCPUVirtualAddress;
    println!(
        "gpupv-check: create monitored fence: handle {:#x}, fence page {page:#x}",
        create.hSyncObject
    );
    let handles = [objects.fence];
    let values = [1u64];
    let mut signal = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
        hDevice: objects.device,
        ObjectCount: 1,
        ObjectHandleArray: handles.as_ptr() as u64,
        FenceValueArray: values.as_ptr() as u64,
        ..Default::default()
    };
    call(
        "signal fence from CPU",
        SyscallNumber::SignalSynchronizationObjectFromCpu,
        &mut signal,
    )?;
    println!("gpupv-check: signal fence from CPU: value 1");
    wait_cpu("wait for fence from CPU", objects.device, objects.fence, 1)?;
    println!("gpupv-check: wait for fence from CPU: reached 1");
    if page == 0 || !page.is_multiple_of(8) {
        return Err(data_error("read fence page"));
    }
    // SAFETY: a successful CreateSynchronizationObject2 maps the fence value read-only at this
    // 8-byte aligned address until DestroySynchronizationObject, which comes later.
    let value = unsafe { (page as *const u64).read_volatile() };
    if value < 1 {
        println!("gpupv-check: read fence page: {value}, expected at least 1");
        return Err(data_error("read fence page"));
    }
    println!("gpupv-check: read fence page: {value}");
    Ok(())
}

/// MakeResident (waiting for the paging fence when the host answers PENDING),
/// QueryAllocationResidency and Evict.
fn residency(objects: &mut Objects) -> Step<()> {
    let allocations = [objects.allocation];
    let mut resident = abi::D3DDDI_MAKERESIDENT {
        hPagingQueue: objects.paging_queue,
        NumAllocations: 1,
        AllocationList: allocations.as_ptr() as u64,
        ..Default::default()
    };
    let status = call("make resident", SyscallNumber::MakeResident, &mut resident)?;
    if status == STATUS_PENDING {
        let value = resident.PagingFenceValue;
        wait_cpu(
            "wait for paging fence",
            objects.device,
            objects.paging_fence,
            value,
        )?;
    }
    println!(
        "gpupv-check: make resident: status {status:#x}, paging fence {}",
        resident.PagingFenceValue
    );
    let mut states = [0u32; 1];
    let mut query = abi::D3DKMT_QUERYALLOCATIONRESIDENCY {
        hDevice: objects.device,
        phAllocationList: allocations.as_ptr() as u64,
        AllocationCount: 1,
        pResidencyStatus: states.as_mut_ptr() as u64,
        ..Default::default()
    };
    call(
        "query residency",
        SyscallNumber::QueryAllocationResidency,
        &mut query,
    )?;
    println!(
        "gpupv-check: query residency: {} (1 = in GPU memory, 2 = in shared memory, 3 = not resident)",
        states[0]
    );
    let mut evict = abi::D3DKMT_EVICT {
        hDevice: objects.device,
        NumAllocations: 1,
        AllocationList: allocations.as_ptr() as u64,
        ..Default::default()
    };
    call("evict", SyscallNumber::Evict, &mut evict)?;
    println!("gpupv-check: evict: ok");
    Ok(())
}

/// SetAllocationPriority, then GetAllocationPriority must give it back.
fn priority(objects: &mut Objects) -> Step<()> {
    let allocations = [objects.allocation];
    let priorities = [PRIORITY_NORMAL];
    let mut set = abi::D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: objects.device,
        phAllocationList: allocations.as_ptr() as u64,
        AllocationCount: 1,
        pPriorities: priorities.as_ptr() as u64,
        ..Default::default()
    };
    call(
        "set allocation priority",
        SyscallNumber::SetAllocationPriority,
        &mut set,
    )?;
    let mut read = [0u32; 1];
    let mut get = abi::D3DKMT_GETALLOCATIONPRIORITY {
        hDevice: objects.device,
        phAllocationList: allocations.as_ptr() as u64,
        AllocationCount: 1,
        pPriorities: read.as_mut_ptr() as u64,
        ..Default::default()
    };
    call(
        "get allocation priority",
        SyscallNumber::GetAllocationPriority,
        &mut get,
    )?;
    if read[0] != PRIORITY_NORMAL {
        println!(
            "gpupv-check: get allocation priority: {:#x}, set {PRIORITY_NORMAL:#x}",
            read[0]
        );
        return Err(data_error("get allocation priority"));
    }
    println!("gpupv-check: set and get allocation priority: {PRIORITY_NORMAL:#x}");
    Ok(())
}

/// QueryClockCalibration of node 0.
fn clock_calibration(adapter: D3DKMT_HANDLE) -> Step<()> {
    let mut arguments = abi::D3DKMT_QUERYCLOCKCALIBRATION {
        hAdapter: adapter,
        ..Default::default()
    };
    call(
        "query clock calibration",
        SyscallNumber::QueryClockCalibration,
        &mut arguments,
    )?;
    let (frequency, gpu, cpu) = (
        arguments.GpuFrequency,
        arguments.GpuClockCounter,
        arguments.CpuClockCounter,
    );
    println!(
        "gpupv-check: query clock calibration: GPU {frequency} Hz, GPU counter {gpu}, CPU counter {cpu}"
    );
    Ok(())
}

/// Destroys what [`Objects`] holds, newest first; each handle is forgotten once destroyed
/// (so a second call after a failure destroys only the rest).
fn destroy(objects: &mut Objects) -> Step<()> {
    if objects.fence != 0 {
        let mut arguments = abi::D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
            hSyncObject: core::mem::take(&mut objects.fence),
        };
        call(
            "destroy fence",
            SyscallNumber::DestroySynchronizationObject,
            &mut arguments,
        )?;
    }
    if objects.allocation != 0 {
        let handles = [core::mem::take(&mut objects.allocation)];
        let mut arguments = abi::D3DKMT_DESTROYALLOCATION2 {
            hDevice: objects.device,
            phAllocationList: handles.as_ptr() as u64,
            AllocationCount: 1,
            ..Default::default()
        };
        call(
            "destroy allocation",
            SyscallNumber::DestroyAllocation2,
            &mut arguments,
        )?;
    }
    if objects.paging_queue != 0 {
        objects.paging_fence = 0;
        let mut arguments = abi::D3DDDI_DESTROYPAGINGQUEUE {
            hPagingQueue: core::mem::take(&mut objects.paging_queue),
        };
        call(
            "destroy paging queue",
            SyscallNumber::DestroyPagingQueue,
            &mut arguments,
        )?;
    }
    if objects.device != 0 {
        let mut arguments = abi::D3DKMT_DESTROYDEVICE {
            hDevice: core::mem::take(&mut objects.device),
        };
        call(
            "destroy device",
            SyscallNumber::DestroyDevice,
            &mut arguments,
        )?;
    }
    while objects.adapter_count > 0 {
        objects.adapter_count -= 1;
        let mut arguments = abi::D3DKMT_CLOSEADAPTER {
            hAdapter: objects.adapters[objects.adapter_count],
        };
        call("close adapter", SyscallNumber::CloseAdapter, &mut arguments)?;
    }
    println!("gpupv-check: destroy everything: ok");
    Ok(())
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    println!(
        "gpupv-check: failed at panic: {:#010x}",
        STATUS_DATA_ERROR as u32
    );
    process::exit_now(98)
}
