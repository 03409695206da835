//! The image benchmarks' input and reference: a 24-megapixel photo-like JPEG and
//! `vipsthumbnail` (Debian libvips-tools) making the same sizes and formats.

use std::{
    io::Cursor,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A 6000x4000 photo-like JPEG: smooth gradients with noise (so it does not compress to nothing).
pub fn photo() -> Vec<u8> {
    let mut seed: u32 = 0x1234_5678;
    let image = image::RgbImage::from_fn(6000, 4000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as u8;
        image::Rgb([
            ((x * 200 / 6000) as u8).saturating_add(noise),
            ((y * 200 / 4000) as u8).saturating_add(noise),
            (((x + y) * 120 / 10_000) as u8).saturating_add(noise),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .unwrap();
    out.into_inner()
}

/// Sum of one `vipsthumbnail` run per size and format.
pub fn vips(input: &Path, out: &Path, sizes: &[u32]) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    for size in sizes {
        for target in [
            format!("t{size}.jpg[Q=82,strip]"),
            format!("t{size}.webp[Q=80,strip]"),
        ] {
            let started = Instant::now();
            let status = Command::new("vipsthumbnail")
                .arg(input)
                .args(["-s", &size.to_string(), "-o"])
                .arg(out.join(&target))
                .status()
                .context("vipsthumbnail (Debian libvips-tools) must be installed")?;
            total += started.elapsed();
            if !status.success() {
                bail!("vipsthumbnail failed for {target}");
            }
        }
    }
    Ok(total)
}
