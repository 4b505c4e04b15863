//! Command-stream words and the pixels tests compare against: FNV-1a and the Mandelbrot image
//! of docs/vgpu-command-processor.md, from the guest's own formulas (`userlib::vgpu`, the ones
//! the demos verify with), so the emulator's renderer is checked against a copy it does not
//! share.

use userlib::vgpu::{Fnv1a, mandelbrot_pixel};

/// Little-endian bytes of `values` (command-stream packets are 32-bit words).
pub fn words(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// FNV-1a 64.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    Fnv1a::of(bytes)
}

/// The Mandelbrot image of docs/vgpu-command-processor.md (little-endian 0xAARRGGBB pixels).
pub fn expected_mandelbrot(width: u32, height: u32, max: u32) -> Vec<u8> {
    (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .flat_map(|(x, y)| mandelbrot_pixel(x, y, width, height, max).to_le_bytes())
        .collect()
}
