//! Processing a media item again: a new job (and so a new generation) of the kind the item
//! needs, unless one is still to run or running — then that one is named instead. Used by the
//! API's reprocess route and by the repair task.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    media::MediaKind,
    queue::{self, EnqueueError, Priority},
    registry::{self, Processing},
};

/// What a reprocess request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reprocess {
    /// A new job was enqueued.
    Queued(Uuid),
    /// A job of the item is still to run or running; nothing was enqueued.
    AlreadyActive(Uuid),
    /// No such item (of this owner).
    NotFound,
}

/// Enqueues a reprocess of `media_id` on the caller's transaction. With `owner`, only that
/// user's item qualifies. The media row stays locked until the transaction ends, so concurrent
/// requests for one item queue at most one job.
pub async fn reprocess(
    conn: &mut PgConnection,
    media_id: Uuid,
    owner: Option<Uuid>,
    priority: Priority,
) -> Result<Reprocess, EnqueueError> {
    enqueue_unless_active(conn, media_id, owner, priority, Processing::Full).await
}

/// Like [`reprocess`], but only the thumbnails are made again, whatever the item's kind (an
/// audio item's come from its published transcode): used when the configured thumbnail formats
/// changed.
pub async fn rethumbnail(
    conn: &mut PgConnection,
    media_id: Uuid,
    priority: Priority,
) -> Result<Reprocess, EnqueueError> {
    enqueue_unless_active(conn, media_id, None, priority, Processing::ThumbnailsOnly).await
}

async fn enqueue_unless_active(
    conn: &mut PgConnection,
    media_id: Uuid,
    owner: Option<Uuid>,
    priority: Priority,
    processing: Processing,
) -> Result<Reprocess, EnqueueError> {
    let row: Option<(String, Uuid)> = sqlx::query_as(
        "select kind, owner_id from media
          where id = $1 and ($2::uuid is null or owner_id = $2) and deleted_at is null
            for update",
    )
    .bind(media_id)
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((kind, owner_id)) = row else {
        return Ok(Reprocess::NotFound);
    };
    if let Some(active) = queue::find_active_job(conn, media_id).await? {
        return Ok(Reprocess::AlreadyActive(active));
    }
    // A kind this build does not know (written by a newer one) is left to that build.
    let Some(kind) = MediaKind::from_stored(&kind) else {
        tracing::warn!(%media_id, kind, "not reprocessed: a media kind this build does not know");
        return Ok(Reprocess::NotFound);
    };
    let job_id = registry::enqueue_processing(conn, kind, processing, owner_id, media_id, priority).await?;
    Ok(Reprocess::Queued(job_id))
}
