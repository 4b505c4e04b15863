//! The GPU demo: a kernel-side client of the dxg task that walks the smoke sequence of the
//! GPU-PV protocol (process, adapter, device, context, allocation, monitored fence), has the
//! (emulated) GPU render a Mandelbrot image into the allocation, waits on the fence from the CPU,
//! reads the surface back, checks it against an image computed here independently, and shows
//! it on the UEFI framebuffer.
//!
//! [`gpupv_check`] is the boot report's `gpupv-check` stage: the smallest round trip that shows
//! the host's GPU-PV works for this guest with no vendor driver in it (enumerate, query the
//! adapter type and driver description, create and destroy a device).

use alloc::format;
use alloc::string::String;
use alloc::vec;

use boot_info::Framebuffer;
use dxg::core::{AllocationRequest, ProcessId, Reply, Request, SyncObjectKind};
use dxg::wire::{CreateAllocationCommand, CreateContextVirtualCommand, D3dkmtHandle, Luid};
use hyperv::memory::GuestMemory;
use userlib::vgpu::{
    Fnv1a, Surface, image_checksum, mandelbrot_packet, mandelbrot_pixel, signal_fence_packet,
};
use zerocopy::FromZeros;

use super::dxg_task::{GpuCall, GpuClient};
use crate::hypervisor::physical_memory::PhysicalMemory;

/// Width of the rendered image in pixels.
pub const WIDTH: u32 = 256;
/// Height of the rendered image in pixels.
pub const HEIGHT: u32 = 192;
/// Mandelbrot iteration limit.
pub const ITERATIONS: u32 = 48;
const PITCH: u32 = WIDTH * 4;
/// Fence value the render signals.
const FENCE_VALUE: u64 = 1;

/// What the demo verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// The adapter's LUID (low, high).
    pub adapter_luid: (u32, u32),
    /// FNV-1a 64 of the surface read back.
    pub checksum: u64,
    /// Whether the image was drawn on the framebuffer.
    pub shown: bool,
}

struct Session<'a> {
    gpu: &'a GpuClient,
    process: ProcessId,
}

impl Session<'_> {
    fn call(&self, request: Request) -> Result<Reply, String> {
        let name = request_name(&request);
        match self.gpu.call(GpuCall {
            process: self.process,
            request,
        }) {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(status)) => Err(format!("{name} failed with {status:?}")),
            Err(error) => Err(format!("{name}: the dxg task did not answer ({error:?})")),
        }
    }
}

fn request_name(request: &Request) -> &'static str {
    match request {
        Request::CreateProcess { .. } => "CreateProcess",
        Request::EnumAdapters => "EnumAdapters",
        Request::CreateDevice { .. } => "CreateDevice",
        Request::CreateContext { .. } => "CreateContext",
        Request::CreateAllocation { .. } => "CreateAllocation",
        Request::CreateSyncObject { .. } => "CreateSyncObject",
        Request::SubmitCommand { .. } => "SubmitCommand",
        Request::WaitFromCpu { .. } => "WaitFromCpu",
        Request::Lock { .. } => "Lock",
        Request::Unlock { .. } => "Unlock",
        Request::QueryAdapterInfo { .. } => "QueryAdapterInfo",
        Request::DestroyDevice { .. } => "DestroyDevice",
        Request::DestroyProcess => "DestroyProcess",
        _ => "request",
    }
}

fn unexpected(what: &str, reply: &Reply) -> String {
    format!("{what}: unexpected reply {reply:?}")
}

/// `KMTQAITYPE_DRIVER_DESCRIPTION` (d3dkmthk.h): the driver's description, UTF-16, ≤ 256 units.
const QUERY_DRIVER_DESCRIPTION: u32 = 65;

/// What the GPU-PV check got from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpupvCheck {
    /// Adapters the host enumerated.
    pub adapters: usize,
    /// The first adapter's LUID.
    pub luid: Luid,
    /// Its `D3DKMT_ADAPTERTYPE` bits (KMTQAITYPE_ADAPTERTYPE).
    pub adapter_type: u32,
    /// Its driver description, or why the host did not give one (not every host answers
    /// this query; it is reported, not required).
    pub description: Result<String, String>,
    /// The handle of the device created and destroyed.
    pub device: u32,
}

/// The driver description our emulated vGPU reports (`emulator/src/vgpu/mod.rs`,
/// `VgpuDescription::new`). The virtual PCI ids (1414:008E) are the same on every GPU-PV host
/// and the emulator reports them as the physical ids too, so the description is what tells our
/// vGPU from a real host's GPU.
pub const EMULATED_VGPU_DESCRIPTION: &str = "dxgos emulated vGPU";

impl GpupvCheck {
    /// Whether the adapter is the dxgos emulated vGPU, whose private command stream the
    /// vGPU-specific demos submit (a vendor kernel driver would reject it).
    pub fn is_emulated_vgpu(&self) -> bool {
        self.description.as_deref() == Ok(EMULATED_VGPU_DESCRIPTION)
    }
}

/// The `gpupv-check`: as guest process `process`, enumerates the adapters, queries the first
/// one's type and driver description, creates a device and destroys it, then destroys the
/// process. Every step is a real host round trip through the dxg task.
pub fn gpupv_check(gpu: &GpuClient, process: ProcessId) -> Result<GpupvCheck, String> {
    let session = Session { gpu, process };
    session.call(Request::CreateProcess {
        pid: process.0,
        name: "gpupv-check".into(),
    })?;
    let result = check_first_adapter(&session);
    let teardown = session.call(Request::DestroyProcess);
    let check = result?;
    teardown?;
    Ok(check)
}

fn check_first_adapter(session: &Session<'_>) -> Result<GpupvCheck, String> {
    let adapters = match session.call(Request::EnumAdapters)? {
        Reply::Adapters(adapters) => adapters,
        other => return Err(unexpected("EnumAdapters", &other)),
    };
    let adapter = *adapters.first().ok_or("EnumAdapters: no GPU adapter")?;
    let adapter_type = match session.call(Request::QueryAdapterInfo {
        adapter: adapter.handle,
        query_type: userlib::abi::flags::KMTQAITYPE_ADAPTERTYPE,
        data: vec![0; 4],
    })? {
        Reply::AdapterInfo(data) if data.len() >= 4 => {
            u32::from_le_bytes([data[0], data[1], data[2], data[3]])
        }
        other => return Err(unexpected("QueryAdapterInfo(ADAPTERTYPE)", &other)),
    };
    let description = match session.call(Request::QueryAdapterInfo {
        adapter: adapter.handle,
        query_type: QUERY_DRIVER_DESCRIPTION,
        data: vec![0; 512],
    }) {
        Ok(Reply::AdapterInfo(data)) => Ok(utf16_text(&data)),
        Ok(other) => Err(unexpected("QueryAdapterInfo(DRIVER_DESCRIPTION)", &other)),
        Err(error) => Err(error),
    };
    let device = create_device(session, adapter.handle)?;
    session.call(Request::DestroyDevice { device })?;
    Ok(GpupvCheck {
        adapters: adapters.len(),
        luid: adapter.luid,
        adapter_type,
        description,
        device: device.0,
    })
}

/// NUL-terminated little-endian UTF-16 as text (unpaired surrogates as U+FFFD).
/// Creates a device on `adapter`.
fn create_device(session: &Session<'_>, adapter: D3dkmtHandle) -> Result<D3dkmtHandle, String> {
    match session.call(Request::CreateDevice { adapter, flags: 0 })? {
        Reply::Device(device) => Ok(device),
        other => Err(unexpected("CreateDevice", &other)),
    }
}

fn utf16_text(data: &[u8]) -> String {
    let units = data
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0);
    char::decode_utf16(units)
        .map(|character| character.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Runs the demo as guest process `process` through `gpu`; draws on `framebuffer` if given.
pub fn run(
    gpu: &GpuClient,
    process: ProcessId,
    framebuffer: Option<&Framebuffer>,
) -> Result<DemoReport, String> {
    let session = Session { gpu, process };
    session.call(Request::CreateProcess {
        pid: process.0,
        name: "gpu-demo".into(),
    })?;
    let result = render_and_verify(&session, framebuffer);
    // DESTROYPROCESS also releases whatever the render left behind (the Linux exit order).
    let teardown = session.call(Request::DestroyProcess);
    let report = result?;
    teardown?;
    Ok(report)
}

fn render_and_verify(
    session: &Session<'_>,
    framebuffer: Option<&Framebuffer>,
) -> Result<DemoReport, String> {
    let adapters = match session.call(Request::EnumAdapters)? {
        Reply::Adapters(adapters) => adapters,
        other => return Err(unexpected("EnumAdapters", &other)),
    };
    let adapter = adapters.first().ok_or("no GPU adapter")?;
    let device = create_device(session, adapter.handle)?;
    let context = match session.call(Request::CreateContext {
        command: CreateContextVirtualCommand {
            device,
            ..FromZeros::new_zeroed()
        },
        private_data: vec![],
    })? {
        Reply::Context { context, .. } => context,
        other => return Err(unexpected("CreateContext", &other)),
    };
    let size = u64::from(PITCH * HEIGHT);
    let surface = match session.call(Request::CreateAllocation {
        command: CreateAllocationCommand {
            device,
            ..FromZeros::new_zeroed()
        },
        runtime_data: vec![],
        driver_data: vec![],
        allocations: vec![AllocationRequest {
            private_data: size.to_le_bytes().to_vec(),
            ..Default::default()
        }],
    })? {
        Reply::Allocations { allocations, .. } => {
            allocations.first().ok_or("no allocation created")?.handle
        }
        other => return Err(unexpected("CreateAllocation", &other)),
    };
    let fence = match session.call(Request::CreateSyncObject {
        device,
        kind: SyncObjectKind::MonitoredFence {
            initial_value: 0,
            engine_affinity: 0,
        },
        flags: 0,
    })? {
        Reply::SyncObject { handle, .. } => handle,
        other => return Err(unexpected("CreateSyncObject", &other)),
    };
    let target = Surface {
        allocation: surface.0,
        offset: 0,
        width: WIDTH,
        height: HEIGHT,
        pitch: PITCH,
    };
    let mut stream = mandelbrot_packet(target, ITERATIONS).to_vec();
    stream.extend(signal_fence_packet(fence.0, FENCE_VALUE));
    session.call(Request::SubmitCommand {
        contexts: vec![context],
        command_buffer: 0,
        command_length: 0,
        private_data: stream,
        history_buffers: vec![],
    })?;
    match session.call(Request::WaitFromCpu {
        device,
        objects: vec![fence],
        values: vec![FENCE_VALUE],
        wait_any: false,
    })? {
        Reply::WaitCompleted => {}
        other => return Err(unexpected("WaitFromCpu", &other)),
    }
    let address = match session.call(Request::Lock {
        device,
        allocation: surface,
    })? {
        Reply::Locked { address, .. } => address,
        other => return Err(unexpected("Lock", &other)),
    };
    let memory = PhysicalMemory::of_this_guest().ok_or("no memory map")?;
    let mut pixels = vec![0u8; size as usize];
    memory
        .read(address, &mut pixels)
        .map_err(|error| format!("reading the surface at {address:#x}: {error}"))?;
    session.call(Request::Unlock {
        device,
        allocation: surface,
    })?;
    let checksum = Fnv1a::of(&pixels);
    // The Mandelbrot image of docs/vgpu-command-processor.md, computed on the CPU.
    let expected = image_checksum(WIDTH, HEIGHT, |x, y| {
        mandelbrot_pixel(x, y, WIDTH, HEIGHT, ITERATIONS)
    });
    if checksum != expected {
        return Err(format!(
            "surface checksum {checksum:#018x}, expected {expected:#018x}"
        ));
    }
    let shown = framebuffer
        .map(|framebuffer| crate::display::draw_centred(framebuffer, WIDTH, HEIGHT, &pixels))
        .unwrap_or(false);
    Ok(DemoReport {
        adapter_luid: (adapter.luid.low, adapter.luid.high),
        checksum,
        shown,
    })
}
