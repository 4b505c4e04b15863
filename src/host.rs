//! The emulated Hyper-V host beside QEMU: a thread serving QEMU's COM2 socket with guest RAM
//! mapped from QEMU's shared memory file (see `docs/emulated-platform.md`).

use crate::qemu::RunnerError;
use emulator::platform::{HostConfig, QemuLink, QemuLinkConfig, SharedFileMemory, SynicHost};
use emulator::services::{HostServices, MmioRange};
use emulator::vmbus_server::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Virtual GPUs the emulated host offers.
const VIRTUAL_GPUS: u8 = 1;
use std::thread::JoinHandle;

/// The running emulator.
pub struct RunningHost {
    thread: JoinHandle<()>,
}

/// Binds the socket (so it exists before QEMU connects) and serves it in a thread. With
/// `vpci_network_bus_first`, a vPCI bus with a NIC VF is offered before the GPU's.
pub fn start(
    memory_file: &Path,
    socket: &Path,
    memory_bytes: u64,
    trace: Option<PathBuf>,
    vpci_network_bus_first: bool,
) -> Result<RunningHost, RunnerError> {
    let mut config = QemuLinkConfig::new(memory_file.to_path_buf(), socket.to_path_buf());
    config.memory_size = Some(memory_bytes);
    config.trace = trace;
    let link =
        QemuLink::bind(config).map_err(|error| RunnerError::Io(format!("emulator: {error}")))?;
    // The services map guest RAM themselves (QEMU shares the same file).
    let memory = SharedFileMemory::open(memory_file).map_err(|error| {
        RunnerError::Io(format!("emulator: map {}: {error}", memory_file.display()))
    })?;
    let mut server_config = ServerConfig::standard(VIRTUAL_GPUS);
    if vpci_network_bus_first {
        server_config = server_config.with_network_bus_first();
    }
    let mut services = HostServices::new(Arc::new(memory), server_config);
    // Guest RAM is the memory file from GPA 0 (all below q35's PCI hole); no window there.
    services.set_address_map(&[MmioRange::new(0, memory_bytes)], None);
    let mut host = SynicHost::new(HostConfig::default());
    services.register(&mut host);
    let thread = std::thread::Builder::new()
        .name("emulated-host".into())
        .spawn(move || match link.serve(host, &mut services) {
            Ok(summary) => log::debug!("emulator: link closed: {summary:?}"),
            Err(error) => eprintln!("dxgos: emulator: {error}"),
        })
        .map_err(|error| RunnerError::Io(format!("emulator thread: {error}")))?;
    Ok(RunningHost { thread })
}

impl RunningHost {
    /// Waits for the emulator to notice that QEMU has gone.
    pub fn finish(self) {
        let _ = self.thread.join();
    }
}
