//! Colour management: embedded ICC profile (RGB, grey or CMYK) to sRGB with qcms; untagged
//! images are taken as sRGB, untagged CMYK gets the naive conversion.

use std::sync::OnceLock;

use qcms::{DataType, Intent, Profile, Transform};

use super::decode::Pixels;
use super::error::ThumbError;
use super::raster::Raster;

/// The sRGB output profile, precached once (building its output tables is not free).
fn srgb() -> &'static Profile {
    static SRGB: OnceLock<Box<Profile>> = OnceLock::new();
    SRGB.get_or_init(|| {
        let mut profile = Profile::new_sRGB();
        profile.precache_output_transform();
        profile
    })
}

/// The colour space signature of an ICC profile (header bytes 16..20), e.g. `b"RGB "`.
fn icc_space(icc: &[u8]) -> Option<[u8; 4]> {
    icc.get(16..20)?.try_into().ok()
}

/// A transform from `icc` to sRGB, if `icc` parses, describes `space`, and is not sRGB already.
fn transform(icc: Option<&[u8]>, space: &[u8; 4], from: DataType, to: DataType) -> Option<Transform> {
    let icc = icc?;
    if icc_space(icc)? != *space {
        return None;
    }
    let profile = Profile::new_from_slice(icc, false)?;
    if profile.is_sRGB() {
        return None;
    }
    Transform::new_to(&profile, srgb(), from, to, Intent::Perceptual)
}

/// Converts decoded pixels to 8-bit sRGB, using `icc` when it fits the pixels.
pub fn to_srgb(pixels: Pixels, width: u32, height: u32, icc: Option<&[u8]>) -> Result<Raster, ThumbError> {
    match pixels {
        Pixels::Rgb(mut data) => {
            if let Some(t) = transform(icc, b"RGB ", DataType::RGB8, DataType::RGB8)
                && data.len() % 3 == 0
            {
                t.apply(&mut data);
            }
            Raster::new(width, height, false, data)
        }
        Pixels::Rgba(mut data) => {
            if let Some(t) = transform(icc, b"RGB ", DataType::RGBA8, DataType::RGBA8)
                && data.len() % 4 == 0
            {
                t.apply(&mut data);
            }
            Raster::new(width, height, true, data)
        }
        Pixels::Gray(data) => {
            let mut out = vec![0u8; data.len().saturating_mul(3)];
            match transform(icc, b"GRAY", DataType::Gray8, DataType::RGB8) {
                Some(t) => t.convert(&data, &mut out),
                None => {
                    for (px, &v) in out.chunks_exact_mut(3).zip(&data) {
                        px.fill(v);
                    }
                }
            }
            Raster::new(width, height, false, out)
        }
        Pixels::GrayAlpha(data) => {
            let mut out = vec![0u8; data.len().saturating_mul(2)];
            match transform(icc, b"GRAY", DataType::GrayA8, DataType::RGBA8) {
                Some(t) if data.len() % 2 == 0 => t.convert(&data, &mut out),
                _ => {
                    for (px, ga) in out.chunks_exact_mut(4).zip(data.chunks_exact(2)) {
                        px.copy_from_slice(&[ga[0], ga[0], ga[0], ga[1]]);
                    }
                }
            }
            Raster::new(width, height, true, out)
        }
        Pixels::Cmyk(data) => {
            let pixels = data.len() / 4;
            let mut out = vec![0u8; pixels.saturating_mul(3)];
            match transform(icc, b"CMYK", DataType::CMYK, DataType::RGB8) {
                Some(t) if data.len() % 4 == 0 => t.convert(&data, &mut out),
                _ => naive_cmyk(&data, &mut out),
            }
            Raster::new(width, height, false, out)
        }
    }
}

/// Untagged CMYK: R = (1 - C)(1 - K) and so on, with 0 = no ink.
fn naive_cmyk(cmyk: &[u8], rgb: &mut [u8]) {
    for (out, px) in rgb.chunks_exact_mut(3).zip(cmyk.chunks_exact(4)) {
        let k = 255 - u32::from(px[3]);
        for c in 0..3 {
            let v = (255 - u32::from(px[c])) * k / 255;
            out[c] = u8::try_from(v).unwrap_or(u8::MAX);
        }
    }
}
