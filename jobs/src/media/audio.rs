//! What Veza knows about an audio item, as stored on its media row (`audio_details`) and shown
//! by the API: the facts, the tags and the loudness the transcode measured. The data lives here,
//! in the contract; the transcode kind computes it.

use serde::{Deserialize, Serialize};

/// What the transcode learned about an audio item; stored on its media row (`audio_details`)
/// and returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioDetails {
    /// Duration of the decoded audio in seconds.
    pub duration_seconds: f64,
    /// Sample rate of the source in Hz.
    pub sample_rate: u32,
    /// Channels of the source.
    pub channels: u16,
    /// Bits per sample, for lossless and PCM sources.
    pub bits_per_sample: Option<u32>,
    /// Source codec (e.g. "flac", "mp3", "opus").
    pub codec: String,
    /// Source container (e.g. "flac", "isomp4", "ogg").
    pub container: String,
    /// Title, artist, album, track, year, genre… as the file carries them.
    pub tags: Tags,
    /// EBU R128 integrated loudness, loudness range and true peak.
    pub loudness: Loudness,
    /// Gain in dB a player applies to reach the configured target loudness.
    pub playback_gain_db: f64,
}

/// Descriptive tags; each `None` when the file does not carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags {
    /// Track title.
    pub title: Option<String>,
    /// Track artist.
    pub artist: Option<String>,
    /// Album title.
    pub album: Option<String>,
    /// Album artist.
    pub album_artist: Option<String>,
    /// Position on the disc.
    pub track_number: Option<u64>,
    /// Tracks on the disc.
    pub track_total: Option<u64>,
    /// Disc number.
    pub disc_number: Option<u64>,
    /// Year of recording or release.
    pub year: Option<u16>,
    /// The full date as written (e.g. "2021-05-14"), when the file carries more than a year.
    pub date: Option<String>,
    /// Genre as written.
    pub genre: Option<String>,
}

/// The measurement of one track; stored on the media row as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated (programme) loudness in LUFS; `None` for silence or audio shorter than one
    /// 400 ms gating block, where the standard leaves it undefined.
    pub integrated_lufs: Option<f64>,
    /// Loudness range in LU; `None` when there is no integrated loudness. Zero for steady tones
    /// and anything shorter than about 3 s.
    pub range_lu: Option<f64>,
    /// Highest true peak over all channels in dBTP; `None` for digital silence.
    pub true_peak_dbtp: Option<f64>,
}
