//! The hostile-host table: every row one host→guest message made wrong one way.
//!
//! Relids are those of [`crate::vmbus_server::ServerConfig::standard`]`(1)`: 1 the dxg global
//! channel, 2 the vGPU channel, 3 the vPCI bus, 4 an unclaimed device, 5 the echo device
//! (nobody in the in-process guest stack claims 4 or 5, so offers of theirs can be bent
//! without taking the GPU away). vPCI packet types are those of `crate::vpci::message`; dxg
//! reply layouts those of `dxg::wire`.

use super::offsets::*;
use super::{Expect, HostileRow, Injection, Mutation, Target};
use vmbus::messages::MessageType;

/// The dxg global channel.
pub const DXG_GLOBAL_RELID: u32 = 1;
/// The vGPU channel.
pub const DXG_VGPU_RELID: u32 = 2;
/// The vPCI bus.
pub const VPCI_RELID: u32 = 3;
/// The unclaimed device.
pub const UNCLAIMED_RELID: u32 = 4;
/// The echo device (not claimed by the in-process stack).
pub const ECHO_RELID: u32 = 5;
/// Both dxg channels.
const DXG: &[u32] = &[DXG_GLOBAL_RELID, DXG_VGPU_RELID];
/// The vPCI bus's channel.
const VPCI: &[u32] = &[VPCI_RELID];

/// Why a huge IO space cannot be tried in-process.
const IO_SPACE_IN_PROCESS: &str = "the in-process glue carves the IO space out of a fixed 48 MiB of RAM and asserts it fits (support/guest_stack.rs); the kernel's allocation-failure path is not modelled in-process";

/// A dxg request the guest makes (after creating what it needs) to make a reply appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// CREATEPROCESS (global channel).
    CreateProcess,
    /// QUERYADAPTERINFO.
    QueryAdapterInfo,
    /// CREATEDEVICE.
    CreateDevice,
    /// CREATECONTEXTVIRTUAL.
    CreateContext,
    /// CREATEALLOCATION.
    CreateAllocation,
    /// CREATEPAGINGQUEUE (reply carries a fence storage address).
    CreatePagingQueue,
    /// CREATESYNCOBJECT of a monitored fence (reply carries a fence storage address).
    CreateMonitoredFence,
    /// LOCK2 (reply carries an IO-space address).
    Lock,
    /// QUERYVIDEOMEMORYINFO.
    QueryVideoMemoryInfo,
    /// DESTROYDEVICE (a status reply).
    DestroyDevice,
    /// DESTROYPROCESS (global channel, a status reply).
    DestroyProcess,
}

/// What the guest does, with the row's hook armed, to make the target appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Boot: connect, offers, vPCI bring-up, dxg channel opens and adapter start (the hook is
    /// armed from the start).
    Boot,
    /// After boot, one dxg request.
    Request(RequestKind),
    /// After boot, the host rescinds the vGPU channel (the guest closes it: GPADL teardown).
    RescindVgpu,
    /// After boot, the guest unloads VMBus.
    Unload,
    /// After boot, the row's [`Injection`].
    Inject,
}

const fn row(
    name: &'static str,
    target: Target,
    occurrence: usize,
    mutation: Mutation,
    scenario: Scenario,
    expect: Expect,
) -> HostileRow {
    HostileRow {
        name,
        target,
        occurrence,
        mutation,
        scenario,
        expect,
        skipped: None,
        known_defect: None,
    }
}

const fn control(
    name: &'static str,
    message_type: MessageType,
    occurrence: usize,
    mutation: Mutation,
    scenario: Scenario,
    expect: Expect,
) -> HostileRow {
    row(
        name,
        Target::Control(message_type),
        occurrence,
        mutation,
        scenario,
        expect,
    )
}

const fn skipped(mut row: HostileRow, reason: &'static str) -> HostileRow {
    row.skipped = Some(reason);
    row
}

const fn nth(mut row: HostileRow, occurrence: usize) -> HostileRow {
    row.occurrence = occurrence;
    row
}

const fn inject(name: &'static str, injection: Injection, expect: Expect) -> HostileRow {
    row(
        name,
        Target::None,
        0,
        Mutation::Inject(injection),
        Scenario::Inject,
        expect,
    )
}

const fn dxg(
    name: &'static str,
    request: RequestKind,
    mutation: Mutation,
    expect: Expect,
) -> HostileRow {
    row(
        name,
        Target::Completion { relids: DXG },
        0,
        mutation,
        Scenario::Request(request),
        expect,
    )
}

const fn vpci(
    name: &'static str,
    target: Target,
    occurrence: usize,
    mutation: Mutation,
    expect: Expect,
) -> HostileRow {
    row(name, target, occurrence, mutation, Scenario::Boot, expect)
}

use Expect::{Noticed, RequestFails, Survives};
use Mutation::{Delay, Drop, Duplicate, Oversize, Truncate};
use Scenario::Boot;

/// [`Mutation::PatchU8`].
const fn p8(offset: usize, value: u8) -> Mutation {
    Mutation::PatchU8 { offset, value }
}

/// [`Mutation::PatchU32`].
const fn p32(offset: usize, value: u32) -> Mutation {
    Mutation::PatchU32 { offset, value }
}

/// [`Mutation::PatchU64`].
const fn p64(offset: usize, value: u64) -> Mutation {
    Mutation::PatchU64 { offset, value }
}

const OFFER: MessageType = MessageType::OFFER_CHANNEL;
const VERSION: MessageType = MessageType::VERSION_RESPONSE;
const ALL_OFFERS: MessageType = MessageType::ALL_OFFERS_DELIVERED;
const OPEN_RESULT: MessageType = MessageType::OPEN_CHANNEL_RESULT;
const CREATED: MessageType = MessageType::GPADL_CREATED;
const TORNDOWN: MessageType = MessageType::GPADL_TORNDOWN;
const RESCIND: MessageType = MessageType::RESCIND_CHANNEL_OFFER;
const UNLOAD: MessageType = MessageType::UNLOAD_RESPONSE;

/// vPCI BUS_RELATIONS2 (host → guest function list).
const BUS_RELATIONS2: u32 = crate::vpci::message::BUS_RELATIONS2;
/// A guest page outside the IO space (ring memory of the in-process stack).
const GUEST_PAGE: u64 = 0x20_0000;
/// An address inside the in-process stack's IO space (it starts at 16 MiB), not page-aligned.
const IO_SPACE_UNALIGNED: u64 = 0x100_0010;
/// An address in no memory at all.
const NOWHERE: u64 = 0xFFFF_FFFF_F000;

/// Every row. The unclaimed device's offer (occurrence 3 of OFFERCHANNEL) is the one bent
/// where a bent offer would otherwise take the GPU away (or the echo device, which the test
/// uses to see that the bus still works).
///
/// Packets on a ring are 8-byte granular (the descriptor gives lengths in 8-byte units), so a
/// packet truncated to a length that is not a multiple of 8 reaches the guest zero-padded to
/// the next multiple: the truncations below cut to a multiple of 8 shorter than the reply.
#[rustfmt::skip] // A table: one row per line.
pub const HOSTILE_ROWS: &[HostileRow] = &[
    // OFFERCHANNEL
    control("offer truncated", OFFER, 3, Truncate(100), Boot, Noticed),
    control("offer oversized", OFFER, 3, Oversize(40), Boot, Survives),
    control("offer duplicated", OFFER, 0, Duplicate, Boot, Survives),
    control("offer out of order", OFFER, 0, Delay, Boot, Survives),
    control("offer relid 0", OFFER, 3, p32(OFFER_RELID, 0), Boot, Noticed),
    control("offer relid all-ones", OFFER, 3, p32(OFFER_RELID, u32::MAX), Boot, Noticed),
    control("offer relid of another channel", OFFER, 3, p32(OFFER_RELID, DXG_GLOBAL_RELID), Boot, Noticed),
    control("offer connection id 0", OFFER, 3, p32(OFFER_CONNECTION_ID, 0), Boot, Survives),
    skipped(control("offer mmio megabytes huge", OFFER, 0, p32(OFFER_MMIO_MEGABYTES, 0xFFFF), Boot, Survives), IO_SPACE_IN_PROCESS),
    // VERSION_RESPONSE
    control("version response truncated", VERSION, 0, Truncate(9), Boot, Noticed),
    control("version response oversized", VERSION, 0, Oversize(64), Boot, Survives),
    control("version response duplicated", VERSION, 0, Duplicate, Boot, Survives),
    control("version response refused", VERSION, 0, p8(VERSION_SUPPORTED, 0), Boot, Survives),
    control("version response connection id 0", VERSION, 0, p32(VERSION_CONNECTION_ID, 0), Boot, Noticed),
    control("version response connection id all-ones", VERSION, 0, p32(VERSION_CONNECTION_ID, u32::MAX), Boot, Noticed),
    control("version response never sent", VERSION, 0, Drop, Boot, Noticed),
    // ALLOFFERS_DELIVERED
    control("all offers delivered duplicated", ALL_OFFERS, 0, Duplicate, Boot, Survives),
    control("all offers delivered oversized", ALL_OFFERS, 0, Oversize(32), Boot, Survives),
    control("all offers delivered never sent", ALL_OFFERS, 0, Drop, Boot, Noticed),
    // OPENCHANNEL_RESULT
    control("open result duplicated", OPEN_RESULT, 0, Duplicate, Boot, Survives),
    control("open result unknown relid", OPEN_RESULT, 0, p32(CHILD_RELID, 0xFFF0), Boot, Noticed),
    control("open result for a channel not opening", OPEN_RESULT, 0, p32(CHILD_RELID, UNCLAIMED_RELID), Boot, Noticed),
    control("open result wrong open id", OPEN_RESULT, 0, p32(OPEN_ID, 0xBAD), Boot, Noticed),
    control("open result failure status", OPEN_RESULT, 0, p32(OPEN_STATUS, 0xC000_0001), Boot, Noticed),
    control("open result truncated", OPEN_RESULT, 0, Truncate(12), Boot, Noticed),
    control("open result out of order", OPEN_RESULT, 0, Delay, Boot, Survives),
    control("open result never sent", OPEN_RESULT, 0, Drop, Boot, Noticed),
    // GPADL_CREATED
    control("gpadl created duplicated", CREATED, 0, Duplicate, Boot, Survives),
    control("gpadl created unknown handle", CREATED, 0, p32(CREATED_GPADL, 0xDEAD), Boot, Noticed),
    control("gpadl created wrong relid", CREATED, 0, p32(CHILD_RELID, UNCLAIMED_RELID), Boot, Noticed),
    control("gpadl created failure status", CREATED, 0, p32(CREATED_STATUS, 0xC000_0001), Boot, Noticed),
    control("gpadl created truncated", CREATED, 0, Truncate(14), Boot, Noticed),
    control("gpadl created never sent", CREATED, 0, Drop, Boot, Noticed),
    // GPADL_TORNDOWN (the vGPU channel's ring GPADL, closed after a rescind)
    control("gpadl torndown duplicated", TORNDOWN, 0, Duplicate, Scenario::RescindVgpu, Survives),
    control("gpadl torndown unknown handle", TORNDOWN, 0, p32(TORNDOWN_GPADL, 0xDEAD), Scenario::RescindVgpu, Noticed),
    control("gpadl torndown truncated", TORNDOWN, 0, Truncate(10), Scenario::RescindVgpu, Noticed),
    // RESCIND_CHANNELOFFER
    control("rescind duplicated", RESCIND, 0, Duplicate, Scenario::RescindVgpu, Survives),
    control("rescind unknown relid", RESCIND, 0, p32(CHILD_RELID, 0xFFF0), Scenario::RescindVgpu, Noticed),
    control("rescind truncated", RESCIND, 0, Truncate(10), Scenario::RescindVgpu, Noticed),
    // UNLOAD_RESPONSE
    control("unload response duplicated", UNLOAD, 0, Duplicate, Scenario::Unload, Survives),
    control("unload response oversized", UNLOAD, 0, Oversize(32), Scenario::Unload, Survives),
    control("unload response never sent", UNLOAD, 0, Drop, Scenario::Unload, Noticed),
    // Stray control messages, event flags, monitor pages.
    inject("open result for a channel never opened", Injection::OpenResult { relid: UNCLAIMED_RELID }, Noticed),
    inject("open result for an open channel", Injection::OpenResult { relid: DXG_GLOBAL_RELID }, Noticed),
    inject("gpadl torndown never asked for", Injection::Torndown { gpadl: 0xDEAD }, Noticed),
    inject("gpadl created never asked for", Injection::Created { relid: DXG_VGPU_RELID, gpadl: 0xDEAD }, Noticed),
    inject("version response while connected", Injection::VersionResponse, Noticed),
    inject("unload response never asked for", Injection::UnloadResponse, Survives),
    inject("modify channel response never asked for", Injection::ModifyChannelResponse { relid: DXG_GLOBAL_RELID }, Survives),
    inject("all offers delivered again", Injection::AllOffersDelivered, Survives),
    inject("rescind of a relid never offered", Injection::Rescind { relid: 0xFFF0 }, Noticed),
    inject("event flag for no channel", Injection::EventFlag { relid: 100 }, Survives),
    inject("event flag 0", Injection::EventFlag { relid: 0 }, Survives),
    inject("event flag for an unopened offer", Injection::EventFlag { relid: UNCLAIMED_RELID }, Survives),
    inject("monitor pages all-ones", Injection::MonitorPages { fill: 0xFF }, Survives),
    // vPCI replies (bring-up as the emulated host answers it: completions of the version, the
    // resource requirements, D0 entry and resources assigned, in that order; BUS_RELATIONS2
    // in-band after the version and again when asked).
    vpci("vpci version completion truncated", Target::Completion { relids: VPCI }, 0, Truncate(0), Noticed),
    vpci("vpci version completion duplicated", Target::Completion { relids: VPCI }, 0, Duplicate, Survives),
    vpci("vpci version completion wrong transaction", Target::Completion { relids: VPCI }, 0, Mutation::TransactionId(0xBAD), Noticed),
    vpci("vpci version completion refused", Target::Completion { relids: VPCI }, 0, p32(0, 0xC000_0059), Noticed),
    vpci("vpci bus relations truncated", Target::InBand { relid: VPCI_RELID, message_type: BUS_RELATIONS2 }, 0, Truncate(6), Noticed),
    vpci("vpci bus relations count huge", Target::InBand { relid: VPCI_RELID, message_type: BUS_RELATIONS2 }, 0, p32(4, 0xFFFF_FFFF), Noticed),
    vpci("vpci bus relations duplicated", Target::InBand { relid: VPCI_RELID, message_type: BUS_RELATIONS2 }, 0, Duplicate, Survives),
    vpci("vpci bus relations oversized", Target::InBand { relid: VPCI_RELID, message_type: BUS_RELATIONS2 }, 0, Oversize(4096), Survives),
    vpci("vpci d0 entry completion failure", Target::Completion { relids: VPCI }, 2, p32(0, 0xC000_0001), Noticed),
    vpci("vpci d0 entry completion truncated", Target::Completion { relids: VPCI }, 2, Truncate(0), Noticed),
    vpci("vpci d0 entry completion duplicated", Target::Completion { relids: VPCI }, 2, Duplicate, Survives),
    vpci("vpci resource requirements truncated", Target::Completion { relids: VPCI }, 1, Truncate(8), Noticed),
    vpci("vpci resource requirements oversized", Target::Completion { relids: VPCI }, 1, Oversize(64), Survives),
    vpci("vpci resource requirements duplicated", Target::Completion { relids: VPCI }, 1, Duplicate, Survives),
    vpci("vpci resources assigned failure", Target::Completion { relids: VPCI }, 3, p32(0, 0xC000_0001), Noticed),
    vpci("vpci resources assigned truncated", Target::Completion { relids: VPCI }, 3, Truncate(0), Noticed),
    vpci("vpci version completion never sent", Target::Completion { relids: VPCI }, 0, Drop, Noticed),
    // dxg replies (one request each; the reply is the first dxg completion after arming).
    dxg("dxg create process reply truncated", RequestKind::CreateProcess, Truncate(0), RequestFails),
    dxg("dxg create process reply duplicated", RequestKind::CreateProcess, Duplicate, Survives),
    dxg("dxg create process reply wrong transaction", RequestKind::CreateProcess, Mutation::TransactionId(0xBAD), Noticed),
    dxg("dxg query adapter info reply truncated", RequestKind::QueryAdapterInfo, Truncate(0), RequestFails),
    dxg("dxg query adapter info reply oversized", RequestKind::QueryAdapterInfo, Oversize(4096), Survives),
    dxg("dxg create device reply truncated", RequestKind::CreateDevice, Truncate(0), RequestFails),
    dxg("dxg create device reply duplicated", RequestKind::CreateDevice, Duplicate, Survives),
    dxg("dxg create device reply handle 0", RequestKind::CreateDevice, p32(0, 0), RequestFails),
    dxg("dxg create context reply truncated", RequestKind::CreateContext, Truncate(4), RequestFails),
    dxg("dxg create context reply oversized", RequestKind::CreateContext, Oversize(64), Survives),
    dxg("dxg create allocation reply truncated", RequestKind::CreateAllocation, Truncate(8), RequestFails),
    dxg("dxg create allocation reply duplicated", RequestKind::CreateAllocation, Duplicate, Survives),
    dxg("dxg create paging queue reply truncated", RequestKind::CreatePagingQueue, Truncate(12), RequestFails),
    dxg("dxg paging queue fence outside the IO space", RequestKind::CreatePagingQueue, p64(8, GUEST_PAGE), RequestFails),
    dxg("dxg paging queue fence in no memory", RequestKind::CreatePagingQueue, p64(8, NOWHERE), RequestFails),
    dxg("dxg monitored fence reply truncated", RequestKind::CreateMonitoredFence, Truncate(16), RequestFails),
    dxg("dxg monitored fence outside the IO space", RequestKind::CreateMonitoredFence, p64(16, GUEST_PAGE), RequestFails),
    dxg("dxg monitored fence unaligned", RequestKind::CreateMonitoredFence, p64(16, IO_SPACE_UNALIGNED), RequestFails),
    dxg("dxg lock reply truncated", RequestKind::Lock, Truncate(4), RequestFails),
    dxg("dxg lock reply address outside the IO space", RequestKind::Lock, p64(8, GUEST_PAGE), RequestFails),
    dxg("dxg query video memory info reply truncated", RequestKind::QueryVideoMemoryInfo, Truncate(0), RequestFails),
    // DESTROYDEVICE first tears the device's objects down (one reply), DESTROYPROCESS its
    // devices (two): the row bends the last reply, the request's own.
    nth(dxg("dxg destroy device reply truncated", RequestKind::DestroyDevice, Truncate(0), RequestFails), 1),
    nth(dxg("dxg destroy device failure status", RequestKind::DestroyDevice, p32(0, 0xC000_0001), RequestFails), 1),
    nth(dxg("dxg destroy device reply duplicated", RequestKind::DestroyDevice, Duplicate, Survives), 1),
    nth(dxg("dxg destroy process reply truncated", RequestKind::DestroyProcess, Truncate(0), RequestFails), 2),
    dxg("dxg reply out of order", RequestKind::CreateDevice, Delay, Survives),
    dxg("dxg reply never sent", RequestKind::CreateDevice, Drop, RequestFails),
];
