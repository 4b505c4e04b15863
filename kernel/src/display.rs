//! The UEFI GOP framebuffer left by the firmware: the kernel's only display (no legacy VGA).

use boot_info::{Framebuffer, PixelFormat};

use crate::memory::physical_to_virtual;

/// Draws a `width` × `height` image of little-endian `0xAARRGGBB` pixels centred on the
/// framebuffer, scaled by the largest integer factor that fits. Returns false (drawing nothing)
/// when the image does not fit or `pixels` is too short.
pub fn draw_centred(framebuffer: &Framebuffer, width: u32, height: u32, pixels: &[u8]) -> bool {
    if width == 0 || height == 0 || pixels.len() < (width * height * 4) as usize {
        return false;
    }
    let scale = (framebuffer.width / width)
        .min(framebuffer.height / height)
        .max(1);
    if width * scale > framebuffer.width
        || height * scale > framebuffer.height
        || framebuffer.stride < framebuffer.width
    {
        return false;
    }
    let last = u64::from((framebuffer.height - 1) * framebuffer.stride + framebuffer.width) * 4;
    if last > framebuffer.size {
        return false;
    }
    let left = (framebuffer.width - width * scale) / 2;
    let top = (framebuffer.height - height * scale) / 2;
    let base = physical_to_virtual(x86_64::PhysAddr::new(framebuffer.physical_address))
        .as_mut_ptr::<u32>();
    let bgr = framebuffer.pixel_format == PixelFormat::Bgr as u32;
    for y in 0..height * scale {
        for x in 0..width * scale {
            let source = (((y / scale) * width + x / scale) * 4) as usize;
            let (blue, green, red) = (pixels[source], pixels[source + 1], pixels[source + 2]);
            let value = if bgr {
                u32::from_le_bytes([blue, green, red, 0])
            } else {
                u32::from_le_bytes([red, green, blue, 0])
            };
            let index = ((top + y) * framebuffer.stride + left + x) as usize;
            // SAFETY: `index` lies inside the visible framebuffer (its last pixel was checked
            // against the framebuffer's size above), which the physical-memory window maps.
            unsafe { base.add(index).write_volatile(value) };
        }
    }
    true
}
