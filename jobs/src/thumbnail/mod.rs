//! The thumbnail job: decode an image, render a ladder of sizes, store them, publish.

mod render;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub use render::{Thumbnail, render_ladder};

use crate::{
    context::{JobContext, JobRun},
    error::JobError,
    media::{self, NewOutput},
    queue::{self, EnqueueError, JobKind, JobOwner},
    retry::RetryPolicy,
    storage::Storage,
};

/// The queue name.
pub const QUEUE: &str = "thumbnail";
/// Version of the thumbnail pipeline; raise it when outputs change, and repair redoes older ones.
pub const PIPELINE_VERSION: i32 = 1;

/// Attempts and backoff.
pub const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base: Duration::from_secs(5),
    cap: Duration::from_secs(300),
};

/// Settings of the thumbnail job.
#[derive(Debug, Clone)]
pub struct ThumbnailSettings {
    /// Long-side sizes in pixels; sizes at or above the original's long side are skipped.
    pub sizes: Vec<u32>,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
    /// Largest original accepted, in bytes.
    pub max_input_bytes: u64,
    /// Largest original accepted, in pixels (width × height), checked from the header.
    pub max_input_pixels: u64,
}

impl Default for ThumbnailSettings {
    fn default() -> Self {
        Self {
            sizes: vec![160, 320, 640, 1280],
            jpeg_quality: 82,
            max_input_bytes: 64 * 1024 * 1024,
            max_input_pixels: 50_000_000,
        }
    }
}

/// The payload of a thumbnail job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThumbnailJob {
    /// The image to thumbnail.
    pub media_id: Uuid,
}

/// Enqueues a thumbnail job on the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, owner: Uuid, media_id: Uuid) -> Result<Uuid, EnqueueError> {
    let job_owner = JobOwner {
        user_id: owner,
        media_id: Some(media_id),
    };
    queue::enqueue(
        conn,
        JobKind::Thumbnail,
        job_owner,
        &ThumbnailJob { media_id },
        RETRY.max_attempts,
    )
    .await
}

/// Runs the job. The generation is the job id, so every attempt writes the same keys and rows:
/// a re-run after a crash overwrites instead of adding.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: ThumbnailJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        // Deleted since upload: nothing to do.
        return Ok(());
    };
    let settings = ctx.settings.thumbnail.clone();
    if u64::try_from(media.size_bytes).unwrap_or(u64::MAX) > settings.max_input_bytes {
        return Err(JobError::permanent(
            "image-too-large",
            format!(
                "the image is {} bytes; the limit is {}",
                media.size_bytes, settings.max_input_bytes
            ),
        ));
    }
    let original = ctx
        .storage
        .get_stream(&media.original_key)
        .await?
        .ok_or_else(|| {
            JobError::permanent("original-missing", "the uploaded original is no longer stored")
        })?;
    let bytes = collect(original.1).await?;

    let thumbnails = tokio::task::spawn_blocking(move || render_ladder(&bytes, &settings))
        .await
        .map_err(|err| {
            JobError::permanent("decoder-crashed", format!("the image decoder crashed: {err}"))
        })??;

    let generation = run.id.to_string();
    let mut stored = Vec::with_capacity(thumbnails.len());
    for thumb in &thumbnails {
        let name = format!("{}.jpg", thumb.width.max(thumb.height));
        let key = Storage::output_key(media.id, "thumbnails", &generation, &name);
        ctx.storage.put_bytes(&key, thumb.jpeg.clone()).await?;
        stored.push((name, key, thumb));
    }
    // Every object is stored before the rows that name them commit, and only while this
    // attempt still holds the job.
    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    for (name, key, thumb) in &stored {
        media::record_output(
            &mut tx,
            &NewOutput {
                media_id: media.id,
                kind: "thumbnail",
                generation: &generation,
                name,
                object_key: key,
                content_type: "image/jpeg",
                size_bytes: thumb.jpeg.len() as u64,
                dimensions: Some((thumb.width, thumb.height)),
                duration_seconds: None,
            },
        )
        .await?;
    }
    publish(&mut tx, media.id, &generation, media.kind == "image").await?;
    tx.commit().await?;
    Ok(())
}

/// Makes a generation the visible one; for an image item that also makes it ready.
async fn publish(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    is_image: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update media set thumbnail_generation = $2, thumbnail_pipeline_version = $4,
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
    .execute(conn)
    .await?;
    Ok(())
}

async fn collect(
    mut stream: futures::stream::BoxStream<'static, Result<Bytes, crate::storage::StorageError>>,
) -> Result<Vec<u8>, JobError> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}
