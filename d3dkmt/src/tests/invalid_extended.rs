//! Invalid-argument cases of the GPU virtual address, hardware queue, priority, residency and
//! query calls (run by `invalid_arguments::bad_pointers_and_counts_fail_with_their_status`).

use super::invalid_arguments::{BAD, Case, READ_ONLY, TOO_MUCH_DATA, after_request, case};
use super::*;
use userlib::abi::status::{STATUS_ACCESS_VIOLATION as AV, STATUS_INVALID_PARAMETER as IP};
use userlib::abi::status::{STATUS_INVALID_HANDLE, STATUS_NOT_SUPPORTED};
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;

/// The cases; `USER_BASE` holds 64 words of 0x40 (valid-looking handles and values).
pub(super) fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // GPU virtual addresses.
    let update = |count, pointer| D3DKMT_UPDATEGPUVIRTUALADDRESS {
        hDevice: 0x40,
        hContext: 0x40,
        NumOperations: count,
        pOperations: pointer,
        ..Default::default()
    };
    let number = N::UpdateGpuVirtualAddress;
    cases.push(case("no operation", number, update(0, USER_BASE), IP));
    cases.push(case("2049 operations", number, update(2049, USER_BASE), IP));
    cases.push(case("huge count", number, update(u32::MAX, USER_BASE), IP));
    cases.push(case("operations", number, update(1, BAD), AV));

    // Hardware queues.
    let queue = |pointer, size| D3DKMT_CREATEHWQUEUE {
        hHwContext: 0x40,
        pPrivateDriverData: pointer,
        PrivateDriverDataSize: size,
        ..Default::default()
    };
    let number = N::CreateHwQueue;
    cases.push(case("private data", number, queue(BAD, 4), AV));
    cases.push(after_request(case(
        "read-only private data",
        number,
        queue(READ_ONLY, 4),
        AV,
    )));
    cases.push(case(
        "big private data",
        number,
        queue(USER_BASE, TOO_MUCH_DATA),
        IP,
    ));
    let submit = |data, size, primaries, count| D3DKMT_SUBMITCOMMANDTOHWQUEUE {
        hHwQueue: 0x40,
        pPrivateDriverData: data,
        PrivateDriverDataSize: size,
        WrittenPrimaries: primaries,
        NumPrimaries: count,
        ..Default::default()
    };
    let number = N::SubmitCommandToHwQueue;
    cases.push(case(
        "private data",
        number,
        submit(BAD, 4, USER_BASE, 1),
        AV,
    ));
    cases.push(case(
        "big private data",
        number,
        submit(USER_BASE, TOO_MUCH_DATA, USER_BASE, 1),
        IP,
    ));
    cases.push(case("primaries", number, submit(USER_BASE, 4, BAD, 1), AV));
    cases.push(case(
        "17 primaries",
        number,
        submit(USER_BASE, 4, USER_BASE, 17),
        IP,
    ));
    let signal =
        |queues, queue_array, objects, handles, values| D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE {
            BroadcastHwQueueCount: queues,
            BroadcastHwQueueArray: queue_array,
            ObjectCount: objects,
            ObjectHandleArray: handles,
            FenceValueArray: values,
            ..Default::default()
        };
    let number = N::SubmitSignalSyncObjectsToHwQueue;
    let good = USER_BASE;
    cases.push(case("no queue", number, signal(0, good, 1, good, good), IP));
    cases.push(case(
        "65 queues",
        number,
        signal(65, good, 1, good, good),
        IP,
    ));
    cases.push(case("queues", number, signal(1, BAD, 1, good, good), AV));
    cases.push(case(
        "no object",
        number,
        signal(1, good, 0, good, good),
        IP,
    ));
    cases.push(case(
        "33 objects",
        number,
        signal(1, good, 33, good, good),
        IP,
    ));
    cases.push(case(
        "object handles",
        number,
        signal(1, good, 1, BAD, good),
        AV,
    ));
    cases.push(case(
        "fence values",
        number,
        signal(1, good, 1, good, BAD),
        AV,
    ));
    cases.push(case(
        "two queues",
        number,
        signal(2, good, 1, good, good),
        STATUS_NOT_SUPPORTED,
    ));
    let wait = |objects, handles, values| D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE {
        hHwQueue: 0x40,
        ObjectCount: objects,
        ObjectHandleArray: handles,
        FenceValueArray: values,
    };
    let number = N::SubmitWaitForSyncObjectsToHwQueue;
    cases.push(case("no object", number, wait(0, good, good), IP));
    cases.push(case("33 objects", number, wait(33, good, good), IP));
    cases.push(case("object handles", number, wait(1, BAD, good), AV));
    cases.push(case("fence values", number, wait(1, good, BAD), AV));

    // Allocation priorities and residency.
    let set = |resource, count, handles, priorities| D3DKMT_SETALLOCATIONPRIORITY {
        hDevice: 0x40,
        hResource: resource,
        AllocationCount: count,
        phAllocationList: handles,
        pPriorities: priorities,
        ..Default::default()
    };
    let number = N::SetAllocationPriority;
    cases.push(case("allocations", number, set(0, 1, BAD, good), AV));
    cases.push(case("priorities", number, set(0, 1, good, BAD), AV));
    cases.push(case(
        "resource priority",
        number,
        set(0x40, 0, good, BAD),
        AV,
    ));
    cases.push(case(
        "10241 allocations",
        number,
        set(0, 10241, good, good),
        IP,
    ));
    cases.push(case(
        "resource and allocations",
        number,
        set(0x40, 1, good, good),
        IP,
    ));
    cases.push(case("neither", number, set(0, 0, good, good), IP));
    let get = |count, handles, output| D3DKMT_GETALLOCATIONPRIORITY {
        hDevice: 0x40,
        AllocationCount: count,
        phAllocationList: handles,
        pPriorities: output,
        ..Default::default()
    };
    let number = N::GetAllocationPriority;
    cases.push(case("allocations", number, get(1, BAD, good), AV));
    cases.push(case(
        "10241 allocations",
        number,
        get(10241, good, good),
        IP,
    ));
    cases.push(after_request(case(
        "read-only priorities",
        number,
        get(2, good, READ_ONLY),
        AV,
    )));
    let residency = |count, handles, output| D3DKMT_QUERYALLOCATIONRESIDENCY {
        hDevice: 0x40,
        AllocationCount: count,
        phAllocationList: handles,
        pResidencyStatus: output,
        ..Default::default()
    };
    let number = N::QueryAllocationResidency;
    cases.push(case("allocations", number, residency(1, BAD, good), AV));
    cases.push(case(
        "10241 allocations",
        number,
        residency(10241, good, good),
        IP,
    ));
    cases.push(after_request(case(
        "read-only statuses",
        number,
        residency(2, good, READ_ONLY),
        AV,
    )));

    // Offer and reclaim.
    let offer = |resources, allocations, count| D3DKMT_OFFERALLOCATIONS {
        hDevice: 0x40,
        pResources: resources,
        HandleList: allocations,
        NumAllocations: count,
        ..Default::default()
    };
    let number = N::OfferAllocations;
    cases.push(case("both lists", number, offer(good, good, 1), IP));
    cases.push(case("no list", number, offer(0, 0, 1), IP));
    cases.push(case("no handle", number, offer(0, good, 0), IP));
    cases.push(case("10241 handles", number, offer(good, 0, 10241), IP));
    cases.push(case("allocations", number, offer(0, BAD, 1), AV));
    cases.push(case("resources", number, offer(BAD, 0, 1), AV));
    let reclaim = |resources, allocations, count| D3DKMT_RECLAIMALLOCATIONS2 {
        hPagingQueue: 0x40,
        pResources: resources,
        HandleList: allocations,
        NumAllocations: count,
        ..Default::default()
    };
    let number = N::ReclaimAllocations2;
    cases.push(case("both lists", number, reclaim(good, good, 1), IP));
    cases.push(case("no handle", number, reclaim(0, good, 0), IP));
    cases.push(case("allocations", number, reclaim(0, BAD, 1), AV));
    cases.push(case(
        "unknown paging queue",
        number,
        reclaim(0, good, 1),
        STATUS_INVALID_HANDLE,
    ));

    // Other processes.
    let reservation = D3DKMT_CHANGEVIDEOMEMORYRESERVATION {
        hProcess: 1,
        hAdapter: 0x40,
        ..Default::default()
    };
    cases.push(case(
        "another process",
        N::ChangeVideoMemoryReservation,
        reservation,
        IP,
    ));
    let statistics = D3DKMT_QUERYSTATISTICS {
        hProcess: 1,
        ..Default::default()
    };
    cases.push(case(
        "another process",
        N::QueryStatistics,
        statistics,
        STATUS_NOT_SUPPORTED,
    ));
    cases
}
