//! JPEG (alpha composited over white), lossy WebP (alpha kept, libwebp) and AVIF (alpha kept,
//! ravif/rav1e) encoding.

use crate::error::ErrorCode;
use bytes::Bytes;
use image::{ExtendedColorType, codecs::jpeg::JpegEncoder};

use super::error::ThumbError;
use super::raster::Raster;

fn failed(what: &str, err: impl std::fmt::Display) -> ThumbError {
    ThumbError::new(ErrorCode::EncoderFailed, format!("{what} encoding: {err}"))
}

/// Encodes `raster` as a baseline JPEG at `quality` (1–100), flattening alpha onto white.
pub fn jpeg(raster: &Raster, quality: u8) -> Result<Bytes, ThumbError> {
    let flattened;
    let rgb: &[u8] = if raster.alpha {
        flattened = flatten_on_white(&raster.data);
        &flattened
    } else {
        &raster.data
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode(rgb, raster.width, raster.height, ExtendedColorType::Rgb8)
        .map_err(|err| failed("JPEG", err))?;
    Ok(Bytes::from(out))
}

/// Encodes `raster` as lossy WebP at `quality` (0–100), keeping alpha.
pub fn webp(raster: &Raster, quality: f32) -> Result<Bytes, ThumbError> {
    let encoder = if raster.alpha {
        webp::Encoder::from_rgba(&raster.data, raster.width, raster.height)
    } else {
        webp::Encoder::from_rgb(&raster.data, raster.width, raster.height)
    };
    let quality = if quality.is_finite() {
        quality.clamp(0.0, 100.0)
    } else {
        80.0
    };
    let memory = encoder
        .encode_simple(false, quality)
        .map_err(|err| failed("WebP", format!("{err:?}")))?;
    Ok(Bytes::copy_from_slice(&memory))
}

/// Encodes `raster` as AVIF at `quality` (1–100) and rav1e `speed` (1 slow – 10 fast), keeping
/// alpha. One thread per call: the renderer already runs one encoder per size in parallel.
pub fn avif(raster: &Raster, quality: f32, speed: u8) -> Result<Bytes, ThumbError> {
    let quality = if quality.is_finite() {
        quality.clamp(1.0, 100.0)
    } else {
        60.0
    };
    // ravif panics outside these ranges; configuration validates them, this keeps it so.
    let encoder = ravif::Encoder::new()
        .with_quality(quality)
        .with_alpha_quality(quality)
        .with_speed(speed.clamp(1, 10))
        .with_num_threads(Some(1));
    let (width, height) = (
        usize::try_from(raster.width).unwrap_or(0),
        usize::try_from(raster.height).unwrap_or(0),
    );
    let encoded = if raster.alpha {
        let pixels: Vec<ravif::RGBA8> = raster
            .data
            .chunks_exact(4)
            .map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3]))
            .collect();
        encoder.encode_rgba(ravif::Img::new(&pixels[..], width, height))
    } else {
        let pixels: Vec<ravif::RGB8> = raster
            .data
            .chunks_exact(3)
            .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
            .collect();
        encoder.encode_rgb(ravif::Img::new(&pixels[..], width, height))
    };
    let encoded = encoded.map_err(|err| failed("AVIF", err))?;
    Ok(Bytes::from(encoded.avif_file))
}

/// Composites straight-alpha RGBA over white, giving RGB.
fn flatten_on_white(rgba: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
    for px in rgba.chunks_exact(4) {
        let alpha = u32::from(px[3]);
        for &c in &px[..3] {
            let blended = (u32::from(c) * alpha + 255 * (255 - alpha) + 127) / 255;
            rgb.push(u8::try_from(blended).unwrap_or(u8::MAX));
        }
    }
    rgb
}
