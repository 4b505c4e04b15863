//! Sharing between processes: ShareObjects (0x3f), OpenResourceFromNtHandle (0x42),
//! OpenResource2 (0x28), OpenSyncObjectFromNtHandle2 (0x40), QueryResourceInfoFromNtHandle
//! (0x41) and ShareObjectWithHost (0x44).
//!
//! Semantics follow the Linux dxgkrnl ioctls that libdxg calls:
//!
//! - **ShareObjects** shares exactly one object (a resource, or a sync object created shared)
//!   through CreateNtSharedObject. dxgos has no file descriptors: the "NT handle" written to
//!   `*phSharedNtHandle` is the VM-wide shared handle value itself (zero-extended to 64 bits),
//!   which another process passes as `hNtHandle`. Every call makes a new shared handle; they
//!   live until the process exits (`shared.rs`). `pObjectAttributes` and `DesiredAccess` are
//!   ignored, as in Linux.
//! - **OpenResourceFromNtHandle** / **OpenResource2** open a shared resource on the caller's
//!   device (OpenResource): `NumAllocations` must equal the shared resource's allocation count;
//!   `hResource` and each entry's `hAllocation` are written, and the opened allocations' sizes are
//!   recorded so Lock2 can map them. OpenResource2 is not implemented by Linux; dxgos serves it
//!   with `hGlobalShare` holding a handle from ShareObjects (dxgos has no other global share
//!   handles: CreateAllocation2 reports `hGlobalShare` 0), which makes libdxg's v1
//!   `D3DKMTOpenResource` wrapper work. The core's reply carries no private data: the runtime,
//!   resource and allocation private data of the shared resource are not copied out, each entry
//!   gets `PrivateDriverDataSize` 0 (its `pPrivateDriverData` pointing at the caller's total
//!   buffer, as Linux lays them out) and `TotalPrivateDriverDataBufferSize` is 0.
//! - **OpenSyncObjectFromNtHandle2** opens a shared sync object on the caller's device
//!   (OpenSyncObject with the caller's flags and engine affinity); a monitored fence's value page
//!   is mapped read-only as in CreateSynchronizationObject2 and its CPU/GPU addresses written.
//! - **ShareObjectWithHost** writes the host's token to `hVailNtHandle`.
//!
//! Counts and nested pointers are checked before the request; when an output cannot be
//! written afterwards, what was created is destroyed again (DestroyNtSharedObject for a share,
//! DestroyAllocation of the resource for an open, DestroySyncObject for a sync object).

use super::prelude::*;
use super::sync;

/// The shared handle an application's "NT handle" stands for (its value); a value that does
/// not fit a handle names nothing (`STATUS_INVALID_HANDLE`).
fn shared_handle(nt_handle: u64) -> Result<D3dkmtHandle, NtStatus> {
    u32::try_from(nt_handle)
        .map(D3dkmtHandle)
        .map_err(|_| NtStatus::INVALID_HANDLE)
}

/// `D3DKMTShareObjects` (ShareObjectsInternal): exactly one object; the new shared handle goes
/// to `*phSharedNtHandle` (8 bytes).
pub fn share_objects(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_SHAREOBJECTS = decode(call.arguments)?;
    checked_count(arguments.ObjectCount, 1, 1)?;
    let object = read_handle(call.environment, arguments.ObjectHandleArray)?;
    // The output must at least exist before anything is shared.
    read_bytes(call.environment, arguments.phSharedNtHandle, 8)?;
    let request = Request::CreateNtSharedObject { object };
    let shared = reply!(call.gpu(request)?, Reply::NtSharedObject(shared) => shared);
    let nt_handle = u64::from(shared.0).to_le_bytes();
    let written = write_bytes(call.environment, arguments.phSharedNtHandle, &nt_handle);
    call.or_undo(
        written,
        Request::DestroyNtSharedObject {
            shared_handle: shared,
        },
    )?;
    call.shared.insert(shared);
    Ok(NtStatus::SUCCESS)
}

/// The caller's side of one resource open.
struct OpenRequest {
    device: D3dkmtHandle,
    shared_handle: D3dkmtHandle,
    /// `NumAllocations`.
    count: u32,
    /// `pOpenAllocationInfo2`.
    infos: u64,
    /// `pTotalPrivateDriverDataBuffer`.
    total_buffer: u64,
}

/// Opens a shared resource: reads the caller's allocation-info array (1 … 1024 entries), sends
/// OpenResource, writes each entry and records the allocations; returns the new resource.
fn open_resource(call: &mut Call<'_>, open: OpenRequest) -> Result<D3dkmtHandle, NtStatus> {
    let count = checked_count(open.count, 1, D3DKMT_CREATEALLOCATION_MAX)?;
    let infos: Vec<D3DDDI_OPENALLOCATIONINFO2> = read_array(call.environment, open.infos, count)?;
    let device = open.device;
    let request = Request::OpenResource {
        device,
        shared_handle: open.shared_handle,
    };
    let (resource, allocations) = reply!(call.gpu(request)?,
        Reply::ResourceOpened { resource, allocations } => (resource, allocations));
    let undo = |call: &mut Call<'_>| {
        call.undo(Request::DestroyAllocation {
            command: DestroyAllocationCommand {
                device,
                resource,
                flags: D3DDDICB_DESTROYALLOCATION2FLAGS_ASSUME_NOT_IN_USE,
                ..FromZeros::new_zeroed()
            },
            allocations: Vec::new(),
        });
    };
    if allocations.len() != infos.len() {
        // Linux refuses a count other than the shared resource's (EINVAL).
        undo(call);
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let written: Vec<D3DDDI_OPENALLOCATIONINFO2> = allocations
        .iter()
        .map(|allocation| D3DDDI_OPENALLOCATIONINFO2 {
            hAllocation: allocation.handle.0,
            pPrivateDriverData: open.total_buffer,
            PrivateDriverDataSize: 0,
            ..Default::default()
        })
        .collect();
    if let Err(failure) = write_bytes(call.environment, open.infos, written.as_bytes()) {
        undo(call);
        return Err(failure);
    }
    for allocation in &allocations {
        call.views.add_allocation(
            allocation.handle,
            AllocationRecord {
                device,
                resource,
                size: allocation.size,
                // An opened allocation is never the opener's own memory: Lock2 asks the host.
                system_memory: 0,
            },
        );
    }
    Ok(resource)
}

/// `D3DKMTOpenResourceFromNtHandle`: opens the resource shared under `hNtHandle`.
pub fn open_resource_from_nt_handle(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_OPENRESOURCEFROMNTHANDLE = decode(call.arguments)?;
    checked_count(arguments.NumAllocations, 1, D3DKMT_CREATEALLOCATION_MAX)?;
    let open = OpenRequest {
        device: D3dkmtHandle(arguments.hDevice),
        shared_handle: shared_handle(arguments.hNtHandle)?,
        count: arguments.NumAllocations,
        infos: arguments.pOpenAllocationInfo2,
        total_buffer: arguments.pTotalPrivateDriverDataBuffer,
    };
    let resource = open_resource(call, open)?;
    arguments.hResource = resource.0;
    arguments.TotalPrivateDriverDataBufferSize = 0;
    call.store(&arguments)
}

/// `D3DKMTOpenResource2` (and libdxg's v1 `D3DKMTOpenResource` through it): as
/// OpenResourceFromNtHandle, `hGlobalShare` holding a handle from ShareObjects.
pub fn open_resource2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_OPENRESOURCE = decode(call.arguments)?;
    let open = OpenRequest {
        device: D3dkmtHandle(arguments.hDevice),
        shared_handle: D3dkmtHandle(arguments.hGlobalShare),
        count: arguments.NumAllocations,
        infos: arguments.pOpenAllocationInfo2,
        total_buffer: arguments.pTotalPrivateDriverDataBuffer,
    };
    let resource = open_resource(call, open)?;
    arguments.hResource = resource.0;
    arguments.TotalPrivateDriverDataBufferSize = 0;
    call.store(&arguments)
}

/// `D3DKMTOpenSyncObjectFromNtHandle2`: opens the sync object shared under `hNtHandle` on
/// `hDevice`; a monitored fence gets its read-only value page.
pub fn open_sync_object_from_nt_handle2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 = decode(call.arguments)?;
    let device = D3dkmtHandle(arguments.hDevice);
    let request = Request::OpenSyncObject {
        device,
        shared_handle: shared_handle(arguments.hNtHandle)?,
        flags: arguments.Flags,
        engine_affinity: arguments.EngineAffinity,
    };
    let (handle, gpu_address, fence_address) = reply!(call.gpu(request)?,
        Reply::SyncObject { handle, gpu_address, fence_address, .. } =>
            (handle, gpu_address, fence_address));
    if fence_address != 0 {
        arguments.FenceValueCPUVirtualAddress =
            sync::map_fence_view(call, handle, device, fence_address)?;
        arguments.FenceValueGPUVirtualAddress = gpu_address;
    }
    arguments.hSyncObject = handle.0;
    call.store(&arguments)
}

/// `D3DKMTShareObjectWithHost`: the host's token for `hObject` goes to `hVailNtHandle`.
pub fn share_object_with_host(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_SHAREOBJECTWITHHOST = decode(call.arguments)?;
    let request = Request::ShareObjectWithHost(ShareObjectWithHostCommand {
        device: D3dkmtHandle(arguments.hDevice),
        object: D3dkmtHandle(arguments.hObject),
        ..FromZeros::new_zeroed()
    });
    arguments.hVailNtHandle = reply!(call.gpu(request)?, Reply::VailNtHandle(token) => token);
    call.store(&arguments)
}

/// `D3DKMTQueryResourceInfoFromNtHandle`: what the shared resource behind `hNtHandle` holds,
/// for sizing the buffers of an OpenResourceFromNtHandle: `NumAllocations` and
/// `TotalPrivateDriverDataSize` from the dxg driver's registry. The runtime and resource-level
/// private data are not kept by the registry, so their sizes are 0 (and OpenResource copies
/// none out, see the module docs).
pub fn query_resource_info_from_nt_handle(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE = decode(call.arguments)?;
    let request = Request::QuerySharedResource {
        device: D3dkmtHandle(arguments.hDevice),
        shared_handle: shared_handle(arguments.hNtHandle)?,
    };
    (
        arguments.NumAllocations,
        arguments.TotalPrivateDriverDataSize,
    ) = reply!(
        call.gpu(request)?,
        Reply::SharedResourceInfo { allocation_count, private_data_size } =>
            (allocation_count, private_data_size)
    );
    arguments.PrivateRuntimeDataSize = 0;
    arguments.ResourcePrivateDriverDataSize = 0;
    call.store(&arguments)
}
