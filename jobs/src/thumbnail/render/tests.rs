//! Tests with images generated here (and three small ImageMagick fixtures in `testdata/`).
//! HEIC/HEIF and AVIF have their own file, `heif_tests.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_possible_truncation)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;

// ---- a global allocator that remembers the largest single allocation made on this thread ----

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

#[allow(unsafe_code)] // Test-only: forwards to the system allocator, recording sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest allocation it made on this thread.
pub(super) fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

// ---- helpers ----

pub(super) fn settings(sizes: &[u32]) -> ThumbnailSettings {
    ThumbnailSettings {
        sizes: sizes.to_vec(),
        ..ThumbnailSettings::default()
    }
}

pub(super) fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn png_with_icc(image: &RgbImage, icc: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut out);
    encoder.set_icc_profile(icc).unwrap();
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

pub(super) fn jpeg(image: &RgbImage, icc: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc).unwrap();
    }
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn encode_as(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Inserts an EXIF APP1 segment with the given orientation right after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one IFD entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub(super) fn decode_thumb(thumb: &Thumbnail) -> DynamicImage {
    let format = match thumb.format {
        Format::Avif => return super::heif_tests::decode_avif(thumb),
        Format::Jpeg => {
            assert_eq!(&thumb.bytes[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic");
            image::ImageFormat::Jpeg
        }
        Format::Webp => {
            assert_eq!(&thumb.bytes[..4], b"RIFF", "WebP magic");
            assert_eq!(&thumb.bytes[8..12], b"WEBP", "WebP magic");
            assert_eq!(&thumb.bytes[12..16], b"VP8 ", "lossy WebP (simple)");
            image::ImageFormat::WebP
        }
    };
    let image = image::load_from_memory_with_format(&thumb.bytes, format).unwrap();
    assert_eq!((image.width(), image.height()), (thumb.width, thumb.height));
    image
}

/// Decoded dimensions per thumbnail, checking that each size comes as JPEG then WebP.
pub(super) fn dims(rendered: &Rendered) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for pair in rendered.thumbnails.chunks(2) {
        assert_eq!(pair.len(), 2);
        assert_eq!(pair[0].format, Format::Jpeg);
        assert!(pair[1].format == Format::Webp || is_vp8l_or_vp8x(&pair[1]));
        let a = decode_thumb_any(&pair[0]);
        let b = decode_thumb_any(&pair[1]);
        assert_eq!((a.width(), a.height()), (b.width(), b.height()));
        out.push((a.width(), a.height()));
    }
    out
}

fn is_vp8l_or_vp8x(thumb: &Thumbnail) -> bool {
    &thumb.bytes[12..16] == b"VP8X"
}

/// Like `decode_thumb` but accepts extended (alpha) lossy WebP too.
pub(super) fn decode_thumb_any(thumb: &Thumbnail) -> DynamicImage {
    if thumb.format == Format::Webp && is_vp8l_or_vp8x(thumb) {
        let image = image::load_from_memory_with_format(&thumb.bytes, image::ImageFormat::WebP).unwrap();
        assert_eq!((image.width(), image.height()), (thumb.width, thumb.height));
        return image;
    }
    decode_thumb(thumb)
}

pub(super) fn close(actual: [u8; 3], expected: [u8; 3], tolerance: i32) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| (i32::from(*a) - i32::from(e)).abs() <= tolerance)
}

pub(super) fn pixel(image: &DynamicImage, x: u32, y: u32) -> [u8; 3] {
    let p = image.to_rgb8().get_pixel(x, y).0;
    [p[0], p[1], p[2]]
}

pub(super) fn gradient(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(2)) as u8,
            (y * 255 / height.max(2)) as u8,
            100,
        ])
    }))
}

// ---- sizes and formats ----

#[test]
fn odd_sized_gradients_keep_aspect_and_never_upscale() {
    let cases = [
        ((1, 5000), vec![(1, 160), (1, 320), (1, 640), (1, 1280)]),
        ((5000, 1), vec![(160, 1), (320, 1), (640, 1), (1280, 1)]),
        ((801, 601), vec![(160, 120), (320, 240), (640, 480)]),
    ];
    for ((w, h), expected) in cases {
        let image = gradient(w, h);
        for input in [png(&image), encode_as(&image, image::ImageFormat::Jpeg)] {
            let rendered = render(&input, &ThumbnailSettings::default()).unwrap();
            assert_eq!((rendered.width, rendered.height), (w, h));
            assert_eq!(dims(&rendered), expected, "{w}x{h}");
        }
    }
}

#[test]
fn small_image_gets_one_thumbnail_per_format_at_its_own_size() {
    let rendered = render(&png(&gradient(150, 90)), &ThumbnailSettings::default()).unwrap();
    assert_eq!(rendered.thumbnails.len(), 2);
    assert_eq!(dims(&rendered), vec![(150, 90)]);
    // Exactly the long side is skipped too: 320 -> 160 only.
    let rendered = render(&png(&gradient(320, 200)), &ThumbnailSettings::default()).unwrap();
    assert_eq!(dims(&rendered), vec![(160, 100)]);
}

#[test]
fn other_input_formats_decode() {
    let image = gradient(400, 300);
    let rgba = DynamicImage::ImageRgba8(image.to_rgba8());
    let lossy_webp = webp::Encoder::from_rgb(image.as_bytes(), 400, 300)
        .encode_simple(false, 80.0)
        .unwrap()
        .to_vec();
    let inputs = [
        ("gif", encode_as(&rgba, image::ImageFormat::Gif)),
        ("tiff", encode_as(&image, image::ImageFormat::Tiff)),
        ("bmp", encode_as(&image, image::ImageFormat::Bmp)),
        ("webp-lossless", encode_as(&rgba, image::ImageFormat::WebP)),
        ("webp-lossy", lossy_webp),
        (
            "gray-jpeg",
            encode_as(
                &DynamicImage::ImageLuma8(image.to_luma8()),
                image::ImageFormat::Jpeg,
            ),
        ),
        ("gray-png", png(&DynamicImage::ImageLuma16(image.to_luma16()))),
    ];
    for (name, input) in inputs {
        let rendered = render(&input, &settings(&[100, 200])).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(dims(&rendered), vec![(100, 75), (200, 150)], "{name}");
    }
    let progressive = include_bytes!("testdata/progressive.jpg");
    let rendered = render(progressive, &settings(&[100])).unwrap();
    assert_eq!(dims(&rendered), vec![(100, 67)]);
    let thumb = decode_thumb(&rendered.thumbnails[0]);
    assert!(
        close(pixel(&thumb, 50, 2), [255, 0, 0], 40),
        "{:?}",
        pixel(&thumb, 50, 2)
    );
    assert!(
        close(pixel(&thumb, 50, 64), [0, 0, 255], 40),
        "{:?}",
        pixel(&thumb, 50, 64)
    );
}

#[test]
fn animated_gif_uses_the_first_frame() {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        for color in [[255, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = image::Frame::new(RgbaImage::from_pixel(40, 30, Rgba(color)));
            encoder.encode_frame(frame).unwrap();
        }
    }
    let rendered = render(&out, &ThumbnailSettings::default()).unwrap();
    let thumb = decode_thumb(&rendered.thumbnails[0]);
    assert!(close(pixel(&thumb, 20, 15), [255, 0, 0], 10));
}

// ---- alpha and bit depth ----

#[test]
fn alpha_is_kept_in_webp_and_flattened_on_white_in_jpeg() {
    let image = RgbaImage::from_fn(64, 40, |x, _| match x {
        0..=19 => Rgba([0, 0, 0, 0]),      // fully transparent black
        20..=39 => Rgba([255, 0, 0, 128]), // half-transparent red
        _ => Rgba([0, 0, 255, 255]),       // opaque blue
    });
    let rendered = render(
        &png(&DynamicImage::ImageRgba8(image)),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    assert_eq!(dims(&rendered), vec![(64, 40)]);
    let jpeg = decode_thumb(&rendered.thumbnails[0]);
    assert!(!jpeg.color().has_alpha());
    assert!(
        close(pixel(&jpeg, 8, 20), [255, 255, 255], 6),
        "{:?}",
        pixel(&jpeg, 8, 20)
    );
    assert!(
        close(pixel(&jpeg, 30, 20), [255, 128, 128], 12),
        "{:?}",
        pixel(&jpeg, 30, 20)
    );
    assert!(close(pixel(&jpeg, 55, 20), [0, 0, 255], 12));
    let webp = decode_thumb_any(&rendered.thumbnails[1]);
    assert!(webp.color().has_alpha(), "WebP lost alpha");
    let webp = webp.to_rgba8();
    assert!(webp.get_pixel(8, 20)[3] < 10);
    assert!((i32::from(webp.get_pixel(30, 20)[3]) - 128).abs() < 12);
    assert_eq!(webp.get_pixel(55, 20)[3], 255);
}

#[test]
fn sixteen_bit_png_renders_with_correct_colours() {
    let image: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(300, 200, |x, _| {
        if x < 150 {
            Rgb([65535, 0, 0])
        } else {
            Rgb([0x8080, 0x8080, 0x8080])
        }
    });
    let rendered = render(&png(&DynamicImage::ImageRgb16(image)), &settings(&[150])).unwrap();
    assert_eq!(dims(&rendered), vec![(150, 100)]);
    let thumb = decode_thumb(&rendered.thumbnails[0]);
    assert!(close(pixel(&thumb, 30, 50), [255, 0, 0], 8));
    assert!(close(pixel(&thumb, 120, 50), [128, 128, 128], 6));
    let rgba16: ImageBuffer<Rgba<u16>, Vec<u16>> =
        ImageBuffer::from_pixel(50, 50, Rgba([0, 65535, 0, 32768]));
    let rendered = render(
        &png(&DynamicImage::ImageRgba16(rgba16)),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    let jpeg = decode_thumb(&rendered.thumbnails[0]);
    assert!(
        close(pixel(&jpeg, 25, 25), [127, 255, 127], 10),
        "{:?}",
        pixel(&jpeg, 25, 25)
    );
}

// ---- orientation ----

/// Where the stored top-left corner ends up for each EXIF orientation (x at right?, y at bottom?).
pub(super) const CORNER: [(bool, bool); 8] = [
    (false, false), // 1
    (true, false),  // 2 flip horizontal
    (true, true),   // 3 rotate 180
    (false, true),  // 4 flip vertical
    (false, false), // 5 transpose
    (true, false),  // 6 rotate 90 CW
    (true, true),   // 7 transverse
    (false, true),  // 8 rotate 270 CW
];

#[test]
fn every_exif_orientation_is_applied_with_shrink_on_load() {
    // 800x400, red 100x100 block at the stored top-left, grey elsewhere.
    let stored = RgbImage::from_fn(800, 400, |x, y| {
        if x < 100 && y < 100 {
            Rgb([255, 0, 0])
        } else {
            Rgb([128, 128, 128])
        }
    });
    let base = jpeg(&stored, None);
    for orientation in 1..=8u16 {
        let input = with_exif_orientation(&base, orientation);
        // The JPEG is decoded at reduced scale for a 60 px target.
        let decoded = decode::decode(
            &input,
            decode::DecodeLimits {
                max_pixels: u64::MAX,
                max_alloc: u64::MAX,
            },
            |_| Some(60),
        )
        .unwrap();
        assert!(
            decoded.width < 800 && decoded.width >= 120,
            "shrink-on-load: {}",
            decoded.width
        );
        assert_eq!(decoded.orientation.to_exif(), orientation as u8);

        let rendered = render(&input, &settings(&[60])).unwrap();
        let swapped = orientation >= 5;
        let expected = if swapped { (30, 60) } else { (60, 30) };
        assert_eq!(
            (rendered.width, rendered.height),
            if swapped { (400, 800) } else { (800, 400) }
        );
        assert_eq!(dims(&rendered), vec![expected], "orientation {orientation}");
        for thumb in &rendered.thumbnails {
            let image = decode_thumb_any(thumb);
            let (right, bottom) = CORNER[usize::from(orientation - 1)];
            let (w, h) = (image.width(), image.height());
            let x = if right { w - 3 } else { 2 };
            let y = if bottom { h - 3 } else { 2 };
            assert!(
                close(pixel(&image, x, y), [255, 0, 0], 40),
                "orientation {orientation}: corner {:?}",
                pixel(&image, x, y)
            );
            let (ox, oy) = (w - 1 - x, h - 1 - y);
            assert!(
                close(pixel(&image, ox, oy), [128, 128, 128], 20),
                "orientation {orientation}: opposite corner"
            );
        }
    }
}

// ---- colour ----

pub(super) fn quadrant_colours(thumb: &Thumbnail) -> [[u8; 3]; 4] {
    let image = decode_thumb(thumb);
    let (w, h) = (image.width(), image.height());
    [
        pixel(&image, w / 4, h / 4),
        pixel(&image, 3 * w / 4, h / 4),
        pixel(&image, w / 4, 3 * h / 4),
        pixel(&image, 3 * w / 4, 3 * h / 4),
    ]
}

#[test]
fn cmyk_jpeg_without_profile_is_not_inverted() {
    // ImageMagick: red | blue / white | olive, -colorspace CMYK (Adobe-inverted, no profile).
    let rendered = render(
        include_bytes!("testdata/cmyk_naive.jpg"),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    assert_eq!(dims(&rendered), vec![(64, 64)]);
    let got = quadrant_colours(&rendered.thumbnails[0]);
    for (g, e) in got
        .iter()
        .zip([[255, 0, 0], [0, 0, 255], [255, 255, 255], [128, 128, 0]])
    {
        assert!(close(*g, e, 12), "{got:?}");
    }
}

#[test]
fn cmyk_jpeg_with_swop_profile_matches_lcms() {
    // ImageMagick/LittleCMS separated sRGB red | blue / white | olive to Artifex SWOP CMYK;
    // LittleCMS back to sRGB gives (237,51,55) (62,88,164) (254,255,254) (128,130,65).
    let rendered = render(
        include_bytes!("testdata/cmyk_icc.jpg"),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    let got = quadrant_colours(&rendered.thumbnails[0]);
    let lcms = [[237, 51, 55], [62, 88, 164], [254, 255, 254], [128, 130, 65]];
    for (g, e) in got.iter().zip(lcms) {
        assert!(close(*g, e, 14), "{got:?} vs LittleCMS {lcms:?}");
    }
}

/// A Display P3 matrix/TRC ICC v2 profile (D50-adapted primaries, sRGB transfer curve).
pub(super) fn display_p3_icc() -> Vec<u8> {
    fn s15(v: f64) -> [u8; 4] {
        ((v * 65536.0).round() as i32).to_be_bytes()
    }
    fn xyz(v: [f64; 3]) -> Vec<u8> {
        let mut t = b"XYZ \0\0\0\0".to_vec();
        for c in v {
            t.extend_from_slice(&s15(c));
        }
        t
    }
    let mut para = b"para\0\0\0\0".to_vec();
    para.extend_from_slice(&3u16.to_be_bytes());
    para.extend_from_slice(&[0, 0]);
    for v in [2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045] {
        para.extend_from_slice(&s15(v));
    }
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"wtpt", xyz([0.9642, 1.0, 0.8249])),
        (b"rXYZ", xyz([0.5151, 0.2412, -0.0011])),
        (b"gXYZ", xyz([0.2920, 0.6922, 0.0419])),
        (b"bXYZ", xyz([0.1571, 0.0666, 0.7841])),
        (b"rTRC", para.clone()),
        (b"gTRC", para.clone()),
        (b"bTRC", para),
    ];
    let mut offset = 128 + 4 + 12 * tags.len();
    let mut table = (tags.len() as u32).to_be_bytes().to_vec();
    let mut data = Vec::new();
    for (sig, body) in &tags {
        table.extend_from_slice(*sig);
        table.extend_from_slice(&(offset as u32).to_be_bytes());
        table.extend_from_slice(&(body.len() as u32).to_be_bytes());
        data.extend_from_slice(body);
        offset += body.len();
    }
    let mut header = vec![0u8; 128];
    header[0..4].copy_from_slice(&(offset as u32).to_be_bytes());
    header[8..12].copy_from_slice(&0x0210_0000u32.to_be_bytes());
    header[12..16].copy_from_slice(b"mntr");
    header[16..20].copy_from_slice(b"RGB ");
    header[20..24].copy_from_slice(b"XYZ ");
    header[36..40].copy_from_slice(b"acsp");
    header[68..72].copy_from_slice(&s15(0.9642));
    header[72..76].copy_from_slice(&s15(1.0));
    header[76..80].copy_from_slice(&s15(0.8249));
    [header, table, data].concat()
}

#[test]
fn display_p3_is_converted_to_srgb() {
    // P3 (180,60,60) is more saturated than sRGB (180,60,60): in sRGB it is about (193,46,54).
    let image = RgbImage::from_pixel(64, 64, Rgb([180, 60, 60]));
    let tagged_png = png_with_icc(&image, display_p3_icc());
    let tagged_jpeg = jpeg(&image, Some(display_p3_icc()));
    for input in [tagged_png, tagged_jpeg] {
        let rendered = render(&input, &ThumbnailSettings::default()).unwrap();
        let got = pixel(&decode_thumb(&rendered.thumbnails[0]), 32, 32);
        assert!(close(got, [193, 46, 54], 5), "{got:?}");
        assert!(
            got[0] > 185 && got[1] < 54,
            "more saturated than the naive reading: {got:?}"
        );
    }
    // Untagged: taken as sRGB, unchanged.
    let rendered = render(
        &png(&DynamicImage::ImageRgb8(image)),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    assert!(close(
        pixel(&decode_thumb(&rendered.thumbnails[0]), 32, 32),
        [180, 60, 60],
        3
    ));
}

// ---- thumbhash and dominant colour ----

#[test]
fn thumbhash_and_dominant_colour() {
    let image = RgbImage::from_fn(400, 200, |x, _| {
        if x < 300 {
            Rgb([20, 60, 200])
        } else {
            Rgb([230, 30, 30])
        }
    });
    let rendered = render(
        &png(&DynamicImage::ImageRgb8(image)),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    assert!(
        close(rendered.dominant_color, [20, 60, 200], 4),
        "{:?}",
        rendered.dominant_color
    );
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD
        .decode(&rendered.thumbhash)
        .unwrap();
    let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
    assert!((ratio - 2.0).abs() < 0.3, "{ratio}");
    let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
    assert!(b > r && b > g, "{r} {g} {b}");
    // Transparent image: white fallback, still a hash.
    let clear = RgbaImage::from_pixel(30, 30, Rgba([0, 0, 0, 0]));
    let rendered = render(
        &png(&DynamicImage::ImageRgba8(clear)),
        &ThumbnailSettings::default(),
    )
    .unwrap();
    assert_eq!(rendered.dominant_color, [255, 255, 255]);
    assert!(!rendered.thumbhash.is_empty());
}

// ---- bad inputs and limits ----

pub(super) fn assert_rejected(input: &[u8], codes: &[&str], what: &str) {
    let err = render(input, &ThumbnailSettings::default()).expect_err(what);
    assert!(err.is_permanent(), "{what}: {err}");
    assert!(codes.contains(&err.code.as_str()), "{what}: {err}");
    assert!(!err.message.contains("panic"), "{what}: {err}");
}

/// A deterministic xorshift byte stream.
pub(super) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

#[test]
fn truncated_files_are_corrupt() {
    let image = gradient(300, 200);
    for (name, good) in [
        ("png", png(&image)),
        ("jpeg", encode_as(&image, image::ImageFormat::Jpeg)),
    ] {
        // For the PNG, len - 20 cuts into the last IDAT's CRC (a cut inside the IEND chunk's CRC
        // still renders: every pixel is there); a JPEG missing only its EOI is rejected.
        let last = if name == "png" {
            good.len() - 20
        } else {
            good.len() - 1
        };
        for cut in [
            4,
            20,
            40,
            100,
            good.len() / 3,
            good.len() / 2,
            good.len() - 40,
            last,
        ] {
            assert_rejected(
                &good[..cut],
                &["corrupt-image", "unsupported-format"],
                &format!("{name} cut at {cut}"),
            );
        }
    }

    let progressive = include_bytes!("testdata/progressive.jpg");
    for cut in [300, progressive.len() / 2, progressive.len() - 10] {
        assert_rejected(
            &progressive[..cut],
            &["corrupt-image"],
            &format!("progressive cut at {cut}"),
        );
    }
}

#[test]
fn garbage_behind_valid_headers_is_rejected_without_panic() {
    for seed in 1..40u64 {
        let mut png_input = b"\x89PNG\r\n\x1a\n".to_vec();
        png_input.extend(noise(seed, 2000));
        assert_rejected(&png_input, &["corrupt-image"], &format!("png noise {seed}"));
        let mut jpeg_input = vec![0xFF, 0xD8, 0xFF];
        jpeg_input.extend(noise(seed, 2000));
        assert_rejected(
            &jpeg_input,
            &["corrupt-image", "unsupported-format"],
            &format!("jpeg noise {seed}"),
        );
        assert_rejected(
            &noise(seed, 3000),
            &["unsupported-format", "corrupt-image"],
            &format!("noise {seed}"),
        );
    }
    assert_rejected(b"", &["unsupported-format"], "empty");
    assert_rejected(b"hello, world", &["unsupported-format"], "text");
}

#[test]
fn mutated_images_never_panic() {
    let image = gradient(120, 80);
    let inputs = [
        png(&image),
        encode_as(&image, image::ImageFormat::Jpeg),
        include_bytes!("testdata/progressive.jpg").to_vec(),
        encode_as(&image, image::ImageFormat::Gif),
        encode_as(&image, image::ImageFormat::Tiff),
        encode_as(&image, image::ImageFormat::Bmp),
        encode_as(&image, image::ImageFormat::WebP),
    ];
    for (i, good) in inputs.iter().enumerate() {
        for seed in 1..60u64 {
            let mut bad = good.clone();
            let flips = noise(seed * 31 + i as u64, 8);
            for pair in flips.chunks(2) {
                let at =
                    (usize::from(pair[0]) * 257 + usize::from(pair[1]) * 13 + seed as usize * 7) % bad.len();
                bad[at] ^= pair[1] | 1;
            }
            if let Err(err) = render(&bad, &settings(&[64])) {
                assert!(err.is_permanent(), "{err}");
                assert!(!err.message.contains("panic"), "input {i} seed {seed}: {err}");
            }
        }
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_bomb_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An IDAT of a few bytes: a real bomb would be a small deflate stream.
    let idat = b"IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01".to_vec();
    out.extend_from_slice(&(idat.len() as u32 - 4).to_be_bytes());
    out.extend_from_slice(&idat);
    out.extend_from_slice(&crc32(&idat).to_be_bytes());
    out
}

#[test]
fn huge_declared_dimensions_fail_before_any_large_allocation() {
    let (result, largest) =
        largest_allocation(|| render(&png_bomb_header(100_000, 100_000), &ThumbnailSettings::default()));
    let err = result.unwrap_err();
    assert_eq!(err.code.as_str(), "image-too-large", "{err}");
    assert!(largest < 4 << 20, "allocated {largest} bytes at once");

    // A JPEG whose SOF says 65000x65000.
    let mut jpeg_input = encode_as(&gradient(16, 16), image::ImageFormat::Jpeg);
    let sof = jpeg_input.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg_input[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    let (result, largest) = largest_allocation(|| render(&jpeg_input, &ThumbnailSettings::default()));
    assert_eq!(result.unwrap_err().code.as_str(), "image-too-large");
    assert!(largest < 4 << 20, "allocated {largest} bytes at once");
}

#[test]
fn configured_limits_are_enforced() {
    let input = png(&gradient(300, 200));
    let too_small = [
        ThumbnailSettings {
            max_input_bytes: 100,
            ..ThumbnailSettings::default()
        },
        ThumbnailSettings {
            max_input_pixels: 300 * 200 - 1,
            ..ThumbnailSettings::default()
        },
        ThumbnailSettings {
            max_alloc_bytes: 100_000,
            ..ThumbnailSettings::default()
        },
    ];
    for s in too_small {
        assert_eq!(
            render(&input, &s).unwrap_err().code.as_str(),
            "image-too-large",
            "{s:?}"
        );
    }
    let jpeg_input = encode_as(&gradient(300, 200), image::ImageFormat::Jpeg);
    let s = ThumbnailSettings {
        max_alloc_bytes: 100_000,
        ..ThumbnailSettings::default()
    };
    assert_eq!(
        render(&jpeg_input, &s).unwrap_err().code.as_str(),
        "image-too-large"
    );
}
