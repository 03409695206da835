//! The transcode job: audio original → Opus in fMP4 segments → HLS, published last.
//!
//! Steps: fetch the original to a scratch file → decode, resample and encode on a blocking
//! thread, handing each finished fMP4 part to the async side → store each part under the job's
//! generation and record it → write the playlist → in one transaction record the playlist and
//! flip the media row to `ready` with this generation. A reader never sees a playlist that names
//! a missing segment: the playlist is written after every segment, and only becomes visible
//! when the row names its generation.
//!
//! Analysis that rides along on the same decoded PCM, each fed block by block: [`loudness`]
//! (EBU R128 and playback gain), [`waveform`] (audiowaveform peaks) and [`metadata`] (tags and
//! cover art from the probe). [`opus_in_ogg`] decodes `.opus` uploads, which symphonia cannot.

mod decode;
mod encode;
mod error;
mod fmp4;
mod hls;
pub mod loudness;
pub mod metadata;
pub mod opus_in_ogg;
mod pipeline;
mod resample;
pub mod waveform;

pub use error::TranscodeError;
pub use hls::{media_playlist, segment_file_name};
pub use pipeline::{HlsPart, TranscodeSettings, TranscodeSummary, transcode_audio};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::JobError,
    media::{self, NewOutput},
    queue::{self, EnqueueError, JobKind, JobOwner},
    retry::RetryPolicy,
    storage::Storage,
};

/// The queue name.
pub const QUEUE: &str = "transcode";
/// Version of the audio pipeline; raise it when outputs change, and repair redoes older ones.
pub const PIPELINE_VERSION: i32 = 1;

/// Attempts and backoff.
pub const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base: Duration::from_secs(10),
    cap: Duration::from_secs(600),
};

/// The payload of a transcode job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeJob {
    /// The audio item to transcode.
    pub media_id: Uuid,
}

/// Enqueues a transcode job on the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, owner: Uuid, media_id: Uuid) -> Result<Uuid, EnqueueError> {
    let job_owner = JobOwner {
        user_id: owner,
        media_id: Some(media_id),
    };
    queue::enqueue(
        conn,
        JobKind::Transcode,
        job_owner,
        &TranscodeJob { media_id },
        RETRY.max_attempts,
    )
    .await
}

impl From<TranscodeError> for JobError {
    fn from(err: TranscodeError) -> Self {
        if err.is_permanent() {
            JobError::permanent(err.code(), err.to_string())
        } else {
            JobError::transient(err.code(), err.to_string())
        }
    }
}

/// Runs the job. The generation is the job id: every attempt of this job writes the same keys
/// and upserts the same rows, so a re-run after a crash leaves one generation, not two.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: TranscodeJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        return Ok(());
    };
    let generation = run.id.to_string();
    tokio::fs::create_dir_all(&ctx.settings.scratch_dir)
        .await
        .map_err(|err| JobError::transient("scratch-unwritable", err.to_string()))?;
    let scratch = ctx.settings.scratch_dir.join(format!("{}.original", run.id));
    let result =
        transcode_into_generation(ctx, run, media.id, &media.original_key, &generation, &scratch).await;
    // The scratch copy is ours alone; removing it is best effort (a leftover is only disk).
    let _ = tokio::fs::remove_file(&scratch).await;
    let (summary, segments) = result?;

    let playlist = media_playlist(&segments);
    let playlist_key = Storage::output_key(media.id, "hls", &generation, "index.m3u8");
    let playlist_size = playlist.len() as u64;
    ctx.storage.put_bytes(&playlist_key, playlist.into()).await?;

    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    media::record_output(
        &mut tx,
        &NewOutput {
            media_id: media.id,
            kind: "hls-playlist",
            generation: &generation,
            name: "index.m3u8",
            object_key: &playlist_key,
            content_type: "application/vnd.apple.mpegurl",
            size_bytes: playlist_size,
            dimensions: None,
            duration_seconds: Some(summary.duration_seconds),
        },
    )
    .await?;
    sqlx::query(
        "update media set playback_generation = $2, playback_pipeline_version = $3, status = 'ready', error_code = null,
                error_message = null, updated_at = now()
          where id = $1",
    )
    .bind(media.id)
    .bind(&generation)
    .bind(PIPELINE_VERSION)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Fetches the original, runs the pipeline on a blocking thread and stores each part as it
/// arrives. Returns the summary and `(index, duration)` of every segment.
async fn transcode_into_generation(
    ctx: &JobContext,
    run: &JobRun,
    media_id: Uuid,
    original_key: &str,
    generation: &str,
    scratch: &std::path::Path,
) -> Result<(TranscodeSummary, Vec<(u32, f64)>), JobError> {
    ctx.storage.download_to_file(original_key, scratch).await?;
    let file = std::fs::File::open(scratch)
        .map_err(|err| JobError::transient("scratch-unreadable", err.to_string()))?;
    let settings = ctx.settings.transcode.clone();
    let cancel = run.cancel.clone();

    // Two parts in flight at most: the encoder waits for storage instead of filling memory.
    let (parts_tx, mut parts_rx) = mpsc::channel::<HlsPart>(2);
    let encoder = tokio::task::spawn_blocking(move || {
        let mut sink = |part: HlsPart| {
            parts_tx
                .blocking_send(part)
                .map_err(|_| TranscodeError::Sink("storage stopped taking parts".into()))
        };
        // Cancellation (drain deadline, timeout) stops the encoder at the next segment boundary;
        // so does the receiver going away (storage failed).
        transcode_audio(Box::new(file), &settings, &mut sink, &|| cancel.is_cancelled())
    });

    let mut segments = Vec::new();
    let mut store_error = None;
    while let Some(part) = parts_rx.recv().await {
        match store_part(ctx, run, media_id, generation, &part).await {
            Ok(Some(segment)) => segments.push(segment),
            Ok(None) => {}
            Err(err) => {
                store_error = Some(err);
                break;
            }
        }
    }
    drop(parts_rx);
    let outcome = encoder
        .await
        .map_err(|err| JobError::permanent("decoder-crashed", format!("the audio decoder crashed: {err}")))?;
    if let Some(err) = store_error {
        return Err(err);
    }
    match outcome {
        Err(TranscodeError::Cancelled) => Err(JobError::Cancelled),
        other => Ok((other?, segments)),
    }
}

/// Stores one part and records it; returns `(index, duration)` for a media segment.
async fn store_part(
    ctx: &JobContext,
    run: &JobRun,
    media_id: Uuid,
    generation: &str,
    part: &HlsPart,
) -> Result<Option<(u32, f64)>, JobError> {
    let (name, kind, bytes, duration, segment) = match part {
        HlsPart::Init(bytes) => ("init.mp4".to_owned(), "hls-init", bytes, None, None),
        HlsPart::Segment {
            index,
            bytes,
            duration_seconds,
        } => (
            segment_file_name(*index),
            "hls-segment",
            bytes,
            Some(*duration_seconds),
            Some((*index, *duration_seconds)),
        ),
    };
    let key = Storage::output_key(media_id, "hls", generation, &name);
    let mut conn = ctx.pool.acquire().await?;
    // A stale attempt (its job rescued by another worker) must not overwrite a segment.
    run.lease.hold(&mut conn).await?;
    ctx.storage.put_bytes(&key, bytes.clone()).await?;
    media::record_output(
        &mut conn,
        &NewOutput {
            media_id,
            kind,
            generation,
            name: &name,
            object_key: &key,
            content_type: "audio/mp4",
            size_bytes: bytes.len() as u64,
            dimensions: None,
            duration_seconds: duration,
        },
    )
    .await?;
    Ok(segment)
}
