//! Saving the guest's screen as a PNG file.

use crate::devices::vga::Frame;
use std::path::Path;

/// Writes `frame` to `path` as an 8-bit RGB PNG.
pub fn save_png(frame: &Frame, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let (w, h) = (frame.width.max(1) as u32, frame.height.max(1) as u32);
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
    // An empty display (no mode set yet) is saved as one black pixel.
    let blank = [0u8; 3];
    let data = if frame.rgb.is_empty() {
        &blank[..]
    } else {
        &frame.rgb
    };
    writer.write_image_data(data).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_through_png() {
        let frame = Frame {
            width: 2,
            height: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        };
        let path = std::env::temp_dir().join(format!("xlat-shot-{}.png", std::process::id()));
        save_png(&frame, &path).unwrap();
        let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (2, 1));
        assert_eq!(&buf[..6], &frame.rgb[..]);
        std::fs::remove_file(path).unwrap();
    }
}
