//! Media items: what kind an upload is (from its bytes), the `media` row and its outputs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub mod audio;
pub mod heif_brands;
mod sniff;
pub mod waveform;

pub use sniff::{SNIFF_LEN, Sniffed, sniff};

/// The kinds of media Veza processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// Transcoded to the audio HLS ladder.
    Audio,
    /// Thumbnailed.
    Image,
    /// Probed first: MP4/QuickTime (other than M4A-style audio brands), Matroska and WebM. The
    /// container says nothing of its tracks until they are read, so the probe decides: a file
    /// with no video stream but a soundtrack becomes an audio item.
    Video,
}

impl MediaKind {
    /// The `media.kind` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Image => "image",
            Self::Video => "video", // the media kind, not a queue name
        }
    }

    /// The kind stored as `value` in `media.kind`; `None` for a value this build does not know.
    pub fn from_stored(value: &str) -> Option<Self> {
        [Self::Audio, Self::Image, Self::Video]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

/// The fields of a new media row.
#[derive(Debug, Clone)]
pub struct NewMedia<'a> {
    /// Id chosen before the upload (the original's key contains it).
    pub id: Uuid,
    /// Owner.
    pub owner_id: Uuid,
    /// Audio or image.
    pub kind: MediaKind,
    /// Key of the stored original.
    pub original_key: &'a str,
    /// File name the client gave, if any (display only).
    pub original_filename: Option<&'a str>,
    /// Detected MIME type.
    pub content_type: &'a str,
    /// Size of the original.
    pub size_bytes: u64,
    /// SHA-256 of the original.
    pub sha256: &'a str,
}

/// Inserts a media row (status `processing`) on the caller's transaction.
pub async fn insert(conn: &mut PgConnection, media: &NewMedia<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into media (id, owner_id, kind, status, original_key, original_filename,
                            content_type, size_bytes, sha256)
         values ($1, $2, $3, 'processing', $4, $5, $6, $7, $8)",
    )
    .bind(media.id)
    .bind(media.owner_id)
    .bind(media.kind.as_str())
    .bind(media.original_key)
    .bind(media.original_filename)
    .bind(media.content_type)
    .bind(i64::try_from(media.size_bytes).unwrap_or(i64::MAX))
    .bind(media.sha256)
    .execute(conn)
    .await?;
    Ok(())
}

/// A media row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Media {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub owner_id: Uuid,
    /// `audio` or `image`.
    pub kind: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Key of the original.
    pub original_key: String,
    /// File name the client gave.
    pub original_filename: Option<String>,
    /// Detected MIME type.
    pub content_type: String,
    /// Size of the original.
    pub size_bytes: i64,
    /// SHA-256 of the original.
    pub sha256: String,
    /// Published HLS generation.
    pub playback_generation: Option<String>,
    /// Published thumbnail generation.
    pub thumbnail_generation: Option<String>,
    /// Why processing failed.
    pub error_code: Option<String>,
    /// Readable reason of the failure.
    pub error_message: Option<String>,
    /// Upload time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Pixel width after EXIF orientation (images).
    pub width: Option<i32>,
    /// Pixel height after EXIF orientation (images).
    pub height: Option<i32>,
    /// ThumbHash placeholder, base64.
    pub thumbhash: Option<String>,
    /// Dominant colour, `#rrggbb`.
    pub dominant_color: Option<String>,
    /// What the transcode learned about an audio item.
    pub audio_details: Option<sqlx::types::Json<audio::AudioDetails>>,
}

/// `select <every media column> from media <rest>`, as a static string (sqlx wants audited SQL).
macro_rules! select_media {
    ($rest:literal) => {
        concat!(
            "select id, owner_id, kind, status, original_key, original_filename, content_type,
                    size_bytes, sha256, playback_generation, thumbnail_generation, error_code,
                    error_message, created_at, updated_at, width, height, thumbhash, dominant_color,
                    audio_details
               from media ",
            $rest
        )
    };
}

/// Loads a media row of `owner`; `None` when missing or someone else's.
pub async fn find(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<Option<Media>, sqlx::Error> {
    sqlx::query_as(select_media!(
        "where id = $1 and owner_id = $2 and deleted_at is null"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// Loads a media row by id alone (for workers).
pub async fn find_any(pool: &PgPool, id: Uuid) -> Result<Option<Media>, sqlx::Error> {
    sqlx::query_as(select_media!("where id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Lists `owner`'s media, newest first, `limit` rows before the id `before` (keyset paging).
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Media>, sqlx::Error> {
    sqlx::query_as(select_media!(
        "where owner_id = $1 and deleted_at is null and ($2::uuid is null or id < $2)
          order by id desc limit $3"
    ))
    .bind(owner)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Ids of the jobs enqueued for each of `media_ids`, oldest first (one query for a whole page).
pub async fn job_ids(pool: &PgPool, media_ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<Uuid>>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select media_id, id from jobs where media_id = any($1) order by media_id, id")
            .bind(media_ids)
            .fetch_all(pool)
            .await?;
    let mut by_media: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (media_id, job_id) in rows {
        by_media.entry(media_id).or_default().push(job_id);
    }
    Ok(by_media)
}

/// Marks a media item failed with the reason, unless it is already ready (a later failure of
/// one job must not hide outputs another job published).
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update media set status = 'failed', error_code = $2, error_message = $3, updated_at = now()
          where id = $1 and status <> 'ready'",
    )
    .bind(id)
    .bind(code)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a media item still processing failed because its job was cancelled; an item that
/// failed already keeps its first reason (a chunk's failure cancels its siblings).
pub async fn mark_cancelled(
    conn: &mut PgConnection,
    id: Uuid,
    code: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update media set status = 'failed', error_code = $2, error_message = $3, updated_at = now()
          where id = $1 and status = 'processing'",
    )
    .bind(id)
    .bind(code)
    .bind(message)
    .execute(conn)
    .await?;
    Ok(())
}

/// One stored output file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Output {
    /// The media item it belongs to.
    pub media_id: Uuid,
    /// `hls-playlist`, `hls-init`, `hls-segment` or `thumbnail`.
    pub kind: String,
    /// The generation that produced it.
    pub generation: String,
    /// File name within the generation.
    pub name: String,
    /// Object key.
    pub object_key: String,
    /// MIME type.
    pub content_type: String,
    /// Size.
    pub size_bytes: i64,
    /// Pixel width (thumbnails).
    pub width: Option<i32>,
    /// Pixel height (thumbnails).
    pub height: Option<i32>,
    /// Duration (playlists, segments).
    pub duration_seconds: Option<f64>,
}

/// The fields of a new output row.
#[derive(Debug, Clone)]
pub struct NewOutput<'a> {
    /// Media item.
    pub media_id: Uuid,
    /// Output kind.
    pub kind: &'a str,
    /// Generation.
    pub generation: &'a str,
    /// File name within the generation.
    pub name: &'a str,
    /// Object key.
    pub object_key: &'a str,
    /// MIME type.
    pub content_type: &'a str,
    /// The stored bytes (their size and SHA-256 are recorded: the segment tracker's checksums).
    pub bytes: &'a [u8],
    /// Pixel size, when an image.
    pub dimensions: Option<(u32, u32)>,
    /// Duration, when timed.
    pub duration_seconds: Option<f64>,
}

/// Records an output. Idempotent: a re-run of the same job rewrites the same row.
pub async fn record_output(conn: &mut PgConnection, output: &NewOutput<'_>) -> Result<(), sqlx::Error> {
    let (width, height) = match output.dimensions {
        Some((w, h)) => (i32::try_from(w).ok(), i32::try_from(h).ok()),
        None => (None, None),
    };
    sqlx::query(
        "insert into outputs (id, media_id, kind, generation, name, object_key, content_type,
                              size_bytes, width, height, duration_seconds, sha256)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (media_id, generation, name) do update
            set object_key = excluded.object_key, content_type = excluded.content_type,
                size_bytes = excluded.size_bytes, width = excluded.width,
                height = excluded.height, duration_seconds = excluded.duration_seconds,
                sha256 = excluded.sha256",
    )
    .bind(Uuid::now_v7())
    .bind(output.media_id)
    .bind(output.kind)
    .bind(output.generation)
    .bind(output.name)
    .bind(output.object_key)
    .bind(output.content_type)
    .bind(i64::try_from(output.bytes.len()).unwrap_or(i64::MAX))
    .bind(width)
    .bind(height)
    .bind(output.duration_seconds)
    .bind(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(output.bytes)))
    .execute(conn)
    .await?;
    Ok(())
}

/// Outputs of the published generations of each of `media_ids`, for listing (one query for a
/// whole page).
pub async fn published_outputs(
    pool: &PgPool,
    media_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Output>>, sqlx::Error> {
    let rows: Vec<Output> = sqlx::query_as(
        "select o.media_id, o.kind, o.generation, o.name, o.object_key, o.content_type, o.size_bytes,
                o.width, o.height, o.duration_seconds
           from outputs o join media m on m.id = o.media_id
          where o.media_id = any($1)
            and o.kind in ('hls-playlist', 'thumbnail', 'waveform', 'cover-art', 'poster',
                           'storyboard', 'storyboard-index')
            and (o.generation = m.playback_generation or o.generation = m.thumbnail_generation)
          order by o.media_id, o.kind, o.width nulls first, o.name",
    )
    .bind(media_ids)
    .fetch_all(pool)
    .await?;
    let mut by_media: HashMap<Uuid, Vec<Output>> = HashMap::new();
    for output in rows {
        by_media.entry(output.media_id).or_default().push(output);
    }
    Ok(by_media)
}

/// One published output file of a media item (of `owner`'s, when given), for serving; `None`
/// when the item is deleted or the generation is not the published one.
pub async fn find_published_output(
    pool: &PgPool,
    media_id: Uuid,
    owner: Option<Uuid>,
    generation: &str,
    name: &str,
) -> Result<Option<Output>, sqlx::Error> {
    sqlx::query_as(
        "select o.media_id, o.kind, o.generation, o.name, o.object_key, o.content_type, o.size_bytes,
                o.width, o.height, o.duration_seconds
           from outputs o join media m on m.id = o.media_id
          where o.media_id = $1 and ($2::uuid is null or m.owner_id = $2) and m.deleted_at is null
            and o.generation = $3 and o.name = $4
            and (o.generation = m.playback_generation or o.generation = m.thumbnail_generation)",
    )
    .bind(media_id)
    .bind(owner)
    .bind(generation)
    .bind(name)
    .fetch_optional(pool)
    .await
}
