//! The names the encoders and reply decoders share (each starts with `use super::prelude::*`):
//! the driver's types, the object kinds, the send and decode helpers, and the wire layer.

pub(super) use super::ObjectKind::{self, *};
pub(super) use super::encode::{WHOLE, check_count, handle_bytes, handle_message, message_of};
pub(super) use super::replies::{Expect, Pending, SysmemPages, fixed, success, success_at};
pub(super) use super::{Action, Adapter, AdapterEntry, AdapterId, AdapterState, ChannelId};
pub(super) use super::{CreatedAllocation, Driver, GlobalChannel, GlobalState, GuestEvent};
pub(super) use super::{GpuVirtualAddressOperation, ObjectEntry, PacketKind, Process, ProcessId};
pub(super) use super::{ProcessState, ProtocolError, Reply, Request, SyncObjectKind, Ticket};
pub(super) use crate::wire::*;
pub(super) use alloc::vec::Vec;
pub(super) use zerocopy::{FromBytes, IntoBytes};
