//! Screendumps through QEMU's QMP socket, and reading them back (binary PPM, as QEMU writes).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Asks QEMU (QMP at `socket`) to write the display to `path` as PPM and waits for the answer.
pub fn take(socket: &Path, path: &Path) -> Result<(), String> {
    let stream = UnixStream::connect(socket)
        .map_err(|error| format!("connect {}: {error}", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    let mut writer = stream.try_clone().map_err(|error| error.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<UnixStream>| -> Result<String, String> {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|error| format!("QMP: {error}"))?;
        Ok(line.clone())
    };
    read_line(&mut reader)?; // greeting
    writer
        .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
        .map_err(|error| error.to_string())?;
    read_line(&mut reader)?;
    let command = format!(
        "{{\"execute\":\"screendump\",\"arguments\":{{\"filename\":\"{}\"}}}}\n",
        path.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    writer
        .write_all(command.as_bytes())
        .map_err(|error| error.to_string())?;
    loop {
        let answer = read_line(&mut reader)?;
        if answer.contains("\"return\"") {
            return Ok(());
        }
        if answer.contains("\"error\"") || answer.is_empty() {
            return Err(format!("QMP screendump: {}", answer.trim()));
        }
        // An asynchronous event; keep reading.
    }
}

/// An RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB bytes.
    pub rgb: Vec<u8>,
}

impl Image {
    /// The (red, green, blue) of pixel (x, y), if inside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<(u8, u8, u8)> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let index = ((y * self.width + x) * 3) as usize;
        Some((self.rgb[index], self.rgb[index + 1], self.rgb[index + 2]))
    }
}

impl Image {
    /// Writes the image as an 8-bit RGB PNG.
    pub fn write_png(&self, path: &Path) -> Result<(), String> {
        let file = std::fs::File::create(path)
            .map_err(|error| format!("create {}: {error}", path.display()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|error| format!("PNG: {error}"))?;
        writer
            .write_image_data(&self.rgb)
            .map_err(|error| format!("PNG: {error}"))
    }
}

/// Reads a binary (P6, 8-bit) PPM file.
pub fn read_ppm(path: &Path) -> Result<Image, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("read {}: {error}", path.display()))?;
    let mut fields = Vec::new();
    let mut position = 0;
    while fields.len() < 4 {
        while position < bytes.len() && bytes[position].is_ascii_whitespace() {
            position += 1;
        }
        if position < bytes.len() && bytes[position] == b'#' {
            while position < bytes.len() && bytes[position] != b'\n' {
                position += 1;
            }
            continue;
        }
        let start = position;
        while position < bytes.len() && !bytes[position].is_ascii_whitespace() {
            position += 1;
        }
        if start == position {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&bytes[start..position]).into_owned());
    }
    position += 1; // the single whitespace byte after maxval
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("not an 8-bit P6 PPM ({} {})", fields[0], fields[3]));
    }
    let width: u32 = fields[1].parse().map_err(|_| "bad PPM width")?;
    let height: u32 = fields[2].parse().map_err(|_| "bad PPM height")?;
    let length = (width * height * 3) as usize;
    let rgb = bytes
        .get(position..position + length)
        .ok_or("truncated PPM data")?
        .to_vec();
    Ok(Image { width, height, rgb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_ppm_with_a_comment() {
        let path = std::env::temp_dir().join(format!("dxgos-ppm-{}.ppm", std::process::id()));
        let mut bytes = b"P6\n# made by a test\n2 1\n255\n".to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 250, 251, 252]);
        std::fs::write(&path, bytes).unwrap();
        let image = read_ppm(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((image.width, image.height), (2, 1));
        assert_eq!(image.pixel(1, 0), Some((250, 251, 252)));
        assert_eq!(image.pixel(2, 0), None);
    }
}
