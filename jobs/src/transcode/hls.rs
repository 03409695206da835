//! HLS media playlist text and the file names it refers to.

use std::fmt::Write as _;

/// File name of the fMP4 init segment referenced by `EXT-X-MAP`.
pub const INIT_FILE_NAME: &str = "init.mp4";
/// Value for the master playlist's `CODECS` attribute (the sample entry's four-character code).
pub const CODECS_ATTR: &str = "Opus";

/// File name for media segment `index`, zero-padded so names sort in playback order.
pub fn segment_file_name(index: u32) -> String {
    format!("segment-{index:05}.m4s")
}

/// Render a VOD media playlist (fMP4, version 7) from `(index, duration_seconds)` pairs.
pub fn media_playlist(segments: &[(u32, f64)]) -> String {
    let max = segments
        .iter()
        .map(|(_, d)| *d)
        .filter(|d| d.is_finite())
        .fold(0.0f64, f64::max);
    // Tolerate float noise (6.0000001 must not become 7); durations are whole 48 kHz samples.
    let target = ((max - 1e-6).ceil().max(1.0)) as u64;
    let mut out = String::with_capacity(200 + segments.len() * 48);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    // Writing to a String cannot fail; ignoring the fmt::Result keeps this function infallible.
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{INIT_FILE_NAME}\"");
    for (index, duration) in segments {
        let _ = writeln!(out, "#EXTINF:{duration:.5},\n{}", segment_file_name(*index));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}
