//! The video kinds' section: the probe's limits, the ladder, segments, chunks and the AV1
//! encoder's knobs.

use std::time::Duration;

use serde::Deserialize;
use veza_jobs::video::{VideoSettings, plan::LadderStep};

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
    #[serde(default = "defaults::video_ladder")]
    video_ladder: String,
    #[serde(default = "defaults::video_h264")]
    video_h264: String,
    #[serde(default = "defaults::video_segment_seconds")]
    video_segment_seconds: f64,
    #[serde(default = "defaults::video_chunk_segments")]
    video_chunk_segments: u32,
    #[serde(default = "defaults::video_av1_speed")]
    video_av1_speed: u8,
    #[serde(default = "defaults::video_av1_tiles")]
    video_av1_tiles: usize,
    #[serde(default = "defaults::video_av1_threads")]
    video_av1_threads: usize,
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
    pub fn video_ladder() -> String {
        let steps = VideoSettings::default().ladder;
        let steps: Vec<String> = steps.iter().map(|s| format!("{}:{}", s.height, s.kbps)).collect();
        steps.join(",")
    }
    pub fn video_h264() -> String {
        VideoSettings::default()
            .h264
            .map_or("off".into(), |s| format!("{}:{}", s.height, s.kbps))
    }
    pub fn video_segment_seconds() -> f64 {
        VideoSettings::default().segment_seconds
    }
    pub fn video_chunk_segments() -> u32 {
        VideoSettings::default().chunk_segments
    }
    pub fn video_av1_speed() -> u8 {
        VideoSettings::default().av1_speed
    }
    pub fn video_av1_tiles() -> usize {
        VideoSettings::default().av1_tiles
    }
    pub fn video_av1_threads() -> usize {
        VideoSettings::default().av1_threads
    }
}

/// `360:700,720:2000`: heights (16–4320, even) and their bitrates in kbit/s.
fn parse_ladder(text: &str) -> Result<Vec<LadderStep>, String> {
    let steps = text
        .split(',')
        .map(|step| {
            let (height, kbps) = step
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("`{step}` is not height:kbps"))?;
            let height: u32 = height
                .trim()
                .parse()
                .map_err(|_| format!("`{height}` is not a height"))?;
            let kbps: u32 = kbps
                .trim()
                .parse()
                .map_err(|_| format!("`{kbps}` is not a bitrate"))?;
            if !(16..=4320).contains(&height) || height % 2 == 1 || !(50..=100_000).contains(&kbps) {
                return Err(format!(
                    "`{step}`: heights are even, 16–4320; bitrates 50–100000 kbit/s"
                ));
            }
            Ok(LadderStep { height, kbps })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if steps.is_empty() {
        return Err("the ladder is empty".into());
    }
    Ok(steps)
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
        let ladder = parse_ladder(&self.video_ladder)
            .map_err(|err| problems.push(format!("VEZA_VIDEO_LADDER: {err}")))
            .unwrap_or_default();
        let h264 = if self.video_h264.trim() == "off" {
            None
        } else {
            parse_ladder(&self.video_h264)
                .and_then(|steps| match steps.as_slice() {
                    [step] => Ok(*step),
                    _ => Err("one height:kbps, or off".into()),
                })
                .map_err(|err| problems.push(format!("VEZA_VIDEO_H264: {err}")))
                .ok()
        };
        if !(0.2..=30.0).contains(&self.video_segment_seconds) {
            problems.push("VEZA_VIDEO_SEGMENT_SECONDS must be within 0.2–30".into());
        }
        if !(1..=1000).contains(&self.video_chunk_segments) {
            problems.push("VEZA_VIDEO_CHUNK_SEGMENTS must be within 1–1000".into());
        }
        if self.video_av1_speed > 10 {
            problems.push("VEZA_VIDEO_AV1_SPEED must be within 0–10".into());
        }
        if !(1..=64).contains(&self.video_av1_tiles) || !(1..=64).contains(&self.video_av1_threads) {
            problems.push("VEZA_VIDEO_AV1_TILES and VEZA_VIDEO_AV1_THREADS must be within 1–64".into());
        }
        VideoSettings {
            max_pixels: self.video_max_pixels,
            max_frame_rate: self.video_max_frame_rate,
            max_duration: Duration::from_secs(self.video_max_duration_seconds),
            max_input_bytes: self.video_max_input_bytes,
            ladder,
            h264,
            segment_seconds: self.video_segment_seconds,
            chunk_segments: self.video_chunk_segments,
            av1_speed: self.video_av1_speed,
            av1_tiles: self.video_av1_tiles,
            av1_threads: self.video_av1_threads,
        }
    }
}
