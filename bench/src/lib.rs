//! What Veza's benchmarks share: the generated inputs (music-like FLAC, a photo-like JPEG), the
//! references run on them (ffmpeg's ladder, vipsthumbnail) and how a run is timed.
//!
//! Benchmark code: a failed set-up should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod measure;
pub mod music;
pub mod photo;
