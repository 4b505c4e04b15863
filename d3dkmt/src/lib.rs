//! dxgos-d3dkmt: the per-process D3DKMT translator, sans-I/O: application argument structs in,
//! dxg requests out.
//!
//! This is the piece of a guest OS that sits between an application's D3DKMT calls (the
//! `d3dkmthk.h` API that WSL's libdxg and Windows user-mode drivers use) and the GPU-PV protocol
//! core ([`dxg::core`], package `dxgos-dxg`). The argument structs and call numbers are
//! `dxgos-userlib`'s (re-exported as [`abi`] and [`SyscallNumber`]); the OS supplies an
//! [`Environment`] per process. See `docs/porting.md` in the dxgos repository.
//!
//! An application calls a D3DKMT entry point through a system call. The kernel checks nothing
//! but the struct's address, copies the struct in and hands it to this process's
//! [`Translator`] together with an [`Environment`]: the kernel's side of one process (its user
//! memory, the dxg driver task, and its address space for IO-space mappings). The translator
//!
//! 1. checks the call number (`STATUS_INVALID_SYSTEM_SERVICE`) and the struct size
//!    (`STATUS_INFO_LENGTH_MISMATCH`);
//! 2. answers `STATUS_NOT_SUPPORTED` for the calls listed in [`UNSERVED_CALLS`] (no
//!    [`Request`] variant exists for them yet);
//! 3. registers the process with the host on its first served call (`Request::CreateProcess`,
//!    retried on the next call if it failed);
//! 4. reads the nested user arrays (handles, fence values, private data, allocation infos)
//!    through [`Environment::read_user`] after checking every count against the D3DKMT limits,
//!    so a hostile count is refused before anything is allocated for it;
//! 5. sends one typed [`Request`] through [`Environment::gpu`] and writes the reply into the
//!    struct (copied back by the kernel) and into the user arrays it points to;
//! 6. backs allocations over existing system memory with the application's own pages
//!    ([`Environment::user_page_frames`], `calls/existing_sysmem.rs`);
//! 7. keeps the CPU views it created: allocations mapped by `Lock2` (reference counted, one
//!    LOCK2/UNLOCK2 pair per mapping, as the Linux driver does) and the monitored-fence pages of
//!    sync objects and paging queues (mapped read-only: user mode only reads them). Views are
//!    unmapped when their object, or its device, is destroyed, and all of them on
//!    [`Translator::exit`].
//!
//! Handles are not checked here: the dxg core's per-process handle tables answer
//! `STATUS_INVALID_HANDLE` for unknown or foreign handles and the translator passes such
//! statuses through.
//!
//! Files: `arguments.rs` (struct and user-array access, the limits), `views.rs` (the view
//! table), `owners.rs` (the devices of contexts and paging queues), `shared.rs` (the shared
//! handles the process created), `table.rs` (served calls and [`UNSERVED_CALLS`]), `calls/*.rs`
//! (the handlers, one file per area: adapters, devices, allocations, existing system memory,
//! sync objects, GPU virtual addresses, hardware queues, priorities, residency, adapter
//! queries, sharing),
//! `test_memory` (a model of user memory for tests and fuzzers, with the `test-memory` feature).

// Argument structs, user memory and counts come from the application: nothing in the translator
// may panic on what they hold, nor overflow. The lints hold for every module below (stated once,
// here); only the test model of user memory and the tests opt out.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod arguments;
mod calls;
mod owners;
mod shared;
mod table;
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "a model of user memory for tests and fuzzers, not the kernel's; it indexes its \
              own pages within ranges it computed"
)]
#[cfg(any(test, feature = "test-memory"))]
pub mod test_memory;
mod views;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests: a panic is a failed test"
)]
mod tests;

// The README's example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use dxg::core::{Reply, Request};
pub use dxg::wire::NtStatus;
pub use table::{UNSERVED_CALLS, is_served, served_calls};
pub use userlib::abi;
pub use userlib::sys::SyscallNumber;
pub use views::ViewAccess;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use owners::Owners;
use shared::SharedHandles;
use views::Views;

/// How long a GPU request may wait (only CPU waits use a finite timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Wait until the request completes.
    Infinite,
    /// Give up after this many microseconds (the request then fails with `STATUS_TIMEOUT`).
    Microseconds(u64),
}

/// A host wait a call left for the kernel to make ([`Served::Wait`]): the call's last request,
/// its timeout and how its reply becomes the call's status. The kernel makes it
/// ([`HostWait::wait`]) without holding the process (its address space, its translator), so
/// that the process's other threads go on calling meanwhile: a thread that waits from the CPU
/// for a fence another thread of the same process signals must not hold up that signal, nor
/// may a call whose reply the host holds back until GPU work is done (DestroyDevice's flush,
/// DestroyContext, DestroyHwQueue, a submission to a full queue) when that work waits for such
/// a fence. Making it writes nothing to the process: the call's struct was final before the
/// wait.
#[derive(Debug)]
pub struct HostWait {
    /// The request to send.
    pub request: Request,
    /// How long it may wait.
    pub timeout: Timeout,
    /// How its reply becomes the call's status.
    pub reply: WaitReply,
}

/// How the reply of a [`HostWait`] becomes the call's NTSTATUS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReply {
    /// A CPU wait: success once the fences reached their values, `STATUS_TIMEOUT` (a success
    /// code) when the timeout ran out first.
    CpuWait,
    /// A bare status, the host's.
    Status,
}

impl HostWait {
    /// Sends the request through `environment` (which needs no user memory for it) and
    /// returns the call's NTSTATUS (see [`WaitReply`]).
    pub fn wait(self, environment: &mut dyn Environment) -> i32 {
        let result = environment.gpu(self.request, self.timeout);
        let status = match self.reply {
            WaitReply::CpuWait => calls::sync::cpu_wait_status(result),
            WaitReply::Status => result.and_then(calls::status_of),
        };
        match status {
            Ok(status) | Err(status) => status.0,
        }
    }
}

/// What serving a call ([`Translator::serve`]) left to do.
#[derive(Debug)]
pub enum Served {
    /// The call is done: its NTSTATUS.
    Done(i32),
    /// The call still waits for the host: [`HostWait::wait`] (without holding the process)
    /// gives the call's NTSTATUS. (Boxed: `Served` stays two words, returned in registers on
    /// the path every call takes.)
    Wait(Box<HostWait>),
}

/// A user address that is not mapped/accessible as required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserMemoryError {
    /// The first address of the failed access.
    pub address: u64,
}

/// What the translator needs from the kernel, for ONE process.
pub trait Environment {
    /// Copies from user memory (validated by the kernel).
    fn read_user(&self, address: u64, buffer: &mut [u8]) -> Result<(), UserMemoryError>;
    /// Copies to user-writable memory.
    fn write_user(&self, address: u64, data: &[u8]) -> Result<(), UserMemoryError>;
    /// Sends a request to the dxg driver on behalf of this process and waits for its reply.
    /// When `timeout` runs out first it returns Err(NtStatus(STATUS_TIMEOUT = 0x102)).
    fn gpu(&mut self, request: Request, timeout: Timeout) -> Result<Reply, NtStatus>;
    /// Maps `length` bytes (whole pages) of guest-physical memory at page-aligned `physical`
    /// into the process; returns the user address. `access` says whether it is writable and
    /// whether it is cached or write-combined.
    fn map_io(&mut self, physical: u64, length: u64, access: ViewAccess) -> Result<u64, NtStatus>;
    /// Removes a mapping made by `map_io` (same address and length).
    fn unmap_io(&mut self, user_address: u64, length: u64);
    /// The guest-physical page frame numbers behind `length` bytes of user memory at page-aligned
    /// `address` (each page must be mapped, user-accessible and writable), for an allocation the
    /// GPU reads and writes in place. The kernel keeps those pages mapped for the process's life.
    fn user_page_frames(&self, address: u64, length: u64) -> Result<Vec<u64>, NtStatus> {
        let _ = (address, length);
        Err(NtStatus::NOT_SUPPORTED)
    }
}

/// The result of serving one call: `Ok` carries a success status (`STATUS_SUCCESS`,
/// `STATUS_PENDING`, `STATUS_TIMEOUT`, …), `Err` a failure status.
type CallResult = Result<NtStatus, NtStatus>;

/// The per-process D3DKMT state.
pub struct Translator {
    /// Guest process id sent in CreateProcess.
    pid: u64,
    /// Process name sent in CreateProcess.
    name: String,
    /// Whether CreateProcess succeeded (and DestroyProcess is still owed).
    process_created: bool,
    /// CPU views and the allocation sizes they need.
    views: Views,
    /// The devices of the process's contexts and paging queues.
    owners: Owners,
    /// The shared handles the process created (ShareObjects).
    shared: SharedHandles,
}

impl Translator {
    /// `pid`/`name`: what CreateProcess tells the host (sent lazily on the first call).
    pub fn new(pid: u64, name: &str) -> Translator {
        Translator {
            pid,
            name: String::from(name),
            process_created: false,
            views: Views::default(),
            owners: Owners::default(),
            shared: SharedHandles::default(),
        }
    }

    /// Serves D3DKMT call `number` (the Linux dxgkrnl ioctl number 0x01..=0x45, as in
    /// userlib's `sys::SyscallNumber`); `arguments` is the copied-in argument struct, whatever is
    /// left in it is copied back to the user; `arg2` is the syscall's rdx (the CPU-wait timeout
    /// in microseconds, u64::MAX = infinite; 0 otherwise). Returns the NTSTATUS for rax. A CPU
    /// wait is made here, through `environment`; [`Translator::serve`] leaves it to the caller.
    pub fn call(
        &mut self,
        environment: &mut dyn Environment,
        number: u32,
        arguments: &mut [u8],
        arg2: u64,
    ) -> i32 {
        match self.serve(environment, number, arguments, arg2) {
            Served::Done(status) => status,
            Served::Wait(wait) => wait.wait(environment),
        }
    }

    /// As [`Translator::call`], but a call that ends in a wait for the host
    /// (`WaitForSynchronizationObjectFromCpu`, and the calls whose reply may wait for GPU work:
    /// see [`HostWait`]) returns [`Served::Wait`] after its checks instead of waiting, so the
    /// kernel can wait without holding the process.
    pub fn serve(
        &mut self,
        environment: &mut dyn Environment,
        number: u32,
        arguments: &mut [u8],
        arg2: u64,
    ) -> Served {
        let Some(call) = SyscallNumber::from_raw(u64::from(number)) else {
            return Served::Done(NtStatus::INVALID_SYSTEM_SERVICE.0);
        };
        let Some(size) = call.argument_size() else {
            // A process call (Exit, WriteConsole, …): not a D3DKMT call.
            return Served::Done(NtStatus::INVALID_SYSTEM_SERVICE.0);
        };
        if arguments.len() != size {
            return Served::Done(NtStatus::INFO_LENGTH_MISMATCH.0);
        }
        let Some(handler) = table::handler(number) else {
            return Served::Done(NtStatus::NOT_SUPPORTED.0);
        };
        if let Err(failure) = self.ensure_process(environment) {
            return Served::Done(failure.0);
        }
        let mut context = calls::Call {
            environment,
            views: &mut self.views,
            owners: &mut self.owners,
            shared: &mut self.shared,
            arguments,
            arg2,
            wait: None,
        };
        match handler(&mut context) {
            Ok(success) => match context.wait {
                Some(wait) => Served::Wait(wait),
                None => Served::Done(success.0),
            },
            Err(failure) => Served::Done(failure.0),
        }
    }

    /// The process ended: unmap every view still mapped, then DestroyProcess if CreateProcess
    /// was sent. Idempotent. The shared handles the process created are destroyed by the dxg
    /// core's DestroyProcess teardown, not here (see `shared.rs`).
    pub fn exit(&mut self, environment: &mut dyn Environment) {
        self.views.unmap_all(environment);
        self.owners.clear();
        self.shared.clear();
        if self.process_created {
            self.process_created = false;
            if let Err(failure) = environment.gpu(Request::DestroyProcess, Timeout::Infinite) {
                log::warn!(
                    "d3dkmt: DestroyProcess of pid {} failed: {failure:?}",
                    self.pid
                );
            }
        }
    }

    /// Whether the process is registered with the host (CreateProcess succeeded and the process
    /// has not exited).
    pub fn process_created(&self) -> bool {
        self.process_created
    }

    /// Number of CPU views currently mapped into the process (locked allocations and fence
    /// pages).
    pub fn mapped_views(&self) -> usize {
        self.views.mapped_count()
    }

    /// Number of shared handles the process created with ShareObjects (they live until the
    /// process exits).
    pub fn shared_handles(&self) -> usize {
        self.shared.len()
    }

    /// Sends CreateProcess unless it already succeeded.
    fn ensure_process(&mut self, environment: &mut dyn Environment) -> Result<(), NtStatus> {
        if self.process_created {
            return Ok(());
        }
        let request = Request::CreateProcess {
            pid: self.pid,
            name: self.name.clone(),
        };
        match environment.gpu(request, Timeout::Infinite)? {
            Reply::ProcessCreated { .. } => {
                self.process_created = true;
                Ok(())
            }
            other => Err(calls::unexpected(&other)),
        }
    }
}
