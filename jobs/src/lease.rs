//! The lease of a running attempt: the apalis row says which worker holds the job (`lock_by`).
//! A worker that only stalled may find its job rescued and claimed by another; before it stores
//! or publishes anything it checks that it still holds the lease, and the publish transaction
//! keeps the job's row locked so the lease cannot move while it commits.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{error::JobError, task_ids};

/// Which worker holds which job.
#[derive(Debug, Clone)]
pub struct Lease {
    task_id: String,
    worker: String,
}

impl Lease {
    /// The lease of job `job_id` held by the worker named `worker`.
    pub fn new(job_id: Uuid, worker: &str) -> Self {
        Self {
            task_id: task_ids::task_id(job_id),
            worker: worker.to_owned(),
        }
    }

    /// The name of the worker holding the lease.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Checks the lease and locks the job's row until `conn`'s transaction ends (use it inside
    /// the transaction that publishes). Fails with [`JobError::LeaseLost`] when another worker
    /// holds the job now.
    pub async fn hold(&self, conn: &mut PgConnection) -> Result<(), JobError> {
        let held: Option<i32> =
            sqlx::query_scalar("select 1 from apalis.jobs where id = $1 and lock_by = $2 for update")
                .bind(&self.task_id)
                .bind(&self.worker)
                .fetch_optional(conn)
                .await?;
        held.map(|_| ()).ok_or(JobError::LeaseLost)
    }

    /// Releases the job for another worker without counting the attempt (used when a drain
    /// deadline interrupts it). Does nothing if the lease moved on already.
    pub async fn release(&self, pool: &sqlx::PgPool) -> Result<bool, sqlx::Error> {
        let released = sqlx::query(
            "update apalis.jobs
                set status = 'Pending', lock_by = null, lock_at = null, done_at = null, run_at = now()
              where id = $1 and lock_by = $2",
        )
        .bind(&self.task_id)
        .bind(&self.worker)
        .execute(pool)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    /// Records the attempt's end on the job's queue row as apalis's acknowledgement does
    /// (`status` `Done`, `Failed` or `Killed`, the attempt count, the result), fenced on the
    /// lease. apalis acknowledges from an in-memory channel of the consumer that claimed the job;
    /// when that consumer failed and was restarted while the attempt ran, the channel and the
    /// acknowledgement are gone and the job would stay `Running`. Writing the same values twice
    /// is harmless. Returns whether the lease still held the job.
    pub async fn acknowledge(
        &self,
        pool: &sqlx::PgPool,
        status: &str,
        attempt: usize,
        result: &serde_json::Value,
    ) -> Result<bool, sqlx::Error> {
        let acknowledged = sqlx::query(
            "update apalis.jobs set status = $3, attempts = $4, last_result = $5, done_at = now()
              where id = $1 and lock_by = $2",
        )
        .bind(&self.task_id)
        .bind(&self.worker)
        .bind(status)
        .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
        .bind(result)
        .execute(pool)
        .await?;
        Ok(acknowledged.rows_affected() == 1)
    }

    /// Moves the job's next attempt `delay` into the future (a scheduled retry). apalis then
    /// acknowledges the failed attempt; its fetch skips the job until `run_at`.
    pub async fn schedule_retry(
        &self,
        pool: &sqlx::PgPool,
        delay: std::time::Duration,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update apalis.jobs set run_at = now() + make_interval(secs => $3)
              where id = $1 and lock_by = $2",
        )
        .bind(&self.task_id)
        .bind(&self.worker)
        .bind(delay.as_secs_f64())
        .execute(pool)
        .await?;
        Ok(())
    }
}
