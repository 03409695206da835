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
