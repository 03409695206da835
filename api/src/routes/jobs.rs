//! `GET /v1/jobs/{id}`: a job's kind, state, attempts, last error and timestamps.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;
use veza_jobs::queue::{self, CancelOutcome, JobStatus};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, startup::AppState};

/// Job operations.
pub struct JobsApi;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker is on it.
    Running,
    /// An attempt failed; another will run.
    Retrying,
    /// Finished successfully.
    Succeeded,
    /// Failed for good (permanent error or attempts exhausted).
    Failed,
    /// Cancelled by its owner.
    Cancelled,
}

impl JobState {
    /// From the SQL `veza_job_state` spelling.
    pub fn from_sql(state: &str) -> Self {
        match state {
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "retrying" => Self::Retrying,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Queued,
        }
    }

    /// The SQL `veza_job_state` spelling.
    pub fn as_sql(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The error of the last failed attempt.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct JobError {
    /// Stable code.
    pub code: String,
    /// Readable reason.
    pub message: String,
}

/// A job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Job {
    /// Id (the same across retries).
    pub id: Uuid,
    /// `email`, `thumbnail` or `transcode`.
    pub kind: String,
    /// The media item it works on.
    pub media_id: Option<Uuid>,
    /// State.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the last failed attempt.
    pub last_error: Option<JobError>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may run (next).
    pub run_at: DateTime<Utc>,
    /// When the last attempt was claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last attempt ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether its owner asked to cancel it (a running job stops at its next checkpoint).
    pub cancel_requested: bool,
    /// What a transcode is doing: `encoding`, `finalizing`, `done` or `failed`.
    pub stage: Option<String>,
    /// How far along a transcode is, 0–100.
    pub progress_percent: Option<i16>,
}

/// Answer of a cancel request.
#[derive(Debug, ApiResponse)]
pub enum CancelResponse {
    /// The job was waiting and is cancelled, or is running and will stop at its next checkpoint.
    #[oai(status = 202)]
    Accepted(Json<Job>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Jobs")]
impl JobsApi {
    /// One of your jobs.
    #[oai(path = "/jobs/:id", method = "get", operation_id = "getJob")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Job>, ApiError> {
        let job = queue::find_job(&state.pool, id.0, auth.0.id)
            .await?
            .ok_or_else(|| ApiError::not_found("job-not-found", "no such job"))?;
        Ok(Json(job_view(job)))
    }

    /// Cancel one of your jobs: a waiting job never runs; a running one stops at its next
    /// checkpoint (a transcode at the next segment boundary) without publishing anything.
    #[oai(path = "/jobs/:id/cancel", method = "post", operation_id = "cancelJob")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<CancelResponse, ApiError> {
        match queue::cancel(&state.pool, id.0, auth.0.id).await? {
            CancelOutcome::NotFound => Err(ApiError::not_found("job-not-found", "no such job")),
            CancelOutcome::AlreadyFinished => {
                Err(ApiError::conflict("job-finished", "the job has already finished"))
            }
            CancelOutcome::Cancelled | CancelOutcome::Requested => {
                let job = queue::find_job(&state.pool, id.0, auth.0.id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("job-not-found", "no such job"))?;
                Ok(CancelResponse::Accepted(Json(job_view(job))))
            }
        }
    }
}

fn job_view(job: JobStatus) -> Job {
    let state = JobState::from_sql(&job.state);
    let last_error = job.error_code.map(|code| JobError {
        code,
        message: job.error_message.unwrap_or_default(),
    });
    Job {
        id: job.id,
        kind: job.kind,
        media_id: job.media_id,
        state,
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        last_error,
        created_at: job.created_at,
        run_at: job.run_at,
        started_at: job.lock_at,
        finished_at: job.done_at,
        cancel_requested: job.cancel_requested_at.is_some(),
        stage: job.stage,
        progress_percent: job.progress_percent,
    }
}
