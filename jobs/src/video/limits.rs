//! What a video may be: the codecs Veza decodes and the configured limits, checked on the
//! probe's facts before any frame is decoded (a decoder is then bounded by them).

use std::time::Duration;

use super::{av::VideoFacts, plan::LadderStep};
use crate::error::{ErrorCode, JobError};

/// Video codecs read (FFmpeg's names): what phones and browsers record.
pub const VIDEO_CODECS: [&str; 5] = ["h264", "hevc", "vp8", "vp9", "av1"];
/// Soundtrack codecs read (FFmpeg's names).
pub const AUDIO_CODECS: [&str; 6] = ["aac", "opus", "mp3", "vorbis", "flac", "alac"];

/// The video kind's settings (`VEZA_VIDEO_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSettings {
    /// Largest frame in pixels, width × height (`VEZA_VIDEO_MAX_PIXELS`, default 4096 × 2304).
    pub max_pixels: u64,
    /// Highest frame rate (`VEZA_VIDEO_MAX_FRAME_RATE`, default 120).
    pub max_frame_rate: f64,
    /// Longest duration (`VEZA_VIDEO_MAX_DURATION_SECONDS`, default 4 hours).
    pub max_duration: Duration,
    /// Largest original (`VEZA_VIDEO_MAX_INPUT_BYTES`, default 20 GiB).
    pub max_input_bytes: u64,
    /// The AV1 ladder (`VEZA_VIDEO_LADDER`, `height:kbps` pairs, default 360p, 720p, 1080p).
    pub ladder: Vec<LadderStep>,
    /// The H.264 fallback rung (`VEZA_VIDEO_H264`, `height:kbps` or `off`; default 720p at
    /// 2500 kbit/s, never above the source), for players without AV1.
    pub h264: Option<LadderStep>,
    /// Segment length in seconds (`VEZA_VIDEO_SEGMENT_SECONDS`, default 4); a keyframe starts
    /// each, in every rendition.
    pub segment_seconds: f64,
    /// Segments per encode job (`VEZA_VIDEO_CHUNK_SEGMENTS`, default 2: 8 s chunks). Short
    /// chunks spread one video evenly over the fleet's slots: the last chunk to finish runs
    /// alone, so its length is the tail of every encode (bench/README.md measures 2 against 5).
    pub chunk_segments: u32,
    /// rav1e's speed preset, 0 (slowest) to 10 (`VEZA_VIDEO_AV1_SPEED`, default 10).
    pub av1_speed: u8,
    /// Tiles per AV1 frame (`VEZA_VIDEO_AV1_TILES`, default 2): parallelism inside a frame.
    pub av1_tiles: usize,
    /// Threads of one AV1 encoder (`VEZA_VIDEO_AV1_THREADS`, default 1: chunks and rungs are
    /// the fleet's parallelism).
    pub av1_threads: usize,
}

impl Default for VideoSettings {
    fn default() -> Self {
        Self {
            max_pixels: 4096 * 2304,
            max_frame_rate: 120.0,
            max_duration: Duration::from_secs(4 * 3600),
            max_input_bytes: 20 << 30,
            ladder: vec![
                LadderStep {
                    height: 360,
                    kbps: 700,
                },
                LadderStep {
                    height: 720,
                    kbps: 2_000,
                },
                LadderStep {
                    height: 1080,
                    kbps: 4_000,
                },
            ],
            h264: Some(LadderStep {
                height: 720,
                kbps: 2_500,
            }),
            segment_seconds: 4.0,
            chunk_segments: 2,
            av1_speed: 10,
            av1_tiles: 2,
            av1_threads: 1,
        }
    }
}

fn over(what: String) -> JobError {
    JobError::with_message(ErrorCode::VideoOverLimits, what)
}

/// Checks the original's size before it is even fetched.
pub fn check_size(bytes: u64, settings: &VideoSettings) -> Result<(), JobError> {
    if bytes > settings.max_input_bytes {
        return Err(over(format!(
            "the file is {bytes} bytes; the limit is {}",
            settings.max_input_bytes
        )));
    }
    Ok(())
}

/// Checks the probe's facts: codecs Veza reads, and the configured limits.
pub fn check(facts: &VideoFacts, settings: &VideoSettings) -> Result<(), JobError> {
    let video = &facts.video;
    if !VIDEO_CODECS.contains(&video.codec.as_str()) {
        return Err(JobError::with_message(
            ErrorCode::UnsupportedVideoCodec,
            format!(
                "the video codec is {}; Veza reads {}",
                video.codec,
                VIDEO_CODECS.join(", ")
            ),
        ));
    }
    if let Some(audio) = facts.audio.first()
        && !AUDIO_CODECS.contains(&audio.codec.as_str())
    {
        return Err(JobError::with_message(
            ErrorCode::UnsupportedAudioCodec,
            format!(
                "the soundtrack's codec is {}; Veza reads {}",
                audio.codec,
                AUDIO_CODECS.join(", ")
            ),
        ));
    }
    if video.width == 0 || video.height == 0 {
        return Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            "the video declares no frame size",
        ));
    }
    let pixels = u64::from(video.width) * u64::from(video.height);
    if pixels > settings.max_pixels {
        return Err(over(format!(
            "the frames are {}x{} ({pixels} pixels); the limit is {} pixels",
            video.width, video.height, settings.max_pixels
        )));
    }
    let rate = video.avg_frame_rate.or(video.real_frame_rate).map(|r| r.as_f64());
    if let Some(rate) = rate
        && rate > settings.max_frame_rate
    {
        return Err(over(format!(
            "the frame rate is {rate:.2} fps; the limit is {} fps",
            settings.max_frame_rate
        )));
    }
    let Some(duration) = video.duration_seconds.filter(|d| d.is_finite() && *d > 0.0) else {
        return Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            "the video declares no duration",
        ));
    };
    if duration > settings.max_duration.as_secs_f64() {
        return Err(over(format!(
            "the video lasts {duration:.0} s; the limit is {} s",
            settings.max_duration.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::video::av::{AudioStreamFacts, ColorRange, Ratio, VideoStreamFacts};

    fn facts() -> VideoFacts {
        VideoFacts {
            container: "matroska,webm".into(),
            container_duration_seconds: Some(2.0),
            video: VideoStreamFacts {
                index: 0,
                codec: "vp9".into(),
                width: 1920,
                height: 1080,
                rotation_degrees: 0,
                avg_frame_rate: Some(Ratio { num: 30, den: 1 }),
                real_frame_rate: Some(Ratio { num: 30, den: 1 }),
                variable_frame_rate: false,
                duration_seconds: Some(2.0),
                frame_count: None,
                pixel_format: Some("yuv420p".into()),
                bit_depth: Some(8),
                color_range: ColorRange::Limited,
                color_primaries: None,
                transfer_characteristic: None,
                matrix_coefficients: None,
                hdr: None,
            },
            audio: vec![AudioStreamFacts {
                index: 1,
                codec: "opus".into(),
                channels: Some(2),
                sample_rate: Some(48_000),
            }],
        }
    }

    fn code(result: Result<(), JobError>) -> &'static str {
        result.unwrap_err().code()
    }

    #[test]
    fn a_common_video_passes_and_each_limit_fails_for_good_with_its_reason() {
        let settings = VideoSettings::default();
        assert!(check(&facts(), &settings).is_ok());

        let mut prores = facts();
        prores.video.codec = "prores".into();
        assert_eq!(code(check(&prores, &settings)), "unsupported-video-codec");
        let mut dts = facts();
        dts.audio[0].codec = "dts".into();
        assert_eq!(code(check(&dts, &settings)), "unsupported-audio-codec");

        let small = VideoSettings {
            max_pixels: 1280 * 720,
            max_frame_rate: 25.0,
            max_duration: Duration::from_secs(1),
            max_input_bytes: 10,
            ..VideoSettings::default()
        };
        let err = check(&facts(), &small).unwrap_err();
        assert_eq!(err.code(), "video-over-limits");
        assert!(err.to_string().contains("1920x1080"), "{err}");
        let pixels_ok = VideoSettings {
            max_pixels: u64::MAX,
            ..small.clone()
        };
        assert!(
            check(&facts(), &pixels_ok)
                .unwrap_err()
                .to_string()
                .contains("30.00 fps")
        );
        let rate_ok = VideoSettings {
            max_frame_rate: 60.0,
            ..pixels_ok
        };
        assert!(
            check(&facts(), &rate_ok)
                .unwrap_err()
                .to_string()
                .contains("lasts 2 s")
        );
        assert_eq!(code(check_size(11, &small)), "video-over-limits");
        assert!(check_size(10, &small).is_ok());

        let mut no_duration = facts();
        no_duration.video.duration_seconds = None;
        assert_eq!(code(check(&no_duration, &settings)), "corrupt-video");
    }
}
