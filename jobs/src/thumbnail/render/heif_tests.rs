//! HEIC and AVIF inputs, and AVIF output. The inputs are made here with libheif's own encoders
//! (x265 for HEVC, aom for AV1, both in Debian's libheif 1.15), so no binary fixture is kept;
//! AVIF thumbnails are read back with libheif too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use libheif_rs::{
    Channel, ColorPrimaries, ColorProfileNCLX, ColorSpace, CompressionFormat, EncoderQuality, HeifContext,
    LibHeif, RgbChroma,
};
use veza_e2e::fixtures;

use super::tests::{
    CORNER, assert_rejected, close, decode_thumb_any, display_p3_icc, gradient, largest_allocation, noise,
    pixel, settings,
};
use super::*;
use crate::thumbnail::heif::{HeifKind, sniff};

// ---- making HEIC and AVIF files ----

/// How to encode a test image.
struct Encode {
    format: CompressionFormat,
    /// EXIF-style orientation (1–8) to store as `irot`/`imir` boxes.
    orientation: u8,
    icc: Option<Vec<u8>>,
    /// EXIF orientation to store as well (iPhones write both `irot` and EXIF).
    exif_orientation: Option<u16>,
}

impl Encode {
    fn new(format: CompressionFormat) -> Self {
        Self {
            format,
            orientation: 1,
            icc: None,
            exif_orientation: None,
        }
    }
}

fn heif_image(image: &DynamicImage) -> libheif_rs::Image {
    let (w, h) = (image.width(), image.height());
    let alpha = image.color().has_alpha();
    let channels = if alpha { 4 } else { 3 };
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    let mut out = libheif_rs::Image::new(w, h, ColorSpace::Rgb(chroma)).unwrap();
    out.create_plane(Channel::Interleaved, w, h, 8).unwrap();
    let samples = if alpha {
        image.to_rgba8().into_raw()
    } else {
        image.to_rgb8().into_raw()
    };
    let planes = out.planes_mut();
    let plane = planes.interleaved.unwrap();
    let row = w as usize * channels;
    for y in 0..h as usize {
        let src = &samples[y * row..(y + 1) * row];
        plane.data[y * plane.stride..y * plane.stride + row].copy_from_slice(src);
    }
    out
}

/// A little-endian TIFF block with one Orientation entry, as HEIF `Exif` items carry.
fn exif_orientation_tiff(orientation: u16) -> Vec<u8> {
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

/// Encodes with libheif 1.15, then adds what it cannot write itself (orientation boxes, and an
/// ICC profile: libheif-rs 0.20 passes the profile type without its terminating NUL, which
/// libheif refuses) by box surgery.
fn encode_heif(image: &DynamicImage, how: &Encode) -> Vec<u8> {
    let library = LibHeif::new();
    let pixels = heif_image(image);
    let mut context = HeifContext::new().unwrap();
    let mut encoder = library.encoder_for_format(how.format).unwrap();
    encoder.set_quality(EncoderQuality::Lossy(92)).unwrap();
    let handle = context.encode_image(&pixels, &mut encoder, None).unwrap();
    if let Some(orientation) = how.exif_orientation {
        context
            .add_exif_metadata(&handle, &exif_orientation_tiff(orientation))
            .unwrap();
    }
    let file = context.write_to_bytes().unwrap();
    let mut properties = fixtures::heif_orientation_properties(how.orientation);
    if let Some(icc) = &how.icc {
        properties.push(fixtures::heif_icc_property(icc));
    }
    fixtures::heif_add_properties(&file, &properties)
}

fn heic(image: &DynamicImage) -> Vec<u8> {
    encode_heif(image, &Encode::new(CompressionFormat::Hevc))
}

fn avif(image: &DynamicImage) -> Vec<u8> {
    encode_heif(image, &Encode::new(CompressionFormat::Av1))
}

/// Decodes an AVIF thumbnail with libheif, checking its brand and size.
pub(super) fn decode_avif(thumb: &Thumbnail) -> DynamicImage {
    assert_eq!(&thumb.bytes[4..8], b"ftyp", "ISO-BMFF");
    assert_eq!(sniff(&thumb.bytes), Some(HeifKind::Avif), "AVIF brand");
    let library = LibHeif::new();
    let context = HeifContext::read_from_bytes(&thumb.bytes).unwrap();
    let handle = context.primary_image_handle().unwrap();
    assert_eq!((handle.width(), handle.height()), (thumb.width, thumb.height));
    let alpha = handle.has_alpha_channel();
    let chroma = if alpha { RgbChroma::Rgba } else { RgbChroma::Rgb };
    let decoded = library.decode(&handle, ColorSpace::Rgb(chroma), None).unwrap();
    let planes = decoded.planes();
    let plane = planes.interleaved.unwrap();
    let channels = if alpha { 4 } else { 3 };
    let row = thumb.width as usize * channels;
    let mut data = Vec::new();
    for y in 0..thumb.height as usize {
        data.extend_from_slice(&plane.data[y * plane.stride..y * plane.stride + row]);
    }
    if alpha {
        DynamicImage::ImageRgba8(RgbaImage::from_raw(thumb.width, thumb.height, data).unwrap())
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(thumb.width, thumb.height, data).unwrap())
    }
}

/// Thumbnail dimensions per size, every format of a size agreeing (read from the bytes).
fn dims_all(rendered: &Rendered, formats: &[Format]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for group in rendered.thumbnails.chunks(formats.len()) {
        let got: Vec<Format> = group.iter().map(|t| t.format).collect();
        assert_eq!(got, formats);
        let sizes: Vec<(u32, u32)> = group
            .iter()
            .map(|t| {
                let image = decode_thumb_any(t);
                (image.width(), image.height())
            })
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
        out.push(sizes[0]);
    }
    out
}

// ---- detection ----

#[test]
fn heif_family_is_detected_from_ftyp_brands() {
    let ftyp = |major: &[u8; 4], compatible: &[&[u8; 4]]| {
        let mut out = u32::try_from(16 + 4 * compatible.len())
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0; 4]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out.extend_from_slice(&[0, 0, 0, 8, b'm', b'e', b't', b'a']);
        out
    };
    assert_eq!(sniff(&ftyp(b"heic", &[b"mif1"])), Some(HeifKind::Heic));
    assert_eq!(sniff(&ftyp(b"mif1", &[b"heic"])), Some(HeifKind::Heic));
    assert_eq!(sniff(&ftyp(b"avif", &[b"mif1"])), Some(HeifKind::Avif));
    assert_eq!(sniff(&ftyp(b"mif1", &[b"miaf", b"avif"])), Some(HeifKind::Avif));
    assert_eq!(sniff(&ftyp(b"mif1", &[])), Some(HeifKind::Heif));
    // Videos are ISO-BMFF too, and are not images.
    assert_eq!(sniff(&ftyp(b"isom", &[b"iso2", b"mp41"])), None);
    assert_eq!(sniff(&ftyp(b"qt  ", &[])), None);
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\n"), None);
    // The upload path says the same.
    for (input, content_type) in [
        (heic(&gradient(64, 48)), "image/heic"),
        (avif(&gradient(64, 48)), "image/avif"),
    ] {
        assert_eq!(
            crate::media::sniff(&input),
            crate::media::Sniffed::Supported {
                kind: crate::media::MediaKind::Image,
                content_type
            }
        );
    }
    let mp4 = ftyp(b"isom", &[b"iso2", b"mp41"]);
    assert_rejected(&mp4, &["unsupported-format"], "an MP4 is not an image");
}

// ---- decoding ----

#[test]
fn heic_and_avif_render_the_ladder_with_their_colours() {
    let image = gradient(801, 601);
    for (what, input) in [("heic", heic(&image)), ("avif", avif(&image))] {
        let rendered = render(&input, &settings(&[160, 320, 640, 1280])).unwrap();
        assert_eq!((rendered.width, rendered.height), (801, 601), "{what}");
        assert_eq!(
            dims_all(&rendered, &[Format::Jpeg, Format::Webp]),
            vec![(160, 120), (320, 240), (640, 480)],
            "{what}"
        );
        let largest = decode_thumb_any(&rendered.thumbnails[4]);
        for (x, y) in [(40, 40), (600, 60), (320, 240), (60, 440)] {
            let expected = pixel(&image, x * 801 / 640, y * 601 / 480);
            let got = pixel(&largest, x, y);
            assert!(
                close(got, expected, 14),
                "{what} at {x},{y}: {got:?} vs {expected:?}"
            );
        }
    }
}

#[test]
fn ten_bit_avif_and_alpha_heic_decode() {
    // ravif writes 10-bit AV1 (its default depth, even from 8-bit input).
    let image = gradient(300, 200);
    let rgb: Vec<ravif::RGB8> = image
        .to_rgb8()
        .pixels()
        .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
        .collect();
    let ten_bit = ravif::Encoder::new()
        .with_quality(90.0)
        .with_speed(10)
        .with_bit_depth(ravif::BitDepth::Ten)
        .encode_rgb(ravif::Img::new(&rgb[..], 300, 200))
        .unwrap()
        .avif_file;
    let context = HeifContext::read_from_bytes(&ten_bit).unwrap();
    assert_eq!(context.primary_image_handle().unwrap().luma_bits_per_pixel(), 10);
    let rendered = render(&ten_bit, &settings(&[160])).unwrap();
    let thumb = decode_thumb_any(&rendered.thumbnails[0]);
    assert_eq!((thumb.width(), thumb.height()), (160, 107));
    let (got, expected) = (pixel(&thumb, 80, 53), pixel(&image, 150, 100));
    assert!(close(got, expected, 14), "10-bit: {got:?} vs {expected:?}");

    // Left half opaque red, right half transparent: kept in WebP and AVIF, white in JPEG.
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(256, 128, |x, _| {
        if x < 128 {
            Rgba([220, 30, 30, 255])
        } else {
            Rgba([0, 0, 255, 0])
        }
    }));
    for (what, input) in [("heic", heic(&rgba)), ("avif", avif(&rgba))] {
        let formats = [Format::Jpeg, Format::Webp, Format::Avif];
        let settings = ThumbnailSettings {
            sizes: vec![128],
            formats: formats.to_vec(),
            ..ThumbnailSettings::default()
        };
        let rendered = render(&input, &settings).unwrap();
        assert_eq!(dims_all(&rendered, &formats), vec![(128, 64)], "{what}");
        let jpeg = decode_thumb_any(&rendered.thumbnails[0]);
        assert!(
            close(pixel(&jpeg, 100, 32), [255, 255, 255], 12),
            "{what}: JPEG on white"
        );
        assert!(close(pixel(&jpeg, 20, 32), [220, 30, 30], 20), "{what}: JPEG red");
        let avif_thumb = decode_thumb_any(&rendered.thumbnails[2]).to_rgba8();
        assert!(
            avif_thumb.get_pixel(100, 32).0[3] < 16,
            "{what}: AVIF keeps transparency"
        );
        assert!(
            avif_thumb.get_pixel(20, 32).0[3] > 240,
            "{what}: AVIF keeps opacity"
        );
    }
}

#[test]
fn heic_irot_and_imir_are_applied_once_even_with_exif_orientation() {
    // 256x128, red 48x48 block at the stored top-left, grey elsewhere. Each file carries the
    // orientation twice, as an iPhone writes it: irot/imir boxes and an EXIF Orientation tag.
    let stored = DynamicImage::ImageRgb8(RgbImage::from_fn(256, 128, |x, y| {
        if x < 48 && y < 48 {
            Rgb([255, 0, 0])
        } else {
            Rgb([128, 128, 128])
        }
    }));
    for orientation in 1..=8u16 {
        let input = encode_heif(
            &stored,
            &Encode {
                orientation: orientation as u8,
                exif_orientation: Some(orientation),
                ..Encode::new(CompressionFormat::Hevc)
            },
        );
        let rendered = render(&input, &settings(&[64])).unwrap();
        let swapped = orientation >= 5;
        assert_eq!(
            (rendered.width, rendered.height),
            if swapped { (128, 256) } else { (256, 128) },
            "orientation {orientation}"
        );
        for thumb in &rendered.thumbnails {
            let image = decode_thumb_any(thumb);
            assert_eq!(
                (image.width(), image.height()),
                if swapped { (32, 64) } else { (64, 32) }
            );
            let (right, bottom) = CORNER[usize::from(orientation - 1)];
            let (w, h) = (image.width(), image.height());
            let x = if right { w - 3 } else { 2 };
            let y = if bottom { h - 3 } else { 2 };
            assert!(
                close(pixel(&image, x, y), [255, 0, 0], 50),
                "orientation {orientation}: corner {:?}",
                pixel(&image, x, y)
            );
            let (ox, oy) = (w - 1 - x, h - 1 - y);
            assert!(
                close(pixel(&image, ox, oy), [128, 128, 128], 24),
                "orientation {orientation}: opposite corner"
            );
        }
    }
}

#[test]
fn display_p3_heic_is_converted_to_srgb() {
    // P3 (180,60,60) is about (193,46,54) in sRGB; see display_p3_is_converted_to_srgb.
    let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 64, Rgb([180, 60, 60])));
    let input = encode_heif(
        &image,
        &Encode {
            icc: Some(display_p3_icc()),
            ..Encode::new(CompressionFormat::Hevc)
        },
    );
    let rendered = render(&input, &ThumbnailSettings::default()).unwrap();
    let got = pixel(&decode_thumb_any(&rendered.thumbnails[0]), 32, 32);
    assert!(close(got, [193, 46, 54], 8), "{got:?}");
    assert!(
        got[0] > 185 && got[1] < 54,
        "more saturated than the naive reading: {got:?}"
    );
}

#[test]
fn display_p3_named_by_nclx_is_converted_to_srgb() {
    let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 64, Rgb([180, 60, 60])));
    let library = LibHeif::new();
    let mut pixels = heif_image(&image);
    let mut nclx = ColorProfileNCLX::new().unwrap();
    nclx.set_color_primaries(ColorPrimaries::SMPTE_EG_432_1);
    pixels.set_color_profile_nclx(&nclx).unwrap();
    let mut context = HeifContext::new().unwrap();
    let mut encoder = library.encoder_for_format(CompressionFormat::Av1).unwrap();
    encoder.set_quality(EncoderQuality::Lossy(92)).unwrap();
    context.encode_image(&pixels, &mut encoder, None).unwrap();
    let input = context.write_to_bytes().unwrap();
    let written = HeifContext::read_from_bytes(&input)
        .unwrap()
        .primary_image_handle()
        .unwrap()
        .color_profile_nclx()
        .unwrap()
        .color_primaries();
    assert_eq!(
        written,
        ColorPrimaries::SMPTE_EG_432_1,
        "the nclx box was written"
    );
    let rendered = render(&input, &ThumbnailSettings::default()).unwrap();
    let got = pixel(&decode_thumb_any(&rendered.thumbnails[0]), 32, 32);
    assert!(close(got, [193, 46, 54], 8), "{got:?}");
}

// ---- AVIF output ----

#[test]
fn avif_thumbnails_decode_back_with_libheif() {
    let image = gradient(700, 350);
    let formats = [Format::Avif];
    let settings = ThumbnailSettings {
        sizes: vec![160, 320, 640],
        formats: formats.to_vec(),
        avif_speed: 10,
        ..ThumbnailSettings::default()
    };
    let input = super::tests::png(&image);
    let rendered = render(&input, &settings).unwrap();
    assert_eq!(
        dims_all(&rendered, &formats),
        vec![(160, 80), (320, 160), (640, 320)]
    );
    let largest = decode_thumb_any(&rendered.thumbnails[2]);
    let (got, expected) = (pixel(&largest, 320, 160), pixel(&image, 350, 175));
    assert!(close(got, expected, 14), "{got:?} vs {expected:?}");
    assert_eq!(Format::Avif.content_type(), "image/avif");
    assert_eq!(Format::from_name(" AVIF"), Some(Format::Avif));
}

// ---- bad inputs and limits ----

#[test]
fn damaged_heic_and_avif_are_corrupt_without_panic() {
    let image = gradient(320, 240);
    for (what, input) in [("heic", heic(&image)), ("avif", avif(&image))] {
        // Cut inside the boxes, inside the coded data, and just before the end.
        for len in [24, 40, 100, input.len() / 2, input.len() - 40, input.len() - 1] {
            assert_rejected(&input[..len], &["corrupt-image"], &format!("{what} cut at {len}"));
        }
        // The real `ftyp` box followed by noise.
        let ftyp_len = u32::from_be_bytes(input[..4].try_into().unwrap()) as usize;
        for seed in 1..=8 {
            let mut garbage = input[..ftyp_len].to_vec();
            garbage.extend(noise(seed, 2000));
            assert_rejected(
                &garbage,
                &["corrupt-image"],
                &format!("{what} ftyp + noise {seed}"),
            );
        }
        // Bytes flipped in the coded data: a decoder may still produce pixels, but never panics.
        for seed in 1..=8u64 {
            let mut mutated = input.clone();
            let flips = noise(seed, 32);
            for pair in flips.chunks(2) {
                let at = input.len() / 2 + usize::from(pair[0]) * 3 % (input.len() / 2);
                mutated[at] ^= pair[1] | 1;
            }
            if let Err(err) = render(&mutated, &ThumbnailSettings::default()) {
                assert!(err.is_permanent(), "{what} mutated {seed}: {err}");
            }
        }
    }
    // Only an `ftyp` box.
    let mut ftyp_only = 20u32.to_be_bytes().to_vec();
    ftyp_only.extend_from_slice(b"ftypheic\0\0\0\0mif1");
    assert_rejected(&ftyp_only, &["corrupt-image"], "ftyp only");
}

#[test]
fn huge_declared_heif_dimensions_fail_before_any_large_allocation() {
    for (what, input) in [
        ("heic", heic(&gradient(64, 48))),
        ("avif", avif(&gradient(64, 48))),
    ] {
        let ispe: Vec<usize> = (0..input.len() - 4)
            .filter(|&i| &input[i..i + 4] == b"ispe")
            .collect();
        assert!(!ispe.is_empty());
        // Every ispe (an image may have more than one item): version/flags, width, height.
        for side in [30_000u32, 60_000, u32::MAX] {
            let mut bomb = input.clone();
            for &at in &ispe {
                bomb[at + 8..at + 12].copy_from_slice(&side.to_be_bytes());
                bomb[at + 12..at + 16].copy_from_slice(&side.to_be_bytes());
            }
            let (result, largest) = largest_allocation(|| render(&bomb, &ThumbnailSettings::default()));
            let err = result.unwrap_err();
            assert_eq!(err.code.as_str(), "image-too-large", "{what} {side}: {err}");
            assert!(largest < 16 << 20, "{what} {side}: allocated {largest} bytes");
        }
    }
}

#[test]
fn heic_over_the_pixel_limit_is_refused_before_decoding() {
    let input = heic(&gradient(400, 300));
    let small = ThumbnailSettings {
        max_input_pixels: 400 * 300 - 1,
        ..ThumbnailSettings::default()
    };
    let err = render(&input, &small).unwrap_err();
    assert_eq!(err.code.as_str(), "image-too-large", "{err}");
    let tight = ThumbnailSettings {
        max_alloc_bytes: 400 * 300 * 3,
        ..ThumbnailSettings::default()
    };
    let err = render(&input, &tight).unwrap_err();
    assert_eq!(err.code.as_str(), "image-too-large", "{err}");
}
