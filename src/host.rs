//! The emulated Hyper-V host beside QEMU: a thread serving the link (QEMU's ivshmem device, or
//! COM2) with guest RAM and the high-gap dimm mapped from QEMU's shared memory files (see
//! `docs/emulated-platform.md`).

use crate::platform_layout::MemoryLayout;
use crate::qemu::RunnerError;
use emulator::hostile::{HOSTILE_ROWS, HostileHook, HostileRow};
use emulator::integration::{IcMisbehaviour, IcService, IntegrationConfig};
use emulator::platform::{
    GuestMemoryMap, HostConfig, InterruptStatistics, PlatformLayout, QemuLink, QemuLinkConfig,
    SharedFileMemory, SynicHost,
};
use emulator::services::HostServices;
use emulator::vmbus_server::{AnswerFault, AnswerKind, AnswerTiming, ServerConfig, VpciBus};
use hyperv::status::HvError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use vmbus::guid::class;
use vmbus::messages::MessageType;

/// Virtual GPUs the emulated host offers.
const VIRTUAL_GPUS: u8 = 1;

/// Switches for what the emulated host offers (the runner's host options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// Offer the dxg channels (the global one and the vGPUs). Off: a Hyper-V VM without a
    /// GPU partition adapter, as far as VMBus shows it (`--no-dxg-offer`).
    pub offer_dxg: bool,
    /// Offer a vPCI bus carrying a NIC VF before the GPU's, as a VM with an assigned network
    /// device has (`ServerConfig::with_network_bus_first`).
    pub vpci_network_bus_first: bool,
    /// VMBus message faults the host injects (`--vmbus-faults`).
    pub vmbus_faults: VmbusFaults,
    /// A row of the hostile-host table (`emulator::hostile::HOSTILE_ROWS`, by name) whose
    /// message the host makes wrong from boot on (`--hostile-row`).
    pub hostile_row: Option<String>,
    /// Host answers never sent or sent late (`--host-fault`, repeatable).
    pub answer_faults: Vec<AnswerFault>,
    /// Offer the integration services (heartbeat, shutdown, time sync, KVP), as Hyper-V does
    /// by default (`--no-integration-services` turns them off).
    pub offer_integration_services: bool,
    /// How the host drives them (`--host-shutdown-after`, `--host-restart-after`,
    /// `--host-hibernate-after`, `--host-time`, `--ic-rescind`, `--ic-faults`).
    pub integration: IntegrationConfig,
    /// The driver description the vGPU reports instead of the emulator's own
    /// (`--vgpu-description`): the guest then takes it for a real host's GPU.
    pub vgpu_description: Option<String>,
    /// The GPU-PV function on the vPCI bus belongs to a vGPU whose dxg channel is never offered
    /// (`--vgpu-offer-missing`): the host models two vGPUs, puts the second one's function on
    /// the bus and never sends that vGPU's offer (the first vGPU's channel is offered, unused).
    /// The guest's adapter then waits for its channel until its bound.
    pub vgpu_offer_missing: bool,
}

/// Parses `unknown-versions,malformed=N,heartbeat-flood=N` (any subset).
pub fn parse_ic_faults(text: &str) -> Result<IcMisbehaviour, String> {
    let mut faults = IcMisbehaviour::default();
    for word in text.split(',').filter(|word| !word.is_empty()) {
        let count = |value: &str| {
            value
                .parse::<u32>()
                .map_err(|_| format!("--ic-faults: not a count: {value:?}"))
        };
        match word.split_once('=') {
            None if word == "unknown-versions" => faults.unknown_versions = true,
            Some(("malformed", value)) => faults.malformed_messages = count(value)?,
            Some(("heartbeat-flood", value)) => faults.heartbeat_flood = count(value)?,
            _ => return Err(format!("--ic-faults: unknown fault {word:?}")),
        }
    }
    Ok(faults)
}

/// Parses `SERVICE@SECS` (`heartbeat`, `shutdown`, `timesync`, `kvp`) for `--ic-rescind`.
pub fn parse_ic_rescind(text: &str) -> Result<(IcService, std::time::Duration), String> {
    let (name, seconds) = text
        .split_once('@')
        .ok_or(format!("--ic-rescind: expected SERVICE@SECS, got {text:?}"))?;
    let service = match name {
        "heartbeat" => IcService::Heartbeat,
        "shutdown" => IcService::Shutdown,
        "timesync" => IcService::TimeSync,
        "kvp" => IcService::KeyValue,
        _ => return Err(format!("--ic-rescind: unknown service {name:?}")),
    };
    let seconds: u64 = seconds
        .parse()
        .map_err(|_| format!("--ic-rescind: not a number: {seconds:?}"))?;
    Ok((service, std::time::Duration::from_secs(seconds)))
}

/// Faults of the host's message path, as a misbehaving or busy Hyper-V shows them
/// (`--vmbus-faults no-connection-id-4,transient-posts=N,permanent-post,silent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmbusFaults {
    /// INITIATE_CONTACT on message connection id 4 is refused with INVALID_CONNECTION_ID
    /// (a host without the 5.0 connection id): the guest must connect at 4.x on id 1.
    pub no_connection_id_4: bool,
    /// The first N posts fail with INSUFFICIENT_BUFFERS / INSUFFICIENT_MEMORY, alternately.
    pub transient_posts: u32,
    /// The host never answers INITIATE_CONTACT.
    pub silent: bool,
    /// After the transient failures, every post fails with INVALID_PARAMETER (the guest cannot
    /// connect; its boot report ends at the `vmbus` stage).
    pub permanent_post: bool,
}

impl VmbusFaults {
    /// Parses `no-connection-id-4,transient-posts=N,permanent-post,silent` (any subset).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut faults = VmbusFaults::default();
        for word in text.split(',').filter(|word| !word.is_empty()) {
            match word.split_once('=') {
                None if word == "no-connection-id-4" => faults.no_connection_id_4 = true,
                None if word == "permanent-post" => faults.permanent_post = true,
                None if word == "silent" => faults.silent = true,
                Some(("transient-posts", count)) => {
                    faults.transient_posts = count
                        .parse()
                        .map_err(|_| format!("--vmbus-faults: not a count: {count:?}"))?
                }
                _ => return Err(format!("--vmbus-faults: unknown fault {word:?}")),
            }
        }
        Ok(faults)
    }
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            offer_dxg: true,
            vpci_network_bus_first: false,
            vmbus_faults: VmbusFaults::default(),
            hostile_row: None,
            answer_faults: Vec::new(),
            offer_integration_services: true,
            integration: IntegrationConfig::default(),
            vgpu_description: None,
            vgpu_offer_missing: false,
        }
    }
}

impl HostOptions {
    /// The hostile-host row `--hostile-row` names, if any (an unknown name is an error).
    pub fn hostile_row(&self) -> Result<Option<&'static HostileRow>, String> {
        let Some(name) = &self.hostile_row else {
            return Ok(None);
        };
        HOSTILE_ROWS
            .iter()
            .find(|row| row.name == name)
            .map(Some)
            .ok_or_else(|| format!("--hostile-row: no row named {name:?}"))
    }

    /// The VMBus server configuration these options select.
    pub fn server_config(&self) -> ServerConfig {
        let mut config = if self.vgpu_offer_missing {
            let mut config = ServerConfig::standard(2);
            config.vpci_buses = vec![VpciBus::GpuPv(1)];
            // Offers go out in relid order: the global channel, vGPU 0, vGPU 1.
            config.misbehaviour.answer_faults.push(AnswerFault {
                kind: AnswerKind::Control(MessageType::OFFER_CHANNEL),
                timing: AnswerTiming::Never,
                occurrence: Some(3),
                onward: false,
            });
            config
        } else {
            ServerConfig::standard(VIRTUAL_GPUS)
        };
        if self.offer_integration_services {
            config = config.with_integration_services();
        }
        if self.vpci_network_bus_first {
            config = config.with_network_bus_first();
        }
        let faults = self.vmbus_faults;
        config.misbehaviour.no_connection_id_4 = faults.no_connection_id_4;
        config.misbehaviour.transient_post_failures = faults.transient_posts;
        config.misbehaviour.silent = faults.silent;
        if faults.permanent_post {
            config.misbehaviour.permanent_post_failure = Some(HvError::InvalidParameter);
        }
        config
            .misbehaviour
            .answer_faults
            .extend(self.answer_faults.iter().copied());
        if !self.offer_dxg {
            config.devices.retain(|device| {
                device.class != class::DXG_GLOBAL && device.class != class::DXG_VIRTUAL_GPU
            });
        }
        config
    }
}

/// What the emulated host holds for the guest: its vGPU's host processes and their objects,
/// and the IO-space pages in use (read when the run ends; the chaos run expects none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounts {
    /// Live host processes (`Vgpu::process_count`).
    pub processes: usize,
    /// Live objects of all processes (`Vgpu::object_count`).
    pub objects: usize,
    /// IO-space pages in use (`Vgpu::io_pages_in_use`).
    pub io_pages: usize,
}

/// What the emulator reports when QEMU has gone.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostReport {
    /// What it still held.
    pub counts: HostCounts,
    /// The ivshmem link's interrupt decisions (`LinkSummary::interrupts`; zero over COM2 or
    /// when the link failed).
    pub link_interrupts: InterruptStatistics,
}

/// The running emulator.
pub struct RunningHost {
    thread: JoinHandle<HostReport>,
}

/// Binds the socket (so it exists before QEMU connects) and serves it in a thread.
pub fn start(
    memory_file: &Path,
    socket: &Path,
    layout: &MemoryLayout,
    dimm_file: &Path,
    link: emulator::platform::Transport,
    trace: Option<PathBuf>,
    options: &HostOptions,
) -> Result<RunningHost, RunnerError> {
    let mut config = QemuLinkConfig::new(memory_file.to_path_buf(), socket.to_path_buf());
    config.transport = link;
    config.memory_size = Some(layout.ram().length);
    config.trace = trace;
    let link =
        QemuLink::bind(config).map_err(|error| RunnerError::Io(format!("emulator: {error}")))?;
    // The services map guest RAM and the high-gap dimm themselves (QEMU shares both files).
    let map = |path: &Path, base: u64| {
        SharedFileMemory::open_at(path, base)
            .map_err(|error| RunnerError::Io(format!("emulator: map {}: {error}", path.display())))
    };
    let memory = GuestMemoryMap::new(vec![
        map(memory_file, 0)?,
        map(dimm_file, layout.dimm.base)?,
    ])
    .map_err(|error| RunnerError::Io(format!("emulator: {error}")))?;
    let mut services = HostServices::new(Arc::new(memory), options.server_config());
    if let Some(row) = options.hostile_row().map_err(RunnerError::Io)? {
        // Armed from the first message: the row's occurrence counts from boot.
        let (hook, handle) = HostileHook::new(row);
        handle.arm();
        services.server().set_outgoing_hook(Some(Box::new(hook)));
    }
    services.set_integration_config(options.integration.clone());
    if let Some(description) = &options.vgpu_description {
        services.gpu().set_driver_description(0, description);
    }
    services.set_platform_layout(PlatformLayout {
        ram: vec![layout.ram()],
        gaps: layout.gaps,
    });
    let mut host = SynicHost::new(HostConfig::default());
    services.register(&mut host);
    let thread = std::thread::Builder::new()
        .name("emulated-host".into())
        .spawn(move || {
            let link_interrupts = match link.serve(host, &mut services) {
                Ok(summary) => {
                    log::debug!("emulator: link closed: {summary:?}");
                    summary.interrupts
                }
                Err(error) => {
                    eprintln!("dxgos: emulator: {error}");
                    Default::default()
                }
            };
            let gpu = services.gpu();
            let counts = HostCounts {
                processes: gpu.process_count(),
                objects: gpu.object_count(),
                io_pages: gpu.io_pages_in_use(),
            };
            HostReport {
                counts,
                link_interrupts,
            }
        })
        .map_err(|error| RunnerError::Io(format!("emulator thread: {error}")))?;
    Ok(RunningHost { thread })
}

impl RunningHost {
    /// Waits for the emulator to notice that QEMU has gone; what the host still held then,
    /// and how its link interrupted the guest.
    pub fn finish(self) -> HostReport {
        self.thread.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_dxg_offer_removes_exactly_the_dxg_channels() {
        let standard = HostOptions::default().server_config();
        let without = HostOptions {
            offer_dxg: false,
            ..HostOptions::default()
        }
        .server_config();
        let is_dxg = |class| class == class::DXG_GLOBAL || class == class::DXG_VIRTUAL_GPU;
        assert!(standard.devices.iter().any(|device| is_dxg(device.class)));
        assert!(!without.devices.iter().any(|device| is_dxg(device.class)));
        let others = |config: &ServerConfig| {
            config
                .devices
                .iter()
                .filter(|device| !is_dxg(device.class))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&standard), others(&without));
    }

    #[test]
    fn integration_services_are_offered_unless_switched_off() {
        let is_ic = |class| IcService::of_class(class).is_some();
        let standard = HostOptions::default().server_config();
        assert_eq!(
            standard.devices.iter().filter(|d| is_ic(d.class)).count(),
            4
        );
        let without = HostOptions {
            offer_integration_services: false,
            ..HostOptions::default()
        }
        .server_config();
        assert!(!without.devices.iter().any(|d| is_ic(d.class)));
    }

    #[test]
    fn ic_switches_parse_and_refuse_unknown_words() {
        let faults = parse_ic_faults("unknown-versions,malformed=3,heartbeat-flood=50").unwrap();
        assert!(faults.unknown_versions);
        assert_eq!((faults.malformed_messages, faults.heartbeat_flood), (3, 50));
        assert!(parse_ic_faults("malformed=x").is_err());
        assert!(parse_ic_faults("sometimes").is_err());
        assert_eq!(
            parse_ic_rescind("kvp@7").unwrap(),
            (IcService::KeyValue, std::time::Duration::from_secs(7))
        );
        assert!(parse_ic_rescind("vss@1").is_err());
        assert!(parse_ic_rescind("heartbeat").is_err());
    }
}
