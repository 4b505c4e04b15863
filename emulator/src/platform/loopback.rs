//! The in-process loopback: guest-side code (the `hyperv` crate's `SynicClient`, the VMBus
//! client) runs against [`SynicHost`] in the same process, both sides addressing one
//! [`AtomicMemory`] by GPA. [`LoopbackBackend`] implements [`HypervisorBackend`] by calling
//! the host directly; interrupts the host raises are recorded for the test to "take" before
//! it lets the guest read the SynIC pages, as an interrupt handler would.

use super::events::{HostEvent, HostEventHandler, Interrupt, dispatch_host_events};
use super::synic_host::SynicHost;
use hyperv::hypercall::{HypercallInput, HypercallOutput};
use hyperv::memory::AtomicMemory;
use hyperv::platform::{HypervisorBackend, PlatformError};
use std::sync::{Arc, Mutex, MutexGuard};

struct State {
    host: SynicHost,
    handler: Option<Box<dyn HostEventHandler + Send>>,
    interrupts: Vec<Interrupt>,
}

/// The shared host side of a loopback: one [`SynicHost`] and one guest memory.
#[derive(Clone)]
pub struct Loopback {
    state: Arc<Mutex<State>>,
    memory: Arc<AtomicMemory>,
}

impl Loopback {
    /// A loopback with `memory_size` bytes of guest memory at GPA 0.
    pub fn new(host: SynicHost, memory_size: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                host,
                handler: None,
                interrupts: Vec::new(),
            })),
            memory: Arc::new(AtomicMemory::new(0, memory_size)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The guest memory both sides use.
    pub fn memory(&self) -> Arc<AtomicMemory> {
        Arc::clone(&self.memory)
    }

    /// A backend for the guest's VP `vp_index`.
    pub fn backend(&self, vp_index: u32) -> LoopbackBackend {
        LoopbackBackend {
            loopback: self.clone(),
            vp_index,
        }
    }

    /// Installs the service (VMBus server) that handles guest requests synchronously, inside
    /// the hypercall, as the QEMU link does.
    pub fn set_handler(&self, handler: Box<dyn HostEventHandler + Send>) {
        self.lock().handler = Some(handler);
    }

    /// Runs `action` on the host (e.g. to deliver a message), then records raised interrupts.
    pub fn with_host<R>(&self, action: impl FnOnce(&mut SynicHost, &AtomicMemory) -> R) -> R {
        let mut state = self.lock();
        let result = action(&mut state.host, &self.memory);
        let raised = state.host.take_interrupts();
        state.interrupts.extend(raised);
        result
    }

    /// Calls the handler's periodic `poll`.
    pub fn poll(&self) {
        let mut state = self.lock();
        let State {
            host,
            handler,
            interrupts,
        } = &mut *state;
        if let Some(handler) = handler {
            handler.poll(host, self.memory.as_ref());
            dispatch_host_events(host, self.memory.as_ref(), handler.as_mut());
        }
        interrupts.extend(host.take_interrupts());
    }

    /// Takes the interrupts raised so far.
    pub fn take_interrupts(&self) -> Vec<Interrupt> {
        std::mem::take(&mut self.lock().interrupts)
    }

    /// Takes guest requests not consumed by a handler.
    pub fn take_host_events(&self) -> Vec<HostEvent> {
        let mut state = self.lock();
        std::iter::from_fn(|| state.host.next_event()).collect()
    }

    fn after_guest_access(&self, state: &mut State) {
        let State {
            host,
            handler,
            interrupts,
        } = state;
        if let Some(handler) = handler {
            dispatch_host_events(host, self.memory.as_ref(), handler.as_mut());
        }
        interrupts.extend(host.take_interrupts());
    }
}

/// [`HypervisorBackend`] of one guest VP on a [`Loopback`].
#[derive(Clone)]
pub struct LoopbackBackend {
    loopback: Loopback,
    vp_index: u32,
}

impl HypervisorBackend for LoopbackBackend {
    fn write_msr(&mut self, msr: u32, value: u64) -> Result<(), PlatformError> {
        let mut state = self.loopback.lock();
        let result = state
            .host
            .write_msr(self.vp_index, msr, value, self.loopback.memory.as_ref());
        self.loopback.after_guest_access(&mut state);
        result.map_err(|error| {
            log::warn!("wrmsr {msr:#x} = {value:#x}: {error:?}");
            PlatformError::GeneralProtection { msr }
        })
    }

    fn read_msr(&mut self, msr: u32) -> Result<u64, PlatformError> {
        let mut state = self.loopback.lock();
        state.host.read_msr(self.vp_index, msr).map_err(|error| {
            log::warn!("rdmsr {msr:#x}: {error:?}");
            PlatformError::GeneralProtection { msr }
        })
    }

    fn hypercall(
        &mut self,
        input: HypercallInput,
        input_parameter: u64,
        output_parameter: u64,
    ) -> Result<HypercallOutput, PlatformError> {
        let mut state = self.loopback.lock();
        let output = state.host.hypercall(
            self.vp_index,
            input.to_bits(),
            input_parameter,
            output_parameter,
            self.loopback.memory.as_ref(),
        );
        self.loopback.after_guest_access(&mut state);
        Ok(output)
    }

    fn vp_index(&self) -> u32 {
        self.vp_index
    }
}
