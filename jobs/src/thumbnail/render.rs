//! The renderer: decode any common still image once (JPEG shrink-on-load,
//! header-first limits), convert to sRGB from its ICC profile, apply EXIF orientation, and render
//! a ladder of JPEG + lossy WebP sizes in parallel, plus a ThumbHash and a dominant colour.

use super::{color, decode, encode, hash, orient, raster, resize};

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;

use bytes::Bytes;

pub use super::error::ThumbError;

/// Settings of the renderer.
#[derive(Debug, Clone)]
pub struct ThumbnailSettings {
    /// Long-side sizes in pixels; sizes at or above the original's long side are skipped.
    pub sizes: Vec<u32>,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Lossy WebP quality, 0–100.
    pub webp_quality: f32,
    /// Largest original accepted, in bytes.
    pub max_input_bytes: u64,
    /// Largest original accepted, in pixels (width × height), checked from the header.
    pub max_input_pixels: u64,
    /// Largest decoded buffer (and decoder allocation) accepted, in bytes.
    pub max_alloc_bytes: u64,
}

impl Default for ThumbnailSettings {
    fn default() -> Self {
        Self {
            sizes: vec![160, 320, 640, 1280],
            jpeg_quality: 82,
            webp_quality: 80.0,
            max_input_bytes: 64 * 1024 * 1024,
            max_input_pixels: 50_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Encoding of one thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Baseline JPEG, alpha flattened onto white.
    Jpeg,
    /// Lossy WebP, alpha kept.
    Webp,
}

/// One rendered size in one format.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The encoding of `bytes`.
    pub format: Format,
    /// The encoded image.
    pub bytes: Bytes,
}

/// Everything rendered from one original.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Width of the original after EXIF orientation.
    pub width: u32,
    /// Height of the original after EXIF orientation.
    pub height: u32,
    /// Ascending sizes, JPEG then WebP for each.
    pub thumbnails: Vec<Thumbnail>,
    /// ThumbHash of the image, base64 (standard, padded).
    pub thumbhash: String,
    /// Dominant sRGB colour (most populated cell of a coarse histogram).
    pub dominant_color: [u8; 3],
}

/// Renders the thumbnail ladder of `original`. CPU-bound: call it on a blocking thread.
/// Never panics: a panic inside a decoder is reported as `corrupt-image`.
pub fn render(original: &[u8], settings: &ThumbnailSettings) -> Result<Rendered, ThumbError> {
    catch_unwind(AssertUnwindSafe(|| render_inner(original, settings))).unwrap_or_else(|_| {
        Err(ThumbError::corrupt(
            "the decoder failed on this file (panic caught)",
        ))
    })
}

fn render_inner(original: &[u8], settings: &ThumbnailSettings) -> Result<Rendered, ThumbError> {
    let length = u64::try_from(original.len()).unwrap_or(u64::MAX);
    if length > settings.max_input_bytes {
        return Err(ThumbError::too_large(format!(
            "the image is {length} bytes; the limit is {}",
            settings.max_input_bytes
        )));
    }
    let limits = decode::DecodeLimits {
        max_pixels: settings.max_input_pixels,
        max_alloc: settings.max_alloc_bytes,
    };
    let decoded = decode::decode(original, limits, |long_side| {
        resize::plan_sizes(long_side, &settings.sizes)
            .last()
            .copied()
            .filter(|s| *s < long_side)
    })?;
    let orientation = decoded.orientation;
    let (full_width, full_height) = (decoded.full_width, decoded.full_height);
    let source = color::to_srgb(
        decoded.pixels,
        decoded.width,
        decoded.height,
        decoded.icc.as_deref(),
    )?;
    let sizes = resize::plan_sizes(full_width.max(full_height), &settings.sizes);

    thread::scope(|scope| {
        // Resize largest first, each size from the next larger one (the ladder halves, so each
        // step is a ≥2x Lanczos downscale), and hand each size to encoder threads right away.
        let mut jobs = Vec::with_capacity(sizes.len());
        let mut previous: Option<raster::Raster> = None;
        let mut smallest = None;
        for &size in sizes.iter().rev() {
            let (w, h) = resize::fit(full_width, full_height, size);
            let from = match &previous {
                Some(p) if p.width.max(p.height) >= size.saturating_mul(2) => p,
                _ => &source,
            };
            let resized = resize::resize(from, w, h)?;
            let oriented = Arc::new(orient::apply(resized.clone(), orientation)?);
            previous = Some(resized);
            let quality = settings.jpeg_quality;
            let for_jpeg = Arc::clone(&oriented);
            let jpeg = scope.spawn(move || encode::jpeg(&for_jpeg, quality));
            let quality = settings.webp_quality;
            let for_webp = Arc::clone(&oriented);
            let webp = scope.spawn(move || encode::webp(&for_webp, quality));
            jobs.push((oriented.width, oriented.height, jpeg, webp));
            smallest = Some(oriented);
        }
        let smallest = smallest.ok_or_else(|| ThumbError::corrupt("no size to render"))?;
        let small = hash::small_rgba(&smallest)?;
        let thumbhash = hash::thumbhash(&small)?;
        let dominant_color = hash::dominant_color(&small);

        let mut thumbnails = Vec::with_capacity(jobs.len() * 2);
        for (width, height, jpeg, webp) in jobs.into_iter().rev() {
            for (format, handle) in [(Format::Jpeg, jpeg), (Format::Webp, webp)] {
                let bytes = handle
                    .join()
                    .map_err(|_| ThumbError::transient("encoder-failed", "an encoder thread panicked"))??;
                thumbnails.push(Thumbnail {
                    width,
                    height,
                    format,
                    bytes,
                });
            }
        }
        let (width, height) = if orient::swaps_axes(orientation) {
            (full_height, full_width)
        } else {
            (full_width, full_height)
        };
        Ok(Rendered {
            width,
            height,
            thumbnails,
            thumbhash,
            dominant_color,
        })
    })
}

#[cfg(test)]
mod tests;
