//! Per-adapter state.

use crate::wire::{D3dkmtHandle, Guid, InternalAdapterInfoReply, Luid};

/// Lifecycle of an adapter (dxg.md §1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterState {
    /// PCI function probed; waiting for the global and the vGPU channel.
    WaitingVmbus,
    /// OPENADAPTER / GETINTERNALADAPTERINFO in flight.
    Starting,
    /// Usable.
    Active,
    /// Start failed; listed but unusable.
    Stopped,
    /// Removed (PCI function or channel gone); never reused.
    Removed,
}

/// One vGPU.
#[derive(Debug)]
pub struct Adapter {
    /// Caller's id for the PCI function.
    pub pci_function: u32,
    /// Compute-only function (device 0x008A).
    pub compute_only: bool,
    /// vGPU channel instance GUID (from config space 0xC0).
    pub channel_instance: Guid,
    /// Adapter LUID seen by user mode (first 8 bytes of the GUID).
    pub luid: Luid,
    /// Host vGPU LUID (from config space, then GETINTERNALADAPTERINFO); goes in extension headers.
    pub vgpu_luid: Luid,
    /// Host adapter handle from OPENADAPTER.
    pub host_adapter: D3dkmtHandle,
    /// State.
    pub state: AdapterState,
    /// Whether our vGPU channel is open.
    pub channel_open: bool,
    /// Next transaction id on the vGPU channel.
    pub next_transaction: u64,
    /// GETINTERNALADAPTERINFO reply.
    pub info: Option<InternalAdapterInfoReply>,
}
