//! Repair: find ready media items whose published outputs are missing from storage or were made
//! by an older pipeline version, and reprocess them (a new job and generation; the old outputs
//! stay published until the new ones replace them); and items whose published thumbnails are in
//! other formats than the configured ones (`VEZA_THUMBNAIL_FORMATS` changed), which get new
//! thumbnails only. Each run looks at the items checked least recently, a batch at a time, so
//! every item is seen in turn.
//!
//! Every worker of a fleet should be configured with the same formats: during a rolling change
//! the repair runs of old and new workers disagree, and an item may be re-thumbnailed once more
//! than needed (at most once per repair cycle, since a job still to run blocks another).

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;
use veza_jobs::{
    media::MediaKind,
    queue::Priority,
    reprocess::{self, Reprocess},
    storage::Storage,
    thumbnail::{self, Format},
    transcode, video,
};

use super::MaintenanceError;

/// The repair task.
pub struct Repair {
    /// Postgres.
    pub pool: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// Items looked at per run.
    pub batch: i64,
    /// The thumbnail formats this worker makes (`VEZA_THUMBNAIL_FORMATS`).
    pub thumbnail_formats: Vec<Format>,
}

/// What a repair run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RepairReport {
    /// Items looked at.
    pub checked: u64,
    /// Items whose outputs came from an older pipeline.
    pub outdated: u64,
    /// Items with a published output missing from storage.
    pub missing: u64,
    /// Items whose published thumbnails are in other formats than the configured ones.
    pub reformatted: u64,
    /// Reprocess jobs enqueued.
    pub enqueued: u64,
}

impl Repair {
    /// Checks one batch and enqueues the reprocesses it needs.
    pub async fn run_once(&self) -> Result<RepairReport, MaintenanceError> {
        let items: Vec<(Uuid, String, Option<i32>, Option<i32>)> = sqlx::query_as(
            "update media set repair_checked_at = now()
              where id in (select id from media where status = 'ready' and deleted_at is null
                            order by repair_checked_at nulls first, id limit $1
                              for update skip locked)
          returning id, kind, playback_pipeline_version, thumbnail_pipeline_version",
        )
        .bind(self.batch)
        .fetch_all(&self.pool)
        .await?;
        let mut configured: Vec<&str> = self.thumbnail_formats.iter().map(|f| f.content_type()).collect();
        configured.sort_unstable();
        configured.dedup();
        let mut report = RepairReport::default();
        for (media_id, kind, playback_version, thumbnail_version) in items {
            report.checked += 1;
            let (version, current) = match MediaKind::from_stored(&kind) {
                Some(MediaKind::Audio) => (playback_version, transcode::PIPELINE_VERSION),
                Some(MediaKind::Video) => (playback_version, video::finalize::PIPELINE_VERSION),
                Some(MediaKind::Image) | None => (thumbnail_version, thumbnail::PIPELINE_VERSION),
            };
            let outdated = version.is_none_or(|v| v < current);
            let missing = !outdated && self.has_missing_output(media_id).await?;
            let reformat =
                !outdated && !missing && self.has_other_thumbnail_formats(media_id, &configured).await?;
            report.outdated += u64::from(outdated);
            report.missing += u64::from(missing);
            report.reformatted += u64::from(reformat);
            if outdated || missing || reformat {
                let mut tx = self.pool.begin().await?;
                let queued = if reformat {
                    reprocess::rethumbnail(&mut tx, media_id, Priority::Background).await?
                } else {
                    reprocess::reprocess(&mut tx, media_id, None, Priority::Background).await?
                };
                if let Reprocess::Queued(job_id) = queued {
                    tracing::info!(%media_id, %job_id, outdated, missing, reformat, "repair: reprocess queued");
                    report.enqueued += 1;
                }
                tx.commit().await?;
            }
        }
        Ok(report)
    }

    /// Whether the item's published thumbnails exist and are not exactly in the `configured`
    /// content types (sorted, distinct). An item without any (never thumbnailed) is not this task's business.
    async fn has_other_thumbnail_formats(
        &self,
        media_id: Uuid,
        configured: &[&str],
    ) -> Result<bool, MaintenanceError> {
        let published: Vec<String> = sqlx::query_scalar(
            "select distinct o.content_type from outputs o join media m on m.id = o.media_id
              where o.media_id = $1 and o.kind = 'thumbnail' and o.generation = m.thumbnail_generation
              order by 1",
        )
        .bind(media_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(!published.is_empty() && published != configured)
    }

    /// Whether any output of the item's published generations is gone from storage.
    async fn has_missing_output(&self, media_id: Uuid) -> Result<bool, MaintenanceError> {
        let keys: Vec<String> = sqlx::query_scalar(
            "select o.object_key from outputs o join media m on m.id = o.media_id
              where o.media_id = $1
                and (o.generation = m.playback_generation or o.generation = m.thumbnail_generation)",
        )
        .bind(media_id)
        .fetch_all(&self.pool)
        .await?;
        for key in keys {
            if !self.storage.exists(&key).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
