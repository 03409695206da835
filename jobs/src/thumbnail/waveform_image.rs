//! The picture of an audio item without cover art: its waveform peaks drawn as a PNG, which the
//! thumbnail ladder then renders like any image.

use crate::error::ErrorCode;
use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

use super::error::ThumbError;
use crate::media::waveform::Waveform;

/// Size of the drawing (4:1, the ladder's largest size on the long side).
pub const WIDTH: u32 = 1280;
/// Height of the drawing.
pub const HEIGHT: u32 = 320;
const BACKGROUND: Rgb<u8> = Rgb([0x12, 0x16, 0x1c]);
const PEAKS: Rgb<u8> = Rgb([0x4f, 0xc3, 0xf7]);

/// Draws the peaks of an audiowaveform `.dat` file: per column, a line from the lowest to the
/// highest sample of the pixels it covers, over every channel.
pub fn draw(dat: &[u8]) -> Result<Vec<u8>, ThumbError> {
    let waveform = Waveform::from_dat(dat)
        .map_err(|err| ThumbError::new(ErrorCode::CorruptWaveform, err.to_string()))?;
    let full_scale = if waveform.bits == 16 { 32_768.0 } else { 128.0 };
    let channels = waveform.channels.max(1) as usize;
    let pixels = waveform.length as usize;
    let mut picture = RgbImage::from_pixel(WIDTH, HEIGHT, BACKGROUND);
    let middle = f64::from(HEIGHT - 1) / 2.0;
    let y = |value: i16| {
        (middle - f64::from(value) / full_scale * middle)
            .round()
            .clamp(0.0, f64::from(HEIGHT - 1)) as u32
    };
    for x in 0..WIDTH {
        let first = x as usize * pixels / WIDTH as usize;
        let last = ((x as usize + 1) * pixels / WIDTH as usize)
            .max(first + 1)
            .min(pixels);
        let (mut low, mut high) = (0i16, 0i16);
        for pixel in first..last {
            for channel in 0..channels {
                let at = (pixel * channels + channel) * 2;
                if let (Some(min), Some(max)) = (waveform.data.get(at), waveform.data.get(at + 1)) {
                    low = low.min(*min);
                    high = high.max(*max);
                }
            }
        }
        for row in y(high)..=y(low) {
            picture.put_pixel(x, row, PEAKS);
        }
    }
    let mut png = Cursor::new(Vec::new());
    picture
        .write_to(&mut png, ImageFormat::Png)
        .map_err(|err| ThumbError::new(ErrorCode::EncoderFailed, err.to_string()))?;
    Ok(png.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::transcode::waveform::{WaveformBuilder, WaveformSettings};

    #[test]
    fn a_half_scale_tone_fills_the_middle_half_of_every_column() {
        let mut builder = WaveformBuilder::new(48_000, 1, WaveformSettings::default()).unwrap();
        let tone: Vec<f32> = (0..48_000 * 2)
            .map(|i| 0.5 * (i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin())
            .collect();
        builder.push(&tone);
        let png = draw(&builder.finish().to_dat()).unwrap();
        let picture = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), (WIDTH, HEIGHT));
        for x in [0, WIDTH / 2, WIDTH - 1] {
            let lit: Vec<u32> = (0..HEIGHT)
                .filter(|&y| *picture.get_pixel(x, y) == PEAKS)
                .collect();
            let (top, bottom) = (lit[0], *lit.last().unwrap());
            // Half scale: a quarter of the height above and below the middle, to a pixel or two.
            assert!(
                top.abs_diff(HEIGHT / 4) <= 2 && bottom.abs_diff(3 * HEIGHT / 4) <= 2,
                "{x}: {top}..{bottom}"
            );
            assert_eq!(lit.len() as u32, bottom - top + 1, "one unbroken line");
        }
    }

    #[test]
    fn a_corrupt_waveform_is_a_permanent_error() {
        let err = draw(b"not a waveform").unwrap_err();
        assert_eq!(err.code.as_str(), "corrupt-waveform");
        assert!(err.is_permanent());
    }
}
