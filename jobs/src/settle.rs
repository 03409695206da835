//! What a settled attempt means beyond its job: the media policy. A job that works on a media
//! item (`Kind::media_id`) decides the item's fate. When it succeeds, its handler has published
//! the outputs and flipped the item to `ready`; the owner is told (by the kinds that listen,
//! [`registry::media_settled`]). When it is dead (a permanent
//! failure, out of attempts, or cancelled), the item is marked failed with the job's public
//! code and reason and, unless the owner cancelled it, the owner is told by email; webhook
//! endpoints hear of every outcome.
//!
//! The worker's runner calls these after it has settled the job itself; they never fail the
//! job: a database error is logged, and repair finds an item left behind.

use uuid::Uuid;

use crate::{context::JobContext, error::JobError, media, queue, registry, webhooks::Outcome};

/// A media job succeeded: tell the owner (when media emails are on).
pub async fn media_job_succeeded(ctx: &JobContext, job_id: Uuid, media_id: Uuid) {
    registry::media_settled(ctx, job_id, media_id, Outcome::Succeeded, true).await;
}

/// A media job is dead: the item fails with the job's reason (a cancelled job's item keeps an
/// earlier failure's reason), the item's other jobs still to run or running are cancelled
/// (one chunk of a video failing fails the video), and the owner is told unless they cancelled
/// it themselves.
pub async fn media_job_dead(ctx: &JobContext, job_id: Uuid, media_id: Uuid, err: &JobError) {
    let marked = async {
        let mut conn = ctx.pool.acquire().await?;
        if err.is_owner_cancelled() {
            media::mark_cancelled(&mut conn, media_id, err.code(), &err.to_string()).await
        } else {
            media::mark_failed(&mut conn, media_id, err.code(), &err.to_string()).await
        }
    };
    if let Err(db) = marked.await {
        tracing::error!(%job_id, %media_id, error = %db, "could not mark the media item failed");
    }
    match queue::cancel_siblings(&ctx.pool, media_id, job_id).await {
        Ok(0) => {}
        Ok(cancelled) => {
            tracing::info!(%job_id, %media_id, cancelled, "the item failed: its other jobs cancelled")
        }
        Err(db) => tracing::error!(%job_id, %media_id, error = %db, "could not cancel the item's other jobs"),
    }
    // The owner is not mailed about a job they cancelled; their endpoints still hear of it.
    registry::media_settled(ctx, job_id, media_id, Outcome::Failed, !err.is_owner_cancelled()).await;
}
