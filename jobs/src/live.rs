//! Live job events: a notification on the `veza_user` channel whenever a job reports progress
//! or settles, so the API can push the event to the owner's sockets and event streams at once.
//! The notification carries ids only (a payload stops at 8,000 bytes); the API reads the event
//! back with [`event`], which builds the same body the webhooks deliver.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::webhooks::{Event, EventData, EventError};

/// The channel of per-user notifications (also used for revoked sessions).
pub const USER_CHANNEL: &str = "veza_user";

/// The event types pushed live: the webhook events and `job.progress`.
pub const LIVE_EVENTS: [&str; 5] = [
    "job.progress",
    "job.succeeded",
    "job.failed",
    "media.ready",
    "media.failed",
];

/// Announces event `event_type` of job `job_id` to its owner's live connections (delivered at
/// the commit of `conn`'s transaction, if any).
pub async fn announce(conn: impl PgExecutor<'_>, job_id: Uuid, event_type: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select pg_notify($3, json_build_object('t', 'job', 'u', owner_id, 'j', id, 'e', $2::text)::text)
           from jobs where id = $1",
    )
    .bind(job_id)
    .bind(event_type)
    .bind(USER_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct JobRow {
    owner_id: Uuid,
    job_kind: String,
    stage: Option<String>,
    progress_percent: Option<i16>,
    media_id: Option<Uuid>,
    media_kind: Option<String>,
    media_status: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// Event `event_type` of job `job_id` as it stands now, with its owner; `None` when the job or
/// its media item is gone, or the job has no media item.
pub async fn event(
    pool: &PgPool,
    job_id: Uuid,
    event_type: &str,
) -> Result<Option<(Uuid, Event)>, sqlx::Error> {
    let row: Option<JobRow> = sqlx::query_as(
        "select j.owner_id, j.kind as job_kind, j.stage, j.progress_percent, j.media_id,
                m.kind as media_kind, m.status as media_status,
                coalesce(j.error_code, m.error_code) as error_code,
                coalesce(j.error_message, m.error_message) as error_message
           from jobs j join media m on m.id = j.media_id and m.deleted_at is null
          where j.id = $1",
    )
    .bind(job_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (Some(media_id), Some(media_kind), Some(media_status)) =
        (row.media_id, row.media_kind, row.media_status)
    else {
        return Ok(None);
    };
    let failed = event_type.ends_with(".failed");
    let error = match (failed, row.error_code, row.error_message) {
        (true, Some(code), Some(message)) => Some(EventError { code, message }),
        _ => None,
    };
    let progress = event_type == "job.progress";
    let event = Event {
        event_type: event_type.to_owned(),
        timestamp: chrono::Utc::now(),
        data: EventData {
            media_id,
            media_kind,
            media_status,
            job_id,
            job_kind: row.job_kind,
            error,
            stage: if progress { row.stage } else { None },
            progress_percent: if progress { row.progress_percent } else { None },
        },
    };
    Ok(Some((row.owner_id, event)))
}
