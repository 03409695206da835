//! Operator routes (admin role): queue statistics, jobs by state, retrying a dead job, pausing
//! and resuming a queue, and the workers with their last heartbeat.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;
use veza_jobs::{
    audit::{self, Action, Event},
    canary,
    operations::{self, QueueStats, RetryOutcome},
};

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    error::ApiError,
    job_view::{JobError, JobState, job_not_found},
    queue_name::QueueName,
    state::AppState,
};

/// Operator operations.
pub struct AdminApi;

/// A queue's job counts by state.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Queue {
    /// Queue name.
    pub queue: String,
    /// Whether workers stopped claiming its jobs.
    pub paused: bool,
    /// Waiting to be claimed.
    pub queued: i64,
    /// Being worked on.
    pub running: i64,
    /// Waiting for a scheduled retry.
    pub retrying: i64,
    /// Finished successfully.
    pub succeeded: i64,
    /// Dead: failed permanently or out of attempts.
    pub failed: i64,
    /// Cancelled by their owners.
    pub cancelled: i64,
}

impl From<QueueStats> for Queue {
    fn from(s: QueueStats) -> Self {
        Self {
            queue: s.queue,
            paused: s.paused,
            queued: s.queued,
            running: s.running,
            retrying: s.retrying,
            succeeded: s.succeeded,
            failed: s.failed,
            cancelled: s.cancelled,
        }
    }
}

/// A job as an operator sees it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminJob {
    /// Job id.
    pub id: Uuid,
    /// Queue.
    pub kind: String,
    /// Owner.
    pub owner_id: Uuid,
    /// Media item.
    pub media_id: Option<Uuid>,
    /// State.
    pub state: JobState,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Last error.
    pub last_error: Option<JobError>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Next run at.
    pub run_at: DateTime<Utc>,
}

/// A page of jobs.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AdminJobPage {
    /// Jobs, newest first.
    pub items: Vec<AdminJob>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<Uuid>,
}

/// A queue consumer of a worker process.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Worker {
    /// Consumer id (`{queue}-{instance}`).
    pub id: String,
    /// The queue it consumes.
    pub queue: String,
    /// Its last heartbeat.
    pub last_seen: DateTime<Utc>,
}

/// Enqueued canaries.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Canaries {
    /// Their job ids.
    pub job_ids: Vec<Uuid>,
}

/// Answer of a canary request.
#[derive(Debug, ApiResponse)]
pub enum CanaryResponse {
    /// Queued.
    #[oai(status = 202)]
    Accepted(Json<Canaries>),
}

/// Answer of a retry.
#[derive(Debug, ApiResponse)]
pub enum RetryResponse {
    /// Queued again.
    #[oai(status = 202)]
    Accepted(Json<AdminJob>),
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// Job counts per queue and state.
    #[oai(path = "/queues", method = "get", operation_id = "listQueues")]
    async fn queues(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<Vec<Queue>>, ApiError> {
        auth.0.require_admin()?;
        let stats = operations::queue_stats(&state.pool).await?;
        Ok(Json(stats.into_iter().map(Queue::from).collect()))
    }

    /// Stop claiming a queue's jobs (running ones finish). Idempotent.
    #[oai(path = "/queues/:queue/pause", method = "post", operation_id = "pauseQueue")]
    async fn pause(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        queue: Path<QueueName>,
    ) -> Result<Json<Queue>, ApiError> {
        set_paused(&state, &auth, queue.0, true).await
    }

    /// Claim a paused queue's jobs again. Idempotent.
    #[oai(path = "/queues/:queue/resume", method = "post", operation_id = "resumeQueue")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        queue: Path<QueueName>,
    ) -> Result<Json<Queue>, ApiError> {
        set_paused(&state, &auth, queue.0, false).await
    }

    /// Jobs by state and queue, newest first.
    #[oai(path = "/jobs", method = "get", operation_id = "listJobs")]
    async fn jobs(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Only jobs in this state.
        #[oai(name = "state")]
        job_state: Query<Option<JobState>>,
        /// Only jobs of this queue.
        queue: Query<Option<QueueName>>,
        /// Jobs older than this id (from `next_before`).
        before: Query<Option<Uuid>>,
        /// Page size, 1–500 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AdminJobPage>, ApiError> {
        auth.0.require_admin()?;
        let limit = limit.0.unwrap_or(100);
        let jobs = operations::list_jobs(
            &state.pool,
            job_state
                .0
                .map(|state| veza_jobs::queue::JobState::from(state).as_str()),
            queue.0.map(|q| q.0.name),
            before.0,
            i64::from(limit),
        )
        .await?;
        let next_before = (jobs.len() == limit as usize)
            .then(|| jobs.last().map(|j| j.id))
            .flatten();
        Ok(Json(AdminJobPage {
            items: jobs.into_iter().map(admin_job).collect(),
            next_before,
        }))
    }

    /// Queue a dead job (failed or cancelled) again under the same id, with fresh attempts.
    #[oai(path = "/jobs/:id/retry", method = "post", operation_id = "retryJob")]
    async fn retry(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<RetryResponse, ApiError> {
        auth.0.require_admin()?;
        match operations::retry_dead_job(&state.pool, id.0).await? {
            RetryOutcome::NotFound => Err(job_not_found()),
            RetryOutcome::NotDead => Err(ApiError::conflict(
                "job-not-dead",
                "only failed or cancelled jobs can be retried",
            )),
            RetryOutcome::Queued => {
                audit::record(
                    &state.pool,
                    &Event::new(Action::JobRetried)
                        .by(auth.0.id)
                        .with(serde_json::json!({ "job_id": id.0 })),
                )
                .await?;
                tracing::info!(job_id = %id.0, by = %auth.0.id, "dead job retried");
                let job = operations::job_summary(&state.pool, id.0)
                    .await?
                    .ok_or_else(job_not_found)?;
                Ok(RetryResponse::Accepted(Json(admin_job(job))))
            }
        }
    }

    /// Enqueue canary jobs (they do nothing) to check that the fleet picks work up end to end;
    /// poll them like any job.
    #[oai(path = "/canaries", method = "post", operation_id = "enqueueCanaries")]
    async fn canaries(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// How many, 1–1000 (default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        count: Query<Option<u32>>,
    ) -> Result<CanaryResponse, ApiError> {
        auth.0.require_admin()?;
        let mut tx = state.pool.begin().await?;
        let job_ids = canary::enqueue(&mut tx, auth.0.id, count.0.unwrap_or(1) as usize)
            .await
            .map_err(ApiError::from)?;
        tx.commit().await?;
        Ok(CanaryResponse::Accepted(Json(Canaries { job_ids })))
    }

    /// Worker queue consumers and their last heartbeat.
    #[oai(path = "/workers", method = "get", operation_id = "listWorkers")]
    async fn workers(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<Vec<Worker>>, ApiError> {
        auth.0.require_admin()?;
        let workers = operations::list_workers(&state.pool).await?;
        Ok(Json(
            workers
                .into_iter()
                .map(|w| Worker {
                    id: w.id,
                    queue: w.queue,
                    last_seen: w.last_seen,
                })
                .collect(),
        ))
    }
}

/// Pauses or resumes `queue` for an admin and answers with its statistics.
async fn set_paused(
    state: &AppState,
    auth: &BearerAuth,
    queue: QueueName,
    paused: bool,
) -> Result<Json<Queue>, ApiError> {
    auth.0.require_admin()?;
    let name = queue.0.name;
    operations::set_paused(&state.pool, queue.0, paused, Some(auth.0.id)).await?;
    let action = if paused {
        Action::QueuePaused
    } else {
        Action::QueueResumed
    };
    audit::record(
        &state.pool,
        &Event::new(action)
            .by(auth.0.id)
            .with(serde_json::json!({ "queue": name })),
    )
    .await?;
    tracing::info!(queue = name, paused, by = %auth.0.id, "queue pause changed");
    operations::queue_stats(&state.pool)
        .await?
        .into_iter()
        .find(|q| q.queue == name)
        .map(|q| Json(Queue::from(q)))
        .ok_or_else(|| ApiError::internal(format!("queue {name} missing from the statistics")))
}

fn admin_job(job: operations::JobSummary) -> AdminJob {
    AdminJob {
        id: job.id,
        kind: job.kind,
        owner_id: job.owner_id,
        media_id: job.media_id,
        state: JobState::from(job.state),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        last_error: job.error_code.map(|code| JobError {
            code,
            message: job.error_message.unwrap_or_default(),
        }),
        created_at: job.created_at,
        run_at: job.run_at,
    }
}
