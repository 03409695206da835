//! HLS playlist text and the file names it refers to. Every file of a generation sits in one
//! folder: the master playlist `index.m3u8`, and per rendition `{name}.m3u8`, `{name}-init.mp4`
//! and `{name}-{index:05}.m4s` (the name is the rendition's, e.g. `opus-128k`).

use std::fmt::Write as _;

/// File name of the master playlist: the playback entry point.
pub const MASTER_PLAYLIST: &str = "index.m3u8";

/// File name of a rendition's media playlist.
pub fn playlist_file_name(rendition: &str) -> String {
    format!("{rendition}.m3u8")
}

/// File name of a rendition's init segment (referenced by `EXT-X-MAP`).
pub fn init_file_name(rendition: &str) -> String {
    format!("{rendition}-init.mp4")
}

/// File name of a rendition's media segment `index`, zero-padded so names sort in playback order.
pub fn segment_file_name(rendition: &str, index: u32) -> String {
    format!("{rendition}-{index:05}.m4s")
}

/// Render a VOD media playlist (fMP4, version 7) of `rendition` from its segment durations.
pub fn media_playlist(rendition: &str, durations: &[f64]) -> String {
    let max = durations
        .iter()
        .copied()
        .filter(|d| d.is_finite())
        .fold(0.0f64, f64::max);
    // RFC 8216 §4.3.3.1: every EXTINF rounded to the nearest integer is at most the target.
    let target = (max.round().max(1.0)) as u64;
    let mut out = String::with_capacity(200 + durations.len() * 48);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    // Writing to a String cannot fail; ignoring the fmt::Result keeps this function infallible.
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_file_name(rendition));
    for (index, duration) in (0u32..).zip(durations) {
        let _ = writeln!(
            out,
            "#EXTINF:{duration:.5},\n{}",
            segment_file_name(rendition, index)
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// One variant stream of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The rendition's name.
    pub rendition: String,
    /// Peak segment bit rate in bits per second.
    pub bandwidth: u64,
    /// Average bit rate in bits per second.
    pub average_bandwidth: u64,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// A video variant's picture: RESOLUTION and FRAME-RATE.
    pub picture: Option<Picture>,
}

/// A video variant's picture size and frame rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub frame_rate: f64,
}

/// Render the master playlist naming every variant's media playlist, in the given order (the
/// first is where most players start).
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = writeln!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"{}\n{}",
            v.bandwidth,
            v.average_bandwidth,
            v.codecs,
            v.picture.map_or(String::new(), |p| format!(
                ",RESOLUTION={}x{},FRAME-RATE={:.3}",
                p.width, p.height, p.frame_rate
            )),
            playlist_file_name(&v.rendition)
        );
    }
    out
}
/// An audio rendition of a video, offered to its video variants through an `EXT-X-MEDIA`
/// group (one group per audio codec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioRendition {
    /// The rendition's name (its media playlist is `{name}.m3u8`).
    pub name: String,
    /// RFC 6381 codec string.
    pub codecs: String,
    /// Peak bit rate in bits per second.
    pub bandwidth: u64,
    /// Channels.
    pub channels: u16,
}

/// The master playlist of a video: every video variant once per audio group (players pick the
/// pair whose CODECS they decode), or alone when the video is silent.
pub fn video_master_playlist(video: &[Variant], audio: &[AudioRendition]) -> String {
    if audio.is_empty() {
        return master_playlist(video);
    }
    let mut groups: Vec<&str> = Vec::new();
    for rendition in audio {
        if !groups.contains(&rendition.codecs.as_str()) {
            groups.push(&rendition.codecs);
        }
    }
    let group_id = |codecs: &str| {
        if codecs.starts_with("mp4a") {
            "aac".to_owned()
        } else {
            codecs.to_lowercase()
        }
    };
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for codecs in &groups {
        for (i, rendition) in audio.iter().filter(|r| r.codecs == *codecs).enumerate() {
            let _ = writeln!(
                out,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\",DEFAULT={},AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}\"",
                group_id(codecs),
                rendition.name,
                if i == 0 { "YES" } else { "NO" },
                rendition.channels,
                playlist_file_name(&rendition.name)
            );
        }
    }
    for codecs in &groups {
        let peak = audio
            .iter()
            .filter(|r| r.codecs == *codecs)
            .map(|r| r.bandwidth)
            .max()
            .unwrap_or(0);
        for v in video {
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{},{}\"{},AUDIO=\"{}\"\n{}",
                v.bandwidth + peak,
                v.average_bandwidth + peak,
                v.codecs,
                codecs,
                v.picture.map_or(String::new(), |p| format!(
                    ",RESOLUTION={}x{},FRAME-RATE={:.3}",
                    p.width, p.height, p.frame_rate
                )),
                group_id(codecs),
                playlist_file_name(&v.rendition)
            );
        }
    }
    out
}
