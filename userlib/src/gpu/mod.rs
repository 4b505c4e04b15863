//! The safe Rust API: owned GPU objects over any [`Syscall`].
//!
//! Every object owns one kernel handle and destroys it on drop. Children borrow their parent
//! (`Device` borrows its `Adapter`, `Context`/`Allocation`/`SyncObject` their `Device`), so the
//! borrow checker guarantees children are destroyed before their parent; a [`Mapping`] borrows
//! its `Allocation` mutably and unlocks on drop. Errors are [`D3dkmtError`]s mapped from the
//! kernel's NTSTATUS. Nothing here allocates.

mod error;
mod fence;
mod mapping;

pub use error::{D3dkmtError, check};
pub use mapping::Mapping;

use crate::abi::{self, D3DGPU_VIRTUAL_ADDRESS, D3DKMT_HANDLE, LUID, flags};
use crate::sys::{Syscall, SyscallNumber, TIMEOUT_INFINITE, call_d3dkmt};
use core::time::Duration;

/// An open adapter (closed on drop).
pub struct Adapter<'k, S: Syscall + ?Sized> {
    kernel: &'k S,
    handle: D3DKMT_HANDLE,
    luid: LUID,
    sources: u32,
}

/// The adapters `D3DKMTEnumAdapters2` returned, each already open.
pub struct AdapterList<'k, S: Syscall + ?Sized> {
    adapters: [Option<Adapter<'k, S>>; abi::D3DKMT_ADAPTERS_MAX],
    count: usize,
}

impl<'k, S: Syscall + ?Sized> AdapterList<'k, S> {
    /// Number of adapters.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No adapters.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The adapters.
    pub fn iter(&self) -> impl Iterator<Item = &Adapter<'k, S>> {
        self.adapters[..self.count].iter().flatten()
    }

    /// Takes adapter `index` out of the list (the others are closed when the list drops).
    pub fn take(&mut self, index: usize) -> Option<Adapter<'k, S>> {
        self.adapters.get_mut(index)?.take()
    }
}

/// Video memory figures of one segment group (`D3DKMTQueryVideoMemoryInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoMemoryInfo {
    /// Budget in bytes.
    pub budget: u64,
    /// Current usage in bytes.
    pub current_usage: u64,
    /// Current reservation in bytes.
    pub current_reservation: u64,
    /// Available for reservation in bytes.
    pub available_for_reservation: u64,
}

impl<'k, S: Syscall + ?Sized> Adapter<'k, S> {
    /// Enumerates the adapters (each returned open).
    pub fn enumerate(kernel: &'k S) -> Result<AdapterList<'k, S>, D3dkmtError> {
        let mut infos = [abi::D3DKMT_ADAPTERINFO::default(); abi::D3DKMT_ADAPTERS_MAX];
        let mut arguments = abi::D3DKMT_ENUMADAPTERS2 {
            NumAdapters: abi::D3DKMT_ADAPTERS_MAX as u32,
            pAdapters: infos.as_mut_ptr() as u64,
            ..Default::default()
        };
        check(call_d3dkmt(
            kernel,
            SyscallNumber::EnumAdapters2,
            &mut arguments,
            0,
        ))?;
        let count = arguments.NumAdapters as usize;
        if count > abi::D3DKMT_ADAPTERS_MAX {
            return Err(D3dkmtError::InvalidReply);
        }
        let adapters = core::array::from_fn(|index| {
            (index < count).then(|| Adapter {
                kernel,
                handle: infos[index].hAdapter,
                luid: infos[index].AdapterLuid,
                sources: infos[index].NumOfSources,
            })
        });
        Ok(AdapterList { adapters, count })
    }

    /// Enumerates the adapters into a vector.
    #[cfg(feature = "alloc")]
    pub fn enumerate_vec(kernel: &'k S) -> Result<alloc::vec::Vec<Self>, D3dkmtError> {
        let mut list = Self::enumerate(kernel)?;
        Ok((0..list.len())
            .filter_map(|index| list.take(index))
            .collect())
    }

    /// Opens the adapter with this LUID.
    pub fn open(kernel: &'k S, luid: LUID) -> Result<Self, D3dkmtError> {
        let mut arguments = abi::D3DKMT_OPENADAPTERFROMLUID {
            AdapterLuid: luid,
            hAdapter: 0,
        };
        check(call_d3dkmt(
            kernel,
            SyscallNumber::OpenAdapterFromLuid,
            &mut arguments,
            0,
        ))?;
        Ok(Adapter {
            kernel,
            handle: arguments.hAdapter,
            luid,
            sources: 0,
        })
    }

    /// The adapter handle.
    pub fn handle(&self) -> D3DKMT_HANDLE {
        self.handle
    }

    /// The adapter LUID.
    pub fn luid(&self) -> LUID {
        self.luid
    }

    /// Number of VidPN sources (0 when opened by LUID).
    pub fn sources(&self) -> u32 {
        self.sources
    }

    /// `D3DKMTQueryAdapterInfo`: fills `buffer` with the answer to `query_type`
    /// (`KMTQUERYADAPTERINFOTYPE`).
    pub fn query_info(&self, query_type: u32, buffer: &mut [u8]) -> Result<(), D3dkmtError> {
        let size = u32::try_from(buffer.len()).map_err(|_| D3dkmtError::InvalidParameter)?;
        let mut arguments = abi::D3DKMT_QUERYADAPTERINFO {
            hAdapter: self.handle,
            Type: query_type,
            pPrivateDriverData: buffer.as_mut_ptr() as u64,
            PrivateDriverDataSize: size,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel,
            SyscallNumber::QueryAdapterInfo,
            &mut arguments,
            0,
        ))?;
        Ok(())
    }

    /// The `D3DKMT_ADAPTERTYPE` bits (`KMTQAITYPE_ADAPTERTYPE`).
    pub fn adapter_type(&self) -> Result<u32, D3dkmtError> {
        let mut bytes = [0u8; 4];
        self.query_info(flags::KMTQAITYPE_ADAPTERTYPE, &mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// `D3DKMTQueryVideoMemoryInfo` for `segment_group` (`D3DKMT_MEMORY_SEGMENT_GROUP_*`).
    pub fn query_video_memory(&self, segment_group: u32) -> Result<VideoMemoryInfo, D3dkmtError> {
        let mut arguments = abi::D3DKMT_QUERYVIDEOMEMORYINFO {
            hAdapter: self.handle,
            MemorySegmentGroup: segment_group,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel,
            SyscallNumber::QueryVideoMemoryInfo,
            &mut arguments,
            0,
        ))?;
        Ok(VideoMemoryInfo {
            budget: arguments.Budget,
            current_usage: arguments.CurrentUsage,
            current_reservation: arguments.CurrentReservation,
            available_for_reservation: arguments.AvailableForReservation,
        })
    }

    /// `D3DKMTCreateDevice`.
    pub fn create_device(&self) -> Result<Device<'_, S>, D3dkmtError> {
        let mut arguments = abi::D3DKMT_CREATEDEVICE {
            hAdapter: self.handle,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel,
            SyscallNumber::CreateDevice,
            &mut arguments,
            0,
        ))?;
        Ok(Device {
            adapter: self,
            handle: arguments.hDevice,
        })
    }
}

impl<S: Syscall + ?Sized> Drop for Adapter<'_, S> {
    fn drop(&mut self) {
        let mut arguments = abi::D3DKMT_CLOSEADAPTER {
            hAdapter: self.handle,
        };
        let _ = call_d3dkmt(self.kernel, SyscallNumber::CloseAdapter, &mut arguments, 0);
    }
}

/// A device on an adapter (destroyed on drop).
pub struct Device<'a, S: Syscall + ?Sized> {
    adapter: &'a Adapter<'a, S>,
    handle: D3DKMT_HANDLE,
}

/// Parameters of [`Device::create_context_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ContextDescription<'p> {
    /// Node (engine type) ordinal.
    pub node_ordinal: u32,
    /// Engine affinity within the node.
    pub engine_affinity: u32,
    /// `D3DDDI_CREATECONTEXTFLAGS`.
    pub flags: u32,
    /// `D3DKMT_CLIENTHINT`.
    pub client_hint: u32,
    /// Private driver data.
    pub private_data: &'p [u8],
}

impl<'a, S: Syscall + ?Sized> Device<'a, S> {
    fn kernel(&self) -> &'a S {
        self.adapter.kernel
    }

    /// The device handle.
    pub fn handle(&self) -> D3DKMT_HANDLE {
        self.handle
    }

    /// The adapter the device was created on.
    pub fn adapter(&self) -> &'a Adapter<'a, S> {
        self.adapter
    }

    /// A context on node 0 (`D3DKMTCreateContextVirtual`).
    pub fn create_context(&self) -> Result<Context<'_, S>, D3dkmtError> {
        self.create_context_with(&ContextDescription::default())
    }

    /// A context with explicit parameters.
    pub fn create_context_with(
        &self,
        description: &ContextDescription<'_>,
    ) -> Result<Context<'_, S>, D3dkmtError> {
        let size = u32::try_from(description.private_data.len())
            .map_err(|_| D3dkmtError::InvalidParameter)?;
        let mut arguments = abi::D3DKMT_CREATECONTEXTVIRTUAL {
            hDevice: self.handle,
            NodeOrdinal: description.node_ordinal,
            EngineAffinity: description.engine_affinity,
            Flags: description.flags,
            pPrivateDriverData: description.private_data.as_ptr() as u64,
            PrivateDriverDataSize: size,
            ClientHint: description.client_hint,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel(),
            SyscallNumber::CreateContextVirtual,
            &mut arguments,
            0,
        ))?;
        Ok(Context {
            device: self,
            handle: arguments.hContext,
        })
    }

    /// One allocation of `size` bytes (`D3DKMTCreateAllocation2`). The per-allocation private
    /// driver data is the size as a little-endian u64, which is what the dxgos vGPU reads.
    pub fn create_allocation(&self, size: u64) -> Result<Allocation<'_, S>, D3dkmtError> {
        if size == 0 {
            return Err(D3dkmtError::InvalidParameter);
        }
        let private_data = size.to_le_bytes();
        let mut info = abi::D3DDDI_ALLOCATIONINFO2 {
            pPrivateDriverData: private_data.as_ptr() as u64,
            PrivateDriverDataSize: private_data.len() as u32,
            ..Default::default()
        };
        let mut arguments = abi::D3DKMT_CREATEALLOCATION {
            hDevice: self.handle,
            NumAllocations: 1,
            pAllocationInfo2: core::ptr::from_mut(&mut info) as u64,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel(),
            SyscallNumber::CreateAllocation2,
            &mut arguments,
            0,
        ))?;
        Ok(Allocation {
            device: self,
            handle: info.hAllocation,
            size,
            gpu_virtual_address: info.GpuVirtualAddress,
        })
    }

    /// A monitored fence starting at 0 (`D3DKMTCreateSynchronizationObject2`).
    pub fn create_sync_object(&self) -> Result<SyncObject<'_, S>, D3dkmtError> {
        let mut arguments = abi::D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
            hDevice: self.handle,
            Info: abi::D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
                Type: flags::D3DDDI_MONITORED_FENCE,
                ..Default::default()
            },
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel(),
            SyscallNumber::CreateSynchronizationObject2,
            &mut arguments,
            0,
        ))?;
        Ok(SyncObject {
            device: self,
            handle: arguments.hSyncObject,
            gpu_virtual_address: arguments.Info.FenceValueGPUVirtualAddress,
            fence_view: fence::FenceView::new(arguments.Info.FenceValueCPUVirtualAddress),
        })
    }

    /// The execution state (`D3DKMT_DEVICEEXECUTION_*`) from `D3DKMTGetDeviceState`.
    pub fn execution_state(&self) -> Result<u32, D3dkmtError> {
        let mut arguments = abi::D3DKMT_GETDEVICESTATE {
            hDevice: self.handle,
            StateType: flags::D3DKMT_DEVICESTATE_EXECUTION,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.kernel(),
            SyscallNumber::GetDeviceState,
            &mut arguments,
            0,
        ))?;
        Ok(arguments.ExecutionState)
    }
}

impl<S: Syscall + ?Sized> Drop for Device<'_, S> {
    fn drop(&mut self) {
        let mut arguments = abi::D3DKMT_DESTROYDEVICE {
            hDevice: self.handle,
        };
        let _ = call_d3dkmt(
            self.kernel(),
            SyscallNumber::DestroyDevice,
            &mut arguments,
            0,
        );
    }
}

/// A GPU context (destroyed on drop).
pub struct Context<'a, S: Syscall + ?Sized> {
    device: &'a Device<'a, S>,
    handle: D3DKMT_HANDLE,
}

impl<S: Syscall + ?Sized> Context<'_, S> {
    /// The context handle.
    pub fn handle(&self) -> D3DKMT_HANDLE {
        self.handle
    }

    /// Submits `commands` (the private driver data the vGPU executes, see
    /// `docs/vgpu-command-processor.md`) with `D3DKMTSubmitCommand`, then makes the GPU signal
    /// `signal.0` to `signal.1` when it is done (`D3DKMTSignalSynchronizationObjectFromGpu`).
    pub fn submit(
        &self,
        commands: &[u8],
        signal: (&SyncObject<'_, S>, u64),
    ) -> Result<(), D3dkmtError> {
        let size = u32::try_from(commands.len()).map_err(|_| D3dkmtError::InvalidParameter)?;
        let kernel = self.device.kernel();
        let mut submit = abi::D3DKMT_SUBMITCOMMAND {
            BroadcastContextCount: 1,
            pPrivateDriverData: commands.as_ptr() as u64,
            PrivateDriverDataSize: size,
            ..Default::default()
        };
        submit.BroadcastContext[0] = self.handle;
        check(call_d3dkmt(
            kernel,
            SyscallNumber::SubmitCommand,
            &mut submit,
            0,
        ))?;

        let (sync, value) = signal;
        let objects = [sync.handle];
        let values = [value];
        let mut arguments = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
            hContext: self.handle,
            ObjectCount: 1,
            ObjectHandleArray: objects.as_ptr() as u64,
            MonitoredFenceValueArray: values.as_ptr() as u64,
            ..Default::default()
        };
        check(call_d3dkmt(
            kernel,
            SyscallNumber::SignalSynchronizationObjectFromGpu,
            &mut arguments,
            0,
        ))?;
        Ok(())
    }
}

impl<S: Syscall + ?Sized> Drop for Context<'_, S> {
    fn drop(&mut self) {
        let mut arguments = abi::D3DKMT_DESTROYCONTEXT {
            hContext: self.handle,
        };
        let _ = call_d3dkmt(
            self.device.kernel(),
            SyscallNumber::DestroyContext,
            &mut arguments,
            0,
        );
    }
}

/// A GPU memory allocation (destroyed on drop).
pub struct Allocation<'a, S: Syscall + ?Sized> {
    device: &'a Device<'a, S>,
    handle: D3DKMT_HANDLE,
    size: u64,
    gpu_virtual_address: D3DGPU_VIRTUAL_ADDRESS,
}

impl<'a, S: Syscall + ?Sized> Allocation<'a, S> {
    /// The allocation handle.
    pub fn handle(&self) -> D3DKMT_HANDLE {
        self.handle
    }

    /// Size in bytes (as requested).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// GPU virtual address (0 if the kernel did not assign one).
    pub fn gpu_virtual_address(&self) -> D3DGPU_VIRTUAL_ADDRESS {
        self.gpu_virtual_address
    }

    /// Maps the allocation for the CPU (`D3DKMTLock2`); unmapped (`D3DKMTUnlock2`) when the
    /// returned guard drops.
    pub fn lock(&mut self) -> Result<Mapping<'_, 'a, S>, D3dkmtError> {
        Mapping::lock(self)
    }
}

impl<S: Syscall + ?Sized> Drop for Allocation<'_, S> {
    fn drop(&mut self) {
        let handles = [self.handle];
        let mut arguments = abi::D3DKMT_DESTROYALLOCATION2 {
            hDevice: self.device.handle,
            phAllocationList: handles.as_ptr() as u64,
            AllocationCount: 1,
            ..Default::default()
        };
        let _ = call_d3dkmt(
            self.device.kernel(),
            SyscallNumber::DestroyAllocation2,
            &mut arguments,
            0,
        );
    }
}

/// A monitored fence (destroyed on drop).
pub struct SyncObject<'a, S: Syscall + ?Sized> {
    device: &'a Device<'a, S>,
    handle: D3DKMT_HANDLE,
    gpu_virtual_address: D3DGPU_VIRTUAL_ADDRESS,
    fence_view: Option<fence::FenceView>,
}

impl<S: Syscall + ?Sized> SyncObject<'_, S> {
    /// The sync object handle.
    pub fn handle(&self) -> D3DKMT_HANDLE {
        self.handle
    }

    /// GPU virtual address of the fence value.
    pub fn gpu_virtual_address(&self) -> D3DGPU_VIRTUAL_ADDRESS {
        self.gpu_virtual_address
    }

    /// The fence's current value, read from the page the kernel mapped read-only into this
    /// process (`FenceValueCPUVirtualAddress`); `None` if the kernel mapped none.
    pub fn current_value(&self) -> Option<u64> {
        self.fence_view.as_ref().map(fence::FenceView::read)
    }

    /// The user address of the fence value's read-only mapping (0 if none).
    pub fn cpu_virtual_address(&self) -> u64 {
        self.fence_view
            .as_ref()
            .map_or(0, fence::FenceView::address)
    }

    /// Blocks until the fence reaches `value` (`D3DKMTWaitForSynchronizationObjectFromCpu`);
    /// `timeout` `None` waits forever, otherwise [`D3dkmtError::Timeout`] when it runs out.
    pub fn wait_cpu(&self, value: u64, timeout: Option<Duration>) -> Result<(), D3dkmtError> {
        let objects = [self.handle];
        let values = [value];
        let mut arguments = abi::D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
            hDevice: self.device.handle,
            ObjectCount: 1,
            ObjectHandleArray: objects.as_ptr() as u64,
            FenceValueArray: values.as_ptr() as u64,
            ..Default::default()
        };
        let timeout = timeout.map_or(TIMEOUT_INFINITE, |timeout| {
            u64::try_from(timeout.as_micros())
                .unwrap_or(TIMEOUT_INFINITE - 1)
                .min(TIMEOUT_INFINITE - 1)
        });
        let status = call_d3dkmt(
            self.device.kernel(),
            SyscallNumber::WaitForSynchronizationObjectFromCpu,
            &mut arguments,
            timeout,
        );
        match check(status)? {
            abi::status::STATUS_TIMEOUT => Err(D3dkmtError::Timeout),
            _ => Ok(()),
        }
    }

    /// Sets the fence to `value` from the CPU (`D3DKMTSignalSynchronizationObjectFromCpu`).
    pub fn signal_cpu(&self, value: u64) -> Result<(), D3dkmtError> {
        let objects = [self.handle];
        let values = [value];
        let mut arguments = abi::D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
            hDevice: self.device.handle,
            ObjectCount: 1,
            ObjectHandleArray: objects.as_ptr() as u64,
            FenceValueArray: values.as_ptr() as u64,
            ..Default::default()
        };
        check(call_d3dkmt(
            self.device.kernel(),
            SyscallNumber::SignalSynchronizationObjectFromCpu,
            &mut arguments,
            0,
        ))?;
        Ok(())
    }
}

impl<S: Syscall + ?Sized> Drop for SyncObject<'_, S> {
    fn drop(&mut self) {
        let mut arguments = abi::D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
            hSyncObject: self.handle,
        };
        let _ = call_d3dkmt(
            self.device.kernel(),
            SyscallNumber::DestroySynchronizationObject,
            &mut arguments,
            0,
        );
    }
}
