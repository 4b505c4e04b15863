//! Framework and message version negotiation, as the guest answers it.
//!
//! The host lists its framework versions, then its message versions (`icmsg_negotiate`). The
//! guest picks, for each list, the first of its own versions (best first) that the host lists,
//! and answers with one framework and one message version, or with both counts 0 when either
//! has no match (torvalds/linux `vmbus_prep_negotiate_resp` in `drivers/hv/channel_mgmt.c`;
//! the counts are bounded by `IC_VERSION_NEGOTIATION_MAX_VER_COUNT` and the body's length as in
//! its hardened copy in `tools/hv/`). The answer's body is always the 8-byte negotiate header
//! plus two versions (`icmsgsize` 0x10 in Linux).

use alloc::vec::Vec;
use core::mem::size_of;
use zerocopy::{FromBytes, IntoBytes};

use super::error::IcError;
use super::wire::{IcVersion, MAXIMUM_VERSION_COUNT, NegotiateHeader};

/// What both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Framework version.
    pub framework: IcVersion,
    /// Message version.
    pub message: IcVersion,
}

/// The host's offer, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Framework versions, as listed.
    pub framework: Vec<IcVersion>,
    /// Message versions, as listed.
    pub message: Vec<IcVersion>,
}

/// Parses a negotiate body.
pub fn parse_offer(body: &[u8]) -> Result<Offer, IcError> {
    let (header, rest) =
        NegotiateHeader::read_from_prefix(body).map_err(|_| IcError::Truncated {
            length: body.len(),
            needed: size_of::<NegotiateHeader>(),
        })?;
    let framework_count = usize::from(header.framework_count.get());
    let message_count = usize::from(header.message_count.get());
    let counts_error = IcError::BadVersionCounts {
        framework: header.framework_count.get(),
        message: header.message_count.get(),
    };
    if framework_count > MAXIMUM_VERSION_COUNT || message_count > MAXIMUM_VERSION_COUNT {
        return Err(counts_error);
    }
    let total = framework_count.saturating_add(message_count);
    let (versions, _) =
        <[IcVersion]>::ref_from_prefix_with_elems(rest, total).map_err(|_| counts_error)?;
    let (framework, message) = versions.split_at(framework_count.min(versions.len()));
    Ok(Offer {
        framework: framework.to_vec(),
        message: message.to_vec(),
    })
}

/// The first of `ours` (best first) that `theirs` lists.
fn choose(ours: &[IcVersion], theirs: &[IcVersion]) -> Option<IcVersion> {
    ours.iter()
        .copied()
        .find(|version| theirs.contains(version))
}

/// Chooses the versions for `offer` and builds the answer body. `None` when there is no match
/// (the body then lists nothing).
pub fn answer(
    offer: &Offer,
    framework_versions: &[IcVersion],
    message_versions: &[IcVersion],
) -> (Option<Negotiated>, Vec<u8>) {
    let chosen = choose(framework_versions, &offer.framework).and_then(|framework| {
        choose(message_versions, &offer.message).map(|message| Negotiated { framework, message })
    });
    let count: u16 = if chosen.is_some() { 1 } else { 0 };
    let header = NegotiateHeader {
        framework_count: count.into(),
        message_count: count.into(),
        reserved: 0.into(),
    };
    let unknown = IcVersion::new(0, 0);
    let (framework, message) = chosen.map_or((unknown, unknown), |n| (n.framework, n.message));
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(header.as_bytes());
    body.extend_from_slice(framework.as_bytes());
    body.extend_from_slice(message.as_bytes());
    (chosen, body)
}
