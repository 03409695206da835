//! Decoding and resizing: the CPU-bound part of the thumbnail job (run on a blocking thread).

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageReader, Limits, RgbImage, codecs::jpeg::JpegEncoder, imageops::FilterType};

use super::ThumbnailSettings;
use crate::error::JobError;

/// One rendered size.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoded JPEG.
    pub jpeg: Bytes,
}

/// Decodes `original` once and renders every size of the ladder below its long side (never
/// upscaling; an image smaller than every size gets one thumbnail at its own size).
pub fn render_ladder(original: &[u8], settings: &ThumbnailSettings) -> Result<Vec<Thumbnail>, JobError> {
    let image = decode(original, settings)?;
    let long_side = image.width().max(image.height());
    let mut sizes: Vec<u32> = settings
        .sizes
        .iter()
        .copied()
        .filter(|s| *s < long_side)
        .collect();
    if sizes.is_empty() {
        sizes.push(long_side);
    }
    let rgb = flatten(image);
    sizes
        .into_iter()
        .map(|size| {
            let (width, height) = fit(rgb.width(), rgb.height(), size);
            let resized = if (width, height) == (rgb.width(), rgb.height()) {
                rgb.clone()
            } else {
                image::imageops::resize(&rgb, width, height, FilterType::Lanczos3)
            };
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, settings.jpeg_quality)
                .encode_image(&resized)
                .map_err(|err| JobError::transient("encoder-failed", format!("JPEG encoding: {err}")))?;
            Ok(Thumbnail {
                width,
                height,
                jpeg: Bytes::from(jpeg),
            })
        })
        .collect()
}

/// Decodes with limits checked from the header first, so a decompression bomb fails before
/// any large allocation.
fn decode(original: &[u8], settings: &ThumbnailSettings) -> Result<DynamicImage, JobError> {
    let reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|err| JobError::permanent("corrupt-image", format!("reading the image: {err}")))?;
    if reader.format().is_none() {
        return Err(JobError::permanent(
            "unsupported-format",
            "the file is not an image format Veza reads",
        ));
    }
    let (width, height) = reader
        .into_dimensions()
        .map_err(|err| JobError::permanent("corrupt-image", format!("reading the image header: {err}")))?;
    if u64::from(width) * u64::from(height) > settings.max_input_pixels {
        return Err(JobError::permanent(
            "image-too-large",
            format!(
                "the image is {width}x{height}; the limit is {} pixels",
                settings.max_input_pixels
            ),
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(original))
        .with_guessed_format()
        .map_err(|err| JobError::permanent("corrupt-image", format!("reading the image: {err}")))?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(settings.max_input_pixels.saturating_mul(8));
    reader.limits(limits);
    reader
        .decode()
        .map_err(|err| JobError::permanent("corrupt-image", format!("decoding the image: {err}")))
}

/// Drops alpha by compositing over white (JPEG has no alpha; transparent pixels would otherwise
/// show whatever colour they happen to hold).
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(px[3]);
        for c in 0..3 {
            let blended = (u16::from(px[c]) * alpha + 255 * (255 - alpha)) / 255;
            out[c] = u8::try_from(blended).unwrap_or(u8::MAX);
        }
    }
    rgb
}

/// Scales `(width, height)` so the long side is `size`, keeping the aspect ratio (at least 1 px).
fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let scale = |short: u32, long: u32| -> u32 {
        let scaled = (u64::from(short) * u64::from(size) + u64::from(long) / 2) / u64::from(long.max(1));
        u32::try_from(scaled.max(1)).unwrap_or(1)
    };
    if width >= height {
        (size, scale(height, width))
    } else {
        (scale(width, height), size)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_fn(width, height, |x, y| {
                image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, (x % 256) as u8])
            }))
        } else {
            DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x % 256) as u8, (y % 256) as u8, 64])
            }))
        };
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn decoded_size(jpeg: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn ladder_keeps_aspect_ratio_and_never_upscales() {
        let thumbs = render_ladder(&png(800, 600, false), &ThumbnailSettings::default()).unwrap();
        let sizes: Vec<_> = thumbs.iter().map(|t| decoded_size(&t.jpeg)).collect();
        assert_eq!(sizes, vec![(160, 120), (320, 240), (640, 480)]);
    }

    #[test]
    fn tall_narrow_image_keeps_at_least_one_pixel() {
        let thumbs = render_ladder(&png(1, 5000, false), &ThumbnailSettings::default()).unwrap();
        assert_eq!(decoded_size(&thumbs[0].jpeg), (1, 160));
    }

    #[test]
    fn tiny_image_gets_one_thumbnail_at_its_own_size_and_alpha_is_flattened() {
        let thumbs = render_ladder(&png(40, 20, true), &ThumbnailSettings::default()).unwrap();
        assert_eq!(thumbs.len(), 1);
        assert_eq!(decoded_size(&thumbs[0].jpeg), (40, 20));
    }

    #[test]
    fn truncated_and_random_files_fail_permanently() {
        let good = png(300, 200, false);
        for bad in [
            good[..good.len() / 2].to_vec(),
            b"\x89PNG\r\n\x1a\nrandom bytes".to_vec(),
            vec![7u8; 500],
        ] {
            let err = render_ladder(&bad, &ThumbnailSettings::default()).unwrap_err();
            assert!(!err.is_retryable(), "{err}");
            assert!(
                ["corrupt-image", "unsupported-format"].contains(&err.code()),
                "{}",
                err.code()
            );
        }
    }

    #[test]
    fn huge_declared_dimensions_fail_before_decoding() {
        let settings = ThumbnailSettings {
            max_input_pixels: 10_000,
            ..ThumbnailSettings::default()
        };
        let err = render_ladder(&png(200, 200, false), &settings).unwrap_err();
        assert_eq!(err.code(), "image-too-large");
    }
}
