//! The normal boot path's services: the platform, the VMBus bus task and the device drivers.
//!
//! [`start`] is called once by the init task. Each driver task is spawned with the channel
//! endpoints and interrupt signals it needs, never reaching for globals.

pub mod vmbus_task;

use alloc::vec::Vec;

use boot_info::BootInfo;

use crate::hypervisor;
use crate::hypervisor::physical_memory::PhysicalMemory;
use crate::task::TaskHandle;

/// What the kernel hands the service start-up.
pub struct ServiceContext {
    /// The boot information (framebuffer, command line, ...).
    pub boot_info: &'static BootInfo,
}

/// Spawns the driver tasks and returns their handles (to join at shutdown).
pub fn start(context: &ServiceContext) -> Vec<TaskHandle<()>> {
    let mut tasks = Vec::new();
    let (backend, _features) = match hypervisor::detect() {
        Ok(found) => found,
        Err(error) => {
            log::warn!("services: {error}; no VMBus devices");
            return tasks;
        }
    };
    let memory = PhysicalMemory::from_boot_info(context.boot_info);
    match vmbus_task::spawn(backend, memory) {
        Ok(bus) => {
            match bus.connect_and_list() {
                Ok((version, offers)) => {
                    log::info!("vmbus: version {version:?}, {} offers", offers.len());
                    for offer in &offers {
                        log::info!(
                            "vmbus offer: relid {} class {} instance {}",
                            offer.relid,
                            offer.class,
                            offer.instance
                        );
                    }
                }
                Err(error) => log::error!("vmbus: {error}"),
            }
            tasks.push(bus.shut_down());
        }
        Err(error) => log::error!("vmbus: {error}"),
    }
    tasks
}
