//! Orphans: delete objects nothing refers to, defined by prefix and only once older than the
//! grace period (always longer than the longest job timeout, so that an upload in flight or a
//! generation being written is never touched):
//! - `originals/{media}` whose media row is gone;
//! - anything under `media/{media}/` whose media row is gone;
//! - `media/{media}/{area}/{generation}/…` of a generation that is neither published (named by
//!   the media row) nor in progress (its job is still to run or running);
//! - `uploads/{upload}/…`, the parts of a resumable upload that is finished, ended or expired
//!   (or of a PATCH whose part was never recorded).

use std::{
    collections::{HashMap, hash_map::Entry},
    time::Duration,
};

use futures::StreamExt;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;
use veza_jobs::{
    resumable,
    storage::{Storage, StoredObject},
};

use super::MaintenanceError;

/// The orphan-cleanup task.
pub struct Orphans {
    /// Postgres.
    pub pool: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// Objects younger than this are never deleted.
    pub grace: Duration,
}

/// What an orphan run did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct OrphansReport {
    /// Objects looked at.
    pub scanned: u64,
    /// Objects deleted.
    pub deleted: u64,
    /// Orphans kept because they are younger than the grace period.
    pub too_young: u64,
}

/// What the database says about one media item.
struct Known {
    published: Vec<String>,
}

impl Orphans {
    /// Scans `originals/` and `media/` and deletes the orphans past the grace period.
    pub async fn run_once(&self) -> Result<OrphansReport, MaintenanceError> {
        let cutoff =
            chrono::Utc::now() - chrono::Duration::from_std(self.grace).unwrap_or(chrono::Duration::MAX);
        let mut report = OrphansReport::default();
        // One lookup per media item per run.
        let mut items: HashMap<Uuid, Option<Known>> = HashMap::new();
        for prefix in ["originals", "media"] {
            let mut objects = self.storage.list(prefix);
            while let Some(object) = objects.next().await {
                let object = object?;
                report.scanned += 1;
                let Some(place) = Place::parse(&object.key) else {
                    continue;
                };
                let known = match items.entry(place.media_id) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => entry.insert(self.lookup(place.media_id).await?),
                };
                let referenced = match (known.as_ref(), &place.generation) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(known), Some(generation)) => {
                        known.published.contains(generation) || self.in_progress(generation).await?
                    }
                };
                if !referenced {
                    self.delete_if_old(&object, cutoff, &mut report).await?;
                }
            }
        }
        self.sweep_upload_parts(cutoff, &mut report).await?;
        Ok(report)
    }

    /// Deletes the parts under `uploads/` of uploads no longer in progress, or never recorded
    /// (a PATCH cut off, a losing concurrent PATCH), once past the grace period.
    async fn sweep_upload_parts(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        report: &mut OrphansReport,
    ) -> Result<(), MaintenanceError> {
        let mut live: HashMap<Uuid, bool> = HashMap::new();
        let mut objects = self.storage.list(resumable::PREFIX);
        while let Some(object) = objects.next().await {
            let object = object?;
            report.scanned += 1;
            let Some(upload) = resumable::upload_of_key(&object.key) else {
                continue;
            };
            let in_progress = match live.entry(upload) {
                Entry::Occupied(entry) => *entry.get(),
                Entry::Vacant(entry) => *entry.insert(resumable::in_progress(&self.pool, upload).await?),
            };
            if !(in_progress && self.part_recorded(&object.key).await?) {
                self.delete_if_old(&object, cutoff, report).await?;
            }
        }
        Ok(())
    }

    /// Deletes an object nothing refers to, unless it is younger than the grace period.
    async fn delete_if_old(
        &self,
        object: &StoredObject,
        cutoff: chrono::DateTime<chrono::Utc>,
        report: &mut OrphansReport,
    ) -> Result<(), MaintenanceError> {
        if object.last_modified > cutoff {
            report.too_young += 1;
        } else {
            self.storage.delete(&object.key).await?;
            report.deleted += 1;
        }
        Ok(())
    }

    async fn part_recorded(&self, key: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("select exists (select 1 from resumable_upload_parts where object_key = $1)")
            .bind(key)
            .fetch_one(&self.pool)
            .await
    }

    async fn lookup(&self, media_id: Uuid) -> Result<Option<Known>, sqlx::Error> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("select playback_generation, thumbnail_generation from media where id = $1")
                .bind(media_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(playback, thumbnail)| Known {
            published: playback.into_iter().chain(thumbnail).collect(),
        }))
    }

    /// A generation is a job id; it is in progress while that job is still to run or running.
    async fn in_progress(&self, generation: &str) -> Result<bool, sqlx::Error> {
        let Ok(job_id) = generation.parse::<Uuid>() else {
            return Ok(false);
        };
        sqlx::query_scalar(
            "select exists (select 1 from apalis.jobs q where q.id = veza_task_id($1)
                 and (q.status in ('Pending', 'Queued', 'Running')
                      or (q.status = 'Failed' and q.attempts < q.max_attempts)))",
        )
        .bind(job_id)
        .fetch_one(&self.pool)
        .await
    }
}

/// Where an object sits in Veza's key layout.
struct Place {
    media_id: Uuid,
    generation: Option<String>,
}

impl Place {
    /// `originals/{media}` or `media/{media}/{area}/{generation}/{name}`; anything else is not
    /// Veza's layout and is left alone.
    fn parse(key: &str) -> Option<Self> {
        let mut parts = key.split('/');
        match (parts.next(), parts.next()) {
            (Some("originals"), Some(id)) => Some(Self {
                media_id: id.parse().ok()?,
                generation: None,
            }),
            (Some("media"), Some(id)) => {
                let media_id = id.parse().ok()?;
                let _area = parts.next()?;
                Some(Self {
                    media_id,
                    generation: Some(parts.next()?.to_owned()),
                })
            }
            _ => None,
        }
    }
}
