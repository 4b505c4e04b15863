//! The platform backend shared between the bus task and the device tasks' channel signals.
//!
//! The bus task drives the SynIC, posts messages and carries trapped MMIO accesses through its
//! `BusDriver<SharedBackend, _>`; a device task signals the host for its own channel
//! (HvSignalEvent) through a `services::channel_signal::ChannelSignal`, as Linux's
//! `vmbus_set_event` does from the channel's own context (torvalds/linux
//! `drivers/hv/connection.c`), instead of asking the bus task to do it.
//!
//! Locking: kernel code is not preempted (`task::scheduler`), and no call into the backend
//! reaches a scheduling point (the emulated link polls for its reply), so one task's call
//! always ends before another task runs, and the lock is never contended while its holder
//! lives. It is still taken with `try_lock`: a task that faulted inside a call would leave it
//! held, and then every later call fails with [`PlatformError::LinkFailure`] instead of spinning
//! forever. Interrupt handlers never take it.

use alloc::sync::Arc;

use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::platform::{HypervisorBackend, MmioAccess, PlatformError};
use spin::Mutex;

use super::Backend;

/// A [`Backend`] several tasks call into (see the module docs).
#[derive(Clone)]
pub struct SharedBackend(Arc<Mutex<Backend>>);

impl SharedBackend {
    /// Shares `backend`.
    pub fn new(backend: Backend) -> SharedBackend {
        SharedBackend(Arc::new(Mutex::new(backend)))
    }

    /// Runs `operation` on the backend; [`PlatformError::LinkFailure`] when it is held (only a
    /// task that faulted inside a call can leave it so).
    pub fn with<T>(&self, operation: impl FnOnce(&mut Backend) -> T) -> Result<T, PlatformError> {
        match self.0.try_lock() {
            Some(mut backend) => Ok(operation(&mut backend)),
            None => {
                log::warn!("hypervisor: the backend is held by a task that ended inside a call");
                Err(PlatformError::LinkFailure)
            }
        }
    }

    /// See [`Backend::has_latched_interrupt`] (`false` when the backend is unusable).
    #[inline]
    pub fn has_latched_interrupt(&self) -> bool {
        self.with(|backend| backend.has_latched_interrupt())
            .unwrap_or(false)
    }

    /// See [`Backend::synic_interrupts_are_latched`] (`false` when the backend is unusable).
    pub fn synic_interrupts_are_latched(&self) -> bool {
        self.with(|backend| backend.synic_interrupts_are_latched())
            .unwrap_or(false)
    }

    /// See [`Backend::acknowledge_interrupt`] (`raised` when the backend is unusable).
    pub fn acknowledge_interrupt(&mut self, raised: bool) -> bool {
        self.with(|backend| backend.acknowledge_interrupt(raised))
            .unwrap_or(raised)
    }

    /// See [`Backend::reference_counter`].
    pub fn reference_counter(&mut self) -> Option<u64> {
        self.with(Backend::reference_counter).ok().flatten()
    }
}

impl HypervisorBackend for SharedBackend {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        self.with(|backend| backend.write_msr(msr, value))?
    }
    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        self.with(|backend| backend.read_msr(msr))?
    }
    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        self.with(|backend| backend.hypercall(input, input_parameter, output_parameter))?
    }
    fn vp_index(&self) -> u32 {
        // The boot processor's index (0) if the backend is unusable: every later call fails.
        self.with(|backend| backend.vp_index()).unwrap_or(0)
    }
    fn hypercall_page_enabled(&mut self, gpa: u64) {
        let _ = self.with(|backend| backend.hypercall_page_enabled(gpa));
    }
}

impl MmioAccess for SharedBackend {
    fn mmio_read(&mut self, gpa: u64, size: u8) -> Result<u64, PlatformError> {
        self.with(|backend| backend.mmio_read(gpa, size))?
    }
    fn mmio_write(&mut self, gpa: u64, size: u8, value: u64) -> Result<(), PlatformError> {
        self.with(|backend| backend.mmio_write(gpa, size, value))?
    }
}
