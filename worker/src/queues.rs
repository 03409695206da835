//! The apalis side of each job kind: a handler that calls the kind's `handle` and settles the
//! outcome — success, a retry (transient error, attempts left) or a permanent failure recorded
//! on the job and its media item.

use std::sync::Arc;

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data, TaskId};
use uuid::Uuid;
use veza_jobs::{
    context::JobContext,
    email::{self, EmailJob},
    error::JobError,
    media, queue,
    thumbnail::{self, ThumbnailJob},
    transcode::{self, TranscodeJob},
};

/// Email queue handler.
pub async fn run_email(
    job: EmailJob,
    ctx: Data<Arc<JobContext>>,
    id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let job_id = job_uuid(&id)?;
    let span = tracing::info_span!("job", kind = "email", %job_id, attempt = attempt.current());
    let result = tracing::Instrument::instrument(email::handle(&ctx, job_id, job), span).await;
    settle(&ctx, job_id, None, attempt, email::MAX_ATTEMPTS, result).await
}

/// Thumbnail queue handler.
pub async fn run_thumbnail(
    job: ThumbnailJob,
    ctx: Data<Arc<JobContext>>,
    id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let job_id = job_uuid(&id)?;
    let media_id = job.media_id;
    let span =
        tracing::info_span!("job", kind = "thumbnail", %job_id, %media_id, attempt = attempt.current());
    let result = tracing::Instrument::instrument(thumbnail::handle(&ctx, job_id, job), span).await;
    settle(
        &ctx,
        job_id,
        Some(media_id),
        attempt,
        thumbnail::MAX_ATTEMPTS,
        result,
    )
    .await
}

/// Transcode queue handler.
pub async fn run_transcode(
    job: TranscodeJob,
    ctx: Data<Arc<JobContext>>,
    id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let job_id = job_uuid(&id)?;
    let media_id = job.media_id;
    let span =
        tracing::info_span!("job", kind = "transcode", %job_id, %media_id, attempt = attempt.current());
    let result = tracing::Instrument::instrument(transcode::handle(&ctx, job_id, job), span).await;
    settle(
        &ctx,
        job_id,
        Some(media_id),
        attempt,
        transcode::MAX_ATTEMPTS,
        result,
    )
    .await
}

/// Veza's id of the task; a task without one was not enqueued by Veza and is not retried.
fn job_uuid(id: &TaskId) -> Result<Uuid, BoxDynError> {
    queue::job_id(&id.to_string()).ok_or_else(|| {
        Box::new(AbortError::new(format!("task {id} was not enqueued by Veza"))) as BoxDynError
    })
}

/// Records the outcome. A permanent error, or a transient one on the last attempt, fails the
/// media item with the reason; a permanent error also stops apalis from trying again.
async fn settle(
    ctx: &JobContext,
    job_id: Uuid,
    media_id: Option<Uuid>,
    attempt: Attempt,
    max_attempts: usize,
    result: Result<(), JobError>,
) -> Result<(), BoxDynError> {
    let err = match result {
        Ok(()) => {
            tracing::info!(%job_id, "job succeeded");
            return Ok(());
        }
        Err(err) => err,
    };
    let last_attempt = !err.is_retryable() || attempt.current() >= max_attempts;
    tracing::warn!(%job_id, code = err.code(), error = %err, last_attempt, "job attempt failed");
    if let Err(db) = queue::record_failure(&ctx.pool, job_id, &err).await {
        tracing::error!(%job_id, error = %db, "could not record the job's failure");
    }
    if last_attempt
        && let Some(media_id) = media_id
        && let Err(db) = media::mark_failed(&ctx.pool, media_id, err.code(), &err.to_string()).await
    {
        tracing::error!(%job_id, error = %db, "could not mark the media item failed");
    }
    if err.is_retryable() {
        Err(Box::new(err))
    } else {
        Err(Box::new(AbortError::new(err)))
    }
}
