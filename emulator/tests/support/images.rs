//! Command-stream words and the pixels tests compare against: FNV-1a and the Mandelbrot image
//! of docs/vgpu-command-processor.md, computed here independently of the emulator's renderer.

/// Little-endian bytes of `values` (command-stream packets are 32-bit words).
pub fn words(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// FNV-1a 64.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The Mandelbrot image of docs/vgpu-command-processor.md, computed here on the CPU.
pub fn expected_mandelbrot(width: u32, height: u32, max: u32) -> Vec<u8> {
    let one = 1i64 << 24;
    let mut out = Vec::new();
    for y in 0..i64::from(height) {
        for x in 0..i64::from(width) {
            let c_re = -5 * one / 2 + x * (7 * one / 2) / i64::from(width);
            let c_im = -5 * one / 4 + y * (5 * one / 2) / i64::from(height);
            let (mut re, mut im, mut n) = (0i64, 0i64, 0u32);
            while n < max {
                let (re2, im2) = ((re * re) >> 24, (im * im) >> 24);
                if re2 + im2 > 4 * one {
                    break;
                }
                im = ((2 * re * im) >> 24) + c_im;
                re = re2 - im2 + c_re;
                n += 1;
            }
            let grey = n * 255 / max;
            out.extend_from_slice(&(0xFF00_0000 | grey << 16 | grey << 8 | grey).to_le_bytes());
        }
    }
    out
}
