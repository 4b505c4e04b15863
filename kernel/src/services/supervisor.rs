//! The driver supervisor (issue 14): spawns the virtual PCI and dxg tasks with fault
//! containment, watches them, and restarts one that a contained fault ended, the way the
//! protocol allows.
//!
//! - **vPCI** restarts by re-opening its channels: the dead instance's state, taken back from
//!   its task slot, is shut down in order (D0 exit and close of every bus, each wait bounded;
//!   ring pages and config windows freed), then a new instance subscribes again and the bus
//!   re-announces the offers. The dxg adapter sits on a vPCI function, so dxg restarts with it
//!   (as Linux's dxgkrnl removes the adapter when its vPCI function goes).
//! - **dxg** restarts as a removed and re-added adapter: the dead instance's channels are
//!   closed and its IO space returned; the calls it left waiting, and every later call with
//!   the dead driver's handles, answer STATUS_DEVICE_REMOVED (`gpu_gateway`), the processes'
//!   views of its IO space are unmapped, and a new instance opens the channels again and gets
//!   the GPU-PV functions again from vPCI; [`GpuLink`] points the gateways at it, so a process
//!   that opens the adapter again gets the restarted one.
//! - **VMBus** restarts the way Linux's kexec path starts a new connection: the dead bus
//!   task's state is taken back, UNLOAD is sent (the host closes every channel and forgets
//!   every GPADL) and UNLOAD_RESPONSE awaited (bounded), the SynIC is torn down, and a new bus
//!   task sends a fresh INITIATE_CONTACT and gets fresh offers (`vmbus_task`). Every channel
//!   died with the old connection, so the integration services, vPCI and dxg restart above
//!   it. Below VMBus 3.0 there is no UNLOAD: the bus stays down, with a log line saying so.
//! - The **integration services** restart by re-opening their channels: the dead instance's
//!   channels are closed (bounded wait; ring pages of an unconfirmed close stay lent to the
//!   host), a new instance subscribes again and the bus re-announces the offers; each service
//!   negotiates anew. They also restart after a VMBus restart.
//!
//! Every restart logs `supervisor: restarted <driver> (<reason>)`. Restarts back off
//! ([`backoff_milliseconds`]); a driver that fails more than [`MAXIMUM_FAILURES`] times within
//! [`FAILURE_WINDOW_SECONDS`] stays down (`supervisor: <driver> stays down (<reason>)`), and
//! the rest of the system lives on.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use vmbus::client::SubscriberId;

use drivers::integration::GuestIdentity;

use super::dxg_task::{self, AdapterEvent, DxgTaskHandle};
use super::gpu_gateway::GpuLink;
use super::integration_task::{self, IntegrationHandle, ShutdownRequest};
use super::mmio_space::MmioSpace;
use super::vmbus_task::{BusHandle, BusMessage};
use super::vpci_task::{self, VpciHandle};
use crate::faults::Driver;
use crate::ipc::{self, Receiver, RecvTimeoutError, Sender};
use crate::task::{self, TaskHandle};

/// Failures of one driver within [`FAILURE_WINDOW_SECONDS`] after which it stays down.
pub const MAXIMUM_FAILURES: usize = 5;
/// The window [`MAXIMUM_FAILURES`] is counted in.
pub const FAILURE_WINDOW_SECONDS: u64 = 60;
/// How often the supervisor looks at its drivers.
const POLL_MILLISECONDS: u64 = 10;

static RESTARTS: AtomicU64 = AtomicU64::new(0);

/// Driver restarts since boot (every `supervisor: restarted` line).
pub fn restarts() -> u64 {
    RESTARTS.load(Ordering::Relaxed)
}

/// The wait before the `failures`-th recent restart: 50 ms, doubling, at most 1.6 s.
pub fn backoff_milliseconds(failures: usize) -> u64 {
    50u64 << failures.saturating_sub(1).min(5)
}

/// What the supervised drivers need from the rest of the stack.
pub struct DriverContext {
    /// Requests to the bus task.
    pub bus: Sender<BusMessage>,
    /// The integration services task's subscriber id.
    pub integration_subscriber: SubscriberId,
    /// Where it sends the host's shutdown and restart requests.
    pub host_requests: Sender<ShutdownRequest>,
    /// The vPCI task's subscriber id.
    pub vpci_subscriber: SubscriberId,
    /// The dxg task's subscriber id.
    pub dxg_subscriber: SubscriberId,
    /// The VMBus MMIO pool (config windows, IO space).
    pub mmio: MmioSpace,
}

/// The first instances, as [`start`] made them.
pub struct Started {
    /// Where the gateways find dxg.
    pub link: GpuLink,
    /// The first dxg instance's adapter events (forwarded by the supervisor).
    pub adapter_events: Receiver<AdapterEvent>,
    /// The supervisor.
    pub supervisor: SupervisorHandle,
}

/// The kernel's handle on the supervisor task.
pub struct SupervisorHandle {
    stop: Sender<()>,
    task: TaskHandle<Result<(), String>>,
}

impl SupervisorHandle {
    /// Stops the drivers (dxg, then vPCI, each releasing what it holds) and the supervisor;
    /// `Err` names a driver that had ended with a fault and was not restarted.
    pub fn shut_down(self) -> Result<(), String> {
        let _ = self.stop.try_send(());
        match self.task.join() {
            Ok(result) => result,
            Err(fault) => Err(format!("supervisor task faulted: {fault:?}")),
        }
    }
}

/// One supervised driver's recent failures.
struct History {
    failures: VecDeque<u64>,
    down: bool,
}

impl Default for History {
    /// Sized for the most failures the window holds before the driver stays down, so the
    /// history does not grow the heap as failures come (the chaos run compares heap use).
    fn default() -> History {
        History {
            failures: VecDeque::with_capacity(MAXIMUM_FAILURES + 2),
            down: false,
        }
    }
}

impl History {
    /// Records a failure now; the number of failures within the window.
    fn record(&mut self) -> usize {
        let now = crate::clock::ticks();
        let window = crate::clock::milliseconds_to_ticks(FAILURE_WINDOW_SECONDS * 1000);
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|first| now.saturating_sub(*first) > window)
        {
            self.failures.pop_front();
        }
        self.failures.len()
    }
}

struct Supervisor {
    context: DriverContext,
    bus: Option<BusHandle>,
    integration: Option<IntegrationHandle>,
    link: GpuLink,
    vpci: Option<VpciHandle>,
    dxg: Option<DxgTaskHandle>,
    adapter_events: Receiver<AdapterEvent>,
    forward: Sender<AdapterEvent>,
    vmbus_history: History,
    vpci_history: History,
    dxg_history: History,
    integration_history: History,
    /// Why a driver ended for good (reported at shutdown).
    lost: Option<String>,
}

/// Starts vPCI and dxg under a new supervisor task, which also takes over the bus task `bus`
/// (connected, its offers listed) and the integration services task `integration`.
pub fn start(
    context: DriverContext,
    bus: BusHandle,
    integration: IntegrationHandle,
) -> Result<Started, String> {
    let (functions, function_receiver) = ipc::channel(8);
    let vpci = vpci_task::spawn(
        context.bus.clone(),
        context.vpci_subscriber,
        context.mmio.clone(),
        functions,
    )
    .ok_or("vpci: the bus task has ended")?;
    let dxg = dxg_task::spawn(
        context.bus.clone(),
        context.dxg_subscriber,
        function_receiver,
        context.mmio.clone(),
    )
    .ok_or("dxg: the bus task has ended")?;
    let link = GpuLink::new(dxg.gpu, dxg.objects);
    let (forward, adapter_events) = ipc::channel(16);
    let (stop, stop_receiver) = ipc::channel(1);
    let mut supervisor = Supervisor {
        context,
        bus: Some(bus),
        integration: Some(integration),
        link: link.clone(),
        vpci: Some(vpci),
        dxg: Some(dxg.task),
        adapter_events: dxg.adapter_events,
        forward,
        vmbus_history: History::default(),
        vpci_history: History::default(),
        dxg_history: History::default(),
        integration_history: History::default(),
        lost: None,
    };
    let task = task::Builder::new("supervisor")
        .contain_faults()
        .spawn(move || supervisor.run(&stop_receiver));
    Ok(Started {
        link,
        adapter_events,
        supervisor: SupervisorHandle { stop, task },
    })
}

impl Supervisor {
    fn run(&mut self, stop: &Receiver<()>) -> Result<(), String> {
        loop {
            self.forward_adapter_events();
            if self.bus.as_ref().is_some_and(BusHandle::is_finished) {
                self.on_bus_ended();
            } else if self.vpci.as_ref().is_some_and(VpciHandle::is_finished) {
                self.on_vpci_ended();
            } else if self.dxg.as_ref().is_some_and(DxgTaskHandle::is_finished) {
                self.on_dxg_ended();
            } else if self
                .integration
                .as_ref()
                .is_some_and(IntegrationHandle::is_finished)
            {
                self.on_integration_ended();
            }
            let deadline =
                crate::clock::ticks() + crate::clock::milliseconds_to_ticks(POLL_MILLISECONDS);
            match stop.recv_until(deadline) {
                Ok(()) | Err(RecvTimeoutError::Closed) => break,
                // Only process tasks are interrupted (by a kill); the supervisor carries on.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Interrupted) => {}
            }
        }
        self.shut_down()
    }

    fn forward_adapter_events(&mut self) {
        while let Ok(event) = self.adapter_events.try_recv() {
            if event.state == dxg::core::AdapterState::Active {
                self.link.set_adapter_active();
            }
            // Nobody may be listening any more.
            let _ = self.forward.try_send(event);
        }
    }

    fn shut_down(&mut self) -> Result<(), String> {
        let mut result = self.lost.take().map_or(Ok(()), Err);
        if let Some(dxg) = self.dxg.take() {
            dxg.stop();
            if let Err(fault) = dxg.join_and_release() {
                result = Err(format!("dxg task faulted: {fault:?}"));
            }
        }
        if let Some(vpci) = self.vpci.take() {
            let owner = vpci.stop();
            if let Err(fault) = owner.join() {
                result = Err(format!("vPCI task faulted: {fault:?}"));
            }
        }
        if let Some(integration) = self.integration.take()
            && let Err(fault) = integration.stop()
        {
            result = Err(format!("integration task faulted: {fault:?}"));
        }
        if let Some(bus) = self.bus.take()
            && let Err(fault) = bus.shut_down().join()
        {
            result = Err(format!("bus task faulted: {fault:?}"));
        }
        result
    }

    /// The bus task ended: restart the connection, then everything above it.
    fn on_bus_ended(&mut self) {
        let Some(bus) = self.bus.take() else {
            return;
        };
        let (result, stopped) = bus.join_stopped();
        let Some(reason) = self.restart_reason(Driver::Vmbus, result, "") else {
            return;
        };
        let restarted = match stopped {
            Some(stopped) => stopped.restart().map_err(|error| format!("{error}")),
            None => Err(String::from("its state was lost")),
        };
        let new_bus = match restarted {
            Ok(bus) => bus,
            Err(error) => {
                log::error!("supervisor: vmbus stays down ({reason}; restart: {error})");
                self.lost = Some(format!("vmbus stays down ({reason}: {error})"));
                self.release_drivers_above(false);
                return;
            }
        };
        // The old connection's channels are gone: the drivers above end (their event channels
        // closed) and are released without waiting for closes the host no longer expects.
        self.release_drivers_above(true);
        if let Err(error) = new_bus.connect_and_list() {
            log::error!("supervisor: vmbus stays down ({reason}; new connection: {error})");
            self.lost = Some(format!("vmbus stays down ({reason}: {error})"));
            self.bus = Some(new_bus);
            return;
        }
        self.context.bus = new_bus.requests.clone();
        self.bus = Some(new_bus);
        self.restarted(Driver::Vmbus, reason);
        self.spawn_integration("vmbus restarted");
        let (functions, function_receiver) = ipc::channel(8);
        self.vpci = vpci_task::spawn(
            self.context.bus.clone(),
            self.context.vpci_subscriber,
            self.context.mmio.clone(),
            functions,
        );
        if self.vpci.is_some() {
            self.restarted(Driver::Vpci, "vmbus restarted");
        }
        self.spawn_dxg(function_receiver, "vmbus restarted");
    }

    /// Ends and releases the integration, vPCI and dxg tasks (after their bus went away;
    /// `unloaded`: the host forgot every channel and GPADL).
    fn release_drivers_above(&mut self, unloaded: bool) {
        if let Some(dxg) = self.dxg.take() {
            dxg.stop();
            let _ = if unloaded {
                dxg.join_and_release_after_unload()
            } else {
                dxg.join_and_release()
            };
        }
        if let Some(vpci) = self.vpci.take() {
            let _ = if unloaded {
                vpci.join_and_release_after_unload()
            } else {
                vpci.join_and_release()
            };
        }
        if let Some(integration) = self.integration.take() {
            let _ = if unloaded {
                integration.stop_after_unload()
            } else {
                integration.stop()
            };
        }
    }

    /// The reason to restart `driver` after its task ended with `result`, once the backoff has
    /// passed; `None` (with the system marked as having lost it) when it ended without a fault
    /// (`why` says what that suggests) or has failed too often.
    fn restart_reason(
        &mut self,
        driver: Driver,
        result: Result<(), crate::task::TaskFault>,
        why: &str,
    ) -> Option<&'static str> {
        let name = driver.name();
        let reason = match result {
            Ok(()) => {
                log::warn!("supervisor: {name} ended{why}; not restarted");
                self.lost = Some(format!("{name} ended"));
                return None;
            }
            Err(fault) => fault.reason(),
        };
        let history = match driver {
            Driver::Vmbus => &mut self.vmbus_history,
            Driver::Vpci => &mut self.vpci_history,
            Driver::Dxg => &mut self.dxg_history,
            Driver::Integration => &mut self.integration_history,
        };
        if !Self::may_restart(history, driver, reason) {
            self.lost = Some(format!("{name} stays down ({reason})"));
            return None;
        }
        Some(reason)
    }

    /// Whether to restart after `fault` (logging the give-up line if not); waits the backoff.
    fn may_restart(history: &mut History, driver: Driver, reason: &str) -> bool {
        let failures = history.record();
        if failures > MAXIMUM_FAILURES {
            history.down = true;
            log::error!(
                "supervisor: {} stays down ({reason}: {failures} failures within {FAILURE_WINDOW_SECONDS} s)",
                driver.name()
            );
            return false;
        }
        task::sleep_milliseconds(backoff_milliseconds(failures));
        true
    }

    fn on_vpci_ended(&mut self) {
        let Some(vpci) = self.vpci.take() else {
            return;
        };
        let result = vpci.join_and_release();
        let Some(reason) = self.restart_reason(Driver::Vpci, result, " (the bus task is gone)")
        else {
            return;
        };
        // The adapter sits on a vPCI function: dxg goes with it.
        if let Some(dxg) = self.dxg.take() {
            dxg.stop();
            let _ = dxg.join_and_release();
        }
        let (functions, function_receiver) = ipc::channel(8);
        self.vpci = vpci_task::spawn(
            self.context.bus.clone(),
            self.context.vpci_subscriber,
            self.context.mmio.clone(),
            functions,
        );
        if self.vpci.is_none() {
            log::error!("supervisor: vpci stays down (the bus task is gone)");
            return;
        }
        self.restarted(Driver::Vpci, reason);
        if !self.dxg_history.down {
            self.spawn_dxg(function_receiver, "vpci restarted");
        }
    }

    fn on_dxg_ended(&mut self) {
        let Some(dxg) = self.dxg.take() else {
            return;
        };
        let result = dxg.join_and_release();
        let Some(reason) = self.restart_reason(Driver::Dxg, result, " (the bus task is gone?)")
        else {
            return;
        };
        let (functions, function_receiver) = ipc::channel(8);
        if let Some(vpci) = &self.vpci {
            vpci.hand_functions_to(functions);
        }
        self.spawn_dxg(function_receiver, reason);
    }

    /// The integration services task ended: its channels are closed and released, and a new
    /// instance opens them again.
    fn on_integration_ended(&mut self) {
        let Some(integration) = self.integration.take() else {
            return;
        };
        let result = integration.join_and_release();
        let Some(reason) =
            self.restart_reason(Driver::Integration, result, " (the bus task is gone?)")
        else {
            return;
        };
        self.spawn_integration(reason);
    }

    fn spawn_integration(&mut self, reason: &str) {
        self.integration = integration_task::spawn_with_requests(
            self.context.bus.clone(),
            self.context.integration_subscriber,
            GuestIdentity::default(),
            self.context.host_requests.clone(),
        );
        if self.integration.is_none() {
            log::error!("supervisor: integration stays down (the bus task is gone)");
            return;
        }
        self.restarted(Driver::Integration, reason);
    }

    fn spawn_dxg(&mut self, functions: Receiver<dxg_task::PciFunction>, reason: &str) {
        let Some(handles) = dxg_task::spawn(
            self.context.bus.clone(),
            self.context.dxg_subscriber,
            functions,
            self.context.mmio.clone(),
        ) else {
            log::error!("supervisor: dxg stays down (the bus task is gone)");
            return;
        };
        self.link.replace(handles.gpu, handles.objects);
        self.adapter_events = handles.adapter_events;
        self.dxg = Some(handles.task);
        self.restarted(Driver::Dxg, reason);
    }

    fn restarted(&self, driver: Driver, reason: &str) {
        RESTARTS.fetch_add(1, Ordering::Relaxed);
        log::warn!("supervisor: restarted {} ({reason})", driver.name());
    }
}
