//! The transcode kind's section: the audio ladder, segments, loudness target, waveform
//! resolution and the input limits.

use serde::Deserialize;
use veza_jobs::transcode::{Rendition, TranscodeSettings, loudness::GainTarget, waveform::WaveformSettings};

#[derive(Debug, Deserialize)]
pub(super) struct RawTranscode {
    #[serde(default = "defaults::audio_ladder")]
    audio_ladder: String,
    #[serde(default = "defaults::loudness_target_lufs")]
    loudness_target_lufs: f64,
    #[serde(default = "defaults::waveform_samples_per_pixel")]
    waveform_samples_per_pixel: u32,
    #[serde(default = "defaults::segment_seconds")]
    segment_seconds: f64,
    #[serde(default = "defaults::max_audio_seconds")]
    max_audio_seconds: f64,
    #[serde(default = "defaults::max_audio_bytes")]
    max_audio_bytes: u64,
}

mod defaults {
    pub fn audio_ladder() -> String {
        "aac:160,opus:64,opus:128,opus:192".into()
    }
    pub fn loudness_target_lufs() -> f64 {
        -14.0
    }
    pub fn waveform_samples_per_pixel() -> u32 {
        256
    }
    pub fn segment_seconds() -> f64 {
        6.0
    }
    pub fn max_audio_bytes() -> u64 {
        4 << 30
    }
    pub fn max_audio_seconds() -> f64 {
        4.0 * 3600.0
    }
}

impl RawTranscode {
    /// The settings, or problems added to `problems`.
    pub(super) fn validate(self, problems: &mut Vec<String>) -> TranscodeSettings {
        let ladder = Rendition::parse_ladder(&self.audio_ladder)
            .map_err(|err| problems.push(format!("VEZA_AUDIO_LADDER: {err}")))
            .unwrap_or_default();
        if !(-70.0..=0.0).contains(&self.loudness_target_lufs) {
            problems.push("VEZA_LOUDNESS_TARGET_LUFS must be within -70–0".into());
        }
        if !(32..=65_536).contains(&self.waveform_samples_per_pixel) {
            problems.push("VEZA_WAVEFORM_SAMPLES_PER_PIXEL must be within 32–65536".into());
        }
        if !(1.0..=30.0).contains(&self.segment_seconds) {
            problems.push("VEZA_SEGMENT_SECONDS must be within 1–30".into());
        }
        if self.max_audio_seconds <= 0.0 {
            problems.push("VEZA_MAX_AUDIO_SECONDS must be positive".into());
        }
        TranscodeSettings {
            ladder,
            loudness_target: GainTarget {
                target_lufs: self.loudness_target_lufs,
                ..GainTarget::default()
            },
            waveform: WaveformSettings {
                samples_per_pixel: self.waveform_samples_per_pixel,
                ..WaveformSettings::default()
            },
            segment_seconds: self.segment_seconds,
            max_duration_seconds: self.max_audio_seconds,
            max_input_bytes: self.max_audio_bytes,
        }
    }
}
