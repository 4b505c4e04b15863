//! The UEFI GOP framebuffer left by the firmware: the kernel's only display (no legacy VGA).
//!
//! [`Screen`] is the one place that touches pixels: it checks the framebuffer's geometry once
//! (format, stride, size, and that the physical-memory window maps it) and then writes with
//! bounds checks. On top of it:
//! - [`draw_centred`] shows an image (the demo's picture);
//! - [`TextConsole`] is a scrolling text console for the boot report, in Noto Sans Mono at
//!   16 px (the `noto-sans-mono-bitmap` crate: pre-rasterised grey levels, `no_std`, no
//!   allocation), readable in Hyper-V's VM Connect window at the Gen2 default 1024×768.

use boot_info::{Framebuffer, PixelFormat};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};

use crate::memory::registers::RegisterBlock;

/// A colour as red, green, blue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour {
    /// Red.
    pub red: u8,
    /// Green.
    pub green: u8,
    /// Blue.
    pub blue: u8,
}

impl Colour {
    /// Black (the console's background).
    pub const BLACK: Colour = Colour::new(0, 0, 0);
    /// Light grey (ordinary console text).
    pub const GREY: Colour = Colour::new(0xd0, 0xd0, 0xd0);
    /// Green (a successful result).
    pub const GREEN: Colour = Colour::new(0x40, 0xe0, 0x40);
    /// Red (a failure).
    pub const RED: Colour = Colour::new(0xff, 0x50, 0x50);

    /// A colour from its channels.
    pub const fn new(red: u8, green: u8, blue: u8) -> Colour {
        Colour { red, green, blue }
    }

    /// This colour at `intensity` / 255 of its brightness (font anti-aliasing).
    fn scaled(self, intensity: u8) -> Colour {
        let scale = |channel: u8| ((u16::from(channel) * u16::from(intensity)) / 255) as u8;
        Colour::new(scale(self.red), scale(self.green), scale(self.blue))
    }
}

/// The firmware's framebuffer, checked and ready to draw on.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    /// The visible area's pixels (through the physical-memory window).
    pixels: RegisterBlock,
    width: u32,
    height: u32,
    stride: u32,
    bgr: bool,
}

impl Screen {
    /// Checks `framebuffer` (known pixel format, stride at least the width, the visible area
    /// inside its size and mapped by the physical-memory window); `None` when it fails a check.
    pub fn new(framebuffer: &Framebuffer) -> Option<Screen> {
        let bgr = match framebuffer.pixel_format {
            format if format == PixelFormat::Bgr as u32 => true,
            format if format == PixelFormat::Rgb as u32 => false,
            _ => return None,
        };
        if framebuffer.physical_address == 0
            || framebuffer.width == 0
            || framebuffer.height == 0
            || framebuffer.stride < framebuffer.width
        {
            return None;
        }
        let visible_bytes = (u64::from(framebuffer.height - 1) * u64::from(framebuffer.stride)
            + u64::from(framebuffer.width))
            * 4;
        if visible_bytes > framebuffer.size {
            return None;
        }
        let pixels = RegisterBlock::in_window(
            x86_64::PhysAddr::try_new(framebuffer.physical_address).ok()?,
            visible_bytes,
        )?;
        Some(Screen {
            pixels,
            width: framebuffer.width,
            height: framebuffer.height,
            stride: framebuffer.stride,
            bgr,
        })
    }

    fn encode(&self, colour: Colour) -> u32 {
        if self.bgr {
            u32::from_le_bytes([colour.blue, colour.green, colour.red, 0])
        } else {
            u32::from_le_bytes([colour.red, colour.green, colour.blue, 0])
        }
    }

    /// Byte offset of pixel (`x`, `y`) from the first pixel.
    fn pixel_offset(&self, x: u32, y: u32) -> usize {
        ((u64::from(y) * u64::from(self.stride) + u64::from(x)) * 4) as usize
    }

    /// Sets pixel (`x`, `y`); does nothing outside the visible area.
    pub fn put(&self, x: u32, y: u32, colour: Colour) {
        if x >= self.width || y >= self.height {
            return;
        }
        // (x, y) lies in the visible area, which `new` made the block: the write cannot fail.
        let _ = self
            .pixels
            .write_at(self.pixel_offset(x, y), self.encode(colour));
    }

    /// Fills `count` pixel rows from row `top` with `colour` (clipped to the visible area).
    pub fn fill_rows(&self, top: u32, count: u32, colour: Colour) {
        let end = top.saturating_add(count).min(self.height);
        for y in top..end {
            for x in 0..self.width {
                self.put(x, y, colour);
            }
        }
    }

    /// Moves the band of pixel rows `[top, top + height)` up by `rows` rows and fills the
    /// freed rows at its bottom with `fill` (the band is clipped to the visible area).
    pub fn scroll_band_up(&self, top: u32, height: u32, rows: u32, fill: Colour) {
        let end = top.saturating_add(height).min(self.height);
        let top = top.min(end);
        let rows = rows.min(end - top);
        for y in top..end - rows {
            // Rows `y` and `y + rows` lie in the visible area (below `end`): cannot fail.
            let _ = self.pixels.copy_within(
                self.pixel_offset(0, y + rows),
                self.pixel_offset(0, y),
                self.width as usize * 4,
            );
        }
        self.fill_rows(end - rows, rows, fill);
    }
}

/// Draws a `width` × `height` image of little-endian `0xAARRGGBB` pixels centred on the
/// framebuffer, scaled by the largest integer factor that fits. Returns false (drawing nothing)
/// when the image does not fit, `pixels` is too short or the framebuffer is unusable.
pub fn draw_centred(framebuffer: &Framebuffer, width: u32, height: u32, pixels: &[u8]) -> bool {
    let Some(screen) = Screen::new(framebuffer) else {
        return false;
    };
    if width == 0 || height == 0 || pixels.len() < (width as usize) * (height as usize) * 4 {
        return false;
    }
    let scale = (screen.width / width).min(screen.height / height).max(1);
    if width * scale > screen.width || height * scale > screen.height {
        return false;
    }
    let left = (screen.width - width * scale) / 2;
    let top = (screen.height - height * scale) / 2;
    for y in 0..height * scale {
        for x in 0..width * scale {
            let source = (((y / scale) * width + x / scale) * 4) as usize;
            let colour = Colour::new(pixels[source + 2], pixels[source + 1], pixels[source]);
            screen.put(left + x, top + y, colour);
        }
    }
    true
}

const FONT_WEIGHT: FontWeight = FontWeight::Regular;
const FONT_HEIGHT: RasterHeight = RasterHeight::Size16;
/// Blank pixels around the console's text area.
const MARGIN: u32 = 8;

/// A scrolling text console on a [`Screen`]: lines are drawn top to bottom, long lines wrap,
/// and when the screen is full everything moves up one text row.
pub struct TextConsole {
    screen: Screen,
    columns: u32,
    rows: u32,
    column: u32,
    row: u32,
}

impl TextConsole {
    /// Clears `screen` and starts writing at its top left; `None` when not even one character
    /// fits.
    pub fn new(screen: Screen) -> Option<TextConsole> {
        let glyph_width = get_raster_width(FONT_WEIGHT, FONT_HEIGHT) as u32;
        let glyph_height = FONT_HEIGHT.val() as u32;
        let columns = screen.width.saturating_sub(2 * MARGIN) / glyph_width;
        let rows = screen.height.saturating_sub(2 * MARGIN) / glyph_height;
        if columns == 0 || rows == 0 {
            return None;
        }
        screen.fill_rows(0, screen.height, Colour::BLACK);
        Some(TextConsole {
            screen,
            columns,
            rows,
            column: 0,
            row: 0,
        })
    }

    /// Writes `text` in `colour` and ends the line. Characters the font lacks show as `?`.
    pub fn write_line(&mut self, text: &str, colour: Colour) {
        for character in text.chars() {
            if character == '\n' {
                self.new_line();
                continue;
            }
            if self.column == self.columns {
                self.new_line();
            }
            self.draw_character(character, colour);
            self.column += 1;
        }
        self.new_line();
    }

    fn new_line(&mut self) {
        self.column = 0;
        if self.row + 1 < self.rows {
            self.row += 1;
        } else {
            let glyph_height = FONT_HEIGHT.val() as u32;
            self.screen.scroll_band_up(
                MARGIN,
                self.rows * glyph_height,
                glyph_height,
                Colour::BLACK,
            );
        }
    }

    fn draw_character(&self, character: char, colour: Colour) {
        let raster = get_raster(character, FONT_WEIGHT, FONT_HEIGHT)
            .or_else(|| get_raster('?', FONT_WEIGHT, FONT_HEIGHT));
        let Some(raster) = raster else {
            return;
        };
        let left = MARGIN + self.column * raster.width() as u32;
        let top = MARGIN + self.row * raster.height() as u32;
        for (y, row) in raster.rows().enumerate() {
            for (x, intensity) in row.iter().enumerate() {
                self.screen
                    .put(left + x as u32, top + y as u32, colour.scaled(*intensity));
            }
        }
    }
}
