//! The hook where the normal boot path starts the driver tasks (platform, VMBus, dxg).
//!
//! Owned by the lead: [`start`] is called once by the init task with everything the kernel
//! can hand a driver. Each driver task must be spawned with the channel endpoints and
//! interrupt signals it needs (see `ipc`), never reaching for globals.

use alloc::vec::Vec;

use boot_info::BootInfo;

use crate::task::TaskHandle;

/// What the kernel hands the service start-up.
pub struct ServiceContext {
    /// The boot information (framebuffer, command line, ...).
    pub boot_info: &'static BootInfo,
}

/// Spawns the driver tasks and returns their handles (to join at shutdown).
pub fn start(context: &ServiceContext) -> Vec<TaskHandle<()>> {
    let _ = context.boot_info;
    log::info!("no driver tasks yet");
    Vec::new()
}
