//! The vGPU's command processor: the work SUBMITCOMMAND does on allocation memory.
//!
//! The format is documented in `docs/vgpu-command-processor.md`. A stream is a sequence of
//! little-endian packets `[u32 opcode][u32 size in bytes, header included][arguments]`. All
//! arithmetic is integer (the guest kernel is soft-float). Memory is reached through
//! `GuestMemory` by GPA; every range is checked against its allocation first.

use dxg::wire::D3dkmtHandle;
use hyperv::memory::GuestMemory;

/// NOP: `[0, 8]`.
pub const OPCODE_NOP: u32 = 0;
/// FILL: `[1, 24, allocation, offset, length, pattern]` — repeat the 4 pattern bytes.
pub const OPCODE_FILL: u32 = 1;
/// COPY: `[2, 28, source, source_offset, destination, destination_offset, length]`.
pub const OPCODE_COPY: u32 = 2;
/// GRADIENT: `[3, 28, allocation, offset, width, height, pitch]` — 32-bit BGRA pixels.
pub const OPCODE_GRADIENT: u32 = 3;
/// MANDELBROT: `[4, 32, allocation, offset, width, height, pitch, max_iterations]`.
pub const OPCODE_MANDELBROT: u32 = 4;
/// SIGNAL_FENCE: `[5, 24, sync_object, 0, value_low, value_high]` — write a monitored fence.
pub const OPCODE_SIGNAL_FENCE: u32 = 5;

/// Fixed-point fraction bits of the Mandelbrot renderer.
pub const MANDELBROT_FRACTION_BITS: u32 = 24;
/// Largest copy / fill chunk staged at once.
const CHUNK: usize = 64 * 1024;

/// A memory range the processor may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Surface {
    /// GPA of byte 0.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Why a stream stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// A packet is shorter than its opcode needs, or its size field is malformed.
    Malformed {
        /// Byte offset of the packet in the stream.
        offset: usize,
    },
    /// Unknown opcode.
    UnknownOpcode(u32),
    /// A handle that is not an allocation (or fence) of this process.
    BadHandle(D3dkmtHandle),
    /// A range outside its allocation.
    OutOfBounds,
    /// Guest memory access failed.
    Memory,
}

/// What the processor needs from the host.
pub trait CommandTarget {
    /// The allocation behind a handle.
    fn allocation(&self, handle: D3dkmtHandle) -> Option<Surface>;
    /// The fence page behind a monitored-fence handle.
    fn fence(&self, handle: D3dkmtHandle) -> Option<u64>;
    /// Guest memory.
    fn memory(&self) -> &dyn GuestMemory;
}

/// Counters of executed work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Executed {
    /// Packets executed.
    pub packets: u32,
    /// Bytes written.
    pub bytes_written: u64,
}

fn word(stream: &[u8], offset: usize) -> Option<u32> {
    let bytes = stream.get(offset..offset + 4)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn range(surface: Surface, offset: u64, length: u64) -> Result<u64, CommandError> {
    let end = offset
        .checked_add(length)
        .ok_or(CommandError::OutOfBounds)?;
    if end > surface.size {
        return Err(CommandError::OutOfBounds);
    }
    Ok(surface.address + offset)
}

/// The gradient pixel at (x, y) of a width × height surface (0xAARRGGBB, stored little-endian).
pub fn gradient_pixel(x: u32, y: u32, width: u32, height: u32) -> u32 {
    let red = x * 255 / width.saturating_sub(1).max(1);
    let green = y * 255 / height.saturating_sub(1).max(1);
    let blue = (x + y) * 255 / (width + height).saturating_sub(2).max(1);
    0xFF00_0000 | (red << 16) | (green << 8) | blue
}

/// The Mandelbrot pixel at (x, y): the view is re ∈ [−2.5, 1), im ∈ [−1.25, 1.25) in 8.24 fixed
/// point; the escape count `n` (0 ..= max) becomes grey level `n * 255 / max`.
pub fn mandelbrot_pixel(x: u32, y: u32, width: u32, height: u32, max_iterations: u32) -> u32 {
    let one: i64 = 1 << MANDELBROT_FRACTION_BITS;
    let c_re = -(5 * one / 2) + i64::from(x) * (7 * one / 2) / i64::from(width.max(1));
    let c_im = -(5 * one / 4) + i64::from(y) * (5 * one / 2) / i64::from(height.max(1));
    let (mut z_re, mut z_im) = (0i64, 0i64);
    let mut iterations = 0;
    while iterations < max_iterations {
        let re2 = (z_re * z_re) >> MANDELBROT_FRACTION_BITS;
        let im2 = (z_im * z_im) >> MANDELBROT_FRACTION_BITS;
        if re2 + im2 > 4 * one {
            break;
        }
        let next_im = ((2 * z_re * z_im) >> MANDELBROT_FRACTION_BITS) + c_im;
        z_re = re2 - im2 + c_re;
        z_im = next_im;
        iterations += 1;
    }
    let grey = iterations * 255 / max_iterations.max(1);
    0xFF00_0000 | (grey << 16) | (grey << 8) | grey
}

/// Executes a command stream; fence signals are reported through `on_signal` in order.
pub fn execute(
    stream: &[u8],
    target: &dyn CommandTarget,
    on_signal: &mut dyn FnMut(D3dkmtHandle, u64),
) -> Result<Executed, CommandError> {
    let memory = target.memory();
    let mut executed = Executed::default();
    let mut offset = 0;
    while offset < stream.len() {
        let malformed = CommandError::Malformed { offset };
        let opcode = word(stream, offset).ok_or(malformed)?;
        let size = word(stream, offset + 4).ok_or(malformed)? as usize;
        if size < 8 || !size.is_multiple_of(4) || offset + size > stream.len() {
            return Err(malformed);
        }
        let argument = |index: usize| -> Result<u32, CommandError> {
            if 8 + 4 * index + 4 > size {
                return Err(malformed);
            }
            word(stream, offset + 8 + 4 * index).ok_or(malformed)
        };
        let allocation = |index: usize| -> Result<Surface, CommandError> {
            let handle = D3dkmtHandle(argument(index)?);
            target
                .allocation(handle)
                .ok_or(CommandError::BadHandle(handle))
        };
        match opcode {
            OPCODE_NOP => {}
            OPCODE_FILL => {
                let surface = allocation(0)?;
                let (start, length) = (u64::from(argument(1)?), u64::from(argument(2)?));
                let pattern = argument(3)?.to_le_bytes();
                let address = range(surface, start, length)?;
                let mut chunk = vec![0u8; (length as usize).min(CHUNK)];
                for (index, byte) in chunk.iter_mut().enumerate() {
                    *byte = pattern[index % 4];
                }
                let mut done = 0u64;
                while done < length {
                    let take = (length - done).min(chunk.len() as u64) as usize;
                    // Keep the pattern phase: chunk length is a multiple of 4 except at the end.
                    memory
                        .write(address + done, &chunk[..take])
                        .map_err(|_| CommandError::Memory)?;
                    done += take as u64;
                }
                executed.bytes_written += length;
            }
            OPCODE_COPY => {
                let source = allocation(0)?;
                let source_address =
                    range(source, u64::from(argument(1)?), u64::from(argument(4)?))?;
                let destination = allocation(2)?;
                let length = u64::from(argument(4)?);
                let destination_address = range(destination, u64::from(argument(3)?), length)?;
                let mut staged = vec![0u8; length as usize];
                memory
                    .read(source_address, &mut staged)
                    .map_err(|_| CommandError::Memory)?;
                memory
                    .write(destination_address, &staged)
                    .map_err(|_| CommandError::Memory)?;
                executed.bytes_written += length;
            }
            OPCODE_GRADIENT | OPCODE_MANDELBROT => {
                let surface = allocation(0)?;
                let start = u64::from(argument(1)?);
                let (width, height, pitch) = (argument(2)?, argument(3)?, argument(4)?);
                let max_iterations = if opcode == OPCODE_MANDELBROT {
                    argument(5)?.max(1)
                } else {
                    0
                };
                if u64::from(pitch) < u64::from(width) * 4 {
                    return Err(CommandError::OutOfBounds);
                }
                let span =
                    u64::from(pitch) * u64::from(height.saturating_sub(1)) + u64::from(width) * 4;
                if height > 0 {
                    range(surface, start, span)?;
                }
                let mut row = vec![0u8; width as usize * 4];
                for y in 0..height {
                    for x in 0..width {
                        let pixel = if opcode == OPCODE_GRADIENT {
                            gradient_pixel(x, y, width, height)
                        } else {
                            mandelbrot_pixel(x, y, width, height, max_iterations)
                        };
                        row[x as usize * 4..x as usize * 4 + 4]
                            .copy_from_slice(&pixel.to_le_bytes());
                    }
                    let address = surface.address + start + u64::from(y) * u64::from(pitch);
                    memory
                        .write(address, &row)
                        .map_err(|_| CommandError::Memory)?;
                }
                executed.bytes_written += u64::from(width) * u64::from(height) * 4;
            }
            OPCODE_SIGNAL_FENCE => {
                let handle = D3dkmtHandle(argument(0)?);
                let value = u64::from(argument(2)?) | (u64::from(argument(3)?) << 32);
                let page = target
                    .fence(handle)
                    .ok_or(CommandError::BadHandle(handle))?;
                memory
                    .write_u64(page, value)
                    .map_err(|_| CommandError::Memory)?;
                on_signal(handle, value);
            }
            other => return Err(CommandError::UnknownOpcode(other)),
        }
        executed.packets += 1;
        offset += size;
    }
    Ok(executed)
}
