//! Deleting for good: a media item, or a whole account. The API marks what is deleted
//! (`deleted_at`: it vanishes from every route at once), asks the item's jobs to stop and enqueues
//! a purge job, all in the request's transaction. The purge job then waits until none of those
//! jobs runs any more (a running one stops at its next checkpoint; one on a worker that was
//! killed is rescued, sees the cancel request and stops), deletes every object of every
//! generation, and last deletes the rows (with the emails about the item, which name it). Each step can be done twice, so a purge interrupted by a
//! crash finishes when the job runs again. Every query of the purge is here.
//!
//! An account's purge purges each of its items that way, waits for its other jobs (the farewell
//! email among them), and deletes the account row, which takes its sessions, tokens, jobs and
//! reservations with it; its delivery log rows go by job and by address. Its audit events stay:
//! they name the account by id only, and the trail must outlive it.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
    storage::Storage,
};

/// The purge kind.
pub struct PurgeKind;

/// The queue name.
pub const QUEUE: &str = "purge";

/// How long one attempt waits for the jobs it must outlive before it gives the slot back and
/// retries later (a rescue from a killed worker takes `heartbeat × missed_heartbeats`, 15 s by
/// default).
const WAIT_FOR_JOBS: Duration = Duration::from_secs(60);
const WAIT_POLL: Duration = Duration::from_millis(250);
/// Object deletions in flight at once.
const DELETES_IN_FLIGHT: usize = 16;

impl Kind for PurgeKind {
    const QUEUE: &'static str = QUEUE;
    /// Every failure of a purge is transient (storage, the database, jobs still stopping): keep
    /// trying for hours, so a deletion always finishes.
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 25,
        base: Duration::from_secs(5),
        cap: Duration::from_secs(15 * 60),
    };
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);
    const CONCURRENCY: usize = 2;
    const ABOUT: &'static str = "deletes a media item or an account for good: its objects, then its rows";
    type Payload = PurgeJob;

    async fn handle(ctx: &JobContext, run: &JobRun, job: PurgeJob) -> Result<(), JobError> {
        match job {
            PurgeJob::Media { media_id } => purge_media(ctx, run, media_id).await,
            PurgeJob::Account { user_id } => purge_account(ctx, run, user_id).await,
        }
    }
}

/// The SQL condition "job `j` (apalis row `q`) is about media item `$1`": the item's own jobs,
/// and the emails that name it (their payload carries its id and file name; `$2` is the email
/// queue).
macro_rules! about_media {
    () => {
        "(j.media_id = $1 or (q.job_type = $2 and convert_from(q.job, 'UTF8')::jsonb ->> 'media_id' = $1::text))"
    };
}

/// What a purge job deletes. Its job row names no media item, so it outlives the item and its
/// owner can poll it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "kebab-case")]
pub enum PurgeJob {
    /// One media item.
    Media {
        /// The item.
        media_id: Uuid,
    },
    /// An account and everything it owns.
    Account {
        /// The account.
        user_id: Uuid,
    },
}

/// What a deletion request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The purge is queued by this request: its job.
    Started(Uuid),
    /// An earlier request queued the purge: its job.
    AlreadyPurging(Uuid),
    /// No such item of this owner.
    NotFound,
}

/// Deletes media item `media_id` of `owner` on the caller's transaction: marks it deleted, stops
/// its jobs and enqueues its purge. A second request finds the first one's purge.
pub async fn delete_media(
    conn: &mut PgConnection,
    media_id: Uuid,
    owner: Uuid,
) -> Result<Deletion, EnqueueError> {
    let row: Option<(Option<Uuid>,)> =
        sqlx::query_as("select purge_job_id from media where id = $1 and owner_id = $2 for update")
            .bind(media_id)
            .bind(owner)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((purge_job,)) = row else {
        return Ok(Deletion::NotFound);
    };
    if let Some(job_id) = purge_job {
        return Ok(Deletion::AlreadyPurging(job_id));
    }
    queue::stop_media_jobs(conn, &[media_id]).await?;
    let job_id = enqueue(conn, owner, &PurgeJob::Media { media_id }).await?;
    sqlx::query("update media set deleted_at = now(), purge_job_id = $2, updated_at = now() where id = $1")
        .bind(media_id)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    Ok(Deletion::Started(job_id))
}

/// Deletes account `user_id` on the caller's transaction: marks it and its items deleted (its
/// tokens stop working at once), stops their jobs and enqueues the account's purge. The caller
/// enqueues the farewell email on the same transaction; the purge waits for it.
pub async fn delete_account(conn: &mut PgConnection, user_id: Uuid) -> Result<Uuid, EnqueueError> {
    sqlx::query("update users set deleted_at = coalesce(deleted_at, now()) where id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "update sessions set revoked_at = now(), revoked_reason = 'revoked'
          where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    let items: Vec<Uuid> = sqlx::query_scalar(
        "update media set deleted_at = coalesce(deleted_at, now()), updated_at = now()
          where owner_id = $1 returning id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    queue::stop_media_jobs(conn, &items).await?;
    enqueue(conn, user_id, &PurgeJob::Account { user_id }).await
}

async fn enqueue(conn: &mut PgConnection, owner: Uuid, job: &PurgeJob) -> Result<Uuid, EnqueueError> {
    let owner = JobOwner {
        user_id: owner,
        media_id: None,
    };
    queue::enqueue::<PurgeKind>(conn, owner, job, Priority::Normal).await
}

async fn purge_media(ctx: &JobContext, run: &JobRun, media_id: Uuid) -> Result<(), JobError> {
    let deleted: Option<bool> = sqlx::query_scalar("select deleted_at is not null from media where id = $1")
        .bind(media_id)
        .fetch_optional(&ctx.pool)
        .await?;
    match deleted {
        // Purged already (this is a re-run).
        None => return Ok(()),
        Some(false) => {
            return Err(JobError::with_message(
                ErrorCode::NotDeleted,
                format!("media item {media_id} is not deleted; refusing to purge it"),
            ));
        }
        Some(true) => {}
    }
    wait_until_stopped(ctx, run, media_id).await?;
    delete_objects(&ctx.storage, media_id).await?;
    let mut tx = ctx.pool.begin().await?;
    let jobs: Vec<Uuid> = sqlx::query_scalar(concat!(
        "select j.id from jobs j join apalis.jobs q on q.id = veza_task_id(j.id) where ",
        about_media!()
    ))
    .bind(media_id)
    .bind(crate::email::QUEUE)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("delete from email_deliveries where job_id = any($1)")
        .bind(&jobs)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "delete from apalis.jobs where id in (select veza_task_id(id) from unnest($1::uuid[]) as ids(id))",
    )
    .bind(&jobs)
    .execute(&mut *tx)
    .await?;
    sqlx::query("delete from jobs where id = any($1)")
        .bind(&jobs)
        .execute(&mut *tx)
        .await?;
    // Cascades to its outputs, notices and video rows.
    sqlx::query("delete from media where id = $1")
        .bind(media_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%media_id, "media item purged");
    Ok(())
}

async fn purge_account(ctx: &JobContext, run: &JobRun, user_id: Uuid) -> Result<(), JobError> {
    let items: Vec<Uuid> = sqlx::query_scalar("select id from media where owner_id = $1 order by id")
        .bind(user_id)
        .fetch_all(&ctx.pool)
        .await?;
    for media_id in items {
        purge_media(ctx, run, media_id).await?;
    }
    wait_for(run, || account_jobs_active(&ctx.pool, user_id, run.id)).await?;
    let mut tx = ctx.pool.begin().await?;
    let email: Option<String> = sqlx::query_scalar("select email from users where id = $1 for update")
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(email) = email else {
        return Ok(());
    };
    sqlx::query(
        "delete from email_deliveries
          where job_id in (select id from jobs where owner_id = $1) or recipient = $2 or recipient_key = $2",
    )
    .bind(user_id)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "delete from apalis.jobs
          where id in (select veza_task_id(id) from jobs where owner_id = $1 and id <> $2)",
    )
    .bind(user_id)
    .bind(run.id)
    .execute(&mut *tx)
    .await?;
    // Cascades to sessions, refresh and account tokens, jobs (this one's row too: its apalis row
    // keeps only the account id), reservations.
    sqlx::query("delete from users where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%user_id, "account purged");
    Ok(())
}

/// Waits until no job of `media_id` is still to run or running.
async fn wait_until_stopped(ctx: &JobContext, run: &JobRun, media_id: Uuid) -> Result<(), JobError> {
    wait_for(run, || media_jobs_active(&ctx.pool, media_id)).await
}

/// Polls `active` until it answers false, for at most [`WAIT_FOR_JOBS`] (then a retry later).
async fn wait_for<F, Fut>(run: &JobRun, active: F) -> Result<(), JobError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
{
    let deadline = tokio::time::Instant::now() + WAIT_FOR_JOBS;
    while active().await? {
        if tokio::time::Instant::now() >= deadline || run.cancel.is_cancelled() {
            return Err(JobError::new(ErrorCode::JobsStillRunning));
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
    Ok(())
}

async fn media_jobs_active(pool: &PgPool, media_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select exists (select 1 from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where ",
        about_media!(),
        " and ",
        crate::queue::active_job!(),
        ")"
    ))
    .bind(media_id)
    .bind(crate::email::QUEUE)
    .fetch_one(pool)
    .await
}

async fn account_jobs_active(pool: &PgPool, user_id: Uuid, except: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(concat!(
        "select exists (select 1 from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where j.owner_id = $1 and j.id <> $2 and ",
        crate::queue::active_job!(),
        ")"
    ))
    .bind(user_id)
    .bind(except)
    .fetch_one(pool)
    .await
}

/// Deletes the original and everything under `media/{id}/`, every generation.
async fn delete_objects(storage: &Storage, media_id: Uuid) -> Result<(), JobError> {
    storage
        .list(&Storage::media_prefix(media_id))
        .map(|object| async move {
            let object = object?;
            storage.delete(&object.key).await
        })
        .buffer_unordered(DELETES_IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    storage.delete(&Storage::original_key(media_id)).await?;
    Ok(())
}
