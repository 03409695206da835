//! The canary job: it does nothing. Operators enqueue canaries to check that the fleet picks up
//! and finishes work end to end; the queue benchmark measures Veza's whole worker path with
//! them (claim, lease, cancel and pause checks, settle), not the handler's work.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

use crate::{
    context::JobRun,
    error::JobError,
    queue::{self, EnqueueError, JobKind, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "canary";
/// One attempt: a canary that fails has shown what it was for.
pub const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 1,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(1),
};

/// The payload of a canary job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CanaryJob {}

/// Enqueues `count` canaries owned by `owner` on the caller's transaction, in two statements.
pub async fn enqueue(conn: &mut PgConnection, owner: Uuid, count: usize) -> Result<Vec<Uuid>, EnqueueError> {
    let owner = JobOwner {
        user_id: owner,
        media_id: None,
    };
    let payloads = vec![CanaryJob {}; count];
    queue::enqueue_many(
        conn,
        JobKind::Canary,
        owner,
        &payloads,
        RETRY.max_attempts,
        Priority::Normal,
    )
    .await
}

/// Does nothing, successfully.
pub async fn handle(_run: &JobRun, _job: CanaryJob) -> Result<(), JobError> {
    Ok(())
}
