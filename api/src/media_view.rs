//! The API's view of a media item: its status, audio facts and tags, published outputs and
//! failure, converted from the job layer's rows in one place (`media_item`).

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;
use veza_jobs::media::{self, audio::AudioDetails};

/// Why processing failed.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MediaError {
    /// Stable code, e.g. `corrupt-media`.
    pub code: String,
    /// Readable reason.
    pub message: String,
}

/// A stored output file.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OutputFile {
    /// `hls-playlist` (the master playlist), `thumbnail`, `waveform` (audiowaveform peaks,
    /// `waveform.dat` and `waveform.json`), `cover-art` (the picture embedded in the audio),
    /// `poster` (a video's representative frame, full size), `storyboard` (a sprite of a
    /// video's frames every few seconds) or `storyboard-index` (its WebVTT index, `#xywh=`
    /// cues for scrubbing previews).
    pub kind: String,
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Pixel width (thumbnails).
    pub width: Option<i32>,
    /// Pixel height (thumbnails).
    pub height: Option<i32>,
    /// Duration in seconds (playlists).
    pub duration_seconds: Option<f64>,
    /// Where to fetch it (same authentication); the URL carries the generation, so its content
    /// never changes.
    pub url: String,
    /// The same file at a signed URL that needs no header (for `<img src>`, a player, a CDN),
    /// valid for `VEZA_PLAYBACK_URL_TTL_SECONDS` from this answer.
    pub signed_url: String,
}

/// Descriptive tags of an audio file, as it carries them.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AudioTags {
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
    /// Genre.
    pub genre: Option<String>,
}

/// What processing learned about an audio item.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AudioInfo {
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// Sample rate of the original in Hz.
    pub sample_rate: u32,
    /// Channels of the original.
    pub channels: u16,
    /// Bits per sample (lossless and PCM originals).
    pub bits_per_sample: Option<u32>,
    /// Codec of the original, e.g. `flac`.
    pub codec: String,
    /// Container of the original, e.g. `isomp4`.
    pub container: String,
    /// Tags.
    pub tags: AudioTags,
    /// EBU R128 integrated loudness in LUFS (absent for silence).
    pub integrated_lufs: Option<f64>,
    /// EBU R128 loudness range in LU.
    pub loudness_range_lu: Option<f64>,
    /// True peak in dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Gain in dB for a player to apply to reach the platform's target loudness; the true peak
    /// after it stays at or below -1 dBTP. The stream itself is not altered.
    pub playback_gain_db: f64,
}

impl From<AudioDetails> for AudioInfo {
    fn from(d: AudioDetails) -> Self {
        Self {
            duration_seconds: d.duration_seconds,
            sample_rate: d.sample_rate,
            channels: d.channels,
            bits_per_sample: d.bits_per_sample,
            codec: d.codec,
            container: d.container,
            tags: AudioTags {
                title: d.tags.title,
                artist: d.tags.artist,
                album: d.tags.album,
                album_artist: d.tags.album_artist,
                track_number: d.tags.track_number,
                track_total: d.tags.track_total,
                disc_number: d.tags.disc_number,
                year: d.tags.year,
                genre: d.tags.genre,
            },
            integrated_lufs: d.loudness.integrated_lufs,
            loudness_range_lu: d.loudness.range_lu,
            true_peak_dbtp: d.loudness.true_peak_dbtp,
            playback_gain_db: d.playback_gain_db,
        }
    }
}

/// A media item.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MediaItem {
    /// Id.
    pub id: Uuid,
    /// `audio`, `image` or `video`.
    pub kind: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// MIME type of the original.
    pub content_type: String,
    /// File name given at upload.
    pub filename: Option<String>,
    /// Size of the original.
    pub size_bytes: i64,
    /// SHA-256 of the original.
    pub sha256: String,
    /// The HLS master playlist (one variant per rendition of the ladder), once published.
    pub playlist_url: Option<String>,
    /// The master playlist at a signed URL that needs no header: hls.js, Safari's native HLS,
    /// `<video src>` and ffmpeg play it as is (its media playlists and segments resolve to the
    /// same signature). It works for `VEZA_PLAYBACK_URL_TTL_SECONDS` from this answer, and
    /// stops once the item is deleted or reprocessed.
    pub playback_url: Option<String>,
    /// Audio facts, tags and loudness (audio items, once transcoded).
    pub audio: Option<AudioInfo>,
    /// Published outputs (master playlist, thumbnails, waveform peaks, cover art).
    pub outputs: Vec<OutputFile>,
    /// Jobs enqueued for this item.
    pub job_ids: Vec<Uuid>,
    /// Why processing failed, when it did.
    pub error: Option<MediaError>,
    /// How far processing is, in percent: for a video, frames encoded over frames planned
    /// across every chunk of its encode (floored); 100 once the item is ready.
    pub progress_percent: Option<i16>,
    /// Pixel width after orientation (EXIF, or HEIF's own `irot`/`imir`), once thumbnailed.
    pub width: Option<i32>,
    /// Pixel height after orientation (EXIF, or HEIF's own `irot`/`imir`), once thumbnailed.
    pub height: Option<i32>,
    /// ThumbHash placeholder (base64) to show while thumbnails load.
    pub thumbhash: Option<String>,
    /// Dominant colour, `#rrggbb`.
    pub dominant_color: Option<String>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A page of media items.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MediaPage {
    /// Items, newest first.
    pub items: Vec<MediaItem>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<Uuid>,
}

/// Signs the folder of a generation of an item (see [`crate::playback`]).
pub type SignFolder<'a> = &'a dyn Fn(Uuid, &str) -> String;

pub fn media_item(
    row: media::Media,
    outputs: &[media::Output],
    job_ids: Vec<Uuid>,
    progress_percent: Option<i16>,
    sign: SignFolder<'_>,
) -> MediaItem {
    let progress_percent = if row.status == "ready" {
        Some(100)
    } else {
        progress_percent
    };
    let url = |o: &media::Output| format!("/v1/media/{}/outputs/{}/{}", row.id, o.generation, o.name);
    let signed_url = |o: &media::Output| format!("{}/{}", sign(row.id, &o.generation), o.name);
    let playlist = outputs.iter().find(|o| o.kind == "hls-playlist");
    let (playlist_url, playback_url) = (playlist.map(url), playlist.map(signed_url));
    let outputs = outputs
        .iter()
        .map(|o| OutputFile {
            kind: o.kind.clone(),
            name: o.name.clone(),
            content_type: o.content_type.clone(),
            size_bytes: o.size_bytes,
            width: o.width,
            height: o.height,
            duration_seconds: o.duration_seconds,
            url: url(o),
            signed_url: signed_url(o),
        })
        .collect();
    let error = match (row.error_code, row.error_message) {
        (Some(code), message) => Some(MediaError {
            code,
            message: message.unwrap_or_default(),
        }),
        _ => None,
    };
    MediaItem {
        id: row.id,
        kind: row.kind,
        status: row.status,
        content_type: row.content_type,
        filename: row.original_filename,
        size_bytes: row.size_bytes,
        sha256: row.sha256,
        playlist_url,
        playback_url,
        outputs,
        job_ids,
        error,
        progress_percent,
        width: row.width,
        height: row.height,
        audio: row.audio_details.map(|details| details.0.into()),
        thumbhash: row.thumbhash,
        dominant_color: row.dominant_color,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
