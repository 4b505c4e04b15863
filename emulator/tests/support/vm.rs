//! One way to send dxg requests to either in-process VM: the vGPU loopback (no VMBus) and the
//! whole guest stack over VMBus ([`super::guest_stack::Stack`]), so the request helpers serve
//! both. Also the standard one-vGPU loopback VM.

use super::guest_stack::Stack;
use dxg::core::{ProcessId, Reply, Request};
use dxg::wire::NtStatus;
use emulator::vgpu::VgpuDescription;
use emulator::vgpu::loopback::Loopback;
use hyperv::memory::AtomicMemory;
use std::sync::Arc;

/// A VM the guest's dxg core runs in.
pub trait Vm {
    /// Submits a request and runs everything until it completes (what "not completed" means
    /// is each VM's own `call`).
    fn call(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus>;
    /// The guest memory the IO space lives in.
    fn guest_memory(&self) -> Arc<AtomicMemory>;
}

impl Vm for Loopback {
    fn call(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus> {
        Loopback::call(self, process, request)
    }

    fn guest_memory(&self) -> Arc<AtomicMemory> {
        self.memory.clone()
    }
}

impl Vm for Stack {
    fn call(&mut self, process: ProcessId, request: Request) -> Result<Reply, NtStatus> {
        Stack::call(self, process, request)
    }

    fn guest_memory(&self) -> Arc<AtomicMemory> {
        self.loopback.memory()
    }
}

/// The reply of a request that must succeed.
pub fn ok(result: Result<Reply, NtStatus>) -> Reply {
    result.unwrap_or_else(|status| panic!("request failed: {status:?}"))
}

/// A loopback VM with one vGPU (LUID 0x1_0000) and a 16 MiB IO space.
pub fn loopback() -> Loopback {
    Loopback::new(vec![VgpuDescription::new(0x1_0000, 0xABCD)], 16)
}
