//! The video kind. Its first step, the probe: fetch the original, read its headers through
//! FFmpeg's demuxers ([`av`], the one module that talks to FFmpeg) before any frame is decoded,
//! check the codecs and the configured [`limits`], and store the facts ([`details`]).
//!
//! A file without a video stream but with a soundtrack (an `.mp4` that is really a podcast)
//! becomes an audio item: the probe flips its kind and queues the audio transcode in one
//! transaction. Otherwise the probe makes the [`plan`] (frame rate, segments, chunks, ladder)
//! and queues one [`encode`] job per chunk; the last chunk done queues [`finalize`], which
//! publishes. `docs/video.md` has the whole design.

pub mod av;
mod av_audio;
mod chunks;
mod colour;
mod details;
pub mod encode;
pub mod finalize;
mod fmp4;
mod h264;
pub mod limits;
mod picture;
pub mod plan;
mod rung_encoder;
pub mod soundtrack;
mod stills;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub use chunks::frames_percent;
pub use limits::VideoSettings;
use plan::Plan;

use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    media::{self, Media},
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "probe";

/// The video probe kind.
pub struct ProbeKind;

impl Kind for ProbeKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(600),
    };
    const TIMEOUT: Duration = Duration::from_secs(600);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str =
        "probes a video's headers: codecs, size, rotation, frame rate, colour, limits";
    type Payload = ProbeJob;

    fn media_id(job: &ProbeJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: ProbeJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of a probe job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeJob {
    /// The video item.
    pub media_id: Uuid,
}

/// Enqueues the probe of a video item on the caller's transaction.
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
    queue::enqueue::<ProbeKind>(conn, job_owner, &ProbeJob { media_id }, priority).await
}

/// Runs the probe.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: ProbeJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        return Ok(());
    };
    let settings = ctx.settings.get::<VideoSettings>();
    limits::check_size(u64::try_from(media.size_bytes).unwrap_or(u64::MAX), &settings)?;
    set_progress(ctx, run, "probing", Some(0)).await?;
    tokio::fs::create_dir_all(&ctx.scratch_dir).await.map_err(|err| {
        JobError::with_message(
            ErrorCode::ScratchUnwritable,
            "the worker's scratch space is not writable",
        )
        .with_cause(err)
    })?;
    // One copy per attempt (a stale attempt of the same job may still hold its own).
    let scratch = ctx
        .scratch_dir
        .join(format!("{}-{}.original", run.id, Uuid::now_v7()));
    let probed = probe_original(ctx, &media, &scratch).await;
    // The scratch copy is ours alone; removing it is best effort (a leftover is only disk).
    let _ = tokio::fs::remove_file(&scratch).await;
    let facts = match probed? {
        Probed::Video(facts) => facts,
        Probed::AudioOnly => return hand_to_audio(ctx, run, &media).await,
    };
    limits::check(&facts, &settings)?;
    let plan = Plan::new(&facts, &settings)?;
    let chunks = plan.chunks();
    // The generation is this job's id: a re-run finds its plan recorded and queues nothing twice.
    let generation = run.id.to_string();
    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    details::store(&mut tx, media.id, &facts).await?;
    if chunks::create(&mut tx, media.id, &generation, &plan, &chunks).await? {
        for chunk in &chunks {
            encode::enqueue(
                &mut tx,
                media.owner_id,
                media.id,
                &generation,
                chunk.index,
                Priority::Interactive,
            )
            .await?;
        }
        if plan.audio_stream.is_some() {
            soundtrack::enqueue(
                &mut tx,
                media.owner_id,
                media.id,
                &generation,
                Priority::Interactive,
            )
            .await?;
        }
    }
    queue::set_progress(&mut tx, run.id, "done", Some(100)).await?;
    tx.commit().await?;
    tracing::info!(
        media_id = %media.id, codec = facts.video.codec, width = facts.video.width,
        height = facts.video.height, rotation = facts.video.rotation_degrees,
        hdr = ?facts.video.hdr, chunks = chunks.len(), rungs = plan.rungs.len(), "video probed"
    );
    Ok(())
}

/// What the probe found.
enum Probed {
    /// A video stream (and its soundtrack, if any).
    Video(Box<av::VideoFacts>),
    /// No video stream, but audio.
    AudioOnly,
}

async fn probe_original(
    ctx: &JobContext,
    media: &Media,
    scratch: &std::path::Path,
) -> Result<Probed, JobError> {
    ctx.storage.download_to_file(&media.original_key, scratch).await?;
    let path = scratch.to_owned();
    let probed = ctx
        .cpu
        .spawn(move || av::probe(&path))
        .await
        .map_err(|crash| JobError::new(ErrorCode::DecoderCrashed).with_cause(crash))?;
    let movie = matches!(
        media.content_type.as_str(),
        "video/mp4" | "video/quicktime" | "video/3gpp" | "video/3gpp2"
    );
    match probed {
        Ok(facts) => Ok(Probed::Video(Box::new(facts))),
        Err(av::ProbeError::NoVideoStream { audio_streams }) if audio_streams > 0 => Ok(Probed::AudioOnly),
        Err(av::ProbeError::NoVideoStream { .. }) => Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            "the file holds neither video nor audio",
        )),
        // The MP4 family's demuxer fails when the track index (`moov`) is missing or cut off.
        Err(av::ProbeError::Unreadable(reason)) if movie => Err(JobError::with_message(
            ErrorCode::UnreadableMoov,
            format!("the file's track index (moov) is missing or unreadable: {reason}"),
        )),
        Err(av::ProbeError::Unreadable(reason)) => Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            format!("the file cannot be read as a video: {reason}"),
        )),
        Err(av::ProbeError::UnsupportedCodec(codec)) => Err(JobError::with_message(
            ErrorCode::UnsupportedVideoCodec,
            format!(
                "no decoder for the video codec {codec}; Veza reads {}",
                limits::VIDEO_CODECS.join(", ")
            ),
        )),
        Err(av::ProbeError::TimedOut(after)) => Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            format!("reading the headers took longer than {} s", after.as_secs()),
        )),
        Err(av::ProbeError::Io(err)) => Err(JobError::new(ErrorCode::ScratchUnreadable).with_cause(err)),
        Err(err @ (av::ProbeError::InvalidArgument(_) | av::ProbeError::Decode(_))) => {
            Err(JobError::new(ErrorCode::TranscodeBug).with_cause(err))
        }
    }
}

/// An item without a video stream but with a soundtrack becomes an audio item, in one
/// transaction with its transcode job (a re-run after a crash finds it audio and queues none).
async fn hand_to_audio(ctx: &JobContext, run: &JobRun, media: &Media) -> Result<(), JobError> {
    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    let flipped =
        sqlx::query("update media set kind = 'audio', updated_at = now() where id = $1 and kind = 'video'")
            .bind(media.id)
            .execute(&mut *tx)
            .await?;
    if flipped.rows_affected() == 1 {
        crate::transcode::enqueue(&mut tx, media.owner_id, media.id, Priority::Interactive).await?;
    }
    queue::set_progress(&mut tx, run.id, "done", Some(100)).await?;
    tx.commit().await?;
    tracing::info!(media_id = %media.id, "no video stream: handed to the audio transcode");
    Ok(())
}

async fn set_progress(
    ctx: &JobContext,
    run: &JobRun,
    stage: &str,
    percent: Option<i16>,
) -> Result<(), JobError> {
    let mut conn = ctx.pool.acquire().await?;
    queue::set_progress(&mut conn, run.id, stage, percent).await?;
    Ok(())
}

/// One file of a generation's folder: HLS files and stills.
pub(crate) struct HlsFile<'a> {
    media_id: Uuid,
    generation: &'a str,
    name: &'a str,
    kind: &'a str,
    content_type: &'a str,
    bytes: &'a bytes::Bytes,
    duration_seconds: Option<f64>,
    dimensions: Option<(u32, u32)>,
}

/// Stores one file under its generation and records it (the segment tracker's row), fenced on
/// the attempt's lease.
pub(crate) async fn store_hls(ctx: &JobContext, run: &JobRun, file: HlsFile<'_>) -> Result<(), JobError> {
    let key = crate::storage::Storage::output_key(file.media_id, "hls", file.generation, file.name);
    let mut conn = ctx.pool.acquire().await?;
    run.lease.hold(&mut conn).await?;
    ctx.storage.put_bytes(&key, file.bytes.clone()).await?;
    media::record_output(
        &mut conn,
        &media::NewOutput {
            media_id: file.media_id,
            kind: file.kind,
            generation: file.generation,
            name: file.name,
            object_key: &key,
            content_type: file.content_type,
            bytes: file.bytes,
            dimensions: file.dimensions,
            duration_seconds: file.duration_seconds,
        },
    )
    .await?;
    Ok(())
}
