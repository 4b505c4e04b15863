//! Access to the argument struct and to the user arrays it points to, with the D3DKMT limits.
//!
//! Every count is checked against its limit before anything is read or allocated for it, so a
//! hostile count costs nothing. User memory is reached only through the [`Environment`]; a
//! failed copy is `STATUS_ACCESS_VIOLATION`.

use super::{Environment, NtStatus};
use alloc::vec;
use alloc::vec::Vec;
use dxg::wire::D3dkmtHandle;
use userlib::abi::D3DKMT_MAKERESIDENT_ALLOC_MAX;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// `STATUS_ACCESS_VIOLATION`: a nested user pointer is not readable or writable.
pub const ACCESS_VIOLATION: NtStatus = NtStatus::ACCESS_VIOLATION;
/// `STATUS_INFO_LENGTH_MISMATCH`: the argument struct has the wrong size.
pub const INFO_LENGTH_MISMATCH: NtStatus = NtStatus::INFO_LENGTH_MISMATCH;

/// Private driver data per call, and all variable data of one call together: a dxg message is
/// at most 128 KiB (dxg.md §2.9).
pub const MAX_PRIVATE_DATA: usize = dxg::wire::MAX_PACKET_SIZE;
/// History buffers per SubmitCommand (dxg.md §2.9).
pub use dxg::wire::MAX_HISTORY_BUFFERS;
/// Bytes of existing system memory one CreateAllocation2 may hand to the GPU, all its
/// allocations together (the translator's own cap: 65 536 page frames, 512 KiB of frame list).
pub const MAX_EXISTING_SYSMEM_BYTES: u64 = 256 << 20;

/// Checks `count` against `minimum..=maximum`; `STATUS_INVALID_PARAMETER` otherwise.
pub fn checked_count(count: u32, minimum: usize, maximum: usize) -> Result<usize, NtStatus> {
    let count = usize::try_from(count).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    if (minimum..=maximum).contains(&count) {
        Ok(count)
    } else {
        Err(NtStatus::INVALID_PARAMETER)
    }
}

/// Decodes the argument struct (its size was checked by the caller).
pub fn decode<T: FromBytes>(arguments: &[u8]) -> Result<T, NtStatus> {
    T::read_from_bytes(arguments).map_err(|_| INFO_LENGTH_MISMATCH)
}

/// Stores the updated argument struct (copied back to the user by the kernel).
pub fn encode<T: IntoBytes + Immutable>(arguments: &mut [u8], value: &T) {
    // The size was checked before decoding; a mismatch would leave the struct unchanged.
    let _ = value.write_to(arguments);
}

/// Reads `length` bytes at user `address` (nothing for an empty range). `length` must already
/// be bounded by the caller.
pub fn read_bytes(
    environment: &dyn Environment,
    address: u64,
    length: usize,
) -> Result<Vec<u8>, NtStatus> {
    let mut buffer = vec![0u8; length];
    if length > 0 {
        environment
            .read_user(address, &mut buffer)
            .map_err(|_| ACCESS_VIOLATION)?;
    }
    Ok(buffer)
}

/// Reads private driver data of `size` bytes (at most [`MAX_PRIVATE_DATA`]).
pub fn read_private_data(
    environment: &dyn Environment,
    address: u64,
    size: u32,
) -> Result<Vec<u8>, NtStatus> {
    let length = checked_count(size, 0, MAX_PRIVATE_DATA)?;
    read_bytes(environment, address, length)
}

/// Reads `count` plain values (handles, fence values, structs) at user `address`; `count`
/// must already be bounded by the caller.
pub fn read_array<T: FromBytes>(
    environment: &dyn Environment,
    address: u64,
    count: usize,
) -> Result<Vec<T>, NtStatus> {
    let size = core::mem::size_of::<T>();
    let length = count.checked_mul(size).ok_or(NtStatus::INVALID_PARAMETER)?;
    let bytes = read_bytes(environment, address, length)?;
    bytes
        .chunks_exact(size)
        .map(|chunk| T::read_from_bytes(chunk).map_err(|_| ACCESS_VIOLATION))
        .collect()
}

/// Reads `count` handles at user `address`; `count` must already be bounded.
pub fn read_handles(
    environment: &dyn Environment,
    address: u64,
    count: usize,
) -> Result<Vec<D3dkmtHandle>, NtStatus> {
    read_array(environment, address, count)
}

/// Reads the one handle at user `address`.
pub fn read_handle(environment: &dyn Environment, address: u64) -> Result<D3dkmtHandle, NtStatus> {
    read_handles(environment, address, 1)?
        .pop()
        .ok_or(ACCESS_VIOLATION)
}

/// Reads the 1 … 10240 handles (`count`) of a residency call's list at user `address`.
pub fn read_residency_list(
    environment: &dyn Environment,
    count: u32,
    address: u64,
) -> Result<Vec<D3dkmtHandle>, NtStatus> {
    let count = checked_count(count, 1, D3DKMT_MAKERESIDENT_ALLOC_MAX)?;
    read_handles(environment, address, count)
}

/// Writes `data` at user `address` (nothing for empty data).
pub fn write_bytes(
    environment: &dyn Environment,
    address: u64,
    data: &[u8],
) -> Result<(), NtStatus> {
    if data.is_empty() {
        return Ok(());
    }
    environment
        .write_user(address, data)
        .map_err(|_| ACCESS_VIOLATION)
}

/// Writes the host's version of a caller's buffer back to user `address`: at most `capacity`
/// bytes of `reply` (the size of the caller's buffer).
pub fn write_reply(
    environment: &dyn Environment,
    address: u64,
    reply: &[u8],
    capacity: usize,
) -> Result<(), NtStatus> {
    // `get` fails only when the buffer is larger than the reply: then all of it is written.
    let shown = reply.get(..capacity).unwrap_or(reply);
    write_bytes(environment, address, shown)
}

/// The handles of a struct's fixed array, the first `count` of them (`count` ≤ its length).
pub fn handles_of(array: &[u32], count: usize) -> Vec<D3dkmtHandle> {
    array
        .iter()
        .take(count)
        .copied()
        .map(D3dkmtHandle)
        .collect()
}

/// The private-data allowance of one call: all its variable data together stays within
/// [`MAX_PRIVATE_DATA`], checked before each read.
#[derive(Debug)]
pub struct PrivateDataBudget {
    remaining: usize,
}

impl PrivateDataBudget {
    /// The full allowance.
    pub fn new() -> Self {
        Self {
            remaining: MAX_PRIVATE_DATA,
        }
    }

    /// Reads `size` bytes at user `address` if they fit in what is left.
    pub fn read(
        &mut self,
        environment: &dyn Environment,
        address: u64,
        size: u32,
    ) -> Result<Vec<u8>, NtStatus> {
        let length = checked_count(size, 0, self.remaining)?;
        // `checked_count` bounded `length` by `remaining`: the subtraction always succeeds.
        self.remaining = self
            .remaining
            .checked_sub(length)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        read_bytes(environment, address, length)
    }
}
