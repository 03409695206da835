//! The canary job: it does nothing. Operators enqueue canaries to check that the fleet picks up
//! and finishes work end to end; the queue benchmark measures Veza's whole worker path with
//! them (claim, lease, cancel and pause checks, settle), not the handler's work.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use std::time::Duration;
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::JobError,
    kind::Kind,
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The canary kind.
pub struct CanaryKind;

/// The queue name.
pub const QUEUE: &str = "canary";

impl Kind for CanaryKind {
    const QUEUE: &'static str = QUEUE;
    /// One attempt: a canary that fails has shown what it was for.
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
    };
    const TIMEOUT: Duration = Duration::from_secs(60);
    const CONCURRENCY: usize = 32;
    const QUIET: bool = true;
    const ABOUT: &'static str = "does nothing: checks the fleet end to end, measures the queue";
    type Payload = CanaryJob;

    /// Canaries do nothing, so a large batch hoards nothing, and the batch size is what sets
    /// their throughput: one consumer fetches, hands out and acknowledges a batch per serial
    /// cycle (docs/queue.md; bench/README.md, one process on a busy machine: 100 → 2,956,
    /// 500 → 6,110 jobs/s).
    fn batch_size(_concurrency: usize) -> usize {
        500
    }

    async fn handle(_ctx: &JobContext, _run: &JobRun, _job: CanaryJob) -> Result<(), JobError> {
        Ok(())
    }
}

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
    queue::enqueue_many::<CanaryKind>(conn, owner, &payloads, Priority::Normal).await
}
