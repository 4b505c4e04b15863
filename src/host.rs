//! The emulated Hyper-V host beside QEMU: a thread serving QEMU's COM2 socket with guest RAM
//! and the high-gap dimm mapped from QEMU's shared memory files (see `docs/emulated-platform.md`).

use crate::platform_layout::MemoryLayout;
use crate::qemu::RunnerError;
use emulator::platform::{
    GuestMemoryMap, HostConfig, PlatformLayout, QemuLink, QemuLinkConfig, SharedFileMemory,
    SynicHost,
};
use emulator::services::HostServices;
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

/// Binds the socket (so it exists before QEMU connects) and serves it in a thread.
pub fn start(
    memory_file: &Path,
    socket: &Path,
    layout: &MemoryLayout,
    dimm_file: &Path,
    trace: Option<PathBuf>,
) -> Result<RunningHost, RunnerError> {
    let mut config = QemuLinkConfig::new(memory_file.to_path_buf(), socket.to_path_buf());
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
    let mut services = HostServices::new(Arc::new(memory), ServerConfig::standard(VIRTUAL_GPUS));
    services.set_platform_layout(PlatformLayout {
        ram: vec![layout.ram()],
        gaps: layout.gaps,
    });
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
