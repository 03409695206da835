//! The thumbnail job: decode an image, render a ladder of sizes, store them, publish. An audio
//! item's picture is its embedded cover art (stored by the transcode), else its waveform drawn
//! from the stored peaks.

mod color;
mod decode;
mod encode;
mod error;
mod hash;
mod heif;
mod orient;
mod raster;
mod render;
mod resize;
mod waveform_image;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub use crate::media::heif_brands::HeifKind;
pub use error::ThumbError;
pub use render::{Format, Rendered, Thumbnail, ThumbnailSettings, render};

use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    media::{self, NewOutput},
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
    storage::Storage,
};

/// The queue name.
pub const QUEUE: &str = "thumbnail";
/// Version of the thumbnail pipeline; raise it when outputs change, and repair redoes older ones.
/// 2: JPEG and WebP per size, sRGB from the ICC profile, EXIF orientation, thumbhash.
pub const PIPELINE_VERSION: i32 = 2;

/// The thumbnail kind.
pub struct ThumbnailKind;

impl Kind for ThumbnailKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(5),
        cap: Duration::from_secs(300),
    };
    const TIMEOUT: Duration = Duration::from_secs(300);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str = "renders an image's thumbnails, or an audio item's cover art or waveform";
    type Payload = ThumbnailJob;

    fn media_id(job: &ThumbnailJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: ThumbnailJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of a thumbnail job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThumbnailJob {
    /// The image to thumbnail.
    pub media_id: Uuid,
}

/// Enqueues a thumbnail job on the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    owner: Uuid,
    media_id: Uuid,
    priority: Priority,
) -> Result<Uuid, EnqueueError> {
    let job_owner = JobOwner {
        user_id: owner,
        media_id: Some(media_id),
    };
    queue::enqueue::<ThumbnailKind>(conn, job_owner, &ThumbnailJob { media_id }, priority).await
}

/// Runs the job. The generation is the job id, so every attempt writes the same keys and rows:
/// a re-run after a crash overwrites instead of adding.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: ThumbnailJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        // Deleted since upload: nothing to do.
        return Ok(());
    };
    let settings = ThumbnailSettings::clone(&ctx.settings.get::<ThumbnailSettings>());
    let rendered = if media.kind == "audio" {
        audio_picture(ctx, &media, settings).await?
    } else if media.kind == "video" {
        video_picture(ctx, &media, settings).await?
    } else {
        if u64::try_from(media.size_bytes).unwrap_or(u64::MAX) > settings.max_input_bytes {
            return Err(JobError::with_message(
                ErrorCode::ImageTooLarge,
                format!(
                    "the image is {} bytes; the limit is {}",
                    media.size_bytes, settings.max_input_bytes
                ),
            ));
        }
        let bytes = fetch(ctx, &media.original_key, "the uploaded original").await?;
        render_off_runtime(ctx, move || render(&bytes, &settings)).await?
    };

    let generation = run.id.to_string();
    let mut stored = Vec::with_capacity(rendered.thumbnails.len());
    for thumb in &rendered.thumbnails {
        let (extension, content_type) = (thumb.format.extension(), thumb.format.content_type());
        let name = format!("{}.{extension}", thumb.width.max(thumb.height));
        let key = Storage::output_key(media.id, "thumbnails", &generation, &name);
        ctx.storage.put_bytes(&key, thumb.bytes.clone()).await?;
        stored.push((name, key, content_type, thumb));
    }
    // Every object is stored before the rows that name them commit, and only while this
    // attempt still holds the job.
    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    for (name, key, content_type, thumb) in &stored {
        media::record_output(
            &mut tx,
            &NewOutput {
                media_id: media.id,
                kind: "thumbnail", // an output kind, not a queue name
                generation: &generation,
                name,
                object_key: key,
                content_type,
                bytes: &thumb.bytes,
                dimensions: Some((thumb.width, thumb.height)),
                duration_seconds: None,
            },
        )
        .await?;
    }
    publish(&mut tx, media.id, &generation, media.kind == "image", &rendered).await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a generation the visible one; for an image item that also makes it ready.
async fn publish(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    is_image: bool,
    rendered: &Rendered,
) -> Result<(), sqlx::Error> {
    let [r, g, b] = rendered.dominant_color;
    sqlx::query(
        "update media set thumbnail_generation = $2, thumbnail_pipeline_version = $4,
                thumbhash = $5, dominant_color = $6,
                width = case when $3 then $7 else width end,
                height = case when $3 then $8 else height end,
                status = case when $3 then 'ready' else status end,
                error_code = case when $3 then null else error_code end,
                error_message = case when $3 then null else error_message end,
                updated_at = now()
          where id = $1",
    )
    .bind(media_id)
    .bind(generation)
    .bind(is_image)
    .bind(PIPELINE_VERSION)
    .bind(&rendered.thumbhash)
    .bind(format!("#{r:02x}{g:02x}{b:02x}"))
    .bind(i32::try_from(rendered.width).ok())
    .bind(i32::try_from(rendered.height).ok())
    .execute(conn)
    .await?;
    Ok(())
}

/// Renders on the bounded CPU pool.
async fn render_off_runtime(
    ctx: &JobContext,
    work: impl FnOnce() -> Result<Rendered, ThumbError> + Send + 'static,
) -> Result<Rendered, JobError> {
    let rendered = ctx.cpu.spawn(work).await.map_err(|err| {
        JobError::with_message(ErrorCode::DecoderCrashed, "the image decoder crashed").with_cause(err)
    })??;
    Ok(rendered)
}

/// The whole object at `key`; `what` names it in the error when it is gone.
async fn fetch(ctx: &JobContext, key: &str, what: &str) -> Result<Vec<u8>, JobError> {
    let bytes = ctx.storage.get_bytes(key).await?.ok_or_else(|| {
        JobError::with_message(ErrorCode::OriginalMissing, format!("{what} is no longer stored"))
    })?;
    Ok(bytes.to_vec())
}

/// A video item's thumbnails: from the poster frame its published generation picked.
async fn video_picture(
    ctx: &JobContext,
    media: &media::Media,
    settings: ThumbnailSettings,
) -> Result<Rendered, JobError> {
    let poster: Option<String> = sqlx::query_scalar(
        "select o.object_key from outputs o join media m on m.id = o.media_id
          where o.media_id = $1 and o.generation = m.playback_generation and o.kind = 'poster'",
    )
    .bind(media.id)
    .fetch_optional(&ctx.pool)
    .await?;
    let poster = poster.ok_or_else(|| {
        JobError::with_message(
            ErrorCode::NoPoster,
            "the video has no published poster frame to picture",
        )
    })?;
    let bytes = fetch(ctx, &poster, "the poster frame").await?;
    render_off_runtime(ctx, move || render(&bytes, &settings)).await
}

/// An audio item's thumbnails: from its cover art when it has one that decodes, else from its
/// waveform peaks. Both come from the published transcode generation.
async fn audio_picture(
    ctx: &JobContext,
    media: &media::Media,
    settings: ThumbnailSettings,
) -> Result<Rendered, JobError> {
    let sources: Vec<(String, String)> = sqlx::query_as(
        "select o.kind, o.object_key from outputs o join media m on m.id = o.media_id
          where o.media_id = $1 and o.generation = m.playback_generation
            and (o.kind = 'cover-art' or (o.kind = 'waveform' and o.name = $2))
          order by o.kind",
    )
    .bind(media.id)
    .bind(crate::media::waveform::WAVEFORM_DAT)
    .fetch_all(&ctx.pool)
    .await?;
    let key = |kind: &str| {
        sources
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, key)| key.clone())
    };
    if let Some(cover) = key("cover-art") {
        let bytes = fetch(ctx, &cover, "the cover art").await?;
        let cover_settings = settings.clone();
        match render_off_runtime(ctx, move || render(&bytes, &cover_settings)).await {
            Ok(rendered) => return Ok(rendered),
            Err(err) => {
                tracing::warn!(media_id = %media.id, error = %err, "cover art does not decode; drawing the waveform")
            }
        }
    }
    let waveform = key("waveform").ok_or_else(|| {
        JobError::with_message(
            ErrorCode::NoAudioOutputs,
            "the audio item has no published transcode to picture",
        )
    })?;
    let dat = fetch(ctx, &waveform, "the waveform").await?;
    render_off_runtime(ctx, move || render(&waveform_image::draw(&dat)?, &settings)).await
}

impl From<ThumbError> for JobError {
    fn from(err: ThumbError) -> Self {
        JobError::with_message(err.code, err.message)
    }
}
