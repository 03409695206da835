//! Colour management: embedded ICC profile (RGB, grey or CMYK) to sRGB with qcms; without one,
//! wide-gamut primaries named by a HEIF/AVIF `nclx` box (Display P3, BT.2020); otherwise
//! untagged images are taken as sRGB, untagged CMYK gets the naive conversion.

use std::sync::OnceLock;

use qcms::{CIE_xyY, CIE_xyYTRIPLE, DataType, Intent, Profile, Transform};

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

/// Wide-gamut RGB primaries a file may name without an ICC profile (HEIF/AVIF `nclx`), with
/// the sRGB transfer curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primaries {
    /// SMPTE EG 432-1: P3 primaries, D65 white (Apple's Display P3).
    DisplayP3,
    /// ITU-R BT.2020 primaries, D65 white.
    Bt2020,
}

/// A transform from RGB in `primaries` (sRGB transfer curve, D65) to sRGB.
fn primaries_transform(primaries: Primaries, from: DataType, to: DataType) -> Option<Transform> {
    let xy = |(x, y): (f64, f64)| CIE_xyY { x, y, Y: 1.0 };
    let (red, green, blue) = match primaries {
        Primaries::DisplayP3 => ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
        Primaries::Bt2020 => ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
    };
    let curve: Vec<u16> = (0..1024u32)
        .map(|i| {
            let v = f64::from(i) / 1023.0;
            let linear = if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            };
            // In 0..=65535 by construction.
            (linear * 65535.0).round() as u16
        })
        .collect();
    let triple = CIE_xyYTRIPLE {
        red: xy(red),
        green: xy(green),
        blue: xy(blue),
    };
    let profile = Profile::new_rgb_with_table(xy((0.3127, 0.3290)), triple, &curve)?;
    Transform::new_to(&profile, srgb(), from, to, Intent::Perceptual)
}

/// The RGB transform for `icc`, or without one for `primaries`.
fn rgb_transform(icc: Option<&[u8]>, primaries: Option<Primaries>, format: DataType) -> Option<Transform> {
    match (icc, primaries) {
        (Some(_), _) => transform(icc, b"RGB ", format, format),
        (None, Some(primaries)) => primaries_transform(primaries, format, format),
        (None, None) => None,
    }
}

/// Converts decoded pixels to 8-bit sRGB, using `icc` when it fits the pixels, else the
/// `primaries` an `nclx` box named.
pub fn to_srgb(
    pixels: Pixels,
    width: u32,
    height: u32,
    icc: Option<&[u8]>,
    primaries: Option<Primaries>,
) -> Result<Raster, ThumbError> {
    match pixels {
        Pixels::Rgb(mut data) => {
            if let Some(t) = rgb_transform(icc, primaries, DataType::RGB8)
                && data.len() % 3 == 0
            {
                t.apply(&mut data);
            }
            Raster::new(width, height, false, data)
        }
        Pixels::Rgba(mut data) => {
            if let Some(t) = rgb_transform(icc, primaries, DataType::RGBA8)
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
