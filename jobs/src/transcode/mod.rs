//! The transcode job: audio original → an adaptive ladder (Opus and AAC-LC renditions) in fMP4
//! segments → HLS media playlists and a master playlist, published last.
//!
//! Steps: fetch the original to a scratch file → decode, resample and encode every rendition on
//! a blocking thread, handing each finished fMP4 part to the async side → store each part under
//! the job's generation and record it → write each rendition's media playlist, then the master
//! playlist → in one transaction record the master and flip the media row to `ready` with this
//! generation. A reader never sees a playlist that names a missing file: playlists are written
//! after every segment, and only become visible when the row names their generation.
//!
//! Analysis that rides along on the same decoded PCM, each fed block by block: [`loudness`]
//! (EBU R128 and playback gain), [`waveform`] (audiowaveform peaks) and [`metadata`] (tags and
//! cover art from the probe). [`opus_in_ogg`] decodes `.opus` uploads, which symphonia cannot.
//! [`movie`] reads an MP4/QuickTime file's track list first and refuses video.

mod aac;
mod decode;
mod encode;
mod error;
mod fmp4;
mod input;
mod ladder;
pub mod loudness;
pub mod metadata;
pub mod movie;
pub mod opus_in_ogg;
mod pipeline;
mod resample;
pub mod waveform;

pub use crate::hls::{
    MASTER_PLAYLIST, Variant, init_file_name, master_playlist, media_playlist, playlist_file_name,
    segment_file_name,
};
pub use decode::PcmFormat;
pub use error::TranscodeError;
pub use ladder::{AudioCodec, Rendition};
pub use pipeline::{
    HlsPart, PcmSource, RenditionSummary, Resume, TranscodeSettings, TranscodeSummary, transcode_audio,
    transcode_pcm,
};

pub use crate::media::audio::AudioDetails;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio::sync::mpsc;
use uuid::Uuid;

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
pub const QUEUE: &str = "transcode";
/// Version of the audio pipeline; raise it when outputs change, and repair redoes older ones.
pub const PIPELINE_VERSION: i32 = 3;

/// The transcode kind.
pub struct TranscodeKind;

impl Kind for TranscodeKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(600),
    };
    const TIMEOUT: Duration = Duration::from_secs(3 * 3600);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str = "transcodes audio to the HLS ladder, with loudness and waveform";
    type Payload = TranscodeJob;

    fn media_id(job: &TranscodeJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: TranscodeJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of a transcode job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscodeJob {
    /// The audio item to transcode.
    pub media_id: Uuid,
}

/// Enqueues a transcode job on the caller's transaction.
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
    queue::enqueue::<TranscodeKind>(conn, job_owner, &TranscodeJob { media_id }, priority).await
}

impl From<TranscodeError> for JobError {
    fn from(err: TranscodeError) -> Self {
        match err {
            // Internal failures: their text names files and libraries, not the input's fault.
            TranscodeError::Encoder(_) => {
                JobError::with_message(err.code(), "the audio encoder failed").with_cause(err)
            }
            TranscodeError::Sink(_) => {
                JobError::with_message(err.code(), "storing the output failed").with_cause(err)
            }
            err => JobError::with_message(err.code(), err.to_string()),
        }
    }
}

/// Runs the job. The generation is the job id: every attempt of this job writes the same keys
/// and upserts the same rows, so a re-run after a crash leaves one generation, not two.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: TranscodeJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        return Ok(());
    };
    let limit = ctx.settings.get::<TranscodeSettings>().max_input_bytes;
    if u64::try_from(media.size_bytes).unwrap_or(u64::MAX) > limit {
        return Err(JobError::with_message(
            ErrorCode::AudioTooLarge,
            format!("the file is {} bytes; the limit is {limit}", media.size_bytes),
        ));
    }
    let generation = run.id.to_string();
    tokio::fs::create_dir_all(&ctx.scratch_dir).await.map_err(|err| {
        JobError::with_message(
            ErrorCode::ScratchUnwritable,
            "the worker's scratch space is not writable",
        )
        .with_cause(err)
    })?;
    // One copy per attempt: a stale attempt of this job (its consumer restarted after a
    // database outage and the job was rescued into the new one) may still be running in this
    // process, and removing a shared copy under it failed it (found by tests/faults.rs).
    let scratch = ctx
        .scratch_dir
        .join(format!("{}-{}.original", run.id, Uuid::now_v7()));
    let result = transcode_into_generation(
        ctx,
        run,
        Target {
            media_id: media.id,
            original_key: &media.original_key,
            generation: &generation,
            scratch: &scratch,
        },
        Box::new(open_audio_file),
    )
    .await;
    // The scratch copy is ours alone; removing it is best effort (a leftover is only disk).
    let _ = tokio::fs::remove_file(&scratch).await;
    let summary = result?;
    progress(ctx, run, "finalizing", Some(99)).await?;

    let variants = store_media_playlists(ctx, run, media.id, &generation, &summary).await?;
    for output in audio_outputs(&summary)? {
        store_output(ctx, run, media.id, &generation, output).await?;
    }
    // The master goes last: it names every media playlist, and each of those every segment.
    let master = master_playlist(&variants);
    let master_key = Storage::output_key(media.id, "hls", &generation, MASTER_PLAYLIST);
    let master = bytes::Bytes::from(master);
    ctx.storage.put_bytes(&master_key, master.clone()).await?;

    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    media::record_output(
        &mut tx,
        &NewOutput {
            media_id: media.id,
            kind: "hls-playlist",
            generation: &generation,
            name: MASTER_PLAYLIST,
            object_key: &master_key,
            content_type: PLAYLIST_TYPE,
            bytes: &master,
            dimensions: None,
            duration_seconds: Some(summary.duration_seconds),
        },
    )
    .await?;
    sqlx::query(
        "update media set playback_generation = $2, playback_pipeline_version = $3, status = 'ready', error_code = null,
                error_message = null, audio_details = $4, updated_at = now()
          where id = $1",
    )
    .bind(media.id)
    .bind(&generation)
    .bind(PIPELINE_VERSION)
    .bind(sqlx::types::Json(AudioDetails::of(&summary)))
    .execute(&mut *tx)
    .await?;
    queue::set_progress(&mut tx, run.id, "done", Some(100)).await?;
    // The item's picture (cover art, else the waveform) comes from the thumbnail job. A re-run of
    // an attempt that already published (its acknowledgement was lost) queues no second one.
    if media.playback_generation.as_deref() != Some(generation.as_str()) {
        crate::thumbnail::enqueue(&mut tx, media.owner_id, media.id, Priority::Normal).await?;
    }
    tx.commit().await?;
    Ok(())
}

impl AudioDetails {
    /// The details of a finished transcode.
    pub fn of(summary: &TranscodeSummary) -> Self {
        Self {
            duration_seconds: summary.duration_seconds,
            sample_rate: summary.sample_rate_in,
            channels: summary.channels_in,
            bits_per_sample: summary.metadata.bits_per_sample,
            codec: summary.source_codec.clone(),
            container: summary.metadata.container.clone(),
            tags: summary.metadata.tags.clone(),
            loudness: summary.loudness,
            playback_gain_db: summary.playback_gain_db,
        }
    }
}

/// The content type of HLS playlists.
const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
pub use crate::media::waveform::{WAVEFORM_DAT, WAVEFORM_JSON};

/// One more file of the generation besides the segments.
struct Output {
    area: &'static str,
    name: String,
    kind: &'static str,
    content_type: String,
    bytes: bytes::Bytes,
    duration_seconds: Option<f64>,
}

impl Output {
    fn playlist(name: String, kind: &'static str, text: String, duration_seconds: Option<f64>) -> Self {
        Self {
            area: "hls",
            name,
            kind,
            content_type: PLAYLIST_TYPE.into(),
            bytes: text.into(),
            duration_seconds,
        }
    }
}

/// Writes every rendition's media playlist into the generation; returns the variants for a
/// master playlist.
pub async fn store_media_playlists(
    ctx: &JobContext,
    run: &JobRun,
    media_id: Uuid,
    generation: &str,
    summary: &TranscodeSummary,
) -> Result<Vec<Variant>, JobError> {
    let duration = Some(summary.duration_seconds);
    let mut variants = Vec::with_capacity(summary.renditions.len());
    for rendition in &summary.renditions {
        let name = rendition.rendition.name();
        let playlist = media_playlist(&name, &rendition.segment_durations);
        let output = Output::playlist(
            playlist_file_name(&name),
            "hls-media-playlist",
            playlist,
            duration,
        );
        store_output(ctx, run, media_id, generation, output).await?;
        variants.push(Variant {
            rendition: name,
            bandwidth: rendition.peak_bitrate_bps,
            average_bandwidth: rendition.average_bitrate_bps,
            codecs: rendition.rendition.codecs_attr().to_owned(),
            picture: None,
        });
    }
    Ok(variants)
}

/// The audio item's waveform peaks (audiowaveform `.dat` and JSON) and its embedded cover art.
fn audio_outputs(summary: &TranscodeSummary) -> Result<Vec<Output>, JobError> {
    let audio = |name: &str, kind, content_type: &str, bytes: bytes::Bytes| Output {
        area: "audio",
        name: name.to_owned(),
        kind,
        content_type: content_type.to_owned(),
        bytes,
        duration_seconds: None,
    };
    let mut outputs = vec![
        audio(
            WAVEFORM_DAT,
            "waveform",
            "application/octet-stream",
            summary.waveform.to_dat().into(),
        ),
        audio(
            WAVEFORM_JSON,
            "waveform",
            "application/json",
            summary
                .waveform
                .to_json()
                .map_err(|err| TranscodeError::Encoder(err.to_string()))?
                .into(),
        ),
    ];
    if let Some(cover) = &summary.metadata.cover_art {
        let name = match cover.media_type.as_str() {
            "image/png" => "cover.png",
            "image/gif" => "cover.gif",
            "image/webp" => "cover.webp",
            "image/bmp" => "cover.bmp",
            _ => "cover.jpg",
        };
        outputs.push(audio(name, "cover-art", &cover.media_type, cover.data.clone()));
    }
    Ok(outputs)
}

/// Stores and records one output (fenced on the lease like a segment).
async fn store_output(
    ctx: &JobContext,
    run: &JobRun,
    media_id: Uuid,
    generation: &str,
    output: Output,
) -> Result<(), JobError> {
    let key = Storage::output_key(media_id, output.area, generation, &output.name);
    let mut conn = ctx.pool.acquire().await?;
    run.lease.hold(&mut conn).await?;
    ctx.storage.put_bytes(&key, output.bytes.clone()).await?;
    media::record_output(
        &mut conn,
        &NewOutput {
            media_id,
            kind: output.kind,
            generation,
            name: &output.name,
            object_key: &key,
            content_type: &output.content_type,
            bytes: &output.bytes,
            dimensions: None,
            duration_seconds: output.duration_seconds,
        },
    )
    .await?;
    Ok(())
}

/// Opens the PCM source of a scratch copy, on the blocking thread that then runs the pipeline.
pub type SourceOpener = Box<
    dyn FnOnce(&std::path::Path) -> Result<(Box<dyn PcmSource>, metadata::AudioMetadata), TranscodeError>
        + Send,
>;

/// The audio pipeline's own decoders on an audio file.
fn open_audio_file(
    path: &std::path::Path,
) -> Result<(Box<dyn PcmSource>, metadata::AudioMetadata), TranscodeError> {
    let file = std::fs::File::open(path)
        .map_err(|err| TranscodeError::CorruptMedia(format!("cannot read the file: {err}")))?;
    let (input, metadata) = input::open(file)?;
    Ok((Box::new(input), metadata))
}

/// Where a transcode reads and writes: the item, its original, the generation to fill and this
/// attempt's scratch copy.
pub struct Target<'a> {
    /// The media item.
    pub media_id: Uuid,
    /// Its original's key.
    pub original_key: &'a str,
    /// The generation the renditions go under.
    pub generation: &'a str,
    /// This attempt's scratch copy of the original.
    pub scratch: &'a std::path::Path,
}

/// Fetches the original, runs the pipeline on a blocking thread and stores each part as it
/// arrives (resuming after the segments an earlier attempt stored).
pub async fn transcode_into_generation(
    ctx: &JobContext,
    run: &JobRun,
    target: Target<'_>,
    open: SourceOpener,
) -> Result<TranscodeSummary, JobError> {
    let Target {
        media_id,
        original_key,
        generation,
        scratch,
    } = target;
    ctx.storage.download_to_file(original_key, scratch).await?;
    let path = scratch.to_owned();
    let settings = TranscodeSettings::clone(&ctx.settings.get::<TranscodeSettings>());
    let names: Vec<String> = settings.ladder.iter().map(Rendition::name).collect();
    let resume = stored_segments(ctx, media_id, generation, &names).await?;
    let cancel = run.cancel.clone();

    // Two parts in flight at most: the encoder waits for storage instead of filling memory.
    let (parts_tx, mut parts_rx) = mpsc::channel::<HlsPart>(2);
    let renditions = settings.ladder.len();
    // An audio ladder holds a few MiB of codec state and two parts in flight: it declares none
    // of the memory budget, which is for video chunks' encoders.
    let encoder = ctx.cpu.spawn_wide(renditions, 0, move |threads| {
        let mut sink = |part: HlsPart| {
            parts_tx
                .blocking_send(part)
                .map_err(|_| TranscodeError::Sink("storage stopped taking parts".into()))
        };
        // Cancellation (drain deadline, timeout) stops the encoder at the next segment boundary;
        // so does the receiver going away (storage failed).
        let (mut source, metadata) = open(&path)?;
        transcode_pcm(
            &mut *source,
            metadata,
            &settings,
            &resume,
            &mut sink,
            &|| cancel.is_cancelled(),
            threads,
        )
    });

    let mut store_error = None;
    let (mut expected, mut done) = (None, 0.0);
    while let Some(part) = parts_rx.recv().await {
        let stored = match &part {
            HlsPart::Started {
                expected_seconds,
                resumed_segments,
                resumed_seconds,
            } => {
                expected = *expected_seconds;
                done = *resumed_seconds;
                if *resumed_segments > 0 {
                    tracing::info!(job = %run.id, segments = resumed_segments, "resuming after the stored segments");
                }
                Ok(())
            }
            HlsPart::Segment {
                rendition: 0,
                duration_seconds,
                ..
            } => {
                done += duration_seconds;
                let percent = expected
                    .filter(|total| *total > 0.0)
                    .map(|total| (done / total * 100.0).clamp(0.0, 99.0) as i16);
                match store_part(ctx, run, media_id, generation, &names, &part).await {
                    Ok(()) => progress(ctx, run, "encoding", percent).await,
                    err => err,
                }
            }
            _ => store_part(ctx, run, media_id, generation, &names, &part).await,
        };
        if let Err(err) = stored {
            store_error = Some(err);
            break;
        }
    }
    drop(parts_rx);
    let outcome = encoder.await.map_err(|err| {
        JobError::with_message(ErrorCode::DecoderCrashed, "the audio decoder crashed").with_cause(err)
    })?;
    if let Some(err) = store_error {
        return Err(err);
    }
    match outcome {
        Err(TranscodeError::Cancelled) => Err(JobError::Cancelled),
        other => Ok(other?),
    }
}

/// The segments earlier attempts of this job stored in its generation, per rendition from index
/// 0 without gaps (a segment is recorded only after its object is stored).
async fn stored_segments(
    ctx: &JobContext,
    media_id: Uuid,
    generation: &str,
    names: &[String],
) -> Result<Resume, JobError> {
    let rows: Vec<(String, i64, Option<f64>)> = sqlx::query_as(
        "select name, size_bytes, duration_seconds from outputs
          where media_id = $1 and generation = $2 and kind = 'hls-segment'",
    )
    .bind(media_id)
    .bind(generation)
    .fetch_all(&ctx.pool)
    .await?;
    let by_name: std::collections::HashMap<String, (u64, f64)> = rows
        .into_iter()
        .filter_map(|(name, size, duration)| Some((name, (u64::try_from(size).ok()?, duration?))))
        .collect();
    let stored = names
        .iter()
        .map(|name| {
            (0u32..)
                .map_while(|index| by_name.get(&segment_file_name(name, index)).copied())
                .collect()
        })
        .collect();
    Ok(Resume { stored })
}

/// Records the job's stage and progress.
async fn progress(ctx: &JobContext, run: &JobRun, stage: &str, percent: Option<i16>) -> Result<(), JobError> {
    let mut conn = ctx.pool.acquire().await?;
    queue::set_progress(&mut conn, run.id, stage, percent).await?;
    Ok(())
}

/// Stores one part and records it.
async fn store_part(
    ctx: &JobContext,
    run: &JobRun,
    media_id: Uuid,
    generation: &str,
    names: &[String],
    part: &HlsPart,
) -> Result<(), JobError> {
    let rendition = |index: usize| {
        names
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| JobError::with_message(ErrorCode::TranscodeBug, format!("no rendition {index}")))
    };
    let (name, kind, bytes, duration) = match part {
        HlsPart::Started { .. } => return Ok(()),
        HlsPart::Init { rendition: r, bytes } => (init_file_name(rendition(*r)?), "hls-init", bytes, None),
        HlsPart::Segment {
            rendition: r,
            index,
            bytes,
            duration_seconds,
        } => (
            segment_file_name(rendition(*r)?, *index),
            "hls-segment",
            bytes,
            Some(*duration_seconds),
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
            bytes,
            dimensions: None,
            duration_seconds: duration,
        },
    )
    .await?;
    Ok(())
}
