//! Adapter-level queries and commands: QueryClockCalibration, QueryStatistics and
//! FlushHeapTransitions (dxg.md §3.23–§3.25).

use super::prelude::*;

/// `D3DKMTFlushHeapTransitions`.
pub fn flush_heap_transitions(call: &mut Call<'_>) -> CallResult {
    let arguments: D3DKMT_FLUSHHEAPTRANSITIONS = decode(call.arguments)?;
    call.gpu_status(Request::FlushHeapTransitions {
        adapter: D3dkmtHandle(arguments.hAdapter),
    })
}

/// `D3DKMTQueryClockCalibration`: writes the clock data.
pub fn query_clock_calibration(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_QUERYCLOCKCALIBRATION = decode(call.arguments)?;
    let request = Request::QueryClockCalibration(QueryClockCalibrationCommand {
        adapter: D3dkmtHandle(arguments.hAdapter),
        node_ordinal: arguments.NodeOrdinal,
        physical_adapter_index: arguments.PhysicalAdapterIndex,
        ..FromZeros::new_zeroed()
    });
    (
        arguments.GpuFrequency,
        arguments.GpuClockCounter,
        arguments.CpuClockCounter,
        arguments.ClockDataFlags,
    ) = reply!(call.gpu(request)?, Reply::ClockCalibration {
            gpu_frequency, gpu_clock_counter, cpu_clock_counter, flags,
        } => (gpu_frequency, gpu_clock_counter, cpu_clock_counter, flags));
    call.store(&arguments)
}

/// `D3DKMTQueryStatistics` for the caller (`hProcess` 0; other processes' statistics are not
/// offered to applications). The struct names the adapter by LUID while the `Request` takes an
/// adapter handle: the adapter is opened by its LUID for the query and closed again (an unknown
/// LUID fails as OpenAdapterFromLuid does). The 776-byte result goes to `QueryResult`.
pub fn query_statistics(call: &mut Call<'_>) -> CallResult {
    let mut arguments: D3DKMT_QUERYSTATISTICS = decode(call.arguments)?;
    if arguments.hProcess != 0 {
        return Err(NtStatus::NOT_SUPPORTED);
    }
    let luid = Luid {
        low: arguments.AdapterLuid.LowPart,
        high: arguments.AdapterLuid.HighPart as u32,
    };
    let request = Request::OpenAdapterFromLuid { luid };
    let adapter = reply!(call.gpu(request)?, Reply::AdapterOpened(entry) => entry.handle);
    let request = Request::QueryStatistics {
        adapter,
        statistics_type: arguments.Type,
        query_id: arguments.Query[0],
        process: None,
    };
    let reply = call.gpu(request);
    call.undo(Request::CloseAdapter { adapter });
    match reply? {
        Reply::Statistics(result) if result.len() == arguments.QueryResult.as_bytes().len() => {
            arguments
                .QueryResult
                .as_mut_bytes()
                .copy_from_slice(&result);
            call.store(&arguments)
        }
        other => Err(unexpected(&other)),
    }
}
