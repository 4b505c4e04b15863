//! The normal boot path's services: the platform, the VMBus bus task and the device drivers.
//!
//! [`GpuStack::start`] detects the hypervisor, spawns the bus task, the virtual PCI task and the
//! dxg task, each with the channel endpoints it needs (never globals), and returns the handles:
//! a [`dxg_task::GpuClient`] to make GPU calls, and what is needed to shut everything down.
//! [`run`] is the `mode=run` demo (user processes through [`gpu_gateway::DxgGateway`]); the
//! QEMU tests use [`GpuStack`] directly.
//!
//! The boot report (`crate::diagnostics`) follows the bring-up here: the `hypervisor`,
//! `synic`, `vmbus` and `offers` stages (the platform line, CPUID leaves, SynIC read-back, the
//! negotiated version and every offer), each adapter event, and in `mode=run` the
//! `gpupv-check` round trip ([`gpu_demo::gpupv_check`]) and the `gpupv-check` application
//! (vendor-neutral D3DKMT calls only; its lines copied into the report) before `result ok`. The vPCI and dxg tasks enter
//! the stages between (`vpci-d0`, `dxg-io-space`, `adapter-active`) themselves.

pub mod channel_signal;
pub mod dxg_task;
pub mod gpu_demo;
pub mod gpu_gateway;
pub mod host_waits;
pub mod integration_task;
pub mod mmio_space;
pub mod supervisor;
pub mod vmbus_task;
pub mod vpci_task;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use boot_info::{BootInfo, Framebuffer};
use drivers::integration::{GuestIdentity, ShutdownKind};
use dxg::core::{AdapterState, ProcessId};
use hyperv::mmio::{MmioGaps, MmioRange};
use vmbus::client::{ChannelOffer, SubscriberId};
use vmbus::guid::{Guid, class};

use crate::diagnostics::{self, Stage};
use crate::hvdiag;
use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::hypervisor::{self, Backend};
use crate::ipc::Receiver;
use crate::process::{self, ProcessExit, images};
use crate::syscall::FramebufferGrant;
use crate::task;

/// What the kernel hands the service start-up.
pub struct ServiceContext {
    /// The boot information (framebuffer, command line, ...).
    pub boot_info: &'static BootInfo,
}

/// The boot's MMIO pool: the VMBus MMIO gaps the firmware describes in ACPI, with the GOP
/// framebuffer taken out (as Linux's `vmbus_reserve_fb`: on Gen2 it lies in the low gap).
fn boot_mmio_space() -> Result<mmio_space::MmioSpace, String> {
    let gaps = vmbus_mmio_gaps().inspect_err(|reason| hvdiag!("mmio {reason}"))?;
    let framebuffer = mmio_space::framebuffer();
    hvdiag!(
        "mmio low={} high={}{}",
        gap_text(gaps.low),
        gap_text(gaps.high),
        framebuffer
            .filter(|range| gaps.ranges().any(|gap| gap.overlaps(range)))
            .map(|range| format!(" framebuffer={range} reserved"))
            .unwrap_or_default()
    );
    mmio_space::MmioSpace::new(gaps, framebuffer).map_err(|error| format!("mmio gaps: {error}"))
}

fn gap_text(gap: Option<MmioRange>) -> String {
    gap.map(|range| format!("{range}"))
        .unwrap_or_else(|| "none".into())
}

/// The VMBus MMIO gaps as ACPI describes them (`\\_SB.VMOD._CRS`, see
/// `drivers::acpi_mmio`), found when the platform was parsed.
fn vmbus_mmio_gaps() -> Result<MmioGaps, String> {
    let info = crate::platform::info().ok_or("the platform was not set up")?;
    info.vmbus_mmio
        .clone()
        .map_err(|error| format!("no VMBus MMIO gaps in ACPI: {error}"))
}

/// Driver ids on the bus.
/// How many times a driver task re-reads an inbound ring in one drain when the host keeps
/// writing (see [`drained`]): a host that never stops cannot keep a task in one drain forever.
pub(crate) const DRAIN_ROUNDS: u32 = 64;

/// Ends one round of a drain, after the read index was committed, as Linux's `hv_end_read`
/// (include/linux/hyperv.h) does: clear the interrupt mask, fence, and look at the ring again.
/// The host signals only when it finds the ring empty (the read index equal to its previous
/// write index, `hv_signal_on_write`), so a packet it wrote after our last read but before our
/// commit came without a signal and must be read now, or it waits for an unrelated wake-up.
/// Returns `true` when the drain may end: the ring is empty, it cannot be read, or `round`
/// reached [`DRAIN_ROUNDS`] (logged; the rest waits for the next signal or the waits' bounds).
pub(crate) fn drained<M: hyperv::memory::GuestMemory>(
    inbound: &mut vmbus::ring::RingReceiver<M>,
    relid: u32,
    round: u32,
) -> bool {
    match inbound.unmask_and_check_empty() {
        Ok(true) => true,
        Ok(false) if round >= DRAIN_ROUNDS => {
            log::warn!("vmbus: relid {relid}: the host kept writing through {round} drain rounds");
            true
        }
        Ok(false) => false,
        Err(error) => {
            log::warn!("vmbus: relid {relid}: ring re-check failed: {error:?}");
            true
        }
    }
}

const DXG_SUBSCRIBER: SubscriberId = SubscriberId(0x0d);
const VPCI_SUBSCRIBER: SubscriberId = SubscriberId(0x0e);
const INTEGRATION_SUBSCRIBER: SubscriberId = SubscriberId(0x0f);

/// The running GPU driver stack.
pub struct GpuStack {
    /// Makes GPU calls to the first dxg task (a restarted one is reached through `link`).
    pub gpu: dxg_task::GpuClient,
    /// Asks the first dxg task for a process's object count.
    pub objects: dxg_task::ObjectCountClient,
    /// The current dxg task, followed across restarts (what process gateways use).
    pub link: gpu_gateway::GpuLink,
    supervisor: supervisor::SupervisorHandle,
    /// Shutdown and restart requests of the host (the shutdown integration service).
    pub host_requests: Receiver<integration_task::ShutdownRequest>,
    /// Whether the platform is real Hyper-V (not the emulator).
    pub on_real_hyperv: bool,
}

impl GpuStack {
    /// Detects the platform and starts the bus, virtual PCI and dxg tasks. Waits until the bus
    /// has all offers and the first adapter is up (or `wait_milliseconds` passed).
    pub fn start(wait_milliseconds: u64) -> Result<GpuStack, String> {
        diagnostics::enter(Stage::Hypervisor);
        let (backend, features) =
            hypervisor::detect().map_err(|error| format!("platform: {error}"))?;
        diagnostics::report_platform(&backend);
        let backend_is_real = matches!(backend, Backend::Real(_));
        let memory = PhysicalMemory::of_this_guest().ok_or("no boot memory map")?;
        diagnostics::enter(Stage::Synic);
        let bus = vmbus_task::spawn(backend, memory).map_err(|error| format!("vmbus: {error}"))?;
        let listed = bus.connect_and_list();
        diagnostics::report_synic(backend_is_real, features.as_ref())
            .map_err(|reason| format!("synic: {reason}"))?;
        diagnostics::enter(Stage::Vmbus);
        let (version, offers) = listed.map_err(|error| format!("vmbus: {error}"))?;
        log::info!("vmbus: version {version:?}, {} offers", offers.len());
        match bus.connection_id() {
            Some(connection) => hvdiag!("vmbus version={version} connection={connection}"),
            None => hvdiag!("vmbus version={version} connection=unknown"),
        }
        let (host_request_sender, host_requests) = crate::ipc::channel(4);
        let integration = integration_task::spawn_with_requests(
            bus.requests.clone(),
            INTEGRATION_SUBSCRIBER,
            GuestIdentity::default(),
            host_request_sender.clone(),
        )
        .ok_or("integration services: the bus task has ended")?;
        diagnostics::enter(Stage::Offers);
        check_offers(&offers)?;
        diagnostics::enter(Stage::VpciD0);
        let mmio = boot_mmio_space()?;
        let supervisor::Started {
            link,
            adapter_events,
            supervisor,
        } = supervisor::start(
            supervisor::DriverContext {
                bus: bus.requests.clone(),
                integration_subscriber: INTEGRATION_SUBSCRIBER,
                host_requests: host_request_sender,
                vpci_subscriber: VPCI_SUBSCRIBER,
                dxg_subscriber: DXG_SUBSCRIBER,
                mmio,
            },
            bus,
            integration,
        )?;
        let first = link.current();
        let stack = GpuStack {
            gpu: first.gpu,
            objects: first.objects,
            link,
            supervisor,
            host_requests,
            on_real_hyperv: backend_is_real,
        };
        if !wait_for_adapter(&adapter_events, wait_milliseconds) {
            log::warn!("dxg: no adapter became active within {wait_milliseconds} ms");
            diagnostics::fail(format_args!(
                "no dxg adapter became active within {wait_milliseconds} ms"
            ));
        }
        Ok(stack)
    }

    /// Stops the dxg, vPCI and integration tasks, unloads VMBus and waits for every task.
    pub fn shut_down(self) -> Result<(), String> {
        let GpuStack {
            gpu,
            objects,
            link,
            supervisor,
            ..
        } = self;
        drop(gpu);
        drop(objects);
        drop(link);
        // dxg, vPCI, the integration services, then the bus (UNLOAD).
        supervisor.shut_down()
    }
}

/// Device classes the report names.
const KNOWN_CLASSES: [(Guid, &str); 8] = [
    (class::DXG_GLOBAL, "dxg-global"),
    (class::DXG_VIRTUAL_GPU, "dxg-vgpu"),
    (class::VIRTUAL_PCI, "vpci"),
    (class::DXGOS_ECHO, "dxgos-echo"),
    (class::HEARTBEAT, "ic-heartbeat"),
    (class::SHUTDOWN, "ic-shutdown"),
    (class::TIME_SYNC, "ic-timesync"),
    (class::KEY_VALUE_PAIR, "ic-kvp"),
];

/// Writes one report line per offer and checks that GPU-PV is offered: the dxg global channel
/// and at least one vGPU channel. Without them there is nothing for the later stages to
/// bring up, so this is where the boot fails (the `offers` stage).
fn check_offers(offers: &[ChannelOffer]) -> Result<(), String> {
    for offer in offers {
        let name = KNOWN_CLASSES
            .iter()
            .find(|(class, _)| *class == offer.class)
            .map_or("other", |(_, name)| name);
        hvdiag!(
            "offer class={name} type={} instance={} relid={} connection={} mmio={} MiB",
            offer.class,
            offer.instance,
            offer.relid,
            offer.connection_id,
            offer.mmio_megabytes
        );
    }
    let count = |wanted: Guid| offers.iter().filter(|offer| offer.class == wanted).count();
    let (global, virtual_gpus, pci_buses) = (
        count(class::DXG_GLOBAL),
        count(class::DXG_VIRTUAL_GPU),
        count(class::VIRTUAL_PCI),
    );
    hvdiag!(
        "offers total={} dxg-global={global} dxg-vgpu={virtual_gpus} vpci={pci_buses}",
        offers.len()
    );
    match (global, virtual_gpus) {
        (0, _) => Err(String::from(
            "offers: the host offered no dxg global channel (no GPU partition adapter?)",
        )),
        (_, 0) => Err(String::from("offers: the host offered no dxg vGPU channel")),
        _ => Ok(()),
    }
}

/// Waits until an adapter reports `Active` or `wait_milliseconds` passed; writes each adapter
/// event to the boot report.
fn wait_for_adapter(events: &Receiver<dxg_task::AdapterEvent>, wait_milliseconds: u64) -> bool {
    let mut waited = 0;
    loop {
        while let Ok(event) = events.try_recv() {
            hvdiag!(
                "adapter {} luid=0x{:x}:0x{:x} state={:?}",
                event.adapter.0,
                event.luid.high,
                event.luid.low,
                event.state
            );
            match event.state {
                AdapterState::Starting => diagnostics::enter(Stage::AdapterActive),
                AdapterState::Active => {
                    diagnostics::enter(Stage::GpupvCheck);
                    return true;
                }
                _ => {}
            }
        }
        if waited >= wait_milliseconds {
            return false;
        }
        task::sleep_milliseconds(5);
        waited += 5;
    }
}

/// The applications `mode=run` runs after the boot report, in order: (name, spawn argument,
/// gets the framebuffer, needs the dxgos emulated vGPU). `gpu-demo` comes last so that its
/// picture stays on the screen. The `gpupv-check` application runs before them, inside the
/// report's `gpupv-check` stage ([`run_gpupv_check_application`]).
const DEMO_APPLICATIONS: [(&str, u64, bool, bool); 3] = [
    ("d3dkmt-info", 0, false, false),
    ("c-demo", 0, false, true),
    ("gpu-demo", 0, true, true),
];

/// `mode=run`: bring the GPU stack up, run `gpupv-check` (the boot report's last stage), then
/// the demo applications as user processes (the last one renders on the GPU through D3DKMT and
/// shows its picture; those that submit the emulated vGPU's command stream only on that vGPU),
/// shut down.
pub fn run(context: &ServiceContext) -> Result<(), String> {
    let stack = GpuStack::start(5_000)?;
    // The current dxg instance (a restarted one, when a fault came during the bring-up).
    let check = report_gpupv_check(&stack.link.current().gpu)?;
    run_gpupv_check_application(&stack)?;
    diagnostics::finish_ok();
    let framebuffer = context.boot_info.framebuffer().copied();
    let result = run_applications(&stack, framebuffer, &check);
    if let Ok((true, None)) = result {
        crate::serial::write_str("dxgos: screen ready\n");
        // Leave the picture up long enough for a screendump.
        task::sleep_milliseconds(1_500);
    }
    if let Err(error) = &result {
        log::error!("demo: {error}");
    }
    let request = match result {
        Ok((_, Some(request))) => Some(request),
        Ok((_, None)) => wait_for_host_request(&stack, context.boot_info.command_line()),
        Err(_) => None,
    };
    if let Some(request) = request {
        return Err(carry_out_host_request(stack, request));
    }
    let shutdown = stack.shut_down();
    result?;
    shutdown
}

/// How long `mode=run` stays up after the demo for a shutdown or restart request of the host:
/// `ic-wait=SECONDS` on the command line; without it, until the host asks on real Hyper-V (the
/// VM then behaves like any OS that Stop-VM shuts down), not at all under the emulator (the
/// demo's verdict ends QEMU).
fn host_request_wait(stack: &GpuStack, command_line: &str) -> Option<u64> {
    match boot_info::command_line_value(command_line, "ic-wait") {
        Some(seconds) => Some(seconds.parse::<u64>().unwrap_or(0).saturating_mul(1_000)),
        None if stack.on_real_hyperv => None,
        None => Some(0),
    }
}

/// Waits for a host request as [`host_request_wait`] says; `None` when none came.
fn wait_for_host_request(stack: &GpuStack, command_line: &str) -> Option<ShutdownKind> {
    let limit = host_request_wait(stack, command_line);
    if limit != Some(0) {
        log::info!("run: waiting for the host to ask for a shutdown ({limit:?} ms)");
    }
    let mut waited = 0u64;
    loop {
        if let Ok(request) = stack.host_requests.try_recv() {
            return Some(request);
        }
        if limit.is_some_and(|limit| waited >= limit) {
            return None;
        }
        task::sleep_milliseconds(20);
        waited = waited.saturating_add(20);
    }
}

/// Carries out the host's request in order: the user processes have ended (the caller killed
/// or joined them), the drivers are closed and VMBus is unloaded (`GpuStack::shut_down`: the
/// bus task sends UNLOAD where the negotiated version allows), then ACPI S5 or the FADT reset.
/// Returns only if the platform did not stop: why.
fn carry_out_host_request(stack: GpuStack, request: ShutdownKind) -> String {
    let (verb, done) = match request {
        ShutdownKind::PowerOff => ("power off", "shutdown: complete"),
        ShutdownKind::Restart => ("restart", "restart: complete"),
    };
    crate::serial::write_fmt(format_args!(
        "shutdown: the host asked to {verb}; processes ended, closing drivers\n"
    ));
    if let Err(error) = stack.shut_down() {
        log::warn!("shutdown: {error}");
    }
    crate::serial::write_fmt(format_args!("{done}\n"));
    let error = match request {
        ShutdownKind::PowerOff => crate::platform::power::power_off(),
        ShutdownKind::Restart => crate::platform::power::reset(),
    };
    format!("{verb} failed: {error:?}")
}

/// Guest process id of the `gpupv-check` (apart from the applications').
const GPUPV_CHECK_PROCESS: ProcessId = ProcessId(0x6b0c);

/// The `gpupv-check` stage: a round trip through the dxg task ([`gpu_demo::gpupv_check`]),
/// written to the report; an error ends the boot.
fn report_gpupv_check(gpu: &dxg_task::GpuClient) -> Result<gpu_demo::GpupvCheck, String> {
    diagnostics::enter(Stage::GpupvCheck);
    let check = gpu_demo::gpupv_check(gpu, GPUPV_CHECK_PROCESS)
        .map_err(|error| format!("gpupv-check: {error}"))?;
    let paravirtualized =
        check.adapter_type & userlib::abi::flags::D3DKMT_ADAPTERTYPE_PARAVIRTUALIZED != 0;
    hvdiag!(
        "gpupv adapters={} luid=0x{:x}:0x{:x} type=0x{:x} paravirtualized={}",
        check.adapters,
        check.luid.high,
        check.luid.low,
        check.adapter_type,
        u8::from(paravirtualized)
    );
    match &check.description {
        Ok(description) => hvdiag!("gpupv driver-description=\"{description}\""),
        Err(error) => hvdiag!("gpupv driver-description unavailable: {error}"),
    }
    hvdiag!(
        "gpupv device create+destroy ok handle=0x{:x} (no vendor driver in the guest)",
        check.device
    );
    Ok(check)
}

/// How long the `gpupv-check` application may take (generous: a loaded emulator host).
const GPUPV_CHECK_BOUND_MILLISECONDS: u64 = 120_000;

/// Runs `apps/gpupv-check` as a user process and copies each line it writes into the boot
/// report (`hvdiag: gpupv-check: ...`); the boot fails unless it exits 0 within
/// [`GPUPV_CHECK_BOUND_MILLISECONDS`] (its last line then names the failed step).
fn run_gpupv_check_application(stack: &GpuStack) -> Result<(), String> {
    let name = "gpupv-check";
    let image = images::find(name).ok_or_else(|| format!("no embedded application {name}"))?;
    let console = crate::syscall::ConsoleCapture::default();
    let gateway = gpu_gateway::DxgGateway::supervised(stack.link.clone(), name);
    let handle = process::Builder::new(name, image)
        .capture_console(console.clone())
        .spawn(Box::new(gateway))
        .map_err(|error| format!("{name}: spawn failed: {error:?}"))?;
    let mut waited = 0;
    while !handle.is_finished() && waited < GPUPV_CHECK_BOUND_MILLISECONDS {
        task::sleep_milliseconds(10);
        waited += 10;
    }
    let timed_out = !handle.is_finished();
    if timed_out {
        handle.kill();
    }
    let exit = handle.join();
    let text = console.lock().clone();
    for line in text.lines().filter(|line| line.starts_with("gpupv-check:")) {
        hvdiag!("{line}");
    }
    let last = text.lines().last().unwrap_or("no output").trim();
    match exit {
        ProcessExit::Exited(0) if !timed_out => Ok(()),
        _ if timed_out => Err(format!(
            "{name}: no result within {GPUPV_CHECK_BOUND_MILLISECONDS} ms (last line: {last})"
        )),
        other => Err(format!("{last} ({other:?})")),
    }
}

/// Runs [`DEMO_APPLICATIONS`] one after the other, each with its own GPU gateway; returns
/// whether a picture was shown, and a host shutdown/restart request if one arrived meanwhile
/// (the running application is then killed and the rest are not started). Any application
/// that does not exit with 0 is an error. Those that need the emulated vGPU are skipped, with a
/// line saying why, on any other adapter.
fn run_applications(
    stack: &GpuStack,
    framebuffer: Option<Framebuffer>,
    check: &gpu_demo::GpupvCheck,
) -> Result<(bool, Option<ShutdownKind>), String> {
    let mut shown = false;
    for (name, argument, wants_framebuffer, needs_emulated_vgpu) in DEMO_APPLICATIONS {
        if needs_emulated_vgpu && !check.is_emulated_vgpu() {
            let description = match &check.description {
                Ok(text) => format!("\"{text}\""),
                Err(_) => String::from("unavailable"),
            };
            crate::serial::write_str(&format!(
                "demo: skipping {name}: the adapter is not the dxgos emulated vGPU (driver description {description}); it submits that vGPU's private command stream, which a vendor driver rejects\n"
            ));
            continue;
        }
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
        let gateway = Box::new(gpu_gateway::DxgGateway::supervised(
            stack.link.clone(),
            name,
        ));
        let handle = builder
            .spawn(gateway)
            .map_err(|error| format!("{name}: spawn failed: {error:?}"))?;
        let mut request = None;
        while !handle.is_finished() {
            if let Ok(kind) = stack.host_requests.try_recv() {
                log::info!("demo: the host asks for {kind:?}; ending {name}");
                handle.kill();
                request = Some(kind);
                break;
            }
            task::sleep_milliseconds(5);
        }
        let exit = handle.join();
        if request.is_some() {
            return Ok((shown, request));
        }
        match exit {
            ProcessExit::Exited(0) => log::info!("demo: {name} exited with 0"),
            other => return Err(format!("{name} ended badly: {other:?}")),
        }
        shown |= grant.is_some();
    }
    Ok((shown, None))
}
