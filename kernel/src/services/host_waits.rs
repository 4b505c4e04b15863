//! The time bounds of the drivers' waits for the host (see docs/kernel.md, "Time bounds"), and
//! the kernel command-line word that shortens them: `host-wait-ms=N` caps the channel-open and
//! dxg-reply bounds at N milliseconds, so that the QEMU tests of a host that never answers
//! end in seconds (the defaults are generous for a loaded host). The connection and UNLOAD
//! bounds are not shortened (the boot report's `vmbus` stage already has its own test).

use core::sync::atomic::{AtomicU64, Ordering};

use drivers::vmbus_bus::TimeBounds;

/// The cap from `host-wait-ms=` (0: none).
static CAP_MILLISECONDS: AtomicU64 = AtomicU64::new(0);

/// Reads `host-wait-ms=N` from the kernel command line (ignored when absent or not a
/// positive number; a bad value is logged).
pub fn configure(command_line: &str) {
    let Some(value) = boot_info::command_line_value(command_line, "host-wait-ms") else {
        return;
    };
    match value.parse::<u64>() {
        Ok(milliseconds) if milliseconds > 0 => {
            log::info!("host waits capped at {milliseconds} ms (host-wait-ms)");
            CAP_MILLISECONDS.store(milliseconds, Ordering::Relaxed);
        }
        _ => log::warn!("host-wait-ms={value:?} is not a positive number; ignored"),
    }
}

fn capped(milliseconds: u64) -> u64 {
    match CAP_MILLISECONDS.load(Ordering::Relaxed) {
        0 => milliseconds,
        cap => milliseconds.min(cap),
    }
}

/// The bus driver's bounds.
pub fn bus_bounds() -> TimeBounds {
    let defaults = TimeBounds::default();
    TimeBounds {
        open_microseconds: capped(defaults.open_microseconds / 1000) * 1000,
        ..defaults
    }
}

/// How long the host may take to answer one dxg request (30 s unless capped).
pub fn reply_milliseconds() -> u64 {
    capped(super::dxg_task::REPLY_MILLISECONDS)
}

/// How long a probed PCI function's adapter may take to start (60 s unless capped).
pub fn adapter_start_milliseconds() -> u64 {
    capped(super::dxg_task::ADAPTER_START_MILLISECONDS)
}

/// How long a vPCI bus may take from its channel's open to running (protocol version and bus
/// relations answered): 30 s unless capped.
pub fn vpci_bring_up_milliseconds() -> u64 {
    capped(VPCI_BRING_UP_MILLISECONDS)
}

/// The default of [`vpci_bring_up_milliseconds`] (a Hyper-V host answers in milliseconds).
pub const VPCI_BRING_UP_MILLISECONDS: u64 = 30_000;
