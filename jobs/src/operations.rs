//! What operators do with the queues: statistics per kind and state, listing jobs, retrying a
//! dead job, pausing and resuming a queue, and seeing the workers and their heartbeats.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::registry;

/// Job counts of one queue by state.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Whether workers are told not to claim its jobs.
    pub paused: bool,
    /// Waiting to be claimed.
    pub queued: i64,
    /// Being worked on.
    pub running: i64,
    /// Waiting for a scheduled retry.
    pub retrying: i64,
    /// Finished successfully.
    pub succeeded: i64,
    /// Dead: failed permanently or out of attempts.
    pub failed: i64,
    /// Cancelled by their owners.
    pub cancelled: i64,
}

/// Counts per queue and state (every registered queue listed, by name; empty ones with zeros).
pub async fn queue_stats(pool: &PgPool) -> Result<Vec<QueueStats>, sqlx::Error> {
    sqlx::query_as(
        // Only cancelled jobs need Veza's row (to tell them from failed ones): the statistics
        // scan apalis's rows and convert the ids of the cancelled jobs alone.
        "with cancelled as (
             select veza_task_id(j.id) as id, j.cancel_requested_at
               from jobs j where j.cancel_requested_at is not null),
         states as (
             select q.job_type as queue,
                    veza_job_state(q.status, q.attempts, q.max_attempts, c.cancel_requested_at) as state
               from apalis.jobs q left join cancelled c on c.id = q.id)
         select k.queue,
                exists (select 1 from queue_pauses p where p.queue = k.queue) as paused,
                count(*) filter (where s.state = 'queued') as queued,
                count(*) filter (where s.state = 'running') as running,
                count(*) filter (where s.state = 'retrying') as retrying,
                count(*) filter (where s.state = 'succeeded') as succeeded,
                count(*) filter (where s.state = 'failed') as failed,
                count(*) filter (where s.state = 'cancelled') as cancelled
           from unnest($1::text[]) as k(queue) left join states s on s.queue = k.queue
          group by k.queue order by k.queue",
    )
    .bind(registry::queue_names())
    .fetch_all(pool)
    .await
}

/// A job as an operator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobSummary {
    /// Job id.
    pub id: Uuid,
    /// Queue.
    pub kind: String,
    /// Owner.
    pub owner_id: Uuid,
    /// Media item, if any.
    pub media_id: Option<Uuid>,
    /// State (see `veza_job_state`).
    #[sqlx(try_from = "String")]
    pub state: crate::queue::JobState,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Last error code.
    pub error_code: Option<String>,
    /// Last error message.
    pub error_message: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Next run at.
    pub run_at: DateTime<Utc>,
}

/// The columns of a [`JobSummary`] of `jobs j` and `apalis.jobs q`, as a static string.
macro_rules! summary_columns {
    () => {
        "j.id, j.kind, j.owner_id, j.media_id,
         veza_job_state(q.status, q.attempts, q.max_attempts, j.cancel_requested_at) as state,
         q.attempts, q.max_attempts, j.error_code, j.error_message, j.created_at, q.run_at"
    };
}

/// One job's summary.
pub async fn job_summary(pool: &PgPool, id: Uuid) -> Result<Option<JobSummary>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        summary_columns!(),
        " from jobs j join apalis.jobs q on q.id = veza_task_id(j.id) where j.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Jobs in `state` (any when `None`) of `queue` (any when `None`), newest first, keyset paged.
pub async fn list_jobs(
    pool: &PgPool,
    state: Option<&str>,
    queue: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<JobSummary>, sqlx::Error> {
    // From apalis's side, newest first (a ULID's spelling sorts as its bits do, like the uuid's):
    // the queue and a necessary status filter are checked on apalis's row before Veza's row is
    // looked up by primary key, so a rare state costs a scan of cheap comparisons, not an id
    // conversion per retained job.
    sqlx::query_as(concat!(
        "select ",
        summary_columns!(),
        " from apalis.jobs q join jobs j on j.id = veza_job_id(q.id)
          where ($2::text is null or q.job_type = $2)
            and ($3::uuid is null or q.id < veza_task_id($3))
            and ($1::text is null
                 or (q.status = any(veza_job_statuses($1))
                     and veza_job_state(q.status, q.attempts, q.max_attempts, j.cancel_requested_at) = $1))
          order by q.id desc limit $4"
    ))
    .bind(state)
    .bind(queue)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What retrying a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The dead job is queued again with fresh attempts.
    Queued,
    /// The job is not dead (still to run, running, or succeeded).
    NotDead,
    /// No such job.
    NotFound,
}

/// Queues a dead job (failed or cancelled) again under the same id, with fresh attempts, its
/// last error cleared and its media item back to `processing` unless it is ready.
pub async fn retry_dead_job(pool: &PgPool, id: Uuid) -> Result<RetryOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let state: Option<String> = sqlx::query_scalar(
        "select veza_job_state(q.status, q.attempts, q.max_attempts, j.cancel_requested_at)
           from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.id = $1
            -- A job of a deleted item stays dead: its purge is waiting for it.
            and not exists (select 1 from media m where m.id = j.media_id and m.deleted_at is not null)
            for update of j, q",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match state.as_deref() {
        None => return Ok(RetryOutcome::NotFound),
        Some("failed" | "cancelled") => {}
        Some(_) => return Ok(RetryOutcome::NotDead),
    }
    sqlx::query(
        "update apalis.jobs set status = 'Pending', attempts = 0, run_at = now(), done_at = null,
                lock_by = null, lock_at = null
          where id = veza_task_id($1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "with job as (
             update jobs set error_code = null, error_message = null, cancel_requested_at = null,
                    updated_at = now()
              where id = $1 returning media_id)
         update media set status = 'processing', error_code = null, error_message = null, updated_at = now()
           from job where media.id = job.media_id and media.status = 'failed'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(RetryOutcome::Queued)
}

/// Pauses (`true`) or resumes (`false`) a registered queue; idempotent.
pub async fn set_paused(
    pool: &PgPool,
    queue: registry::QueueInfo,
    paused: bool,
    by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    if paused {
        sqlx::query(
            "insert into queue_pauses (queue, paused_by) values ($1, $2) on conflict (queue) do nothing",
        )
        .bind(queue.name)
        .bind(by)
        .execute(pool)
        .await?;
    } else {
        sqlx::query("delete from queue_pauses where queue = $1")
            .bind(queue.name)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The queues paused now.
pub async fn paused_queues(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select queue from queue_pauses order by queue")
        .fetch_all(pool)
        .await
}

/// A worker consumer as apalis registered it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerInfo {
    /// Consumer id (`{queue}-{instance}`).
    pub id: String,
    /// The queue it consumes.
    pub queue: String,
    /// Its last heartbeat.
    pub last_seen: DateTime<Utc>,
}

/// Every registered consumer, most recently seen first.
pub async fn list_workers(pool: &PgPool) -> Result<Vec<WorkerInfo>, sqlx::Error> {
    sqlx::query_as(
        "select id, worker_type as queue, last_seen from apalis.workers order by last_seen desc, id",
    )
    .fetch_all(pool)
    .await
}

/// How long the oldest ready job of one queue has waited.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueWait {
    /// Queue name.
    pub queue: String,
    /// Seconds since the run-at of its oldest job that is ready and not yet running; 0 when
    /// none is.
    pub oldest_ready_seconds: f64,
}

/// Per registered queue (by name; empty ones with 0), how long its oldest ready job has waited
/// past its run-at without starting: the age of the backlog, which grows when nobody takes the
/// queue's jobs (no worker serves it, its workers' slots are full, or it is paused). Ready is
/// what apalis's fetch takes (pending, or failed with attempts left, and due) plus what a
/// consumer claimed but has not started (`Queued`); a retry before its run-at is not ready.
pub async fn oldest_ready(pool: &PgPool) -> Result<Vec<QueueWait>, sqlx::Error> {
    sqlx::query_as(
        "select k.queue,
                coalesce(extract(epoch from now() - min(q.run_at))::float8, 0) as oldest_ready_seconds
           from unnest($1::text[]) as k(queue)
           left join apalis.jobs q
             on q.job_type = k.queue and q.run_at <= now()
            and (q.status in ('Pending', 'Queued') or (q.status = 'Failed' and q.attempts < q.max_attempts))
          group by k.queue order by k.queue",
    )
    .bind(registry::queue_names())
    .fetch_all(pool)
    .await
}
