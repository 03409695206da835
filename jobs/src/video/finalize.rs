//! The finalize kind: once every chunk of a generation is encoded (queued exactly once, by the
//! chunk whose completion took the count to zero), write each rung's media playlist and then
//! the master, and publish: the item is `ready` with this generation.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{HlsFile, chunks, plan::Plan, stills, store_hls};
use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    hls::{
        AudioRendition, MASTER_PLAYLIST, Picture, Variant, media_playlist, playlist_file_name,
        video_master_playlist,
    },
    kind::Kind,
    media::{self, NewOutput},
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
    storage::Storage,
    thumbnail,
};

/// The queue name.
pub const QUEUE: &str = "finalize";
/// Version of the video pipeline; raise it when outputs change, and repair redoes older ones.
pub const PIPELINE_VERSION: i32 = 1;
const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// The poster frame's file (full size, PNG; the thumbnail job makes the item's ladder from it).
const POSTER: &str = "poster.png";
/// The storyboard sprite's file.
const STORYBOARD: &str = "storyboard.jpg";
/// The storyboard's WebVTT index.
const STORYBOARD_INDEX: &str = "storyboard.vtt";

/// The finalize kind.
pub struct FinalizeKind;

impl Kind for FinalizeKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_secs(5),
        cap: Duration::from_secs(300),
    };
    const TIMEOUT: Duration = Duration::from_secs(300);
    const CONCURRENCY: usize = 4;
    const ABOUT: &'static str = "publishes an encoded video: playlists, then the master";
    type Payload = FinalizeJob;

    fn media_id(job: &FinalizeJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: FinalizeJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of a finalize job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinalizeJob {
    /// The video item.
    pub media_id: Uuid,
    /// The generation to publish.
    pub generation: String,
}

/// Enqueues the finalize job on the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    owner: Uuid,
    media_id: Uuid,
    generation: &str,
    priority: Priority,
) -> Result<Uuid, EnqueueError> {
    let job_owner = JobOwner {
        user_id: owner,
        media_id: Some(media_id),
    };
    let job = FinalizeJob {
        media_id,
        generation: generation.to_owned(),
    };
    queue::enqueue::<FinalizeKind>(conn, job_owner, &job, priority).await
}

/// Runs the job.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: FinalizeJob) -> Result<(), JobError> {
    let (plan, reports, soundtrack) = {
        let mut conn = ctx.pool.acquire().await?;
        chunks::reports(&mut conn, job.media_id, &job.generation).await?
    };
    let generation = job.generation.as_str();
    let frame_rate = f64::from(plan.frame_rate.0) / f64::from(plan.frame_rate.1);
    let duration = plan.frame_time(plan.total_frames);
    let mut variants = Vec::with_capacity(plan.rungs.len());
    for (i, rung) in plan.rungs.iter().enumerate() {
        let mut segments: Vec<(u32, u64, f64)> = Vec::new();
        for chunk in &reports {
            let report = chunk.get(i).ok_or_else(|| incomplete(&plan))?;
            segments.extend(report.segments.iter().copied());
        }
        segments.sort_by_key(|(number, _, _)| *number);
        let codecs = reports
            .first()
            .and_then(|chunk| chunk.get(i))
            .map(|report| report.codecs.clone())
            .ok_or_else(|| incomplete(&plan))?;
        let name = rung.name();
        let durations: Vec<f64> = segments.iter().map(|(_, _, seconds)| *seconds).collect();
        let playlist = Bytes::from(media_playlist(&name, &durations));
        let file = HlsFile {
            media_id: job.media_id,
            generation,
            name: &playlist_file_name(&name),
            kind: "hls-media-playlist",
            content_type: PLAYLIST_TYPE,
            bytes: &playlist,
            duration_seconds: Some(duration),
            dimensions: None,
        };
        store_hls(ctx, run, file).await?;
        let bits = |bytes: u64, seconds: f64| (bytes as f64 * 8.0 / seconds.max(1e-3)).ceil() as u64;
        let total_bytes: u64 = segments.iter().map(|(_, bytes, _)| bytes).sum();
        variants.push(Variant {
            rendition: name,
            bandwidth: segments
                .iter()
                .map(|(_, bytes, seconds)| bits(*bytes, *seconds))
                .max()
                .unwrap_or(0),
            average_bandwidth: bits(total_bytes, duration),
            codecs,
            picture: Some(Picture {
                width: rung.width,
                height: rung.height,
                frame_rate,
            }),
        });
    }
    // Players start with the first variant: a middle rung is a better guess than the smallest.
    if variants.len() > 2 {
        variants.swap(0, 1);
    }
    let audio: Vec<AudioRendition> = soundtrack
        .into_iter()
        .map(|a| AudioRendition {
            name: a.name,
            codecs: a.codecs,
            bandwidth: a.bandwidth,
            channels: a.channels,
        })
        .collect();
    let has_poster = publish_stills(ctx, run, &job, &plan, duration).await?;
    let master = Bytes::from(video_master_playlist(&variants, &audio));
    let master_key = Storage::output_key(job.media_id, "hls", generation, MASTER_PLAYLIST);
    ctx.storage.put_bytes(&master_key, master.clone()).await?;

    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    media::record_output(
        &mut tx,
        &NewOutput {
            media_id: job.media_id,
            kind: "hls-playlist",
            generation,
            name: MASTER_PLAYLIST,
            object_key: &master_key,
            content_type: PLAYLIST_TYPE,
            bytes: &master,
            dimensions: None,
            duration_seconds: Some(duration),
        },
    )
    .await?;
    sqlx::query(
        "update media set playback_generation = $2, playback_pipeline_version = $3, status = 'ready',
                error_code = null, error_message = null, updated_at = now()
          where id = $1",
    )
    .bind(job.media_id)
    .bind(generation)
    .bind(PIPELINE_VERSION)
    .execute(&mut *tx)
    .await?;
    if has_poster {
        let owner: Uuid = sqlx::query_scalar("select owner_id from media where id = $1")
            .bind(job.media_id)
            .fetch_one(&mut *tx)
            .await?;
        thumbnail::enqueue(&mut tx, owner, job.media_id, Priority::Interactive).await?;
    }
    queue::set_progress(&mut tx, run.id, "done", Some(100)).await?;
    tx.commit().await?;
    Ok(())
}

/// The generation's poster (the best candidate of every chunk) and storyboard (every chunk's
/// tiles in one sprite, and its WebVTT index); false when no chunk sampled a frame.
async fn publish_stills(
    ctx: &JobContext,
    run: &JobRun,
    job: &FinalizeJob,
    plan: &Plan,
    duration: f64,
) -> Result<bool, JobError> {
    let reports = {
        let mut conn = ctx.pool.acquire().await?;
        chunks::stills(&mut conn, job.media_id, &job.generation).await?
    };
    let best = reports
        .iter()
        .filter_map(|(index, stills)| stills.poster_score.map(|score| (score, *index)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((_, best)) = best else {
        return Ok(false);
    };
    let still = |name: String| async move {
        let key = Storage::output_key(job.media_id, "hls", &job.generation, &name);
        ctx.storage.get_bytes(&key).await?.ok_or_else(|| {
            JobError::with_message(ErrorCode::TranscodeBug, "the video encode hit an internal error")
                .with_cause(format!("{name} is missing"))
        })
    };
    let poster = still(stills::poster_candidate_name(best)).await?;
    let file = HlsFile {
        media_id: job.media_id,
        generation: &job.generation,
        name: POSTER,
        kind: "poster",
        content_type: "image/png",
        bytes: &poster,
        duration_seconds: None,
        dimensions: Some(plan.display_size),
    };
    store_hls(ctx, run, file).await?;

    let mut strips = Vec::with_capacity(reports.len());
    for (index, stills) in reports {
        if !stills.tile_frames.is_empty() {
            strips.push((stills, still(stills::tile_strip_name(index)).await?));
        }
    }
    let sheet_plan = plan.clone();
    let board = ctx
        .cpu
        .spawn(move || stills::storyboard(&strips, &sheet_plan, duration, STORYBOARD))
        .await
        .map_err(|crash| JobError::new(ErrorCode::DecoderCrashed).with_cause(crash))?
        .map_err(|err| {
            JobError::with_message(ErrorCode::TranscodeBug, "the video encode hit an internal error")
                .with_cause(err)
        })?;
    for (name, kind, content_type, bytes, dimensions) in [
        (
            STORYBOARD,
            "storyboard",
            "image/jpeg",
            Bytes::from(board.sprite),
            Some(board.size),
        ),
        (
            STORYBOARD_INDEX,
            "storyboard-index",
            "text/vtt",
            Bytes::from(board.index),
            None,
        ),
    ] {
        let file = HlsFile {
            media_id: job.media_id,
            generation: &job.generation,
            name,
            kind,
            content_type,
            bytes: &bytes,
            duration_seconds: Some(duration),
            dimensions,
        };
        store_hls(ctx, run, file).await?;
    }
    Ok(true)
}

fn incomplete(plan: &Plan) -> JobError {
    JobError::with_message(ErrorCode::TranscodeBug, "the video encode hit an internal error").with_cause(
        format!("a chunk of a {}-rung plan reported no output", plan.rungs.len()),
    )
}
