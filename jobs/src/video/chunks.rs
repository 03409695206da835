//! The encode's bookkeeping in Postgres: one `video_encodes` row per generation (the plan and
//! the chunks left), one `video_chunks` row per chunk. A chunk counts once, whatever happens to
//! its job (a retry, a rescue, a duplicate delivery): only the update that sets its `done_at`
//! decrements the count, and only the decrement to zero queues the finalize job.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{
    plan::{Chunk, Plan},
    stills::ChunkStills,
};

/// The row of the soundtrack among the chunks: it counts like one.
const SOUNDTRACK: i32 = -1;

/// One audio rendition of the soundtrack, for the master playlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioVariant {
    /// The rendition's name (its media playlist is `{name}.m3u8`).
    pub name: String,
    /// The HLS CODECS value.
    pub codecs: String,
    /// Peak bit rate, bits per second.
    pub bandwidth: u64,
    /// Channels (1 or 2).
    pub channels: u16,
}

/// What an encoded chunk reports of each rung, for the finalize job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungReport {
    /// The HLS CODECS value its encoder signalled.
    pub codecs: String,
    /// Each of its segments: (global segment number, bytes, seconds).
    pub segments: Vec<(u32, u64, f64)>,
}

/// Records the plan and its chunks for generation `generation` of `media_id`; false when they
/// were recorded before (a re-run of the probe), so their jobs are not queued twice.
pub async fn create(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    plan: &Plan,
    chunks: &[Chunk],
) -> Result<bool, sqlx::Error> {
    let soundtrack = plan.audio_stream.is_some();
    let total = i32::try_from(chunks.len() + usize::from(soundtrack)).unwrap_or(i32::MAX);
    let created = sqlx::query(
        "insert into video_encodes (media_id, generation, plan, chunks_total, chunks_left)
         values ($1, $2, $3, $4, $4) on conflict do nothing",
    )
    .bind(media_id)
    .bind(generation)
    .bind(Json(plan))
    .bind(total)
    .execute(&mut *conn)
    .await?;
    if created.rows_affected() == 0 {
        return Ok(false);
    }
    for chunk in chunks {
        sqlx::query(
            "insert into video_chunks (media_id, generation, chunk_index, first_frame, frames)
             values ($1, $2, $3, $4, $5) on conflict do nothing",
        )
        .bind(media_id)
        .bind(generation)
        .bind(i32::try_from(chunk.index).unwrap_or(i32::MAX))
        .bind(i64::try_from(chunk.first_frame).unwrap_or(i64::MAX))
        .bind(i64::try_from(chunk.frames).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await?;
    }
    if soundtrack {
        sqlx::query(
            "insert into video_chunks (media_id, generation, chunk_index, first_frame, frames)
             values ($1, $2, $3, 0, 0) on conflict do nothing",
        )
        .bind(media_id)
        .bind(generation)
        .bind(SOUNDTRACK)
        .execute(&mut *conn)
        .await?;
    }
    Ok(true)
}

/// The plan of a generation and whether its soundtrack is done already.
pub async fn load_soundtrack(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
) -> Result<Option<(Plan, bool)>, sqlx::Error> {
    let row: Option<(Json<Plan>, bool)> = sqlx::query_as(
        "select e.plan, c.done_at is not null
           from video_encodes e
           join video_chunks c using (media_id, generation)
          where e.media_id = $1 and e.generation = $2 and c.chunk_index = $3",
    )
    .bind(media_id)
    .bind(generation)
    .bind(SOUNDTRACK)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(plan, done)| (plan.0, done)))
}

/// Marks the soundtrack done (see [`finish`]).
pub async fn finish_soundtrack(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    variants: &[AudioVariant],
    worker: &str,
) -> Result<Option<i32>, sqlx::Error> {
    count_done(conn, media_id, generation, SOUNDTRACK, Json(variants), worker).await
}

/// The plan of a generation, and whether chunk `index` is done already.
pub async fn load(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    index: u32,
) -> Result<Option<(Plan, Chunk, bool)>, sqlx::Error> {
    let row: Option<(Json<Plan>, i64, i64, bool)> = sqlx::query_as(
        "select e.plan, c.first_frame, c.frames, c.done_at is not null
           from video_encodes e
           join video_chunks c using (media_id, generation)
          where e.media_id = $1 and e.generation = $2 and c.chunk_index = $3",
    )
    .bind(media_id)
    .bind(generation)
    .bind(i32::try_from(index).unwrap_or(i32::MAX))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(plan, first_frame, frames, done)| {
        let chunk = Chunk {
            index,
            first_frame: u64::try_from(first_frame).unwrap_or_default(),
            frames: u64::try_from(frames).unwrap_or_default(),
        };
        (plan.0, chunk, done)
    }))
}

/// Marks chunk `index` done by `worker` with its rungs' reports; returns the chunks left when
/// this call counted it, `None` when it had been counted before.
pub async fn finish(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    index: u32,
    rungs: &[RungReport],
    stills: &ChunkStills,
    worker: &str,
) -> Result<Option<i32>, sqlx::Error> {
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    sqlx::query(
        "update video_chunks set stills = $4
          where media_id = $1 and generation = $2 and chunk_index = $3 and done_at is null",
    )
    .bind(media_id)
    .bind(generation)
    .bind(index)
    .bind(Json(stills))
    .execute(&mut *conn)
    .await?;
    count_done(conn, media_id, generation, index, Json(rungs), worker).await
}

async fn count_done<T: Serialize + Send + Sync>(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    index: i32,
    report: Json<T>,
    worker: &str,
) -> Result<Option<i32>, sqlx::Error> {
    let marked = sqlx::query(
        "update video_chunks set done_at = now(), rungs = $4, frames_done = frames, encoded_by = $5
          where media_id = $1 and generation = $2 and chunk_index = $3 and done_at is null",
    )
    .bind(media_id)
    .bind(generation)
    .bind(index)
    .bind(report)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(None);
    }
    let left: i32 = sqlx::query_scalar(
        "update video_encodes set chunks_left = chunks_left - 1
          where media_id = $1 and generation = $2 returning chunks_left",
    )
    .bind(media_id)
    .bind(generation)
    .fetch_one(conn)
    .await?;
    Ok(Some(left))
}

/// Every chunk's report, in chunk order, the soundtrack's variants, and the plan (for the
/// finalize job).
pub async fn reports(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
) -> Result<(Plan, Vec<Vec<RungReport>>, Vec<AudioVariant>), sqlx::Error> {
    let plan: Json<Plan> =
        sqlx::query_scalar("select plan from video_encodes where media_id = $1 and generation = $2")
            .bind(media_id)
            .bind(generation)
            .fetch_one(&mut *conn)
            .await?;
    let rows: Vec<(Option<Json<Vec<RungReport>>>,)> = sqlx::query_as(
        "select rungs from video_chunks
          where media_id = $1 and generation = $2 and chunk_index >= 0 order by chunk_index",
    )
    .bind(media_id)
    .bind(generation)
    .fetch_all(&mut *conn)
    .await?;
    let audio: Option<Option<Json<Vec<AudioVariant>>>> = sqlx::query_scalar(
        "select rungs from video_chunks where media_id = $1 and generation = $2 and chunk_index = $3",
    )
    .bind(media_id)
    .bind(generation)
    .bind(SOUNDTRACK)
    .fetch_optional(conn)
    .await?;
    Ok((
        plan.0,
        rows.into_iter()
            .map(|(r,)| r.map(|r| r.0).unwrap_or_default())
            .collect(),
        audio.flatten().map(|a| a.0).unwrap_or_default(),
    ))
}

/// Records how many frames of chunk `index` are encoded so far (progress only: an attempt that
/// dies leaves it where it was, and the chunk's count is set whole by [`finish`]).
pub async fn record_frames_done(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
    index: u32,
    frames_done: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update video_chunks set frames_done = least($4, frames)
          where media_id = $1 and generation = $2 and chunk_index = $3 and done_at is null",
    )
    .bind(media_id)
    .bind(generation)
    .bind(i32::try_from(index).unwrap_or(i32::MAX))
    .bind(i64::try_from(frames_done).unwrap_or(i64::MAX))
    .execute(conn)
    .await?;
    Ok(())
}

/// For each of `media_ids` that has a plan: frames encoded over frames planned across the
/// chunks of its latest plan, in percent (floored: 100 only once every frame is encoded).
pub async fn frames_percent(
    conn: &mut PgConnection,
    media_ids: &[Uuid],
) -> Result<HashMap<Uuid, i16>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "select c.media_id, sum(c.frames_done)::bigint, sum(c.frames)::bigint
           from video_chunks c
           join lateral (select generation from video_encodes e
                          where e.media_id = c.media_id
                          order by created_at desc, generation desc limit 1) latest
             on latest.generation = c.generation
          where c.media_id = any($1) and c.chunk_index >= 0
          group by c.media_id",
    )
    .bind(media_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, done, total)| (id, percent(done, total)))
        .collect())
}

/// `done` over `total` in whole percent, floored, 0–100.
pub fn percent(done: i64, total: i64) -> i16 {
    if total <= 0 {
        return 0;
    }
    let share = done.clamp(0, total).saturating_mul(100) / total;
    i16::try_from(share).unwrap_or(100)
}

/// Every chunk's stills report, in chunk order (for the finalize job).
pub async fn stills(
    conn: &mut PgConnection,
    media_id: Uuid,
    generation: &str,
) -> Result<Vec<(u32, ChunkStills)>, sqlx::Error> {
    let rows: Vec<(i32, Option<Json<ChunkStills>>)> = sqlx::query_as(
        "select chunk_index, stills from video_chunks
          where media_id = $1 and generation = $2 and chunk_index >= 0 order by chunk_index",
    )
    .bind(media_id)
    .bind(generation)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(index, stills)| {
            (
                u32::try_from(index).unwrap_or_default(),
                stills.map(|s| s.0).unwrap_or_default(),
            )
        })
        .collect())
}
