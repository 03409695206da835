//! Content sniffing and decoding: limits checked from the header first, JPEG shrink-on-load,
//! and the ICC profile and EXIF orientation read alongside the pixels. HEIC/HEIF and AVIF go
//! to [`super::heif`].

use std::io::Cursor;

use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, metadata::Orientation,
};

use super::error::ThumbError;

/// Pixels as the file stores them (8-bit, before colour management).
#[derive(Debug)]
pub enum Pixels {
    /// One byte per pixel.
    Gray(Vec<u8>),
    /// Grey and straight alpha.
    GrayAlpha(Vec<u8>),
    /// Three bytes per pixel.
    Rgb(Vec<u8>),
    /// RGB and straight alpha.
    Rgba(Vec<u8>),
    /// Ink amounts, 0 = no ink (Adobe inversion already undone).
    Cmyk(Vec<u8>),
}

/// A decoded image, possibly shrunk on load, with what is needed to finish it.
#[derive(Debug)]
pub struct Decoded {
    /// The pixels, `width` x `height`.
    pub pixels: Pixels,
    /// Width of `pixels` (smaller than `full_width` after shrink-on-load).
    pub width: u32,
    /// Height of `pixels`.
    pub height: u32,
    /// Stored width of the original, before orientation.
    pub full_width: u32,
    /// Stored height of the original, before orientation.
    pub full_height: u32,
    /// EXIF orientation to apply for display.
    pub orientation: Orientation,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
    /// Wide-gamut primaries named without an ICC profile (HEIF/AVIF `nclx`).
    pub primaries: Option<super::color::Primaries>,
}

/// Limits enforced before and during decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Maximum width x height.
    pub max_pixels: u64,
    /// Maximum bytes of the decoded buffer (and the decoder's own allocations).
    pub max_alloc: u64,
}

/// Decodes `original`. `largest_target` gives, from the stored long side, the largest
/// thumbnail long side that will be rendered (or `None` when no downscale is needed), so JPEGs
/// can be decoded at 1/2, 1/4 or 1/8 scale while staying at least twice that size.
pub fn decode(
    original: &[u8],
    limits: DecodeLimits,
    largest_target: impl Fn(u32) -> Option<u32>,
) -> Result<Decoded, ThumbError> {
    if let Some(kind) = super::heif::sniff(original) {
        return super::heif::decode(original, kind, limits);
    }
    if let Some(brand) = iso_bmff_brand(original) {
        return Err(ThumbError::unsupported(format!(
            "an ISO-BMFF file of brand `{brand}` is not an image Veza reads"
        )));
    }
    let format = image::guess_format(original)
        .map_err(|_| ThumbError::unsupported("the file is not an image format Veza reads"))?;
    match format {
        ImageFormat::Jpeg => decode_jpeg(original, limits, largest_target),
        ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Tiff | ImageFormat::Bmp => {
            decode_other(original, format, limits)
        }
        other => Err(ThumbError::unsupported(format!(
            "{other:?} images are not supported"
        ))),
    }
}

/// The ISO-BMFF major brand of a file that is not HEIF (`....ftypisom`), if it is one.
fn iso_bmff_brand(original: &[u8]) -> Option<String> {
    let ftyp = original.get(4..12)?;
    if &ftyp[..4] != b"ftyp" {
        return None;
    }
    Some(String::from_utf8_lossy(&ftyp[4..]).into_owned())
}

/// Rejects dimensions over the pixel limit or a decoded size over the allocation limit.
pub(super) fn check_limits(
    width: u32,
    height: u32,
    bytes_per_pixel: u64,
    limits: DecodeLimits,
) -> Result<(), ThumbError> {
    let pixels = u64::from(width).saturating_mul(u64::from(height));
    if pixels > limits.max_pixels {
        return Err(ThumbError::too_large(format!(
            "the image is {width}x{height}; the limit is {} pixels",
            limits.max_pixels
        )));
    }
    let bytes = pixels.saturating_mul(bytes_per_pixel);
    if bytes > limits.max_alloc {
        return Err(ThumbError::too_large(format!(
            "decoding {width}x{height} needs {bytes} bytes; the limit is {}",
            limits.max_alloc
        )));
    }
    if width == 0 || height == 0 {
        return Err(ThumbError::corrupt(format!("the image is {width}x{height}")));
    }
    Ok(())
}

fn jpeg_error(err: jpeg_decoder::Error) -> ThumbError {
    match err {
        jpeg_decoder::Error::Unsupported(feature) => {
            ThumbError::unsupported(format!("unsupported JPEG feature: {feature:?}"))
        }
        other => ThumbError::corrupt(format!("decoding the JPEG: {other}")),
    }
}

fn decode_jpeg(
    original: &[u8],
    limits: DecodeLimits,
    largest_target: impl Fn(u32) -> Option<u32>,
) -> Result<Decoded, ThumbError> {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(original));
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbError::corrupt("the JPEG has no frame header"))?;
    let (full_width, full_height) = (u32::from(info.width), u32::from(info.height));
    let bytes_per_pixel = u64::try_from(info.pixel_format.pixel_bytes()).unwrap_or(u64::MAX);
    check_limits(full_width, full_height, bytes_per_pixel, limits)?;

    let long_side = full_width.max(full_height);
    if let Some(target) = largest_target(long_side) {
        // Keep at least 2x the largest target so the resampler still antialiases well.
        let wanted = u64::from(target).saturating_mul(2);
        if wanted < u64::from(long_side) {
            let scaled = |side: u32| -> u16 {
                let v = (u64::from(side) * wanted).div_ceil(u64::from(long_side)).max(1);
                u16::try_from(v).unwrap_or(u16::MAX)
            };
            decoder
                .scale(scaled(full_width), scaled(full_height))
                .map_err(jpeg_error)?;
        }
    }
    let data = decoder.decode().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| ThumbError::corrupt("the JPEG has no frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let expected = super::raster::byte_len(width, height, bytes_per_pixel);
    if expected != Some(data.len()) {
        return Err(ThumbError::corrupt("the JPEG decoded to an unexpected size"));
    }
    let pixels = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => Pixels::Gray(data),
        // Big-endian samples: keep the high byte.
        jpeg_decoder::PixelFormat::L16 => Pixels::Gray(data.chunks_exact(2).map(|c| c[0]).collect()),
        jpeg_decoder::PixelFormat::RGB24 => Pixels::Rgb(data),
        jpeg_decoder::PixelFormat::CMYK32 => Pixels::Cmyk(data),
    };
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    Ok(Decoded {
        pixels,
        width,
        height,
        full_width,
        full_height,
        orientation,
        icc: decoder.icc_profile(),
        primaries: None,
    })
}

fn image_error(err: ImageError) -> ThumbError {
    match err {
        ImageError::Limits(err) => ThumbError::too_large(format!("decoding the image: {err}")),
        ImageError::Unsupported(err) => ThumbError::unsupported(format!("decoding the image: {err}")),
        other => ThumbError::corrupt(format!("decoding the image: {other}")),
    }
}

fn decode_other(original: &[u8], format: ImageFormat, limits: DecodeLimits) -> Result<Decoded, ThumbError> {
    let mut reader = ImageReader::with_format(Cursor::new(original), format);
    let mut image_limits = Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (full_width, full_height) = decoder.dimensions();
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    check_limits(full_width, full_height, bytes_per_pixel, limits)?;
    // Broken metadata is not worth failing over: fall back to untagged / upright.
    let icc = decoder.icc_profile().ok().flatten();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    let (width, height) = (image.width(), image.height());
    let gray = !image.color().has_color();
    let pixels = match (image.color().has_alpha(), gray) {
        (true, true) => Pixels::GrayAlpha(image.into_luma_alpha8().into_raw()),
        (true, false) => Pixels::Rgba(image.into_rgba8().into_raw()),
        (false, true) => Pixels::Gray(image.into_luma8().into_raw()),
        (false, false) => Pixels::Rgb(image.into_rgb8().into_raw()),
    };
    Ok(Decoded {
        pixels,
        width,
        height,
        full_width,
        full_height,
        orientation,
        icc,
        primaries: None,
    })
}
