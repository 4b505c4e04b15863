//! Invalid-argument cases of the sharing calls (run by
//! `invalid_arguments::bad_pointers_and_counts_fail_with_their_status`).

use super::invalid_arguments::{BAD, Case, READ_ONLY, after_request, case};
use super::*;
use userlib::abi::status::STATUS_INVALID_HANDLE;
use userlib::abi::status::{STATUS_ACCESS_VIOLATION as AV, STATUS_INVALID_PARAMETER as IP};
use userlib::abi::*;
use userlib::sys::SyscallNumber as N;

/// The cases; `USER_BASE` holds 64 words of 0x40 (valid-looking handles and values), and the
/// fake GPU opens resources with two allocations.
pub(super) fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let good = USER_BASE;

    // ShareObjects: exactly one object, a readable handle, an existing output.
    let share = |count, objects, output| D3DKMT_SHAREOBJECTS {
        ObjectCount: count,
        ObjectHandleArray: objects,
        phSharedNtHandle: output,
        ..Default::default()
    };
    let number = N::ShareObjectsInternal;
    cases.push(case("no object", number, share(0, good, good), IP));
    cases.push(case("two objects", number, share(2, good, good), IP));
    cases.push(case("huge count", number, share(u32::MAX, good, good), IP));
    cases.push(case("objects", number, share(1, BAD, good), AV));
    cases.push(case("null objects", number, share(1, 0, good), AV));
    cases.push(case("output", number, share(1, good, BAD), AV));
    cases.push(case("null output", number, share(1, good, 0), AV));
    cases.push(after_request(case(
        "read-only output",
        number,
        share(1, good, READ_ONLY),
        AV,
    )));

    // OpenResourceFromNtHandle and OpenResource2: 1 … 1024 readable and writable entries.
    let from_nt = |handle, count, infos| D3DKMT_OPENRESOURCEFROMNTHANDLE {
        hDevice: 0x40,
        hNtHandle: handle,
        NumAllocations: count,
        pOpenAllocationInfo2: infos,
        ..Default::default()
    };
    let number = N::OpenResourceFromNtHandle;
    cases.push(case("no allocation", number, from_nt(0x40, 0, good), IP));
    cases.push(case(
        "1025 allocations",
        number,
        from_nt(0x40, 1025, good),
        IP,
    ));
    cases.push(case("allocation infos", number, from_nt(0x40, 2, BAD), AV));
    cases.push(case(
        "64-bit handle",
        number,
        from_nt(1 << 40, 2, good),
        STATUS_INVALID_HANDLE,
    ));
    cases.push(after_request(case(
        "read-only allocation infos",
        number,
        from_nt(0x40, 2, READ_ONLY),
        AV,
    )));
    cases.push(after_request(case(
        "count other than shared",
        number,
        from_nt(0x40, 1, good),
        IP,
    )));
    let open = |count, infos| D3DKMT_OPENRESOURCE {
        hDevice: 0x40,
        hGlobalShare: 0x40,
        NumAllocations: count,
        pOpenAllocationInfo2: infos,
        ..Default::default()
    };
    let number = N::OpenResource2;
    cases.push(case("no allocation", number, open(0, good), IP));
    cases.push(case("huge count", number, open(u32::MAX, good), IP));
    cases.push(case("allocation infos", number, open(2, BAD), AV));
    cases.push(after_request(case(
        "read-only allocation infos",
        number,
        open(2, READ_ONLY),
        AV,
    )));

    // OpenSyncObjectFromNtHandle2: a handle that does not fit 32 bits.
    let sync = D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
        hNtHandle: u64::MAX,
        hDevice: 0x40,
        ..Default::default()
    };
    cases.push(case(
        "64-bit handle",
        N::OpenSyncObjectFromNtHandle2,
        sync,
        STATUS_INVALID_HANDLE,
    ));
    cases
}
