//! The video kind's section: the probe's limits.

use std::time::Duration;

use serde::Deserialize;
use veza_jobs::video::VideoSettings;

#[derive(Debug, Deserialize)]
pub(super) struct RawVideo {
    #[serde(default = "defaults::video_max_pixels")]
    video_max_pixels: u64,
    #[serde(default = "defaults::video_max_frame_rate")]
    video_max_frame_rate: f64,
    #[serde(default = "defaults::video_max_duration_seconds")]
    video_max_duration_seconds: u64,
    #[serde(default = "defaults::video_max_input_bytes")]
    video_max_input_bytes: u64,
}

mod defaults {
    use veza_jobs::video::VideoSettings;

    pub fn video_max_pixels() -> u64 {
        VideoSettings::default().max_pixels
    }
    pub fn video_max_frame_rate() -> f64 {
        VideoSettings::default().max_frame_rate
    }
    pub fn video_max_duration_seconds() -> u64 {
        VideoSettings::default().max_duration.as_secs()
    }
    pub fn video_max_input_bytes() -> u64 {
        VideoSettings::default().max_input_bytes
    }
}

impl RawVideo {
    /// The settings, or problems added to `problems`.
    pub(super) fn validate(self, problems: &mut Vec<String>) -> VideoSettings {
        if self.video_max_pixels < 64 * 64 {
            problems.push("VEZA_VIDEO_MAX_PIXELS must be at least 4096 (64x64)".into());
        }
        if !(self.video_max_frame_rate >= 1.0 && self.video_max_frame_rate <= 1000.0) {
            problems.push("VEZA_VIDEO_MAX_FRAME_RATE must be within 1–1000".into());
        }
        if self.video_max_duration_seconds == 0 {
            problems.push("VEZA_VIDEO_MAX_DURATION_SECONDS must be positive".into());
        }
        if self.video_max_input_bytes == 0 {
            problems.push("VEZA_VIDEO_MAX_INPUT_BYTES must be positive".into());
        }
        VideoSettings {
            max_pixels: self.video_max_pixels,
            max_frame_rate: self.video_max_frame_rate,
            max_duration: Duration::from_secs(self.video_max_duration_seconds),
            max_input_bytes: self.video_max_input_bytes,
        }
    }
}
