//! `GET /v1/jobs/{id}`: a job's kind, state, attempts, last error and timestamps.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;
use veza_jobs::queue::{self, CancelOutcome, JobStatus};

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    error::ApiError,
    job_view::{JobError, JobState, job_not_found},
    state::AppState,
};

/// Job operations.
pub struct JobsApi;

/// A job.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Job {
    /// Id (the same across retries).
    pub id: Uuid,
    /// Its queue (one of `QueueName`'s values).
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
            .ok_or_else(job_not_found)?;
        Ok(Json(job_view(job)))
    }

    /// Cancel one of your jobs: a waiting job never runs; a running one stops at its next
    /// checkpoint (a transcode at the next segment boundary) without publishing anything. Its
    /// media item fails as cancelled, and the item's other jobs are cancelled with it (every
    /// chunk of a video).
    #[oai(path = "/jobs/:id/cancel", method = "post", operation_id = "cancelJob")]
    async fn cancel(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<CancelResponse, ApiError> {
        match queue::cancel_with_siblings(&state.pool, id.0, auth.0.id).await? {
            CancelOutcome::NotFound => Err(job_not_found()),
            CancelOutcome::AlreadyFinished => {
                Err(ApiError::conflict("job-finished", "the job has already finished"))
            }
            CancelOutcome::Cancelled | CancelOutcome::Requested => {
                let job = queue::find_job(&state.pool, id.0, auth.0.id)
                    .await?
                    .ok_or_else(job_not_found)?;
                Ok(CancelResponse::Accepted(Json(job_view(job))))
            }
        }
    }
}

fn job_view(job: JobStatus) -> Job {
    let state = JobState::from(job.state);
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
