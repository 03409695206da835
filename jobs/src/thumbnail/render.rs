//! The renderer: decode any common still image once (JPEG shrink-on-load, HEIC/AVIF through
//! libheif, header-first limits), convert to sRGB from its ICC profile, apply EXIF orientation,
//! and render a ladder of sizes in the configured formats (JPEG, lossy WebP, AVIF) in parallel,
//! plus a ThumbHash and a dominant colour.

use super::{color, decode, encode, hash, orient, raster, resize};
use crate::error::ErrorCode;

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
    /// Formats written for every size, in this order (default JPEG and WebP).
    pub formats: Vec<Format>,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Lossy WebP quality, 0–100.
    pub webp_quality: f32,
    /// AVIF quality, 1–100 (ravif's scale).
    pub avif_quality: f32,
    /// AVIF encoder speed, 1 (slowest, smallest) – 10 (fastest): rav1e's preset.
    pub avif_speed: u8,
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
            formats: vec![Format::Jpeg, Format::Webp],
            jpeg_quality: 82,
            webp_quality: 80.0,
            // A middle setting of ravif's scale (its own default is 80). On a 1280x960 noisy test
            // image it gave 86 kB against 367 kB for JPEG 82; no perceptual match was measured.
            avif_quality: 60.0,
            // Measured on this 2-core machine (release build, one thread, 1280x960): speed 9
            // encodes in 1.4 s, 8 in 3.3 s with a file no smaller, 4 (cavif's default) in 4.4 s
            // for 3% fewer bytes, 10 in 0.6 s for 11% more bytes.
            avif_speed: 9,
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
    /// AVIF (AV1 through rav1e), alpha kept.
    Avif,
}

impl Format {
    /// Every format, in the default order of the ladder.
    pub const ALL: [Format; 3] = [Format::Jpeg, Format::Webp, Format::Avif];

    /// The configuration name (`jpeg`, `webp`, `avif`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Avif => "avif",
        }
    }

    /// The format with configuration name `name` (case-insensitive; `jpg` too).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            "avif" => Some(Self::Avif),
            _ => None,
        }
    }

    /// File name extension of a stored thumbnail.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Avif => "avif",
        }
    }

    /// MIME type a stored thumbnail is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
        }
    }
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
    /// Ascending sizes, each in the configured formats in their configured order.
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
        decoded.primaries,
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
            let encoders: Vec<_> = settings
                .formats
                .iter()
                .map(|&format| {
                    let raster = Arc::clone(&oriented);
                    let handle = scope.spawn(move || match format {
                        Format::Jpeg => encode::jpeg(&raster, settings.jpeg_quality),
                        Format::Webp => encode::webp(&raster, settings.webp_quality),
                        Format::Avif => encode::avif(&raster, settings.avif_quality, settings.avif_speed),
                    });
                    (format, handle)
                })
                .collect();
            jobs.push((oriented.width, oriented.height, encoders));
            smallest = Some(oriented);
        }
        let smallest = smallest.ok_or_else(|| ThumbError::corrupt("no size to render"))?;
        let small = hash::small_rgba(&smallest)?;
        let thumbhash = hash::thumbhash(&small)?;
        let dominant_color = hash::dominant_color(&small);

        let mut thumbnails = Vec::with_capacity(jobs.len() * settings.formats.len());
        for (width, height, encoders) in jobs.into_iter().rev() {
            for (format, handle) in encoders {
                let bytes = handle
                    .join()
                    .map_err(|_| ThumbError::new(ErrorCode::EncoderFailed, "an encoder thread panicked"))??;
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
mod heif_tests;
#[cfg(test)]
mod tests;
