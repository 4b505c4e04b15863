//! The normal boot path's services: the platform, the VMBus bus task and the device drivers.
//!
//! [`GpuStack::start`] detects the hypervisor, spawns the bus task, the virtual PCI task and the
//! dxg task, each with the channel endpoints it needs (never globals), and returns the handles:
//! a [`dxg_task::GpuClient`] to make GPU calls, and what is needed to shut everything down.
//! [`run`] is the `mode=run` demo (user processes through [`gpu_gateway::DxgGateway`]); the
//! QEMU tests use [`GpuStack`] directly.

pub mod dxg_task;
pub mod gpu_demo;
pub mod gpu_gateway;
pub mod mmio_space;
pub mod vmbus_task;
pub mod vpci_task;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use boot_info::{BootInfo, Framebuffer};
use hyperv::mmio::{MmioGaps, MmioRange};
use vmbus::client::SubscriberId;

use crate::hypervisor;
use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::ipc::Receiver;
use crate::process::{self, ProcessExit, images};
use crate::syscall::FramebufferGrant;
use crate::task::{self, TaskHandle};

/// What the kernel hands the service start-up.
pub struct ServiceContext {
    /// The boot information (framebuffer, command line, ...).
    pub boot_info: &'static BootInfo,
}

/// Driver ids on the bus.
const DXG_SUBSCRIBER: SubscriberId = SubscriberId(0x0d);
const VPCI_SUBSCRIBER: SubscriberId = SubscriberId(0x0e);

/// The running GPU driver stack.
pub struct GpuStack {
    /// Makes GPU calls to the dxg task.
    pub gpu: dxg_task::GpuClient,
    bus: vmbus_task::BusHandle,
    dxg: TaskHandle<()>,
    vpci: vpci_task::VpciHandle,
}

impl GpuStack {
    /// Detects the platform and starts the bus, virtual PCI and dxg tasks. Waits until the bus
    /// has all offers and the first adapter is up (or `wait_milliseconds` passed).
    pub fn start(wait_milliseconds: u64) -> Result<GpuStack, String> {
        let (backend, _) = hypervisor::detect().map_err(|error| format!("platform: {error}"))?;
        let memory = PhysicalMemory::of_this_guest().ok_or("no boot memory map")?;
        let bus = vmbus_task::spawn(backend, memory).map_err(|error| format!("vmbus: {error}"))?;
        let (version, offers) = bus
            .connect_and_list()
            .map_err(|error| format!("vmbus: {error}"))?;
        log::info!("vmbus: version {version:?}, {} offers", offers.len());
        // PROVISIONAL (lead replaces with ACPI gaps)
        let gaps = MmioGaps {
            low: None,
            high: Some(MmioRange::new(0x10_0000_0000, 1 << 30)),
        };
        let mmio =
            mmio_space::MmioSpace::new(gaps, None).map_err(|error| format!("mmio: {error}"))?;
        let (pci_functions, vpci) = vpci_task::spawn(bus.requests.clone(), VPCI_SUBSCRIBER, mmio);
        let (gpu, adapter_events, dxg) =
            dxg_task::spawn(bus.requests.clone(), DXG_SUBSCRIBER, pci_functions);
        let stack = GpuStack {
            gpu,
            bus,
            dxg,
            vpci,
        };
        if !wait_for_adapter(&adapter_events, wait_milliseconds) {
            log::warn!("dxg: no adapter became active within {wait_milliseconds} ms");
        }
        Ok(stack)
    }

    /// Stops the dxg and vPCI tasks, unloads VMBus and waits for every task.
    pub fn shut_down(self) -> Result<(), String> {
        let GpuStack {
            gpu,
            bus,
            dxg,
            vpci,
        } = self;
        drop(gpu);
        let dxg_result = dxg.join();
        let vpci_result = vpci.stop().join();
        let bus_result = bus.shut_down().join();
        dxg_result.map_err(|fault| format!("dxg task faulted: {fault:?}"))?;
        vpci_result.map_err(|fault| format!("vPCI task faulted: {fault:?}"))?;
        bus_result.map_err(|fault| format!("bus task faulted: {fault:?}"))
    }
}

/// Waits until an adapter reports `Active` or `wait_milliseconds` passed.
fn wait_for_adapter(events: &Receiver<dxg_task::AdapterEvent>, wait_milliseconds: u64) -> bool {
    let mut waited = 0;
    loop {
        while let Ok(event) = events.try_recv() {
            if event.state == dxg::core::AdapterState::Active {
                return true;
            }
        }
        if waited >= wait_milliseconds {
            return false;
        }
        task::sleep_milliseconds(5);
        waited += 5;
    }
}

/// The applications `mode=run` runs, in order: (name, spawn argument, gets the framebuffer).
/// `gpu-demo` comes last so that its picture stays on the screen.
const DEMO_APPLICATIONS: [(&str, u64, bool); 3] = [
    ("d3dkmt-info", 0, false),
    ("c-demo", 0, false),
    ("gpu-demo", 0, true),
];

/// `mode=run`: bring the GPU stack up, run the demo applications as user processes (the last
/// one renders on the GPU through D3DKMT and shows its picture), shut down.
pub fn run(context: &ServiceContext) -> Result<(), String> {
    let stack = GpuStack::start(5_000)?;
    let framebuffer = context.boot_info.framebuffer().copied();
    let result = run_applications(&stack, framebuffer);
    if let Ok(true) = result {
        crate::serial::write_str("dxgos: screen ready\n");
        // Leave the picture up long enough for a screendump.
        task::sleep_milliseconds(1_500);
    }
    if let Err(error) = &result {
        log::error!("demo: {error}");
    }
    let shutdown = stack.shut_down();
    result?;
    shutdown
}

/// Runs [`DEMO_APPLICATIONS`] one after the other, each with its own GPU gateway; returns
/// whether a picture was shown. Any application that does not exit with 0 is an error.
fn run_applications(stack: &GpuStack, framebuffer: Option<Framebuffer>) -> Result<bool, String> {
    let mut shown = false;
    for (name, argument, wants_framebuffer) in DEMO_APPLICATIONS {
        let image = images::find(name).ok_or_else(|| format!("no embedded application {name}"))?;
        // Without a framebuffer, the demo runs in its headless mode.
        let (argument, grant) = match (wants_framebuffer, framebuffer) {
            (true, Some(framebuffer)) => (argument, Some(FramebufferGrant { framebuffer })),
            (true, None) => (argument | 1, None),
            (false, _) => (argument, None),
        };
        let mut builder = process::Builder::new(name, image).argument(argument);
        if let Some(grant) = grant {
            builder = builder.framebuffer(grant);
        }
        let gateway = Box::new(gpu_gateway::DxgGateway::new(stack.gpu.clone(), name));
        let handle = builder
            .spawn(gateway)
            .map_err(|error| format!("{name}: spawn failed: {error:?}"))?;
        match handle.join() {
            ProcessExit::Exited(0) => log::info!("demo: {name} exited with 0"),
            other => return Err(format!("{name} ended badly: {other:?}")),
        }
        shown |= grant.is_some();
    }
    Ok(shown)
}
