//! The thumbnail kind's section: sizes, formats and qualities, and the input limits.

use serde::Deserialize;
use veza_jobs::thumbnail::{Format, ThumbnailSettings};

#[derive(Debug, Deserialize)]
pub(super) struct RawThumbnail {
    #[serde(default = "defaults::thumbnail_sizes", deserialize_with = "super::text")]
    thumbnail_sizes: String,
    #[serde(default = "defaults::thumbnail_jpeg_quality")]
    thumbnail_jpeg_quality: u8,
    #[serde(default = "defaults::thumbnail_webp_quality")]
    thumbnail_webp_quality: f32,
    #[serde(default = "defaults::thumbnail_formats")]
    thumbnail_formats: String,
    #[serde(default = "defaults::thumbnail_avif_quality")]
    thumbnail_avif_quality: f32,
    #[serde(default = "defaults::thumbnail_avif_speed")]
    thumbnail_avif_speed: u8,
    #[serde(default = "defaults::max_image_alloc_bytes")]
    max_image_alloc_bytes: u64,
    #[serde(default = "defaults::max_image_bytes")]
    max_image_bytes: u64,
    #[serde(default = "defaults::max_image_pixels")]
    max_image_pixels: u64,
}

mod defaults {
    use veza_jobs::thumbnail::ThumbnailSettings;

    pub fn thumbnail_sizes() -> String {
        "160,320,640,1280".to_owned()
    }
    pub fn thumbnail_jpeg_quality() -> u8 {
        82
    }
    pub fn thumbnail_webp_quality() -> f32 {
        80.0
    }
    /// AVIF is opt-in: it costs far more CPU per thumbnail than JPEG and WebP together.
    pub fn thumbnail_formats() -> String {
        "jpeg,webp".to_owned()
    }
    pub fn thumbnail_avif_quality() -> f32 {
        ThumbnailSettings::default().avif_quality
    }
    pub fn thumbnail_avif_speed() -> u8 {
        ThumbnailSettings::default().avif_speed
    }
    pub fn max_image_alloc_bytes() -> u64 {
        512 * 1024 * 1024
    }
    pub fn max_image_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub fn max_image_pixels() -> u64 {
        50_000_000
    }
}

impl RawThumbnail {
    /// The settings, or problems added to `problems`.
    pub(super) fn validate(self, problems: &mut Vec<String>) -> ThumbnailSettings {
        let sizes: Result<Vec<u32>, _> = self
            .thumbnail_sizes
            .split(',')
            .map(|s| s.trim().parse::<u32>())
            .collect();
        let sizes = match sizes {
            Ok(sizes) if !sizes.is_empty() && sizes.iter().all(|s| (1..=8192).contains(s)) => sizes,
            _ => {
                problems.push(format!(
                    "VEZA_THUMBNAIL_SIZES must be a comma-separated list of sizes 1–8192, not `{}`",
                    self.thumbnail_sizes
                ));
                Vec::new()
            }
        };
        if !(0.0..=100.0).contains(&self.thumbnail_webp_quality) {
            problems.push("VEZA_THUMBNAIL_WEBP_QUALITY must be within 0–100".into());
        }
        if !(1..=100).contains(&self.thumbnail_jpeg_quality) {
            problems.push("VEZA_THUMBNAIL_JPEG_QUALITY must be within 1–100".into());
        }
        if !(1.0..=100.0).contains(&self.thumbnail_avif_quality) {
            problems.push("VEZA_THUMBNAIL_AVIF_QUALITY must be within 1–100".into());
        }
        if !(1..=10).contains(&self.thumbnail_avif_speed) {
            problems.push("VEZA_THUMBNAIL_AVIF_SPEED must be within 1–10".into());
        }
        let formats = parse_formats(&self.thumbnail_formats).unwrap_or_else(|| {
            problems.push(format!(
                "VEZA_THUMBNAIL_FORMATS must be a comma-separated list of distinct formats from \
                 jpeg, webp, avif, not `{}`",
                self.thumbnail_formats
            ));
            Vec::new()
        });
        ThumbnailSettings {
            sizes,
            jpeg_quality: self.thumbnail_jpeg_quality,
            webp_quality: self.thumbnail_webp_quality,
            formats,
            avif_quality: self.thumbnail_avif_quality,
            avif_speed: self.thumbnail_avif_speed,
            max_alloc_bytes: self.max_image_alloc_bytes,
            max_input_bytes: self.max_image_bytes,
            max_input_pixels: self.max_image_pixels,
        }
    }
}

/// `jpeg,webp,avif` (any order, no repeats, at least one) as formats; `None` when invalid.
fn parse_formats(list: &str) -> Option<Vec<Format>> {
    let mut formats = Vec::new();
    for name in list.split(',') {
        let format = Format::from_name(name)?;
        if formats.contains(&format) {
            return None;
        }
        formats.push(format);
    }
    (!formats.is_empty()).then_some(formats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_formats_are_a_list_of_distinct_known_names() {
        assert_eq!(parse_formats("jpeg,webp"), Some(vec![Format::Jpeg, Format::Webp]));
        assert_eq!(
            parse_formats(" AVIF , jpg "),
            Some(vec![Format::Avif, Format::Jpeg])
        );
        assert_eq!(parse_formats("jpeg,jpeg"), None);
        assert_eq!(parse_formats("png"), None);
        assert_eq!(parse_formats(""), None);
    }
}
