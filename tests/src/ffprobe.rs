//! The independent checker: Debian's ffprobe reads what Veza published.

use std::{path::Path, process::Command};

use serde_json::Value;

/// ffprobe reads the HLS rendition `playlist` as one stream of `codec`, 48 kHz stereo,
/// `seconds` long (±0.1 s).
pub fn check_rendition(playlist: &Path, codec: &str, seconds: f64) {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,sample_rate,channels",
        ])
        .args(["-of", "json"])
        .args(["-allowed_extensions", "ALL"])
        .arg(playlist)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(probe["streams"][0]["codec_name"], codec, "{probe}");
    assert_eq!(probe["streams"][0]["sample_rate"], "48000");
    assert_eq!(probe["streams"][0]["channels"], 2);
    let duration: f64 = probe["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - seconds).abs() < 0.1, "duration {duration}");
}

/// What ffprobe reads of a video rendition (its media playlist, every frame counted) and the
/// frames it marks as keyframes, by number.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRendition {
    /// `codec_name`.
    pub codec: String,
    /// Size.
    pub width: u64,
    /// Size.
    pub height: u64,
    /// Frames decoded.
    pub frames: u64,
    /// Numbers of the keyframes.
    pub keyframes: Vec<u64>,
}

/// Decodes every frame of the video rendition `playlist` with ffprobe (its own decoders:
/// libdav1d for AV1).
pub fn video_rendition(playlist: &Path) -> VideoRendition {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,width,height:frame=key_frame", "-of", "json"])
        .args(["-allowed_extensions", "ALL"])
        .arg(playlist)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let stream = &probe["streams"][0];
    let frames = probe["frames"].as_array().cloned().unwrap_or_default();
    VideoRendition {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: stream["width"].as_u64().unwrap_or_default(),
        height: stream["height"].as_u64().unwrap_or_default(),
        frames: frames.len() as u64,
        keyframes: (0u64..)
            .zip(&frames)
            .filter(|(_, f)| f["key_frame"] == 1)
            .map(|(i, _)| i)
            .collect(),
    }
}

/// The mean Y, Cb and Cr of the first frame of the video rendition `playlist`, decoded by
/// ffmpeg to 8-bit 4:2:0 exactly as stored (no conversion: the renditions are 8-bit 4:2:0),
/// and the colour the stream declares (`color_space`, `color_transfer`, `color_range`).
pub fn first_frame_colour(playlist: &Path) -> ([f64; 3], Value) {
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-allowed_extensions", "ALL", "-i"])
        .arg(playlist)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("ffmpeg (Debian package) must be installed");
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height,color_space,color_transfer,color_range,pix_fmt"])
        .args(["-of", "json", "-allowed_extensions", "ALL"])
        .arg(playlist)
        .output()
        .expect("ffprobe (Debian package ffmpeg) must be installed");
    let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let stream = probe["streams"][0].clone();
    let (w, h) = (
        stream["width"].as_u64().unwrap() as usize,
        stream["height"].as_u64().unwrap() as usize,
    );
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let bytes = decoded.stdout;
    assert_eq!(bytes.len(), w * h + 2 * cw * ch, "one frame of {w}x{h}");
    let mean = |plane: &[u8]| plane.iter().map(|&s| f64::from(s)).sum::<f64>() / plane.len() as f64;
    let (y, chroma) = bytes.split_at(w * h);
    let (u, v) = chroma.split_at(cw * ch);
    ([mean(y), mean(u), mean(v)], stream)
}
