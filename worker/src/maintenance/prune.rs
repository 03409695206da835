//! Prune: forget finished jobs (done, dead, cancelled) and maintenance ticks older than the
//! retention. Jobs still to run, running or waiting for a retry are never touched.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;

use super::MaintenanceError;

/// The prune task.
pub struct Prune {
    /// Postgres.
    pub pool: PgPool,
    /// How long finished jobs stay queryable.
    pub retention: Duration,
}

/// What a prune run did.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct PruneReport {
    /// Jobs deleted (queue row and Veza's record).
    pub jobs: u64,
    /// Maintenance tick rows deleted.
    pub ticks: u64,
}

impl Prune {
    /// Deletes what is past the retention.
    pub async fn run_once(&self) -> Result<PruneReport, MaintenanceError> {
        let retention = self.retention.as_secs_f64();
        let mut tx = self.pool.begin().await?;
        let jobs = sqlx::query(
            "with finished as (
                 delete from apalis.jobs q
                  where (q.status in ('Done', 'Killed') or (q.status = 'Failed' and q.attempts >= q.max_attempts))
                    and q.done_at < now() - make_interval(secs => $1)
              returning q.id)
             delete from jobs j using finished where j.id = veza_job_id(finished.id)",
        )
        .bind(retention)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ticks =
            sqlx::query("delete from maintenance_ticks where tick_at < now() - make_interval(secs => $1)")
                .bind(retention)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(PruneReport { jobs, ticks })
    }
}
