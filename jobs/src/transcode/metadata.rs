//! What an audio file says about itself: stream facts, the usual tags and the embedded cover.
//!
//! Read from symphonia's format reader after probing, so it costs the container headers and
//! tag blocks, not a decode. Tags come from whatever the container carries — Vorbis comments
//! (FLAC, Ogg), ID3v2/ID3v1/APE (MP3), iTunes `ilst` atoms (M4A) — through symphonia 0.6's
//! `StandardTag`, which already maps each format's keys onto one vocabulary.
//!
//! [`AudioMetadata`] serializes to JSON for the media row; the cover's bytes are left out of
//! the JSON (`#[serde(skip)]`) and are meant to be stored as their own object.

pub use crate::media::audio::Tags;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_ALAC, CODEC_ID_OPUS};
use symphonia::core::formats::{FormatReader, Track, TrackType};
use symphonia::core::io::MediaSource;
use symphonia::core::meta::{MetadataContainer, StandardTag, StandardVisualKey, Visual};

use super::error::TranscodeError;

/// Covers larger than this are ignored: no real cover needs it, and the bytes are held in memory.
pub const MAX_COVER_BYTES: usize = 16 * 1024 * 1024;
/// Tag values longer than this (in bytes) are cut at a character boundary.
pub const MAX_TAG_BYTES: usize = 1024;

/// Stream facts, tags and cover art of one audio file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioMetadata {
    /// Container as symphonia names it ("flac", "mp3", "isomp4", "ogg", "wave", ...).
    pub container: String,
    /// Duration the container declares, in seconds; `None` when it declares none (some MP3s).
    pub duration_seconds: Option<f64>,
    /// Sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Number of channels.
    pub channels: Option<u16>,
    /// Bits per sample of the decoded stream, for lossless and PCM codecs only.
    pub bits_per_sample: Option<u32>,
    /// The usual descriptive tags.
    pub tags: Tags,
    /// The embedded picture, front cover preferred.
    pub cover_art: Option<CoverArt>,
}

/// An embedded picture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverArt {
    /// MIME type: the one the file declares, or sniffed from the bytes when it declares none.
    pub media_type: String,
    /// Size of the picture in bytes.
    pub size_bytes: u64,
    /// What the tag says the picture shows ("front-cover", "back-cover", ...), if it says.
    pub usage: Option<String>,
    /// The encoded picture; not serialized (store it as an object of its own).
    #[serde(skip)]
    pub data: Bytes,
}

/// Probe `source` by content and read its metadata (no decoding).
pub fn read_metadata(source: Box<dyn MediaSource>) -> Result<AudioMetadata, TranscodeError> {
    let mut reader = super::decode::probe(source)?;
    from_reader(reader.as_mut())
}

/// Read the metadata of the default audio track of an already probed reader. Consumes the
/// reader's queued metadata revisions (the packets and the decoder are unaffected).
pub fn from_reader(reader: &mut dyn FormatReader) -> Result<AudioMetadata, TranscodeError> {
    let container = reader.format_info().short_name.to_owned();
    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| TranscodeError::UnsupportedCodec("no audio track found".into()))?
        .clone();
    let mut out = AudioMetadata {
        container,
        ..stream_facts(&track)
    };

    // Oldest revision first (e.g. a leading ID3v2 before the container's own tags); a later
    // revision's value replaces an earlier one's, so the newest wins where both say something.
    let mut log = reader.metadata();
    let mut covers: Vec<Visual> = Vec::new();
    loop {
        if let Some(revision) = log.current() {
            let track_level = revision
                .per_track
                .iter()
                .filter(|t| t.track_id == u64::from(track.id))
                .map(|t| &t.metadata);
            for container in std::iter::once(&revision.media).chain(track_level) {
                apply_container(&mut out.tags, container);
                covers.extend(container.visuals.iter().filter(|v| usable_cover(v)).cloned());
            }
        }
        if log.pop().is_none() {
            break;
        }
    }
    out.cover_art = pick_cover(covers);
    Ok(out)
}

/// Duration, rate, channels and bit depth from the track's codec parameters.
fn stream_facts(track: &Track) -> AudioMetadata {
    let params = track.codec_params.as_ref().and_then(|p| p.audio());
    let sample_rate = params.and_then(|p| p.sample_rate).filter(|r| *r > 0);
    let channels = params
        .and_then(|p| p.channels.as_ref())
        .and_then(|c| u16::try_from(c.count()).ok())
        .filter(|c| *c > 0);
    let from_duration = match (track.time_base, track.duration) {
        (Some(tb), Some(d)) => tb.calc_duration(d).map(|t| t.as_secs_f64()),
        _ => None,
    };
    let from_frames = match (track.num_frames, sample_rate) {
        (Some(frames), Some(rate)) => Some(frames as f64 / f64::from(rate)),
        _ => None,
    };
    let mut duration_seconds = from_duration.or(from_frames);
    // Ogg Opus granule positions count the pre-skip (RFC 7845 §4), and symphonia 0.6 reports
    // the last granule as the length: take the pre-skip (its `delay`) back off.
    if params.is_some_and(|p| p.codec == CODEC_ID_OPUS)
        && let (Some(seconds), Some(delay)) = (duration_seconds, track.delay)
    {
        duration_seconds = Some((seconds - f64::from(delay) / 48_000.0).max(0.0));
    }
    AudioMetadata {
        duration_seconds: duration_seconds.filter(|s| s.is_finite() && *s >= 0.0),
        sample_rate,
        channels,
        bits_per_sample: params
            .and_then(|p| p.bits_per_sample.or_else(|| alac_bit_depth(p)))
            .filter(|b| (1..=64).contains(b)),
        ..AudioMetadata::default()
    }
}

/// ALAC in MP4 declares its bit depth only inside its magic cookie (ALACSpecificConfig:
/// frame length u32, compatible version u8, bit depth u8, ...), which symphonia's MP4 reader
/// does not copy into `bits_per_sample`. The cookie may be preceded by `frma` and `alac` atom
/// headers of 12 bytes each.
fn alac_bit_depth(params: &AudioCodecParameters) -> Option<u32> {
    if params.codec != CODEC_ID_ALAC {
        return None;
    }
    let mut cookie = params.extra_data.as_deref()?;
    for atom in [b"frma", b"alac"] {
        if cookie.get(4..8) == Some(&atom[..]) {
            cookie = cookie.get(12..)?;
        }
    }
    if cookie.len() < 24 {
        return None;
    }
    cookie.get(5).map(|b| u32::from(*b))
}

fn apply_container(tags: &mut Tags, container: &MetadataContainer) {
    for tag in &container.tags {
        let Some(std) = &tag.std else { continue };
        // ID3v2.3's TDAT holds "DDMM", yet symphonia files it as a recording date: "1708" would
        // read as the year 1708.
        if tag.raw.key.eq_ignore_ascii_case("TDAT") {
            continue;
        }
        match std {
            StandardTag::TrackTitle(v) => set_text(&mut tags.title, v),
            StandardTag::Artist(v) => set_text(&mut tags.artist, v),
            StandardTag::Album(v) => set_text(&mut tags.album, v),
            StandardTag::AlbumArtist(v) => set_text(&mut tags.album_artist, v),
            StandardTag::Genre(v) => set_text(&mut tags.genre, v),
            StandardTag::TrackNumber(n) => tags.track_number = Some(*n),
            StandardTag::TrackTotal(n) => tags.track_total = Some(*n),
            StandardTag::DiscNumber(n) => tags.disc_number = Some(*n),
            StandardTag::RecordingYear(y) | StandardTag::ReleaseYear(y) => tags.year = Some(*y),
            StandardTag::RecordingDate(v) | StandardTag::ReleaseDate(v) => {
                // An explicit year tag is more trustworthy than one read off a date.
                if let Some(year) = leading_year(v) {
                    tags.year = tags.year.or(Some(year));
                }
                // A bare year says nothing more than `year`.
                if v.trim().len() > 4 {
                    set_text(&mut tags.date, v);
                }
            }
            _ => {}
        }
    }
}

fn set_text(field: &mut Option<String>, value: &Arc<String>) {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if trimmed.is_empty() {
        return;
    }
    let mut end = trimmed.len().min(MAX_TAG_BYTES);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    *field = trimmed.get(..end).map(str::to_owned);
}

/// "2021", "2021-05-14" or "2021-05-14T10:00:00" → 2021.
fn leading_year(date: &str) -> Option<u16> {
    let digits = date.trim().get(..4)?;
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

fn usable_cover(visual: &Visual) -> bool {
    !visual.data.is_empty() && visual.data.len() <= MAX_COVER_BYTES
}

/// Picture types a cover may be stored and served as. The type is read from the picture's
/// bytes, never from the tag: a tag can claim anything (`image/svg+xml` served from the API's
/// origin would run scripts), and a picture of any other type is dropped.
const COVER_TYPES: [&str; 5] = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"];

/// Front cover first, then any other picture, first come first served.
fn pick_cover(covers: Vec<Visual>) -> Option<CoverArt> {
    let index = covers
        .iter()
        .position(|v| v.usage == Some(StandardVisualKey::FrontCover))
        .unwrap_or(0);
    let visual = covers.into_iter().nth(index)?;
    let Some(media_type) = infer::get(&visual.data)
        .map(|kind| kind.mime_type())
        .and_then(|sniffed| COVER_TYPES.into_iter().find(|allowed| *allowed == sniffed))
    else {
        tracing::info!(
            declared = visual.media_type.as_deref().unwrap_or("none"),
            "embedded picture is not a JPEG, PNG, GIF, WebP or BMP image: no cover art"
        );
        return None;
    };
    Some(CoverArt {
        media_type: media_type.to_owned(),
        size_bytes: visual.data.len() as u64,
        usage: visual.usage.map(usage_name),
        data: Bytes::from(visual.data.into_vec()),
    })
}

fn usage_name(key: StandardVisualKey) -> String {
    let debug = format!("{key:?}");
    // "FrontCover" → "front-cover": stable, readable, and no hand-kept table to drift.
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests;
