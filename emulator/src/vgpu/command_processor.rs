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

/// The work one submission may ask for, in work units ([`packet_work`]: a byte written or
/// read, a Mandelbrot iteration, at least 8 per packet).
///
/// A real host has no such cap: the GPU starts the work, and when a submission runs past the
/// TDR delay (the `TdrDelay` registry value, 2 seconds by default, Microsoft's "Timeout
/// Detection and Recovery" page) the host's graphics kernel resets the GPU. The emulated GPU
/// runs every stream synchronously on the host's CPU, so it bounds the work up front instead:
/// a packet that would take the stream past 2^30 units (about a second of this processor's
/// work, far above the demos' few million) is not run, and the stream ends there, answered
/// `STATUS_INVALID_PARAMETER` like every stream the processor stops (the packets before it
/// have run, as for a malformed packet).
pub const MAX_SUBMISSION_WORK: u64 = 1 << 30;

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
    /// The packet at `offset` would take the stream past [`MAX_SUBMISSION_WORK`].
    WorkLimit {
        /// Byte offset of the packet in the stream.
        offset: usize,
    },
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
    let bytes = stream.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn range(surface: Surface, offset: u64, length: u64) -> Result<u64, CommandError> {
    let end = offset
        .checked_add(length)
        .ok_or(CommandError::OutOfBounds)?;
    if end > surface.size {
        return Err(CommandError::OutOfBounds);
    }
    surface
        .address
        .checked_add(offset)
        .ok_or(CommandError::OutOfBounds)
}

/// The gradient pixel at (x, y) of a width × height surface (0xAARRGGBB, stored little-endian).
#[allow(
    clippy::arithmetic_side_effects,
    reason = "u32 inputs widened to u64: x * 255 and (x + y) * 255 stay below 2^42, and every \
              divisor is at least 1"
)]
pub fn gradient_pixel(x: u32, y: u32, width: u32, height: u32) -> u32 {
    let (x, y, width, height) = (
        u64::from(x),
        u64::from(y),
        u64::from(width),
        u64::from(height),
    );
    let red = x * 255 / width.saturating_sub(1).max(1);
    let green = y * 255 / height.saturating_sub(1).max(1);
    let blue = (x + y) * 255 / (width + height).saturating_sub(2).max(1);
    let channel = |value: u64| value.min(255) as u32;
    0xFF00_0000 | (channel(red) << 16) | (channel(green) << 8) | channel(blue)
}

/// The Mandelbrot pixel at (x, y): the view is re ∈ [−2.5, 1), im ∈ [−1.25, 1.25) in 8.24 fixed
/// point; the escape count `n` (0 ..= max) becomes grey level `n * 255 / max`. Coordinates past
/// the surface are clamped to its edge.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "x <= width and y <= height keep |c| <= 2.5 (< 2^26 in 8.24); the loop only \
              continues while |z|^2 <= 4, so |z| stays below 2^28 and every product below 2^57; \
              the grey level is computed in u64 (iterations < 2^32 times 255); divisors >= 1"
)]
pub fn mandelbrot_pixel(x: u32, y: u32, width: u32, height: u32, max_iterations: u32) -> u32 {
    let (x, y) = (x.min(width), y.min(height));
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
    let grey = (u64::from(iterations) * 255 / u64::from(max_iterations.max(1))).min(255) as u32;
    0xFF00_0000 | (grey << 16) | (grey << 8) | grey
}

/// The work units of one packet, from its arguments (`argument(i)`; a missing argument counts
/// 0, the packet is then refused as malformed when it runs): FILL its length, COPY twice its
/// length (read and write), GRADIENT its bytes, MANDELBROT its pixels times (4 + iterations),
/// and at least 8 for any packet.
pub fn packet_work(opcode: u32, argument: &dyn Fn(usize) -> Option<u32>) -> u64 {
    let value = |index: usize| u64::from(argument(index).unwrap_or(0));
    let work = match opcode {
        OPCODE_FILL => value(2),
        OPCODE_COPY => value(4).saturating_mul(2),
        OPCODE_GRADIENT => value(2).saturating_mul(value(3)).saturating_mul(4),
        OPCODE_MANDELBROT => value(2)
            .saturating_mul(value(3))
            .saturating_mul(value(5).max(1).saturating_add(4)),
        _ => 0,
    };
    work.max(8)
}

/// Executes a command stream; fence signals are reported through `on_signal` in order. The
/// stream stops before a packet that would take it past [`MAX_SUBMISSION_WORK`].
pub fn execute(
    stream: &[u8],
    target: &dyn CommandTarget,
    on_signal: &mut dyn FnMut(D3dkmtHandle, u64),
) -> Result<Executed, CommandError> {
    let memory = target.memory();
    let mut executed = Executed::default();
    let mut offset = 0usize;
    let mut work_left = MAX_SUBMISSION_WORK;
    while offset < stream.len() {
        let malformed = CommandError::Malformed { offset };
        let opcode = word(stream, offset).ok_or(malformed)?;
        let size = word(stream, offset.checked_add(4).ok_or(malformed)?).ok_or(malformed)? as usize;
        let end = offset.checked_add(size).ok_or(malformed)?;
        if size < 8 || !size.is_multiple_of(4) || end > stream.len() {
            return Err(malformed);
        }
        let argument = |index: usize| -> Result<u32, CommandError> {
            // Argument `index` occupies bytes [8 + 4 * index, 12 + 4 * index) of the packet.
            let start = index
                .checked_mul(4)
                .and_then(|bytes| bytes.checked_add(8))
                .ok_or(malformed)?;
            if start
                .checked_add(4)
                .is_none_or(|argument_end| argument_end > size)
            {
                return Err(malformed);
            }
            word(stream, offset.checked_add(start).ok_or(malformed)?).ok_or(malformed)
        };
        let work = packet_work(opcode, &|index| argument(index).ok());
        work_left = work_left
            .checked_sub(work)
            .ok_or(CommandError::WorkLimit { offset })?;
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
                for (byte, pattern_byte) in chunk.iter_mut().zip(pattern.iter().cycle()) {
                    *byte = *pattern_byte;
                }
                let mut done = 0u64;
                while let Some(remaining) = length.checked_sub(done).filter(|left| *left > 0) {
                    let take = remaining.min(chunk.len() as u64) as usize;
                    // Keep the pattern phase: chunk length is a multiple of 4 except at the end.
                    let bytes = chunk.get(..take).ok_or(CommandError::OutOfBounds)?;
                    let at = address.checked_add(done).ok_or(CommandError::OutOfBounds)?;
                    memory.write(at, bytes).map_err(|_| CommandError::Memory)?;
                    done = done.saturating_add(take as u64);
                }
                executed.bytes_written = executed.bytes_written.saturating_add(length);
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
                executed.bytes_written = executed.bytes_written.saturating_add(length);
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
                let row_bytes = u64::from(width)
                    .checked_mul(4)
                    .ok_or(CommandError::OutOfBounds)?;
                if u64::from(pitch) < row_bytes {
                    return Err(CommandError::OutOfBounds);
                }
                if height > 0 {
                    let span = u64::from(pitch)
                        .checked_mul(u64::from(height.saturating_sub(1)))
                        .and_then(|rows| rows.checked_add(row_bytes))
                        .ok_or(CommandError::OutOfBounds)?;
                    let first_row = range(surface, start, span)?;
                    // The span fits the allocation, so the row buffer is at most its size.
                    let mut row = vec![0u8; row_bytes as usize];
                    for y in 0..height {
                        for (x, slot) in (0..width).zip(row.chunks_exact_mut(4)) {
                            let pixel = if opcode == OPCODE_GRADIENT {
                                gradient_pixel(x, y, width, height)
                            } else {
                                mandelbrot_pixel(x, y, width, height, max_iterations)
                            };
                            slot.copy_from_slice(&pixel.to_le_bytes());
                        }
                        let address = u64::from(y)
                            .checked_mul(u64::from(pitch))
                            .and_then(|row_offset| first_row.checked_add(row_offset))
                            .ok_or(CommandError::OutOfBounds)?;
                        memory
                            .write(address, &row)
                            .map_err(|_| CommandError::Memory)?;
                    }
                }
                executed.bytes_written = executed.bytes_written.saturating_add(
                    u64::from(width)
                        .saturating_mul(u64::from(height))
                        .saturating_mul(4),
                );
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
        executed.packets = executed.packets.saturating_add(1);
        offset = end;
    }
    Ok(executed)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// c = 0 (x = 5 of 7 columns, y = 1 of 2 rows) never escapes, so the escape count is the
    /// guest's `max_iterations`, past where `count * 255` fits in 32 bits.
    #[test]
    fn mandelbrot_grey_level_does_not_overflow_with_many_iterations() {
        let max_iterations = 20_000_000;
        assert_eq!(
            mandelbrot_pixel(5, 1, 7, 2, max_iterations),
            0xFFFF_FFFF,
            "a point in the set is white"
        );
    }

    /// Clamped to (1, 1) of a 1 × 1 surface: c = 1 + 1.25i, which escapes after 2 iterations
    /// (|c|² = 2.5625, then z = 0.4375 + 3.75i), so grey 2 × 255 / 8 = 63.
    #[test]
    fn mandelbrot_coordinates_past_the_surface_do_not_overflow() {
        assert_eq!(mandelbrot_pixel(u32::MAX, u32::MAX, 1, 1, 8), 0xFF3F_3F3F);
        assert_eq!(mandelbrot_pixel(1, 1, 1, 1, 8), 0xFF3F_3F3F);
    }

    /// One 4 KiB allocation (handle 1) at GPA 0 of a small guest memory.
    struct OneAllocation(hyperv::memory::AtomicMemory);

    impl CommandTarget for OneAllocation {
        fn allocation(&self, handle: D3dkmtHandle) -> Option<Surface> {
            (handle == D3dkmtHandle(1)).then_some(Surface {
                address: 0,
                size: 4096,
            })
        }
        fn fence(&self, _handle: D3dkmtHandle) -> Option<u64> {
            None
        }
        fn memory(&self) -> &dyn GuestMemory {
            &self.0
        }
    }

    fn packet(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|word| word.to_le_bytes()).collect()
    }

    /// A hostile stream: a 7 × 2 Mandelbrot whose point (5, 1) never escapes, at 2^31
    /// iterations (about 2^31 loop turns of host CPU for one 32-byte packet). It used to run
    /// to the end; now it is refused before it starts, and nothing is written.
    #[test]
    fn a_submission_past_the_work_cap_is_refused_before_it_runs() {
        let target = OneAllocation(hyperv::memory::AtomicMemory::new(0, 4096));
        let stream = packet(&[OPCODE_MANDELBROT, 32, 1, 0, 7, 2, 28, 1 << 31]);
        let result = execute(&stream, &target, &mut |_, _| {});
        assert_eq!(result, Err(CommandError::WorkLimit { offset: 0 }));
        let mut first = [0u8; 4];
        assert!(target.0.read(0, &mut first).is_ok());
        assert_eq!(first, [0; 4], "nothing was rendered");
    }

    /// Many packets each under the cap add up: the packet that crosses it stops the stream,
    /// the ones before have run.
    #[test]
    fn the_work_cap_counts_the_whole_stream() {
        let target = OneAllocation(hyperv::memory::AtomicMemory::new(0, 4096));
        let per_packet = packet_work(OPCODE_MANDELBROT, &|index| {
            [1u32, 0, 7, 2, 28, 1 << 24].get(index).copied()
        });
        let fitting = MAX_SUBMISSION_WORK / per_packet;
        assert!(fitting > 0 && fitting < 128);
        let fill = packet(&[OPCODE_FILL, 24, 1, 0, 4, 0x0102_0304]);
        let mut stream = Vec::new();
        // The FILLs run, then Mandelbrots up to the cap; the first past it is refused.
        for _ in 0..2 {
            stream.extend_from_slice(&fill);
        }
        let expensive = packet(&[OPCODE_MANDELBROT, 32, 1, 0, 7, 2, 28, 1 << 24]);
        let fill_work = 2 * packet_work(OPCODE_FILL, &|index| [1u32, 0, 4].get(index).copied());
        let runnable = (MAX_SUBMISSION_WORK - fill_work) / per_packet;
        for _ in 0..=runnable {
            stream.extend_from_slice(&expensive);
        }
        let offset = 2 * fill.len() + runnable as usize * expensive.len();
        assert_eq!(
            execute(&stream, &target, &mut |_, _| {}),
            Err(CommandError::WorkLimit { offset })
        );
        let mut first = [0u8; 4];
        assert!(target.0.read(0, &mut first).is_ok());
        assert_ne!(first, [0; 4], "the packets before the cap ran");
    }

    #[test]
    fn gradient_of_the_widest_surface_does_not_overflow() {
        let last = u32::MAX - 1;
        assert_eq!(gradient_pixel(last, 0, u32::MAX, 1), 0xFFFF_00FF);
        assert_eq!(gradient_pixel(0, 0, 2, 2), 0xFF00_0000);
        assert_eq!(gradient_pixel(1, 1, 2, 2), 0xFFFF_FFFF);
    }
}
