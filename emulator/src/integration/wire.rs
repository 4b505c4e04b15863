//! The host's encoding of IC messages, written from OpenVMM's host side
//! (microsoft/openvmm `vm/devices/hyperv_ic_protocol/src/lib.rs`: `Header`, `HeaderFlags`,
//! `NegotiateMessage`, `shutdown::ShutdownMessage`, `heartbeat::HeartbeatMessage`; the pipe
//! header `PipeHeader { packet_type, len }` with `PIPE_PACKET_TYPE_DATA` = 1 from `vmbus_ring`)
//! and torvalds/linux `include/linux/hyperv.h` (`ictimesync_data`, `ictimesync_ref_data`,
//! `hv_kvp_msg`). Independent of the guest's `drivers::integration` on purpose: the emulator
//! stands for Hyper-V, not for our guest.

/// IC message types (`MessageType`).
pub const NEGOTIATE: u16 = 0;
/// Heartbeat.
pub const HEARTBEAT: u16 = 1;
/// KVP exchange.
pub const KVP_EXCHANGE: u16 = 2;
/// Shutdown.
pub const SHUTDOWN: u16 = 3;
/// Time sync.
pub const TIME_SYNC: u16 = 4;

/// `HeaderFlags`: transaction (bit 0), request (bit 1), response (bit 2).
pub const FLAG_TRANSACTION: u8 = 1;
/// Request.
pub const FLAG_REQUEST: u8 = 2;
/// Response.
pub const FLAG_RESPONSE: u8 = 4;

/// Bytes of the pipe header.
pub const PIPE_HEADER_BYTES: usize = 8;
/// Bytes of the IC header.
pub const IC_HEADER_BYTES: usize = 20;
/// Where a message body starts.
pub const BODY_OFFSET: usize = PIPE_HEADER_BYTES + IC_HEADER_BYTES;

/// `HV_S_CONT`: no KVP item at that index.
pub const STATUS_CONTINUE: u32 = 0x8007_0103;
/// `SHTDN_REASON_FLAG_PLANNED` (OpenVMM's shutdown reason).
pub const SHUTDOWN_REASON_PLANNED: u32 = 0x8000_0000;

/// An IC version.
pub type Version = (u16, u16);

/// One message: pipe header, IC header and `body`.
pub fn message(message_type: u16, versions: (Version, Version), flags: u8, body: &[u8]) -> Vec<u8> {
    let ((framework_major, framework_minor), (message_major, message_minor)) = versions;
    let mut bytes = Vec::with_capacity(BODY_OFFSET + body.len());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&((IC_HEADER_BYTES + body.len()) as u32).to_le_bytes());
    for half in [
        framework_major,
        framework_minor,
        message_type,
        message_major,
        message_minor,
    ] {
        bytes.extend_from_slice(&half.to_le_bytes());
    }
    bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes()); // status
    bytes.push(0); // IC transaction id (OpenVMM sends 0)
    bytes.push(flags);
    bytes.extend_from_slice(&[0, 0]);
    bytes.extend_from_slice(body);
    bytes
}

/// A version negotiation listing `frameworks` then `messages` (OpenVMM's host lists framework
/// 1.0 and 3.0 and all its message versions, lowest first).
pub fn negotiate(frameworks: &[Version], messages: &[Version]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(frameworks.len() as u16).to_le_bytes());
    body.extend_from_slice(&(messages.len() as u16).to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    for (major, minor) in frameworks.iter().chain(messages) {
        body.extend_from_slice(&major.to_le_bytes());
        body.extend_from_slice(&minor.to_le_bytes());
    }
    message(
        NEGOTIATE,
        ((0, 0), (0, 0)),
        FLAG_TRANSACTION | FLAG_REQUEST,
        &body,
    )
}

/// A guest's answer, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// IC message type.
    pub message_type: u16,
    /// Status.
    pub status: u32,
    /// The IC header's flags.
    pub flags: u8,
    /// The body (`message_size` bytes).
    pub body: Vec<u8>,
}

/// Why a guest packet was not a valid answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// Shorter than the headers or the announced body.
    Truncated,
    /// Pipe packet type not data, or pipe size beyond the packet.
    BadPipeHeader,
    /// Not flagged transaction | response.
    NotAResponse,
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset + 2)?.try_into().ok()?,
    ))
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

/// Parses a guest packet as OpenVMM's `read_response` does: headers present, transaction and
/// response flags set, body within the packet.
pub fn parse_response(packet: &[u8]) -> Result<Response, ResponseError> {
    let pipe_type = u32_at(packet, 0).ok_or(ResponseError::Truncated)?;
    let pipe_size = u32_at(packet, 4).ok_or(ResponseError::Truncated)? as usize;
    if pipe_type != 1 || pipe_size > packet.len() - PIPE_HEADER_BYTES {
        return Err(ResponseError::BadPipeHeader);
    }
    let message_type = u16_at(packet, 12).ok_or(ResponseError::Truncated)?;
    let size = usize::from(u16_at(packet, 18).ok_or(ResponseError::Truncated)?);
    let status = u32_at(packet, 20).ok_or(ResponseError::Truncated)?;
    let flags = *packet.get(25).ok_or(ResponseError::Truncated)?;
    if flags & (FLAG_TRANSACTION | FLAG_RESPONSE) != FLAG_TRANSACTION | FLAG_RESPONSE {
        return Err(ResponseError::NotAResponse);
    }
    let body = packet
        .get(BODY_OFFSET..BODY_OFFSET + size)
        .ok_or(ResponseError::Truncated)?
        .to_vec();
    Ok(Response {
        message_type,
        status,
        flags,
        body,
    })
}

/// The framework and message version a negotiation answer chose; `None` when it lists none.
pub fn chosen_versions(body: &[u8]) -> Option<(Version, Version)> {
    let framework_count = u16_at(body, 0)?;
    let message_count = u16_at(body, 2)?;
    if framework_count != 1 || message_count != 1 {
        return None;
    }
    Some((
        (u16_at(body, 8)?, u16_at(body, 10)?),
        (u16_at(body, 12)?, u16_at(body, 14)?),
    ))
}

/// A heartbeat body as Linux reads it (`heartbeat_msg_data`: sequence, 32 reserved bytes).
pub fn heartbeat_body(sequence: u64) -> Vec<u8> {
    let mut body = sequence.to_le_bytes().to_vec();
    body.extend_from_slice(&[0; 32]);
    body
}

/// A shutdown body (`ShutdownMessage`: reason, timeout, flags, 2048-byte message).
pub fn shutdown_body(flags: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(12 + 2048);
    body.extend_from_slice(&SHUTDOWN_REASON_PLANNED.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&flags.to_le_bytes());
    body.resize(12 + 2048, 0);
    body
}

/// A time sample body: the 4.0 layout (parent time, reference time, flags, leap, stratum, 3
/// reserved) when `reference_time` is given, else the older one (parent, child, round trip,
/// flags).
pub fn time_body(host_time: u64, reference_time: Option<u64>, flags: u8) -> Vec<u8> {
    let mut body = host_time.to_le_bytes().to_vec();
    match reference_time {
        Some(reference) => {
            body.extend_from_slice(&reference.to_le_bytes());
            body.extend_from_slice(&[flags, 0, 0, 0, 0, 0]);
        }
        None => {
            body.extend_from_slice(&[0; 16]);
            body.push(flags);
        }
    }
    body
}

/// KVP: enumerate operation, auto pool.
pub const KVP_ENUMERATE: u8 = 3;
/// KVP pool of the guest's intrinsic items.
pub const KVP_POOL_AUTO: u8 = 2;
/// Bytes of a KVP value record (`hv_kvp_exchg_msg_value`).
pub const KVP_RECORD_BYTES: usize = 12 + 512 + 2048;

/// A KVP ENUMERATE request for item `index` of the auto pool.
pub fn kvp_enumerate_body(index: u32) -> Vec<u8> {
    let mut body = vec![KVP_ENUMERATE, KVP_POOL_AUTO, 0, 0];
    body.extend_from_slice(&index.to_le_bytes());
    body.resize(8 + KVP_RECORD_BYTES, 0);
    body
}

fn utf16_string(bytes: &[u8], size: usize) -> Option<String> {
    let bytes = bytes.get(..size)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|unit| *unit != 0)
        .collect();
    String::from_utf16(&units).ok()
}

/// The key and value of an ENUMERATE answer.
pub fn kvp_item(body: &[u8]) -> Option<(String, String)> {
    let record = body.get(8..8 + KVP_RECORD_BYTES)?;
    let key_size = (u32_at(record, 4)? as usize).min(512);
    let value_size = (u32_at(record, 8)? as usize).min(2048);
    Some((
        utf16_string(record.get(12..)?, key_size)?,
        utf16_string(record.get(12 + 512..)?, value_size)?,
    ))
}
