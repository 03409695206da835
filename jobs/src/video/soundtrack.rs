//! The soundtrack kind: a video's audio through the audio pipeline's code — decoded by FFmpeg
//! ([`super::av_audio`]), then the same downmix, resampling, encoders (AAC-LC, Opus), segments,
//! loudness and peaks as an audio item, into the video's generation. It runs beside the chunks
//! and counts as one of them: the last of them to finish queues the finalize job.

use std::{path::Path, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use symphonia::core::audio::Channels;
use uuid::Uuid;

use super::{
    av::ProbeError,
    av_audio::AudioDecoder,
    chunks::{self, AudioVariant},
    finalize,
};
use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    media::{self, audio::AudioDetails},
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
    transcode::{self, PcmFormat, PcmSource, Target, TranscodeError, metadata::AudioMetadata},
};

/// The queue name.
pub const QUEUE: &str = "soundtrack";

/// The soundtrack kind.
pub struct SoundtrackKind;

impl Kind for SoundtrackKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(600),
    };
    const TIMEOUT: Duration = Duration::from_secs(3 * 3600);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str = "encodes a video's soundtrack to the audio ladder (AAC, Opus), with loudness";
    type Payload = SoundtrackJob;

    fn media_id(job: &SoundtrackJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: SoundtrackJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of a soundtrack job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoundtrackJob {
    /// The video item.
    pub media_id: Uuid,
    /// The generation (the probe job's id).
    pub generation: String,
}

/// Enqueues the soundtrack job on the caller's transaction.
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
    let job = SoundtrackJob {
        media_id,
        generation: generation.to_owned(),
    };
    queue::enqueue::<SoundtrackKind>(conn, job_owner, &job, priority).await
}

/// FFmpeg's decoder as the audio pipeline's PCM source.
struct FfmpegPcm {
    decoder: AudioDecoder,
    format: PcmFormat,
    codec: String,
}

impl PcmSource for FfmpegPcm {
    fn codec_name(&self) -> &str {
        &self.codec
    }

    fn next_chunk(&mut self) -> Result<Option<(&PcmFormat, &[f32])>, TranscodeError> {
        match self.decoder.next_chunk() {
            Ok(Some(pcm)) => Ok(Some((&self.format, pcm))),
            Ok(None) => Ok(None),
            Err(err) => Err(TranscodeError::CorruptMedia(format!("the soundtrack: {err}"))),
        }
    }
}

fn open_soundtrack(
    path: &Path,
    stream: usize,
    codec: String,
) -> Result<(Box<dyn PcmSource>, AudioMetadata), TranscodeError> {
    let decoder = AudioDecoder::open(path, stream).map_err(|err| match err {
        ProbeError::UnsupportedCodec(codec) => TranscodeError::UnsupportedCodec(codec),
        other => TranscodeError::CorruptMedia(format!("the soundtrack: {other}")),
    })?;
    let format = PcmFormat {
        sample_rate: decoder.rate(),
        channels: Channels::Discrete(decoder.channels()),
    };
    let metadata = AudioMetadata {
        container: "video".into(),
        sample_rate: Some(decoder.rate()),
        channels: Some(decoder.channels()),
        ..AudioMetadata::default()
    };
    Ok((
        Box::new(FfmpegPcm {
            decoder,
            format,
            codec,
        }),
        metadata,
    ))
}

/// Runs the job.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: SoundtrackJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        return Ok(());
    };
    let loaded = {
        let mut conn = ctx.pool.acquire().await?;
        chunks::load_soundtrack(&mut conn, media.id, &job.generation).await?
    };
    // A plan that is gone (reprocessed, deleted), or a soundtrack already counted.
    let Some((plan, false)) = loaded else {
        return Ok(());
    };
    let Some((stream, codec)) = plan.audio_stream.clone() else {
        return Ok(());
    };
    tokio::fs::create_dir_all(&ctx.scratch_dir).await.map_err(|err| {
        JobError::with_message(
            ErrorCode::ScratchUnwritable,
            "the worker's scratch space is not writable",
        )
        .with_cause(err)
    })?;
    let scratch = ctx
        .scratch_dir
        .join(format!("{}-{}.original", run.id, Uuid::now_v7()));
    let target = Target {
        media_id: media.id,
        original_key: &media.original_key,
        generation: &job.generation,
        scratch: &scratch,
    };
    let summary = transcode::transcode_into_generation(
        ctx,
        run,
        target,
        Box::new(move |path: &Path| open_soundtrack(path, stream, codec)),
    )
    .await;
    let _ = tokio::fs::remove_file(&scratch).await;
    let summary = summary?;
    let variants = transcode::store_media_playlists(ctx, run, media.id, &job.generation, &summary).await?;
    let channels = summary.channels_in.clamp(1, 2);
    let report: Vec<AudioVariant> = variants
        .into_iter()
        .map(|variant| AudioVariant {
            name: variant.rendition,
            codecs: variant.codecs,
            bandwidth: variant.bandwidth,
            channels,
        })
        .collect();

    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    // Loudness, peaks' source facts and duration, as for an audio item.
    sqlx::query("update media set audio_details = $2, updated_at = now() where id = $1")
        .bind(media.id)
        .bind(sqlx::types::Json(AudioDetails::of(&summary)))
        .execute(&mut *tx)
        .await?;
    let counted =
        chunks::finish_soundtrack(&mut tx, media.id, &job.generation, &report, run.lease.worker()).await?;
    if counted == Some(0) {
        finalize::enqueue(
            &mut tx,
            media.owner_id,
            media.id,
            &job.generation,
            Priority::Interactive,
        )
        .await?;
    }
    queue::set_progress(&mut tx, run.id, "done", Some(100)).await?;
    tx.commit().await?;
    Ok(())
}
