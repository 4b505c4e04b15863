//! Key-value exchange: the guest's intrinsic items (the auto pool), answered in the kernel.
//!
//! Layout (torvalds/linux `include/uapi/linux/hyperv.h`): `hv_kvp_msg` is a 4-byte header
//! (operation, pool, pad) and a body; ENUMERATE's body is an index (u32) and a value record,
//! GET's a value record. A record (`hv_kvp_exchg_msg_value`) is value type, key size and value
//! size (u32 each), a 512-byte key and a 2048-byte value, strings in UTF-16LE with the sizes in
//! bytes including the NUL (`kvp_respond_to_host` in `drivers/hv/hv_kvp.c`). Enumerating past
//! the last item answers `HV_S_CONT`, as the Linux daemon does; anything that is not GET or
//! ENUMERATE of the auto pool is answered `HV_E_FAIL` with the body untouched (no user-space
//! pools here).

use alloc::string::String;
use alloc::vec::Vec;
use core::mem::size_of;
use zerocopy::FromBytes;

use super::error::IcError;
use super::wire::{KvpHeader, KvpValueHeader, kvp, status};

/// What the guest says about itself (the intrinsic items).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestIdentity {
    /// `FullyQualifiedDomainName`.
    pub fully_qualified_name: String,
    /// `OSName`.
    pub os_name: String,
    /// `OSVersion`.
    pub os_version: String,
    /// `ProcessorArchitecture`.
    pub processor_architecture: String,
    /// `IntegrationServicesVersion`.
    pub integration_services_version: String,
}

impl Default for GuestIdentity {
    fn default() -> Self {
        GuestIdentity {
            fully_qualified_name: String::from("dxgos"),
            os_name: String::from("dxgos"),
            os_version: String::from(env!("CARGO_PKG_VERSION")),
            processor_architecture: String::from("x86_64"),
            integration_services_version: String::from("3.0"),
        }
    }
}

impl GuestIdentity {
    /// The items in enumeration order (the Linux daemon's key names).
    pub fn items(&self) -> [(&'static str, &str); 5] {
        [
            ("FullyQualifiedDomainName", &self.fully_qualified_name),
            (
                "IntegrationServicesVersion",
                &self.integration_services_version,
            ),
            ("OSName", &self.os_name),
            ("OSVersion", &self.os_version),
            ("ProcessorArchitecture", &self.processor_architecture),
        ]
    }
}

/// Offset of the value record in an ENUMERATE body (after header and index).
const ENUMERATE_RECORD: usize = size_of::<KvpHeader>() + 4;
/// Offset of the value record in a GET body.
const GET_RECORD: usize = size_of::<KvpHeader>();
/// Bytes of a value record.
pub const RECORD_BYTES: usize =
    size_of::<KvpValueHeader>() + kvp::MAXIMUM_KEY_BYTES + kvp::MAXIMUM_VALUE_BYTES;

/// Answers a KVP body: the status and the body to send back.
pub fn answer(body: &[u8], identity: &GuestIdentity) -> Result<(u32, Vec<u8>), IcError> {
    let (header, rest) = KvpHeader::read_from_prefix(body).map_err(|_| IcError::Truncated {
        length: body.len(),
        needed: size_of::<KvpHeader>(),
    })?;
    let mut reply = body.to_vec();
    if header.pool != kvp::POOL_AUTO {
        return Ok((status::FAIL, reply));
    }
    let result = match header.operation {
        kvp::OPERATION_ENUMERATE => {
            let index = rest
                .get(..4)
                .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
                .map(u32::from_le_bytes);
            match index {
                Some(index) => enumerate(&mut reply, index, identity),
                None => Err(()),
            }
        }
        kvp::OPERATION_GET => get(&mut reply, identity),
        _ => return Ok((status::FAIL, reply)),
    };
    match result {
        Ok(status) => Ok((status, reply)),
        Err(()) => Err(IcError::Truncated {
            length: body.len(),
            needed: ENUMERATE_RECORD + RECORD_BYTES,
        }),
    }
}

fn enumerate(reply: &mut [u8], index: u32, identity: &GuestIdentity) -> Result<u32, ()> {
    let record = reply
        .get_mut(ENUMERATE_RECORD..ENUMERATE_RECORD + RECORD_BYTES)
        .ok_or(())?;
    let items = identity.items();
    let Some((key, value)) = usize::try_from(index).ok().and_then(|i| items.get(i)) else {
        return Ok(status::CONTINUE);
    };
    write_record(record, key, value);
    Ok(status::OK)
}

fn get(reply: &mut [u8], identity: &GuestIdentity) -> Result<u32, ()> {
    let record = reply
        .get_mut(GET_RECORD..GET_RECORD + RECORD_BYTES)
        .ok_or(())?;
    let key = read_key(record);
    let found = identity
        .items()
        .into_iter()
        .find(|(name, _)| Some(*name) == key.as_deref());
    match found {
        Some((name, value)) => {
            write_record(record, name, value);
            Ok(status::OK)
        }
        None => Ok(status::FAIL),
    }
}

/// The record's key, if it is valid UTF-16 within its array.
fn read_key(record: &[u8]) -> Option<String> {
    let (header, rest) = KvpValueHeader::read_from_prefix(record).ok()?;
    let size = usize::try_from(header.key_size.get()).ok()?;
    let bytes = rest.get(..size.min(kvp::MAXIMUM_KEY_BYTES))?;
    let units = bytes
        .chunks_exact(2)
        .filter_map(|pair| <[u8; 2]>::try_from(pair).ok())
        .map(u16::from_le_bytes)
        .take_while(|unit| *unit != 0);
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// Writes `key` and `value` (UTF-16LE, NUL-terminated, cut to fit) into a record.
fn write_record(record: &mut [u8], key: &str, value: &str) {
    let key_size = write_utf16(
        record
            .get_mut(size_of::<KvpValueHeader>()..)
            .unwrap_or(&mut []),
        key,
        kvp::MAXIMUM_KEY_BYTES,
    );
    let value_start = size_of::<KvpValueHeader>() + kvp::MAXIMUM_KEY_BYTES;
    let value_size = write_utf16(
        record.get_mut(value_start..).unwrap_or(&mut []),
        value,
        kvp::MAXIMUM_VALUE_BYTES,
    );
    let header = KvpValueHeader {
        value_type: kvp::REG_SZ.into(),
        key_size: key_size.into(),
        value_size: value_size.into(),
    };
    if let Some(slot) = record.get_mut(..size_of::<KvpValueHeader>()) {
        slot.copy_from_slice(zerocopy::IntoBytes::as_bytes(&header));
    }
}

/// Writes `text` as UTF-16LE plus a NUL into the first `limit` bytes of `target` (zeroing the
/// rest of them); returns the bytes written, NUL included.
fn write_utf16(target: &mut [u8], text: &str, limit: usize) -> u32 {
    let area_length = limit.min(target.len());
    let area = target.get_mut(..area_length).unwrap_or(&mut []);
    area.fill(0);
    let mut written = 0usize;
    for unit in text.encode_utf16() {
        // Leave room for this unit and the NUL.
        if written + 4 > area.len() {
            break;
        }
        if let Some(slot) = area.get_mut(written..written + 2) {
            slot.copy_from_slice(&unit.to_le_bytes());
        }
        written += 2;
    }
    u32::try_from(written + 2).unwrap_or(0)
}
