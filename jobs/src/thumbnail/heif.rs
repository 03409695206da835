//! HEIC/HEIF and AVIF input through libheif (Debian's 1.15, with libde265 for HEVC and
//! dav1d/aom for AV1): the `ftyp` brands decide, the primary image's size is checked against the
//! limits before anything is decoded, and libheif itself applies the file's rotation, mirroring
//! and crop (`irot`, `imir`, `clap`), so no EXIF orientation is applied on top.

use libheif_rs::{
    ColorPrimaries, ColorSpace, HeifContext, HeifError, HeifErrorCode, HeifErrorSubCode, LibHeif, RgbChroma,
    TransferCharacteristics,
};

use super::color::Primaries;
use super::decode::{DecodeLimits, Decoded, Pixels, check_limits};
use super::error::ThumbError;
use crate::error::ErrorCode;
use image::metadata::Orientation;

pub use crate::media::heif_brands::{HeifKind, sniff};

/// Maps a libheif error to the renderer's codes: damaged or truncated files are
/// `corrupt-image`, codecs or features libheif lacks `unsupported-format`, libheif's own
/// security limits `image-too-large`.
fn heif_error(kind: HeifKind, err: &HeifError) -> ThumbError {
    let what = match kind {
        HeifKind::Heic => "HEIC",
        HeifKind::Avif => "AVIF",
        HeifKind::Heif => "HEIF",
    };
    let message = format!("decoding the {what} image: {err}");
    match (err.code, err.sub_code) {
        (_, HeifErrorSubCode::SecurityLimitExceeded) | (HeifErrorCode::MemoryAllocationError, _) => {
            ThumbError::too_large(message)
        }
        (HeifErrorCode::UnsupportedFileType | HeifErrorCode::UnsupportedFeature, _) => {
            ThumbError::unsupported(message)
        }
        (HeifErrorCode::ContextCreateFailed, _) => ThumbError::new(ErrorCode::DecoderFailed, message),
        _ => ThumbError::corrupt(message),
    }
}

/// Decodes the primary image of a HEIF/AVIF file to 8-bit RGB(A), upright, with its ICC profile.
pub fn decode(original: &[u8], kind: HeifKind, limits: DecodeLimits) -> Result<Decoded, ThumbError> {
    let fail = |err: HeifError| heif_error(kind, &err);
    let library = LibHeif::new();
    // Parses the boxes only; the bytes stay borrowed, nothing is decoded yet.
    let context = HeifContext::read_from_bytes(original).map_err(fail)?;
    let handle = context.primary_image_handle().map_err(fail)?;
    // Displayed size (after rotation and crop) and coded size (`ispe`, what the decoder
    // allocates): the larger decides, before any pixel is decoded.
    let (width, height) = (handle.width(), handle.height());
    let coded = |v: i32| u32::try_from(v).unwrap_or(0);
    let (coded_width, coded_height) = (coded(handle.ispe_width()), coded(handle.ispe_height()));
    let alpha = handle.has_alpha_channel();
    let channels: u64 = if alpha { 4 } else { 3 };
    let bytes_per_sample: u64 = if handle.luma_bits_per_pixel() > 8 { 2 } else { 1 };
    // The decoder's planes at their bit depth, then the interleaved 8-bit copy.
    let bytes_per_pixel = channels * bytes_per_sample + channels;
    check_limits(width, height, bytes_per_pixel, limits)?;
    if u64::from(coded_width) * u64::from(coded_height) > u64::from(width) * u64::from(height) {
        check_limits(coded_width, coded_height, bytes_per_pixel, limits)?;
    }
    // An ICC profile (`prof`/`rICC`), else wide-gamut primaries from an `nclx` box.
    let icc = handle.color_profile_raw().map(|p| p.data);
    let primaries = if icc.is_none() {
        handle
            .color_profile_nclx()
            .and_then(|nclx| wide_gamut(nclx.color_primaries(), nclx.transfer_characteristics()))
    } else {
        None
    };

    // libheif's default options: the transformations are applied, and a 10- or 12-bit image is
    // converted to the 8-bit interleaved RGB(A) asked for here. No options are passed on
    // purpose: libheif-rs 0.20 frees a `DecodingOptions` before libheif reads it.
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    let image = library
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(fail)?;
    let premultiplied = image.is_premultiplied_alpha();
    let planes = image.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| ThumbError::corrupt("libheif returned no interleaved RGB plane"))?;
    let (out_width, out_height) = (plane.width, plane.height);
    // A coded stream larger than its `ispe` claims is caught here at the latest.
    check_limits(out_width, out_height, bytes_per_pixel, limits)?;
    let row = super::raster::byte_len(out_width, 1, channels)
        .ok_or_else(|| ThumbError::corrupt("the decoded image is too wide"))?;
    let mut data = Vec::with_capacity(row.saturating_mul(usize::try_from(out_height).unwrap_or(0)));
    for y in 0..usize::try_from(out_height).unwrap_or(0) {
        let start = y.saturating_mul(plane.stride);
        let line = plane
            .data
            .get(start..start.saturating_add(row))
            .ok_or_else(|| ThumbError::corrupt("libheif returned a short pixel plane"))?;
        data.extend_from_slice(line);
    }
    if premultiplied {
        unpremultiply(&mut data);
    }
    Ok(Decoded {
        pixels: if alpha {
            Pixels::Rgba(data)
        } else {
            Pixels::Rgb(data)
        },
        width: out_width,
        height: out_height,
        full_width: out_width,
        full_height: out_height,
        // libheif has already turned the pixels upright (irot/imir); EXIF says the same thing
        // again in HEIC files and must not be applied a second time.
        orientation: Orientation::NoTransforms,
        icc,
        primaries,
    })
}

/// The wide-gamut primaries worth converting from: P3 or BT.2020 with an SDR transfer curve
/// (taken as sRGB's). PQ and HLG (HDR) are not tone-mapped: those keep their numbers.
fn wide_gamut(primaries: ColorPrimaries, transfer: TransferCharacteristics) -> Option<Primaries> {
    use TransferCharacteristics as T;
    let sdr = matches!(
        transfer,
        T::IEC_61966_2_1
            | T::ITU_R_BT_709_5
            | T::ITU_R_BT_601_6
            | T::ITU_R_BT_2020_2_10bit
            | T::ITU_R_BT_2020_2_12bit
            | T::Unspecified
    );
    match primaries {
        ColorPrimaries::SMPTE_EG_432_1 if sdr => Some(Primaries::DisplayP3),
        ColorPrimaries::ITU_R_BT_2020_2_and_2100_0 if sdr => Some(Primaries::Bt2020),
        _ => None,
    }
}

/// Premultiplied RGBA to straight alpha, in place.
fn unpremultiply(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let alpha = u32::from(px[3]);
        if alpha == 0 || alpha == 255 {
            continue;
        }
        for c in &mut px[..3] {
            let straight = (u32::from(*c) * 255 + alpha / 2) / alpha;
            *c = u8::try_from(straight.min(255)).unwrap_or(u8::MAX);
        }
    }
}
