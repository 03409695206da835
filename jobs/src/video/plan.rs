//! The encode plan, made once by the probe from the facts and the settings, and followed by
//! every chunk: the output frame rate, segments of whole frames, chunks of whole segments, and
//! the ladder. Chunks and rungs agree on frame numbers, so every segment of every rung starts
//! with a keyframe at the same time.

use serde::{Deserialize, Serialize};

use super::{av::VideoFacts, colour::SourceColour, limits::VideoSettings};
use crate::error::{ErrorCode, JobError};

/// One rung of the configured ladder: a height and its target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LadderStep {
    /// Output height in pixels (of the displayed, rotated picture).
    pub height: u32,
    /// Target bitrate, kbit/s.
    pub kbps: u32,
}

/// A rendition's video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// AV1 (rav1e): the ladder.
    #[default]
    Av1,
    /// H.264 Constrained Baseline (OpenH264): the fallback for players without AV1.
    H264,
}

/// One rendition to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    /// Its codec.
    #[serde(default)]
    pub codec: VideoCodec,
    /// Output width, even.
    pub width: u32,
    /// Output height, even.
    pub height: u32,
    /// Target bitrate, kbit/s.
    pub kbps: u32,
}

impl Rung {
    /// The rendition's name in keys and playlists, e.g. `av1-720p`, `h264-720p`.
    pub fn name(&self) -> String {
        match self.codec {
            VideoCodec::Av1 => format!("av1-{}p", self.height),
            VideoCodec::H264 => format!("h264-{}p", self.height),
        }
    }
}

/// What every chunk of one video follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The video stream's index in the file.
    pub stream_index: usize,
    /// Clockwise rotation applied to every frame (0, 90, 180, 270).
    pub rotation_degrees: u16,
    /// Output frame rate as a fraction (numerator, denominator), reduced.
    pub frame_rate: (u32, u32),
    /// Frames per segment; a keyframe starts each.
    pub segment_frames: u32,
    /// Segments per chunk (the last chunk may have fewer).
    pub chunk_segments: u32,
    /// Output frames in all.
    pub total_frames: u64,
    /// The renditions: the AV1 ladder smallest first, then the H.264 rung (if any).
    pub rungs: Vec<Rung>,
    /// The soundtrack: its stream's index and codec; `None` for a silent video.
    #[serde(default)]
    pub audio_stream: Option<(usize, String)>,
    /// The source's colour (every frame is brought to SDR BT.709 from it).
    #[serde(default)]
    pub colour: SourceColour,
    /// The upright picture's size.
    #[serde(default)]
    pub display_size: (u32, u32),
    /// Every this many output frames, a storyboard tile and a poster candidate (0: none).
    #[serde(default)]
    pub storyboard_every: u64,
}

/// The storyboard has a tile every second, or fewer for long videos: at most this many.
const STORYBOARD_TILES: f64 = 100.0;

/// One chunk of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Its number, from 0.
    pub index: u32,
    /// Its first output frame.
    pub first_frame: u64,
    /// Its output frames.
    pub frames: u64,
}

impl Plan {
    /// Makes the plan of a probed video.
    pub fn new(facts: &VideoFacts, settings: &VideoSettings) -> Result<Self, JobError> {
        let video = &facts.video;
        let rate = video.avg_frame_rate.or(video.real_frame_rate).ok_or_else(|| {
            JobError::with_message(ErrorCode::CorruptVideo, "the video declares no frame rate")
        })?;
        let (num, den) = reduce(
            u32::try_from(rate.num).unwrap_or(0),
            u32::try_from(rate.den).unwrap_or(0),
        );
        if num == 0 || den == 0 {
            return Err(JobError::with_message(
                ErrorCode::CorruptVideo,
                "the video declares no frame rate",
            ));
        }
        let fps = f64::from(num) / f64::from(den);
        let segment_frames = ((settings.segment_seconds * fps).round() as u32).max(1);
        let duration = video.duration_seconds.unwrap_or_default();
        let total_frames = match video.frame_count {
            Some(count) if !video.variable_frame_rate => count,
            _ => (duration * fps).round() as u64,
        }
        .max(1);
        let (display_width, display_height) = video.display_size();
        Ok(Self {
            stream_index: video.index,
            rotation_degrees: video.rotation_degrees,
            frame_rate: (num, den),
            segment_frames,
            chunk_segments: settings.chunk_segments.max(1),
            total_frames,
            rungs: rungs(display_width, display_height, &settings.ladder)
                .into_iter()
                .chain(settings.h264.and_then(|step| {
                    let rung = rungs(display_width, display_height, &[step]).pop()?;
                    Some(Rung {
                        codec: VideoCodec::H264,
                        ..rung
                    })
                }))
                .collect(),
            audio_stream: facts
                .audio
                .first()
                .map(|audio| (audio.index, audio.codec.clone())),
            colour: SourceColour::of(video),
            display_size: (display_width, display_height),
            storyboard_every: ((duration / STORYBOARD_TILES).max(1.0) * fps).round().max(1.0) as u64,
        })
    }

    /// Frames per chunk.
    pub fn chunk_frames(&self) -> u64 {
        u64::from(self.segment_frames) * u64::from(self.chunk_segments)
    }

    /// Every chunk, in order.
    pub fn chunks(&self) -> Vec<Chunk> {
        let per_chunk = self.chunk_frames();
        (0..self.total_frames.div_ceil(per_chunk))
            .map(|i| Chunk {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                first_frame: i * per_chunk,
                frames: per_chunk.min(self.total_frames - i * per_chunk),
            })
            .collect()
    }

    /// The presentation time of output frame `frame`, in seconds.
    pub fn frame_time(&self, frame: u64) -> f64 {
        frame as f64 * f64::from(self.frame_rate.1) / f64::from(self.frame_rate.0)
    }
}

/// The rungs of `ladder` no taller than the displayed picture, widths from its aspect, both
/// even; a picture smaller than every rung gets one rung of its own size.
fn rungs(display_width: u32, display_height: u32, ladder: &[LadderStep]) -> Vec<Rung> {
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let mut steps = ladder.to_vec();
    steps.sort_by_key(|step| step.height);
    let mut out: Vec<Rung> = steps
        .iter()
        .filter(|step| step.height <= display_height)
        .map(|step| Rung {
            codec: VideoCodec::Av1,
            width: even(f64::from(display_width) * f64::from(step.height) / f64::from(display_height)),
            height: even(f64::from(step.height)),
            kbps: step.kbps,
        })
        .collect();
    out.dedup_by_key(|rung| rung.height);
    if out.is_empty() {
        out.push(Rung {
            codec: VideoCodec::Av1,
            width: even(f64::from(display_width)),
            height: even(f64::from(display_height)),
            kbps: steps.first().map_or(500, |step| step.kbps),
        });
    }
    out
}

fn reduce(num: u32, den: u32) -> (u32, u32) {
    let (mut a, mut b) = (num, den);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    match (num.checked_div(a), den.checked_div(a)) {
        (Some(num), Some(den)) => (num, den),
        _ => (num, den),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LADDER: [LadderStep; 3] = [
        LadderStep {
            height: 360,
            kbps: 700,
        },
        LadderStep {
            height: 720,
            kbps: 2000,
        },
        LadderStep {
            height: 1080,
            kbps: 4000,
        },
    ];

    #[test]
    fn rungs_never_exceed_the_source_keep_its_aspect_and_are_even() {
        let names = |w, h| {
            rungs(w, h, &LADDER)
                .iter()
                .map(|r| (r.width, r.height))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(1920, 1080), [(640, 360), (1280, 720), (1920, 1080)]);
        assert_eq!(names(1280, 720), [(640, 360), (1280, 720)]);
        // A portrait phone clip, displayed 1080 wide and 1920 high.
        assert_eq!(names(1080, 1920), [(202, 360), (406, 720), (608, 1080)]);
        // Odd sizes: 853x481 keeps its aspect in even numbers.
        assert_eq!(names(853, 481), [(638, 360)]);
        // Smaller than every rung: one rung of its own size, made even.
        assert_eq!(names(321, 181), [(322, 182)]);
    }

    #[test]
    fn chunks_are_whole_segments_and_cover_every_frame_once() {
        let plan = Plan {
            stream_index: 0,
            rotation_degrees: 0,
            frame_rate: (30_000, 1001),
            segment_frames: 120,
            chunk_segments: 5,
            total_frames: 1_801,
            rungs: vec![],
            audio_stream: None,
            colour: SourceColour::default(),
            display_size: (1920, 1080),
            storyboard_every: 30,
        };
        let chunks = plan.chunks();
        assert_eq!(chunks.len(), 4);
        assert_eq!(
            chunks[0],
            Chunk {
                index: 0,
                first_frame: 0,
                frames: 600
            }
        );
        assert_eq!(
            chunks[3],
            Chunk {
                index: 3,
                first_frame: 1_800,
                frames: 1
            }
        );
        assert_eq!(chunks.iter().map(|c| c.frames).sum::<u64>(), 1_801);
        assert!((plan.frame_time(30) - 1.001).abs() < 1e-9);
        assert_eq!(reduce(60_000, 2_002), (30_000, 1_001));
        assert_eq!(reduce(50, 2), (25, 1));
    }
}
