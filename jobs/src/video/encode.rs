//! The encode kind: one chunk of a video's timeline, every rung. The chunk's frames are decoded
//! once (from the keyframe before its start), put on the plan's constant frame rate by
//! timestamp (each output frame shows the latest source frame due by then, so a variable
//! frame rate source never drifts from its sound), turned upright, scaled per rung and encoded
//! with rav1e, a keyframe at every segment start. Its segments are stored under the
//! generation; the last chunk to finish queues the finalize job.

use std::{
    ops::ControlFlow,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use fast_image_resize::Resizer;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    HlsFile,
    av::{self, ProbeError},
    chunks::{self, RungReport},
    finalize, fmp4,
    limits::VideoSettings,
    picture::Picture,
    plan::{Chunk, Plan, Rung, VideoCodec},
    rung_encoder::{Packet, RungEncoder},
    stills::{self, SampledStills, Sampler},
    store_hls,
};
use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    fan_out::fan_out,
    hls::{init_file_name, segment_file_name},
    kind::Kind,
    media,
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "encode";

/// The encode kind.
pub struct EncodeKind;

impl Kind for EncodeKind {
    const QUEUE: &'static str = QUEUE;
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(600),
    };
    const TIMEOUT: Duration = Duration::from_secs(3600);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str = "encodes one chunk of a video to every AV1 rung";
    type Payload = EncodeJob;

    fn media_id(job: &EncodeJob) -> Option<Uuid> {
        Some(job.media_id)
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: EncodeJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// The payload of an encode job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncodeJob {
    /// The video item.
    pub media_id: Uuid,
    /// The generation (the probe job's id).
    pub generation: String,
    /// The chunk's number.
    pub chunk: u32,
}

/// Enqueues the encode of chunk `chunk` on the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    owner: Uuid,
    media_id: Uuid,
    generation: &str,
    chunk: u32,
    priority: Priority,
) -> Result<Uuid, EnqueueError> {
    let job_owner = JobOwner {
        user_id: owner,
        media_id: Some(media_id),
    };
    let job = EncodeJob {
        media_id,
        generation: generation.to_owned(),
        chunk,
    };
    queue::enqueue::<EncodeKind>(conn, job_owner, &job, priority).await
}

/// What one rung of one chunk produced.
struct RungOutput {
    codecs: String,
    init: Bytes,
    /// (global segment number, bytes, seconds).
    segments: Vec<(u32, Bytes, f64)>,
}

/// Runs the job.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: EncodeJob) -> Result<(), JobError> {
    let Some(media) = media::find_any(&ctx.pool, job.media_id).await? else {
        return Ok(());
    };
    let loaded = {
        let mut conn = ctx.pool.acquire().await?;
        chunks::load(&mut conn, media.id, &job.generation, job.chunk).await?
    };
    // A chunk of a plan that is gone (the item reprocessed or deleted), or already counted.
    let Some((plan, chunk, false)) = loaded else {
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
    let encoded = async {
        ctx.storage
            .download_to_file(&media.original_key, &scratch)
            .await?;
        let settings = ctx.settings.get::<VideoSettings>();
        let (path, cancel, work_plan) = (scratch.clone(), run.cancel.clone(), plan.clone());
        let frames = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&frames);
        let memory = chunk_memory_mib(&work_plan, &settings);
        let work = ctx.cpu.spawn_wide(work_plan.rungs.len(), memory, move |threads| {
            encode_chunk(&path, &work_plan, chunk, &settings, &cancel, &counter, threads)
        });
        tokio::pin!(work);
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = 0;
        loop {
            tokio::select! {
                done = &mut work => {
                    break done.map_err(|crash| JobError::new(ErrorCode::DecoderCrashed).with_cause(crash))?;
                }
                _ = ticks.tick() => {
                    let done = frames.load(Ordering::Relaxed);
                    if done != reported {
                        reported = done;
                        report_progress(ctx, run, &job, chunk, done).await?;
                    }
                }
            }
        }
    }
    .await;
    let _ = tokio::fs::remove_file(&scratch).await;
    let (outputs, stills) = encoded?;

    let mut reports = Vec::with_capacity(outputs.len());
    for (rung, output) in plan.rungs.iter().zip(&outputs) {
        let name = rung.name();
        if chunk.index == 0 {
            let file = HlsFile {
                media_id: media.id,
                generation: &job.generation,
                name: &init_file_name(&name),
                kind: "hls-init",
                content_type: "video/mp4",
                bytes: &output.init,
                duration_seconds: None,
                dimensions: None,
            };
            store_hls(ctx, run, file).await?;
        }
        for (number, bytes, seconds) in &output.segments {
            let file = HlsFile {
                media_id: media.id,
                generation: &job.generation,
                name: &segment_file_name(&name, *number),
                kind: "hls-segment",
                content_type: "video/mp4",
                bytes,
                duration_seconds: Some(*seconds),
                dimensions: None,
            };
            store_hls(ctx, run, file).await?;
        }
        reports.push(RungReport {
            codecs: output.codecs.clone(),
            segments: output
                .segments
                .iter()
                .map(|(number, bytes, seconds)| (*number, bytes.len() as u64, *seconds))
                .collect(),
        });
    }
    for (bytes, name, kind) in [
        (
            stills.poster,
            stills::poster_candidate_name(chunk.index),
            "poster-candidate",
        ),
        (
            stills.strip,
            stills::tile_strip_name(chunk.index),
            "storyboard-tiles",
        ),
    ] {
        let Some(bytes) = bytes else { continue };
        let file = HlsFile {
            media_id: media.id,
            generation: &job.generation,
            name: &name,
            kind,
            content_type: "image/png",
            bytes: &Bytes::from(bytes),
            duration_seconds: None,
            dimensions: None,
        };
        store_hls(ctx, run, file).await?;
    }
    let mut tx = ctx.pool.begin().await?;
    run.lease.hold(&mut tx).await?;
    let counted = chunks::finish(
        &mut tx,
        media.id,
        &job.generation,
        chunk.index,
        &reports,
        &stills.report,
        run.lease.worker(),
    )
    .await?;
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

/// How often a running chunk records its frames (for the job's and the item's progress).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Records `frames` encoded of `chunk`: the chunk's row (the item's progress sums them) and the
/// job's own percent.
async fn report_progress(
    ctx: &JobContext,
    run: &JobRun,
    job: &EncodeJob,
    chunk: Chunk,
    frames: u64,
) -> Result<(), JobError> {
    let mut conn = ctx.pool.acquire().await?;
    chunks::record_frames_done(&mut conn, job.media_id, &job.generation, chunk.index, frames).await?;
    let percent = chunks::percent(
        i64::try_from(frames).unwrap_or(i64::MAX),
        i64::try_from(chunk.frames).unwrap_or(i64::MAX),
    );
    queue::set_progress(&mut conn, run.id, "encoding", Some(percent.min(99))).await?;
    Ok(())
}

fn bug(what: impl std::fmt::Display) -> JobError {
    JobError::with_message(ErrorCode::TranscodeBug, "the video encode hit an internal error").with_cause(what)
}

/// The timescale of the output track and one frame's duration in it: the frame rate's own
/// fraction, scaled up to at least 90 kHz ticks (what players and tools expect).
pub fn track_timing(frame_rate: (u32, u32)) -> (u32, u32) {
    let (num, den) = frame_rate;
    let scale = 90_000u32.div_ceil(num.max(1)).max(1);
    (num.saturating_mul(scale), den.saturating_mul(scale))
}

/// One rung's share of a chunk: its encoder, its own scaler and the packets so far.
struct RungWork<'a> {
    rung: &'a Rung,
    encoder: RungEncoder,
    resizer: Resizer,
    packets: Vec<Packet>,
}

/// What a rung costs to encode, relative to the others (balances rungs over threads): its
/// pixels; OpenH264's Constrained Baseline costs about a quarter of rav1e's AV1 per pixel.
fn rung_cost(rung: &Rung) -> u64 {
    let pixels = u64::from(rung.width) * u64::from(rung.height);
    match rung.codec {
        VideoCodec::Av1 => pixels,
        VideoCodec::H264 => pixels / 4,
    }
}

/// What encoding a chunk of `plan` holds at its peak, in MiB (its share of the worker's memory
/// budget): every rung's encoder (rav1e's lookahead dominates: about 630 MiB at 1080p, see
/// [`veza_av1::memory_estimate_mib`]; OpenH264 keeps a few reference frames, 48 bytes per pixel
/// is a generous bound), plus the decoder's frames and the pictures in flight, 40 bytes per
/// source pixel.
fn chunk_memory_mib(plan: &Plan, settings: &VideoSettings) -> u32 {
    let mib = |pixels: u64, per_pixel: u64| u32::try_from((pixels * per_pixel) >> 20).unwrap_or(u32::MAX);
    let (width, height) = plan.display_size;
    plan.rungs
        .iter()
        .map(|rung| match rung.codec {
            VideoCodec::Av1 => veza_av1::memory_estimate_mib(rung.width, rung.height, settings.av1_speed),
            VideoCodec::H264 => 16 + mib(u64::from(rung.width) * u64::from(rung.height), 48),
        })
        .fold(mib(u64::from(width) * u64::from(height), 40), u32::saturating_add)
}

/// Decodes, conforms and encodes one chunk (blocking: runs on the CPU pool). The rungs encode
/// on `threads` threads (the pool slots this chunk holds), each decoded frame shared by all.
fn encode_chunk(
    path: &Path,
    plan: &Plan,
    chunk: Chunk,
    settings: &VideoSettings,
    cancel: &CancellationToken,
    frames_done: &AtomicU64,
    threads: usize,
) -> Result<(Vec<RungOutput>, SampledStills), JobError> {
    let rungs = plan
        .rungs
        .iter()
        .map(|rung| {
            Ok(RungWork {
                rung,
                encoder: RungEncoder::new(rung, plan, settings).map_err(bug)?,
                resizer: Resizer::new(),
                packets: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, JobError>>()?;
    let costs: Vec<u64> = plan.rungs.iter().map(rung_cost).collect();
    let encode = |work: &mut RungWork<'_>, picture: &Picture| -> Result<(), JobError> {
        let scaled = picture
            .scaled(&mut work.resizer, work.rung.width, work.rung.height)
            .map_err(bug)?;
        work.packets.extend(work.encoder.send(&scaled).map_err(bug)?);
        Ok(())
    };
    let (stills, rungs) = fan_out(threads, rungs, &costs, encode, |deliver| {
        decode_chunk(path, plan, chunk, cancel, frames_done, deliver)
    })?;
    let mut outputs = Vec::with_capacity(rungs.len());
    for RungWork {
        rung,
        mut encoder,
        mut packets,
        ..
    } in rungs
    {
        packets.extend(encoder.finish().map_err(bug)?);
        let init = encoder
            .init_segment(rung, track_timing(plan.frame_rate).0)
            .map_err(bug)?;
        outputs.push(RungOutput {
            codecs: encoder.codecs().map_err(bug)?,
            init,
            segments: segments(plan, chunk, &packets)?,
        });
    }
    Ok((outputs, stills))
}

/// Decodes the chunk's frames, puts them on the plan's frame rate and hands each output frame
/// to `deliver` (the rungs); samples the stills on the way.
fn decode_chunk(
    path: &Path,
    plan: &Plan,
    chunk: Chunk,
    cancel: &CancellationToken,
    frames_done: &AtomicU64,
    deliver: &mut dyn FnMut(Arc<Picture>) -> bool,
) -> Result<SampledStills, JobError> {
    let half_frame = plan.frame_time(1) / 2.0;
    let start = (plan.frame_time(chunk.first_frame) - half_frame).max(0.0);
    let end = plan.frame_time(chunk.first_frame + chunk.frames) + half_frame;
    let mut resizer = Resizer::new();
    let mut emitted = 0u64;
    let mut last: Option<Arc<Picture>> = None;
    let mut failure: Option<JobError> = None;

    let mut sampler = Sampler::new(plan);
    let mut emit = |picture: &Arc<Picture>, emitted: &mut u64| -> Result<(), JobError> {
        if cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        sampler
            .offer(chunk.first_frame + *emitted, picture, &mut resizer)
            .map_err(bug)?;
        if !deliver(Arc::clone(picture)) {
            // A rung failed; its own error is what the chunk reports.
            return Err(bug("a rung stopped"));
        }
        *emitted += 1;
        frames_done.store(*emitted, Ordering::Relaxed);
        Ok(())
    };

    let decoded = av::decode_frames(path, plan.stream_index, start, end, |frame| {
        // Every output frame due before this source frame shows the previous one (or this one,
        // when the chunk starts before any source frame).
        while emitted < chunk.frames
            && frame.pts_seconds > plan.frame_time(chunk.first_frame + emitted) + half_frame
        {
            let picture = last
                .get_or_insert_with(|| Arc::new(Picture::upright(frame, plan.rotation_degrees, plan.colour)));
            if let Err(err) = emit(picture, &mut emitted) {
                failure = Some(err);
                return ControlFlow::Break(());
            }
        }
        if emitted >= chunk.frames {
            return ControlFlow::Break(());
        }
        last = Some(Arc::new(Picture::upright(
            frame,
            plan.rotation_degrees,
            plan.colour,
        )));
        ControlFlow::Continue(())
    });
    if let Some(err) = failure {
        return Err(err);
    }
    decoded.map_err(decode_error)?;
    // The stream ended before the chunk did (durations are rounded): the last picture holds.
    let Some(picture) = last else {
        return Err(JobError::with_message(
            ErrorCode::CorruptVideo,
            "no frame of this part of the video decodes",
        ));
    };
    while emitted < chunk.frames {
        emit(&picture, &mut emitted)?;
    }
    sampler.finish().map_err(bug)
}

fn decode_error(err: ProbeError) -> JobError {
    match err {
        ProbeError::Unreadable(reason) | ProbeError::Decode(reason) => JobError::with_message(
            ErrorCode::CorruptVideo,
            format!("the video stopped decoding: {reason}"),
        ),
        ProbeError::Io(err) => JobError::new(ErrorCode::ScratchUnreadable).with_cause(err),
        other => bug(other),
    }
}

/// Cuts a rung's packets (one per output frame of the chunk, in order) into its segments.
fn segments(plan: &Plan, chunk: Chunk, packets: &[Packet]) -> Result<Vec<(u32, Bytes, f64)>, JobError> {
    if packets.len() as u64 != chunk.frames {
        return Err(bug(format!(
            "{} packets for {} frames",
            packets.len(),
            chunk.frames
        )));
    }
    let (_, sample_duration) = track_timing(plan.frame_rate);
    let per_segment = plan.segment_frames as usize;
    let mut out = Vec::new();
    for (i, group) in packets.chunks(per_segment).enumerate() {
        let first = chunk.first_frame + (i * per_segment) as u64;
        if !group.first().is_some_and(|p| p.keyframe) {
            return Err(bug(format!(
                "segment at frame {first} does not start with a keyframe"
            )));
        }
        let number = u32::try_from(first / u64::from(plan.segment_frames)).map_err(bug)?;
        let samples: Vec<(&[u8], bool)> = group.iter().map(|p| (p.data.as_slice(), p.keyframe)).collect();
        let bytes = fmp4::media_segment(
            number + 1,
            first * u64::from(sample_duration),
            sample_duration,
            &samples,
        )
        .map_err(bug)?;
        out.push((number, bytes, plan.frame_time(group.len() as u64)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cpu::DEFAULT_MEMORY_BUDGET_MIB, video::colour::SourceColour};

    fn plan(display_size: (u32, u32), rungs: &[(VideoCodec, u32, u32)]) -> Plan {
        Plan {
            stream_index: 0,
            rotation_degrees: 0,
            frame_rate: (30, 1),
            segment_frames: 120,
            chunk_segments: 2,
            total_frames: 900,
            rungs: rungs
                .iter()
                .map(|&(codec, width, height)| Rung {
                    codec,
                    width,
                    height,
                    kbps: 1000,
                })
                .collect(),
            audio_stream: None,
            colour: SourceColour::default(),
            display_size,
            storyboard_every: 30,
        }
    }

    #[test]
    fn the_default_budget_runs_one_1080p_chunk_at_a_time_and_pairs_720p_ones() {
        use VideoCodec::{Av1, H264};
        let settings = VideoSettings::default();
        let full_hd = plan(
            (1920, 1080),
            &[
                (Av1, 640, 360),
                (Av1, 1280, 720),
                (Av1, 1920, 1080),
                (H264, 1280, 720),
            ],
        );
        let hd = plan(
            (1280, 720),
            &[(Av1, 640, 360), (Av1, 1280, 720), (H264, 1280, 720)],
        );
        let (full_hd, hd) = (
            chunk_memory_mib(&full_hd, &settings),
            chunk_memory_mib(&hd, &settings),
        );
        assert!(
            full_hd <= DEFAULT_MEMORY_BUDGET_MIB && 2 * full_hd > DEFAULT_MEMORY_BUDGET_MIB,
            "{full_hd}"
        );
        assert!(2 * hd <= DEFAULT_MEMORY_BUDGET_MIB, "{hd}");
    }
}
