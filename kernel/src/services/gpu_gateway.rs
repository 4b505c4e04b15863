//! The GPU gateway of a user process: its D3DKMT calls, translated by the sans-I/O
//! [`drivers::d3dkmt::Translator`] into typed requests to the dxg task.
//!
//! The gateway owns the process's translator (its lazily created host process, lock views and
//! fence views) and a [`GpuClient`] to the dxg task; nothing is shared with other processes.
//! For each call it builds a [`KernelEnvironment`]: user memory through the syscall layer's
//! validated copies, GPU requests through the client (CPU waits with their timeout), and views
//! mapped into the process's view region. When the process ends, [`GpuGateway::on_exit`] lets
//! the translator destroy the host process (DESTROYPROCESS releases everything it still owns);
//! the views go with the address space, which never frees the IO-space frames it borrowed.
//!
//! Restarts of the dxg task (`services::supervisor`): a gateway made with
//! [`DxgGateway::supervised`] reaches dxg through a [`GpuLink`], which the supervisor points at
//! each new instance. At the process's first call after a restart, the gateway drops what it
//! had with the dead driver: the translator's views are unmapped from the process (a later
//! touch is a contained process fault), its handles are forgotten, and every call answers
//! STATUS_DEVICE_REMOVED until the process opens an adapter again (EnumAdapters2/3 and
//! OpenAdapterFromLuid go through, to the restarted adapter; once one of them succeeds, the
//! process's calls go through again: both enumeration calls return open adapters). A call that was waiting when the
//! driver died gets STATUS_DEVICE_REMOVED too (its reply was dropped with the dead state).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;
use userlib::sys::SyscallNumber;

use drivers::d3dkmt::{
    Environment, NtStatus, Reply, Request, Served, Timeout, Translator, UserMemoryError, ViewAccess,
};

use super::dxg_task::{GpuCall, GpuClient, GpuReply, ObjectCountClient};
use crate::arch::address_space::AccessViolation;
use crate::ipc::{CallError, ReplySlot};
use crate::process::{ProcessExit, ProcessId};
use crate::syscall::status::{
    STATUS_ACCESS_VIOLATION, STATUS_DEVICE_REMOVED, STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED,
    STATUS_TIMEOUT,
};
use crate::syscall::{DetachedWait, GatewayAnswer, GpuGateway, UserSpace};

/// The current dxg task's clients, and how many times dxg was restarted.
#[derive(Clone)]
pub struct GpuEndpoint {
    /// Counts the dxg task's restarts (0: the first instance).
    pub generation: u64,
    /// GPU calls.
    pub gpu: GpuClient,
    /// Object counts.
    pub objects: ObjectCountClient,
    /// Whether this instance's adapter has become active.
    pub adapter_active: bool,
}

/// Where the running dxg task is: shared by the gateways and the supervisor, which replaces
/// the endpoint at each restart.
#[derive(Clone)]
pub struct GpuLink(Arc<Mutex<GpuEndpoint>>);

impl GpuLink {
    /// A link to the first dxg instance.
    pub fn new(gpu: GpuClient, objects: ObjectCountClient) -> GpuLink {
        GpuLink(Arc::new(Mutex::new(GpuEndpoint {
            generation: 0,
            gpu,
            objects,
            adapter_active: false,
        })))
    }

    /// The current endpoint.
    pub fn current(&self) -> GpuEndpoint {
        self.0.lock().clone()
    }

    /// Points the link at a restarted dxg task.
    pub fn replace(&self, gpu: GpuClient, objects: ObjectCountClient) {
        let mut endpoint = self.0.lock();
        endpoint.generation += 1;
        endpoint.gpu = gpu;
        endpoint.objects = objects;
        endpoint.adapter_active = false;
    }

    /// Records that the current instance's adapter became active.
    pub fn set_adapter_active(&self) {
        self.0.lock().adapter_active = true;
    }

    /// Waits (polling, at most `milliseconds`) until the current instance's adapter is active
    /// and at least `generation` restarts happened; whether it did.
    pub fn wait_for_adapter(&self, generation: u64, milliseconds: u64) -> bool {
        let mut waited = 0;
        loop {
            let endpoint = self.current();
            if endpoint.generation >= generation && endpoint.adapter_active {
                return true;
            }
            if waited >= milliseconds {
                return false;
            }
            crate::task::sleep_milliseconds(10);
            waited += 10;
        }
    }
}

/// A process's D3DKMT service (see the module docs).
pub struct DxgGateway {
    gpu: GpuClient,
    objects: Option<ObjectCountClient>,
    name: String,
    translator: Option<Translator>,
    /// The supervised dxg task, when the gateway follows its restarts.
    link: Option<GpuLink>,
    /// The dxg generation `gpu` and the translator belong to.
    generation: u64,
    /// The adapter died under the process, which has not opened one again.
    adapter_removed: bool,
    /// The reply channel of the last answered GPU call, reused by the next one.
    replies: ReplySlot<GpuReply>,
    /// The reply channel of the last answered detached wait, reused by the next one (made
    /// outside the process's lock, so it is shared: two at once make a new channel).
    detached_replies: Arc<Mutex<ReplySlot<GpuReply>>>,
}

impl DxgGateway {
    /// A gateway for the process called `name`, talking to the dxg task through `gpu` (a
    /// fixed dxg instance: after its end, calls answer STATUS_DEVICE_REMOVED).
    pub fn new(gpu: GpuClient, name: &str) -> DxgGateway {
        DxgGateway {
            gpu,
            objects: None,
            name: String::from(name),
            translator: None,
            link: None,
            generation: 0,
            adapter_removed: false,
            replies: ReplySlot::default(),
            detached_replies: Arc::default(),
        }
    }

    /// A gateway for the process called `name` that follows the dxg task's restarts through
    /// `link` (object counts included).
    pub fn supervised(link: GpuLink, name: &str) -> DxgGateway {
        let endpoint = link.current();
        DxgGateway {
            gpu: endpoint.gpu,
            objects: Some(endpoint.objects),
            name: String::from(name),
            translator: None,
            link: Some(link),
            generation: endpoint.generation,
            adapter_removed: false,
            replies: ReplySlot::default(),
            detached_replies: Arc::default(),
        }
    }

    /// After a restart of dxg: ends everything the process had with the dead instance (its
    /// views unmapped, its handles forgotten) and moves to the new one.
    fn follow_restart(&mut self, process: ProcessId, user: &mut UserSpace<'_>) {
        let Some(link) = &self.link else {
            return;
        };
        let endpoint = link.current();
        if endpoint.generation == self.generation {
            return;
        }
        if let Some(mut translator) = self.translator.take() {
            let mut environment = KernelEnvironment {
                gpu: &self.gpu,
                replies: &mut self.replies,
                process: dxg::core::ProcessId(process.0),
                user: Some(user),
            };
            // Unmaps every view; the DestroyProcess it sends finds the old dxg gone.
            translator.exit(&mut environment);
            self.adapter_removed = true;
            log::info!(
                "gateway: {}: the GPU adapter was removed (dxg restarted); views unmapped",
                self.name
            );
        }
        self.gpu = endpoint.gpu;
        if self.objects.is_some() {
            self.objects = Some(endpoint.objects);
        }
        self.generation = endpoint.generation;
    }

    /// Lets the process ask for its dxg object count (`DxgObjectCount`); without it the query
    /// is `STATUS_NOT_SUPPORTED`.
    pub fn with_object_counts(mut self, objects: ObjectCountClient) -> DxgGateway {
        self.objects = Some(objects);
        self
    }
}

/// Calls a process may make after its adapter was removed: those that find and open the
/// adapter again.
fn reopens_adapter(number: u32) -> bool {
    [
        SyscallNumber::EnumAdapters2,
        SyscallNumber::EnumAdapters3,
        SyscallNumber::OpenAdapterFromLuid,
    ]
    .into_iter()
    .any(|call| call as u32 == number)
}

impl GpuGateway for DxgGateway {
    fn call(
        &mut self,
        process: ProcessId,
        number: u32,
        arguments: &mut [u8],
        user: &mut UserSpace<'_>,
        arg2: u64,
    ) -> GatewayAnswer {
        self.follow_restart(process, user);
        if self.adapter_removed && !reopens_adapter(number) {
            return GatewayAnswer::Status(STATUS_DEVICE_REMOVED);
        }
        let translator = self
            .translator
            .get_or_insert_with(|| Translator::new(process.0, &self.name));
        let mut environment = KernelEnvironment {
            gpu: &self.gpu,
            replies: &mut self.replies,
            process: dxg::core::ProcessId(process.0),
            user: Some(user),
        };
        let status = match translator.serve(&mut environment, number, arguments, arg2) {
            Served::Done(status) => status,
            Served::Wait(wait) => {
                // Made by the process's thread once the syscall layer released the process.
                let gpu = self.gpu.clone();
                let process = dxg::core::ProcessId(process.0);
                let kept = self.detached_replies.clone();
                return GatewayAnswer::Wait(DetachedWait::new(move || {
                    let mut replies = core::mem::take(&mut *kept.lock());
                    // The process's memory is not needed (nor reachable) any more.
                    let mut environment = KernelEnvironment {
                        gpu: &gpu,
                        replies: &mut replies,
                        process,
                        user: None,
                    };
                    let status = wait.wait(&mut environment);
                    *kept.lock() = replies;
                    status
                }));
            }
        };
        // EnumAdapters2/3 return open adapters too, like OpenAdapterFromLuid.
        if status >= 0 && reopens_adapter(number) {
            self.adapter_removed = false;
        }
        GatewayAnswer::Status(status)
    }

    fn object_count(&mut self, process: ProcessId) -> Result<u64, i32> {
        let objects = self.objects.as_ref().ok_or(STATUS_NOT_SUPPORTED)?;
        objects
            .call(dxg::core::ProcessId(process.0))
            .map_err(|_| STATUS_DEVICE_REMOVED)
    }

    fn on_exit(&mut self, process: ProcessId, _exit: &ProcessExit) {
        if let Some(translator) = self.translator.as_mut() {
            let mut environment = KernelEnvironment {
                gpu: &self.gpu,
                replies: &mut self.replies,
                process: dxg::core::ProcessId(process.0),
                user: None,
            };
            translator.exit(&mut environment);
        }
    }
}

/// What the translator may do for one call: copy user memory, ask the dxg task, map views.
/// After the process has ended (`user` is `None`) user memory is gone: copies fail, and
/// unmapping is left to the address space's destruction.
struct KernelEnvironment<'a, 'b> {
    gpu: &'a GpuClient,
    replies: &'a mut ReplySlot<GpuReply>,
    process: dxg::core::ProcessId,
    user: Option<&'a mut UserSpace<'b>>,
}

impl<'b> KernelEnvironment<'_, 'b> {
    /// The process's memory, or the error for `address` once the process has ended.
    fn user(&self, address: u64) -> Result<&UserSpace<'b>, UserMemoryError> {
        self.user.as_deref().ok_or(UserMemoryError { address })
    }
}

fn user_memory_error(violation: AccessViolation) -> UserMemoryError {
    UserMemoryError {
        address: violation.address,
    }
}

impl Environment for KernelEnvironment<'_, '_> {
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError> {
        let result = self.user(address)?.read(address, buffer);
        result.map_err(user_memory_error)
    }

    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError> {
        let result = self.user(address)?.write(address, data);
        result.map_err(user_memory_error)
    }

    fn gpu(&mut self, request: Request, timeout: Timeout) -> Result<Reply, NtStatus> {
        let deadline = match timeout {
            Timeout::Infinite => None,
            // At least one tick, so that a poll (timeout 0) lets the dxg task answer first.
            Timeout::Microseconds(microseconds) => Some(crate::clock::ticks().saturating_add(
                crate::clock::milliseconds_to_ticks(microseconds.div_ceil(1000)).max(1),
            )),
        };
        let call = GpuCall {
            process: self.process,
            request,
        };
        match self.gpu.call_until_reusing(call, deadline, self.replies) {
            Ok(result) => result,
            Err(CallError::TimedOut) => Err(NtStatus(STATUS_TIMEOUT)),
            Err(CallError::ServerGone | CallError::NoReply) => Err(NtStatus(STATUS_DEVICE_REMOVED)),
            // The process is being killed: the status never reaches it.
            Err(CallError::Interrupted) => Err(NtStatus(STATUS_TIMEOUT)),
        }
    }

    fn map_io(&mut self, physical: u64, length: u64, access: ViewAccess) -> Result<u64, NtStatus> {
        match self.user.as_deref_mut() {
            Some(user) => user
                .map_view(physical, length, access)
                .map_err(|_| NtStatus(STATUS_NO_MEMORY)),
            None => Err(NtStatus(STATUS_NO_MEMORY)),
        }
    }

    fn user_page_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, NtStatus> {
        let user = self
            .user(address)
            .map_err(|_| NtStatus(STATUS_ACCESS_VIOLATION))?;
        user.owned_frames(address, length)
            .map_err(|_| NtStatus(STATUS_ACCESS_VIOLATION))
    }

    fn unmap_io(&mut self, user_address: u64, _length: u64) {
        if let Some(user) = self.user.as_deref_mut() {
            user.unmap_view(user_address);
        }
    }
}
