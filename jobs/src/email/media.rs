//! Media ready / media failed emails, enqueued when a media job settles.
//!
//! The worker calls [`notify_media_outcome`] after a transcode or thumbnail job succeeded or
//! failed for good. It looks at the item as stored: `ready` mails "ready", `failed` mails the
//! readable reason, `processing` (another job still works on it) mails nothing. A row in
//! `media_notices` per item and outcome makes every later call for it enqueue nothing: a job
//! settled twice (a re-run after a crash) or a reprocess (repair after a pipeline upgrade) does
//! not mail the owner again. The enqueue is not in the publish transaction: a crash between the publish
//! and this call loses the notification (never the media), which is the trade for keeping the
//! pipeline's code untouched by email.

use sqlx::PgPool;
use uuid::Uuid;

use super::EmailJob;
use crate::{context::JobContext, queue::EnqueueError};

/// Owner id, owner address, media status, file name, error message.
type MediaOwner = (Uuid, String, String, Option<String>, Option<String>);

/// Enqueues the media outcome email after job `job_id` settled on `media_id`, once per item and
/// outcome.
/// Returns the email job's id when one was enqueued.
pub async fn notify_media_outcome(
    pool: &PgPool,
    job_id: Uuid,
    media_id: Uuid,
) -> Result<Option<Uuid>, EnqueueError> {
    let mut tx = pool.begin().await?;
    let item: Option<MediaOwner> = sqlx::query_as(
        "select m.owner_id, u.email, m.status, m.original_filename, m.error_message
           from media m join users u on u.id = m.owner_id
          where m.id = $1 and m.deleted_at is null and u.deleted_at is null",
    )
    .bind(media_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, to, status, name, error_message)) = item else {
        return Ok(None);
    };
    let email = match status.as_str() {
        "ready" => EmailJob::MediaReady {
            user_id,
            to,
            media_id,
            name,
        },
        "failed" => EmailJob::MediaFailed {
            user_id,
            to,
            media_id,
            name,
            reason: error_message.unwrap_or_else(|| "the processing failed".to_owned()),
        },
        _ => return Ok(None),
    };
    // The notice row is the once-only guard; it is written first so that a second settle,
    // racing this one, waits on it and then finds it.
    let inserted = sqlx::query(
        "insert into media_notices (media_id, outcome, job_id) values ($1, $2, $3)
         on conflict (media_id, outcome) do nothing",
    )
    .bind(media_id)
    .bind(&status)
    .bind(job_id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    // Not tied to the media item (`media_id: None`): the item's job list and its cancel/failure
    // bookkeeping are about processing jobs only.
    let id = super::enqueue(&mut tx, user_id, &email).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// [`notify_media_outcome`] for the worker's settle step: does nothing when media emails are
/// off (`VEZA_MEDIA_EMAILS=false`), never fails the job, logs instead.
pub async fn notify_media_outcome_logged(ctx: &JobContext, job_id: Uuid, media_id: Uuid) {
    if !ctx.settings.get::<super::EmailPolicy>().media_emails {
        return;
    }
    match notify_media_outcome(&ctx.pool, job_id, media_id).await {
        Ok(Some(email_job)) => tracing::info!(%job_id, %media_id, %email_job, "media outcome email enqueued"),
        Ok(None) => {}
        Err(err) => {
            tracing::error!(%job_id, %media_id, error = %err, "could not enqueue the media outcome email")
        }
    }
}
