//! The dxgos vGPU's command stream and reference images (`docs/vgpu-command-processor.md`):
//! what an application puts in `D3DKMT_SUBMITCOMMAND.pPrivateDriverData`, and the pixels the
//! renderers must produce, computed on the CPU to check the GPU's work.
//!
//! Packets are little-endian u32 words `[opcode][size][arguments…]`. The pixel formulas are
//! integer only (the guest is soft-float) and give `0xAARRGGBB` values stored little-endian.

/// Opcode of GRADIENT.
pub const OPCODE_GRADIENT: u32 = 3;
/// Opcode of MANDELBROT.
pub const OPCODE_MANDELBROT: u32 = 4;
/// Opcode of SIGNAL_FENCE.
pub const OPCODE_SIGNAL_FENCE: u32 = 5;

fn packet<const WORDS: usize, const BYTES: usize>(words: [u32; WORDS]) -> [u8; BYTES] {
    let mut bytes = [0u8; BYTES];
    for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

/// A rectangle of 32-bit pixels in an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Surface {
    /// The allocation handle.
    pub allocation: u32,
    /// Byte offset of the first row.
    pub offset: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row (at least `4 * width`).
    pub pitch: u32,
}

/// GRADIENT into `surface` (28 bytes).
pub fn gradient_packet(surface: Surface) -> [u8; 28] {
    let Surface {
        allocation,
        offset,
        width,
        height,
        pitch,
    } = surface;
    packet([
        OPCODE_GRADIENT,
        28,
        allocation,
        offset,
        width,
        height,
        pitch,
    ])
}

/// MANDELBROT into `surface` with `max_iterations` (32 bytes).
pub fn mandelbrot_packet(surface: Surface, max_iterations: u32) -> [u8; 32] {
    let Surface {
        allocation,
        offset,
        width,
        height,
        pitch,
    } = surface;
    packet([
        OPCODE_MANDELBROT,
        32,
        allocation,
        offset,
        width,
        height,
        pitch,
        max_iterations,
    ])
}

/// SIGNAL_FENCE: writes `value` into the monitored fence `sync_object` (24 bytes).
pub fn signal_fence_packet(sync_object: u32, value: u64) -> [u8; 24] {
    packet([
        OPCODE_SIGNAL_FENCE,
        24,
        sync_object,
        0,
        value as u32,
        (value >> 32) as u32,
    ])
}

/// The GRADIENT pixel at (`x`, `y`) of a `width` × `height` image.
pub fn gradient_pixel(x: u32, y: u32, width: u32, height: u32) -> u32 {
    let red = x * 255 / width.saturating_sub(1).max(1);
    let green = y * 255 / height.saturating_sub(1).max(1);
    let blue = (x + y) * 255 / (width + height).saturating_sub(2).max(1);
    0xff00_0000 | red << 16 | green << 8 | blue
}

/// The MANDELBROT pixel at (`x`, `y`) of a `width` × `height` image (8.24 fixed point, view
/// re ∈ [−2.5, 1), im ∈ [−1.25, 1.25), grey by iteration count).
pub fn mandelbrot_pixel(x: u32, y: u32, width: u32, height: u32, max_iterations: u32) -> u32 {
    let one = 1i64 << 24;
    let max = max_iterations.max(1);
    let c_re = -(5 * one / 2) + i64::from(x) * (7 * one / 2) / i64::from(width.max(1));
    let c_im = -(5 * one / 4) + i64::from(y) * (5 * one / 2) / i64::from(height.max(1));
    let (mut z_re, mut z_im, mut n) = (0i64, 0i64, 0u32);
    while n < max {
        let (re2, im2) = ((z_re * z_re) >> 24, (z_im * z_im) >> 24);
        if re2 + im2 > 4 * one {
            break;
        }
        z_im = ((2 * z_re * z_im) >> 24) + c_im;
        z_re = re2 - im2 + c_re;
        n += 1;
    }
    let grey = n * 255 / max;
    0xff00_0000 | grey << 16 | grey << 8 | grey
}

/// FNV-1a 64, the checksum dxgos demos and tests report for images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(pub u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Adds `bytes` to the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut hash = Fnv1a::default();
        hash.update(bytes);
        hash.0
    }
}

/// The FNV-1a hash of the whole image whose pixels `pixel(x, y)` gives, row by row (what a
/// tightly packed surface of that image hashes to), computed without storing the image.
pub fn image_checksum(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u32) -> u64 {
    let mut hash = Fnv1a::default();
    for y in 0..height {
        for x in 0..width {
            hash.update(&pixel(x, y).to_le_bytes());
        }
    }
    hash.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SURFACE: Surface = Surface {
        allocation: 0x4000_0080,
        offset: 0x10,
        width: 256,
        height: 192,
        pitch: 1024,
    };

    #[test]
    fn packets_have_the_documented_bytes() {
        // Written from docs/vgpu-command-processor.md's packet table.
        let expected: [u8; 28] = [
            3, 0, 0, 0, 28, 0, 0, 0, 0x80, 0, 0, 0x40, 0x10, 0, 0, 0, 0, 1, 0, 0, 192, 0, 0, 0, 0,
            4, 0, 0,
        ];
        assert_eq!(gradient_packet(SURFACE), expected);
        let mandelbrot = mandelbrot_packet(SURFACE, 48);
        assert_eq!(mandelbrot[..8], [4, 0, 0, 0, 32, 0, 0, 0]);
        assert_eq!(mandelbrot[28..], [48, 0, 0, 0]);
        assert_eq!(
            signal_fence_packet(0x4000_00c0, 0x1_0000_0002),
            [
                5, 0, 0, 0, 24, 0, 0, 0, 0xc0, 0, 0, 0x40, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0
            ]
        );
    }

    #[test]
    fn reference_pixels_and_checksum() {
        assert_eq!(gradient_pixel(0, 0, 64, 48), 0xff00_0000);
        assert_eq!(gradient_pixel(63, 47, 64, 48), 0xffff_ffff);
        // (0, 0) is c = −2.5 − 1.25i: outside after one iteration; the cardioid centre is inside.
        assert_eq!(mandelbrot_pixel(0, 0, 256, 192, 48), 0xff05_0505);
        assert_eq!(mandelbrot_pixel(183, 96, 256, 192, 48), 0xffff_ffff);
        assert_eq!(Fnv1a::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::of(b"a"), 0xaf63_dc4c_8601_ec8c);
        // The demo's image: the checksum the kernel demo and gpu-demo report.
        let checksum = image_checksum(256, 192, |x, y| mandelbrot_pixel(x, y, 256, 192, 48));
        assert_eq!(checksum, 0x66dd_07c9_dd9d_8d1e);
    }
}
