//! Prune: forget what is older than the retention and no longer needed — finished jobs (done,
//! dead, cancelled), maintenance ticks, account tokens spent or expired, rate-limit attempts, and
//! the delivery log of email jobs that are gone, upload idempotency keys past their 24 hours, resumable uploads a day past their expiry. Jobs still to run, running or waiting for a
//! retry are never touched, nor is the delivery row of a job that still exists (it is what stops
//! a re-run from mailing twice).
//!
//! Rate limits count these rows within their windows, so a window longer than the retention
//! would be cut to it: the worker refuses a recipient window longer than the retention, and the
//! API's registration and reset windows (default 1 h) must stay below it too.

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
    /// Account tokens (verification, reset) used or expired before the retention.
    pub tokens: u64,
    /// Rate-limit attempts older than the retention.
    pub attempts: u64,
    /// Delivery log rows of email jobs already pruned, older than the retention.
    pub deliveries: u64,
    /// Upload idempotency keys older than [`veza_jobs::idempotency::KEY_TTL`].
    pub idempotency_keys: u64,
    /// Resumable uploads expired for a day (their parts are orphan cleanup's).
    pub resumable_uploads: u64,
}

impl Prune {
    /// Deletes what is past the retention.
    pub async fn run_once(&self) -> Result<PruneReport, MaintenanceError> {
        let retention = self.retention.as_secs_f64();
        let mut tx = self.pool.begin().await?;
        let older = |sql: &'static str| sqlx::query(sql).bind(retention);
        let jobs = older(
            "with finished as (
                 delete from apalis.jobs q
                  where (q.status in ('Done', 'Killed') or (q.status = 'Failed' and q.attempts >= q.max_attempts))
                    and q.done_at < now() - make_interval(secs => $1)
              returning q.id)
             delete from jobs j using finished where j.id = veza_job_id(finished.id)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ticks = older("delete from maintenance_ticks where tick_at < now() - make_interval(secs => $1)")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let tokens = older(
            "delete from account_tokens
              where least(expires_at, coalesce(used_at, expires_at)) < now() - make_interval(secs => $1)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let attempts =
            older("delete from request_attempts where attempted_at < now() - make_interval(secs => $1)")
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let deliveries = older(
            "delete from email_deliveries d
              where d.created_at < now() - make_interval(secs => $1)
                and not exists (select 1 from jobs j where j.id = d.job_id)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let idempotency_keys = veza_jobs::idempotency::prune(&mut tx).await?;
        let resumable_uploads = veza_jobs::resumable::prune(&mut tx).await?;
        tx.commit().await?;
        Ok(PruneReport {
            jobs,
            ticks,
            tokens,
            attempts,
            deliveries,
            idempotency_keys,
            resumable_uploads,
        })
    }
}
