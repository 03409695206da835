//! Enqueueing and the job record.
//!
//! Every job is two rows under one id: Veza's `jobs` row (owner, media, last error) and the
//! apalis `apalis.jobs` row (queue state). Both are written by [`enqueue`] on the caller's
//! transaction, so a job exists exactly when the thing that implies it does.
//!
//! The id is a UUIDv7 in Veza's tables and the API, and the same 128 bits as a ULID in apalis's
//! (see [`crate::task_ids`]).

use apalis::prelude::{TaskBuilder, TaskId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{error::JobError, kind::Kind};

pub use crate::job_state::JobState;

/// Which of a queue's waiting jobs a worker claims first (apalis orders its fetch by priority,
/// then by run-at). Priorities order jobs within one queue; each queue has its own consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Work nobody is waiting for: the repair task's reprocessing.
    Background = 0,
    /// Work someone asked for but is not watching: a reprocess request, a notification email.
    Normal = 10,
    /// Work a person is waiting on right now: a fresh upload, a password reset email.
    Interactive = 20,
}

/// Who a job belongs to and what it works on.
#[derive(Debug, Clone, Copy)]
pub struct JobOwner {
    /// The user who owns the job.
    pub user_id: Uuid,
    /// The media item it works on, if any.
    pub media_id: Option<Uuid>,
}

/// Errors of enqueueing.
#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    /// The payload could not be serialized (a bug).
    #[error("serializing the job payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The database refused the rows.
    #[error("writing the job: {0}")]
    Database(#[from] sqlx::Error),
    /// apalis refused the task.
    #[error("pushing the job to its queue: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// Enqueues one job of kind `K` on `conn` (normally the caller's open transaction) and returns
/// its id.
pub async fn enqueue<K: Kind>(
    conn: &mut PgConnection,
    owner: JobOwner,
    payload: &K::Payload,
    priority: Priority,
) -> Result<Uuid, EnqueueError> {
    let ids = enqueue_many::<K>(conn, owner, std::slice::from_ref(payload), priority).await?;
    // One payload in, one id out.
    Ok(ids.first().copied().unwrap_or_default())
}

/// Enqueues one job of kind `K` per payload on `conn` in two statements (Veza's rows, then
/// apalis's), so a batch of a thousand costs two round trips. Returns the ids in payload order.
pub async fn enqueue_many<K: Kind>(
    conn: &mut PgConnection,
    owner: JobOwner,
    payloads: &[K::Payload],
    priority: Priority,
) -> Result<Vec<Uuid>, EnqueueError> {
    let ids: Vec<Uuid> = payloads.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "insert into jobs (id, kind, owner_id, media_id)
         select id, $2, $3, $4 from unnest($1::uuid[]) as ids(id)",
    )
    .bind(&ids)
    .bind(K::QUEUE)
    .bind(owner.user_id)
    .bind(owner.media_id)
    .execute(&mut *conn)
    .await?;
    let mut tasks = Vec::with_capacity(payloads.len());
    for (id, payload) in ids.iter().zip(payloads) {
        tasks.push(
            TaskBuilder::new(serde_json::to_vec(payload)?)
                .task_id(TaskId::from_ulid(ulid::Ulid::from_bytes(*id.as_bytes())))
                .max_attempts(K::RETRY.max_attempts)
                .priority(priority as usize)
                .build(),
        );
    }
    apalis_postgres::queries::push_tasks(&mut *conn, K::QUEUE, tasks).await?;
    Ok(ids)
}

/// Records what a running job is doing and how far along it is (shown on the job).
pub async fn set_progress(
    conn: &mut PgConnection,
    job_id: Uuid,
    stage: &str,
    percent: Option<i16>,
) -> Result<(), sqlx::Error> {
    sqlx::query("update jobs set stage = $2, progress_percent = $3, updated_at = now() where id = $1")
        .bind(job_id)
        .bind(stage)
        .bind(percent)
        .execute(&mut *conn)
        .await?;
    // The owner's live connections hear of it at once.
    crate::live::announce(conn, job_id, "job.progress").await
}

/// Marks the stage of a job that will not run again `failed` (when it reports stages).
pub async fn mark_stage_failed(pool: &PgPool, job_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update jobs set stage = 'failed', updated_at = now() where id = $1 and stage is not null")
        .bind(job_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the error of the latest failed attempt on the job row.
pub async fn record_failure(pool: &PgPool, job_id: Uuid, error: &JobError) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    record_failure_on(&mut conn, job_id, error).await
}

async fn record_failure_on(
    conn: &mut PgConnection,
    job_id: Uuid,
    error: &JobError,
) -> Result<(), sqlx::Error> {
    sqlx::query("update jobs set error_code = $2, error_message = $3, updated_at = now() where id = $1")
        .bind(job_id)
        .bind(error.code())
        .bind(error.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A job as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobStatus {
    /// Job id.
    pub id: Uuid,
    /// Queue name.
    pub kind: String,
    /// Media item, if any.
    pub media_id: Option<Uuid>,
    /// Where it is in its life (SQL `veza_job_state`, the one definition).
    #[sqlx(try_from = "String")]
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Code of the last error, if any attempt failed.
    pub error_code: Option<String>,
    /// Reason of the last error.
    pub error_message: Option<String>,
    /// When the job was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may run next.
    pub run_at: DateTime<Utc>,
    /// When the last attempt started.
    pub lock_at: Option<DateTime<Utc>>,
    /// When the last attempt ended.
    pub done_at: Option<DateTime<Utc>>,
    /// When its owner asked to cancel it.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// What a transcode is doing: `encoding`, `finalizing`, `done` or `failed`.
    pub stage: Option<String>,
    /// How far along a transcode is, 0–100.
    pub progress_percent: Option<i16>,
}

/// The SQL condition "this apalis row (`q`) is still to run or running": waiting, claimed,
/// running, or failed with attempts left (a scheduled retry).
macro_rules! active_job {
    () => {
        "(q.status in ('Pending', 'Queued', 'Running') or (q.status = 'Failed' and q.attempts < q.max_attempts))"
    };
}
pub(crate) use active_job;

/// Looks up a job of `owner`; `None` when it does not exist or belongs to someone else.
pub async fn find_job(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<Option<JobStatus>, sqlx::Error> {
    sqlx::query_as(
        "select j.id, j.kind, j.media_id,
                veza_job_state(q.status, q.attempts, q.max_attempts, j.cancel_requested_at) as state,
                q.attempts, q.max_attempts,
                j.error_code, j.error_message, j.created_at, q.run_at, q.lock_at, q.done_at,
                j.cancel_requested_at, j.stage, j.progress_percent
           from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.id = $1 and j.owner_id = $2",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// The job still to run or running for a media item, if any (the oldest): only the jobs that
/// work on an item name it (see `Kind::media_id`). Call it with the media row locked, so that
/// two requests cannot both find none.
pub async fn find_active_job(conn: &mut PgConnection, media_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select j.id from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.media_id = $1 and ",
        active_job!(),
        " order by j.id limit 1"
    ))
    .bind(media_id)
    .fetch_optional(conn)
    .await
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was waiting and will never run.
    Cancelled,
    /// The job is running; its worker stops it at the next checkpoint.
    Requested,
    /// The job had finished already.
    AlreadyFinished,
    /// No such job of this owner.
    NotFound,
}

/// Cancels `owner`'s job: a waiting job at once (its queue row becomes dead, so no worker
/// claims it), a claimed or running one by a request its worker polls for.
pub async fn cancel(pool: &PgPool, id: Uuid, owner: Uuid) -> Result<CancelOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Locking the queue row orders this against a worker's claim (which skips locked rows).
    let row: Option<(String, i32, i32)> = sqlx::query_as(
        "select q.status, q.attempts, q.max_attempts
           from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.id = $1 and j.owner_id = $2
            for update of j, q",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, attempts, max_attempts)) = row else {
        return Ok(CancelOutcome::NotFound);
    };
    let waiting = status == "Pending" || (status == "Failed" && attempts < max_attempts);
    let running = status == "Queued" || status == "Running";
    if !waiting && !running {
        return Ok(CancelOutcome::AlreadyFinished);
    }
    sqlx::query(
        "update jobs set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
          where id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if running {
        tx.commit().await?;
        return Ok(CancelOutcome::Requested);
    }
    sqlx::query(
        "update apalis.jobs set status = 'Killed', done_at = now(), lock_by = null, lock_at = null
          where id = veza_task_id($1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let cancelled = JobError::owner_cancelled(true);
    record_failure_on(&mut tx, id, &cancelled).await?;
    let media_id: Option<Uuid> = sqlx::query_scalar("select media_id from jobs where id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if let Some(media_id) = media_id {
        crate::media::mark_cancelled(&mut tx, media_id, cancelled.code(), &cancelled.to_string()).await?;
    }
    tx.commit().await?;
    Ok(CancelOutcome::Cancelled)
}

/// Asks every job of the media items `media_ids` to stop, on the caller's transaction (their
/// deletion): a waiting one is killed at once (a worker's claim holds its row locked, and the
/// update then sees it claimed and leaves it), a running one stops at its next checkpoint. The
/// bulk form of [`cancel`], without its per-job outcome: the items are going anyway.
pub async fn stop_media_jobs(conn: &mut PgConnection, media_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update jobs set cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
          where media_id = any($1)",
    )
    .bind(media_ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update apalis.jobs q set status = 'Killed', done_at = now(), lock_by = null, lock_at = null
           from jobs j
          where q.id = veza_task_id(j.id) and j.media_id = any($1)
            and (q.status = 'Pending' or (q.status = 'Failed' and q.attempts < q.max_attempts))",
    )
    .bind(media_ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Cancels job `id` as [`cancel`] does and, when that settles it at once (it was waiting), its
/// media item's other jobs too, as the runner does when a running job stops cancelled: the item
/// has failed as cancelled, so their work would be thrown away (cancelling one chunk of a video
/// cancels the video).
pub async fn cancel_with_siblings(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
) -> Result<CancelOutcome, sqlx::Error> {
    let outcome = cancel(pool, id, owner).await?;
    if outcome == CancelOutcome::Cancelled {
        let media_id: Option<Uuid> = sqlx::query_scalar("select media_id from jobs where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
        if let Some(media_id) = media_id {
            cancel_siblings(pool, media_id, id).await?;
        }
    }
    Ok(outcome)
}

/// Cancels every other job of `media_id` still to run or running (`except` is the job that
/// failed for good: the item has failed with its reason, and their work would be thrown away).
/// Returns how many were cancelled or asked to stop.
pub async fn cancel_siblings(pool: &PgPool, media_id: Uuid, except: Uuid) -> Result<usize, sqlx::Error> {
    let siblings: Vec<(Uuid, Uuid)> = sqlx::query_as(concat!(
        "select j.id, j.owner_id from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.media_id = $1 and j.id <> $2 and ",
        active_job!()
    ))
    .bind(media_id)
    .bind(except)
    .fetch_all(pool)
    .await?;
    let mut cancelled = 0;
    for (id, owner) in siblings {
        if matches!(
            cancel(pool, id, owner).await?,
            CancelOutcome::Cancelled | CancelOutcome::Requested
        ) {
            cancelled += 1;
        }
    }
    Ok(cancelled)
}

/// What a worker checks as an attempt starts: whether the owner asked to cancel the job, and
/// whether apalis rescued it from a worker that stopped heartbeating.
pub async fn start_checks(pool: &PgPool, id: Uuid) -> Result<(bool, bool), sqlx::Error> {
    sqlx::query_as(
        "select j.cancel_requested_at is not null,
                coalesce(q.last_result::text like '%heartbeat timeout%', false)
           from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map(|row| row.unwrap_or((false, false)))
}

/// Whether the owner asked to cancel the job (polled by the worker running it).
pub async fn cancel_requested(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select cancel_requested_at is not null from jobs where id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .map(|requested| requested.unwrap_or(false))
}

impl From<EnqueueError> for JobError {
    fn from(err: EnqueueError) -> Self {
        Self::new(crate::error::ErrorCode::EnqueueFailed).with_cause(err)
    }
}
