//! Adapters: EnumAdapters2/3, OpenAdapterFromLuid, CloseAdapter, QueryAdapterInfo,
//! QueryVideoMemoryInfo and Escape.

use super::prelude::*;

/// `D3DKMTEnumAdapters2`: a null `pAdapters` asks for the count; a capacity below the count
/// fails with `STATUS_BUFFER_TOO_SMALL` and the count in `NumAdapters`.
pub fn enum_adapters2(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_ENUMADAPTERS2 = decode(call.arguments)?;
    let count_only = arguments.pAdapters == 0;
    let result = enumerate(
        call,
        &mut arguments.NumAdapters,
        arguments.pAdapters,
        count_only,
    );
    encode(call.arguments, &arguments);
    result
}

/// `D3DKMTEnumAdapters3`: as EnumAdapters2 (a zero capacity also asks for the count); the
/// filter is ignored, as in the Linux driver.
pub fn enum_adapters3(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_ENUMADAPTERS3 = decode(call.arguments)?;
    let count_only = arguments.pAdapters == 0 || arguments.NumAdapters == 0;
    let result = enumerate(
        call,
        &mut arguments.NumAdapters,
        arguments.pAdapters,
        count_only,
    );
    encode(call.arguments, &arguments);
    result
}

/// Enumerates the adapters into the user array at `address` (capacity `*count`); sets `*count`
/// to the number of adapters when there is one to report (also with `STATUS_BUFFER_TOO_SMALL`,
/// not when the array cannot be written). Adapter handles that are not handed to the user are
/// closed again.
fn enumerate(call: &mut Call<'_>, count: &mut u32, address: u64, count_only: bool) -> CallResult {
    let entries = reply!(call.gpu(Request::EnumAdapters)?, Reply::Adapters(entries) => entries);
    let found = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    let result = if count_only {
        Ok(NtStatus::SUCCESS)
    } else if *count < found {
        Err(NtStatus::BUFFER_TOO_SMALL)
    } else {
        let infos: Vec<D3DKMT_ADAPTERINFO> = entries
            .iter()
            .map(|entry| D3DKMT_ADAPTERINFO {
                hAdapter: entry.handle.0,
                AdapterLuid: to_abi_luid(entry.luid),
                ..Default::default()
            })
            .collect();
        if let Err(failure) = write_bytes(call.environment, address, infos.as_bytes()) {
            close_all(call, &entries);
            return Err(failure);
        }
        *count = found;
        return Ok(NtStatus::SUCCESS);
    };
    close_all(call, &entries);
    *count = found;
    result
}

fn close_all(call: &mut Call<'_>, entries: &[AdapterEntry]) {
    for entry in entries {
        call.undo(Request::CloseAdapter {
            adapter: entry.handle,
        });
    }
}

fn to_abi_luid(luid: Luid) -> LUID {
    LUID {
        LowPart: luid.low,
        HighPart: luid.high as i32,
    }
}

/// `D3DKMTOpenAdapterFromLuid`.
pub fn open_adapter_from_luid(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_OPENADAPTERFROMLUID = decode(call.arguments)?;
    let luid = Luid {
        low: arguments.AdapterLuid.LowPart,
        high: arguments.AdapterLuid.HighPart as u32,
    };
    let request = Request::OpenAdapterFromLuid { luid };
    arguments.hAdapter = reply!(call.gpu(request)?, Reply::AdapterOpened(entry) => entry.handle.0);
    call.store(&arguments)
}

/// `D3DKMTCloseAdapter`.
pub fn close_adapter(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_CLOSEADAPTER = decode(call.arguments)?;
    call.gpu_status(Request::CloseAdapter {
        adapter: D3dkmtHandle(arguments.hAdapter),
    })
}

/// `D3DKMTQueryAdapterInfo`: the caller's buffer (1 … 128 KiB) goes to the host and the reply
/// comes back into it.
pub fn query_adapter_info(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_QUERYADAPTERINFO = decode(call.arguments)?;
    let size = checked_count(arguments.PrivateDriverDataSize, 1, MAX_PRIVATE_DATA)?;
    let data = read_bytes(call.environment, arguments.pPrivateDriverData, size)?;
    let request = Request::QueryAdapterInfo {
        adapter: D3dkmtHandle(arguments.hAdapter),
        query_type: arguments.Type,
        data,
    };
    let reply = reply!(call.gpu(request)?, Reply::AdapterInfo(reply) => reply);
    write_reply(call.environment, arguments.pPrivateDriverData, &reply, size)?;
    Ok(NtStatus::SUCCESS)
}

/// `D3DKMTQueryVideoMemoryInfo` (only for the calling process: `hProcess` must be 0).
pub fn query_video_memory_info(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_QUERYVIDEOMEMORYINFO = decode(call.arguments)?;
    if arguments.hProcess != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let request = Request::QueryVideoMemoryInfo(QueryVideoMemoryInfoCommand {
        adapter: D3dkmtHandle(arguments.hAdapter),
        memory_segment_group: arguments.MemorySegmentGroup,
        ..FromZeros::new_zeroed()
    });
    (
        arguments.Budget,
        arguments.CurrentUsage,
        arguments.CurrentReservation,
        arguments.AvailableForReservation,
    ) = reply!(call.gpu(request)?, Reply::VideoMemory(reply) => (
        reply.budget, reply.current_usage, reply.current_reservation,
        reply.available_for_reservation,
    ));
    call.store(&arguments)
}

/// `D3DKMTEscape`: the private data (≤ 128 KiB) goes to the host and its update comes back.
pub fn escape(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_ESCAPE = decode(call.arguments)?;
    let data = read_private_data(
        call.environment,
        arguments.pPrivateDriverData,
        arguments.PrivateDriverDataSize,
    )?;
    let size = data.len();
    let request = Request::Escape {
        command: EscapeCommand {
            adapter: D3dkmtHandle(arguments.hAdapter),
            device: D3dkmtHandle(arguments.hDevice),
            context: D3dkmtHandle(arguments.hContext),
            escape_type: arguments.Type,
            flags: arguments.Flags,
            ..FromZeros::new_zeroed()
        },
        data,
    };
    let reply = reply!(call.gpu(request)?, Reply::Escape(reply) => reply);
    write_reply(call.environment, arguments.pPrivateDriverData, &reply, size)?;
    Ok(NtStatus::SUCCESS)
}
