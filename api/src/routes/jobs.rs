//! `GET /v1/jobs/{id}`: a job's kind, state, attempts, last error and timestamps.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;
use veza_jobs::queue::{self, JobStatus};

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
}

/// The error of the last failed attempt.
#[derive(Debug, Object)]
pub struct JobError {
    /// Stable code.
    pub code: String,
    /// Readable reason.
    pub message: String,
}

/// A job.
#[derive(Debug, Object)]
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
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Jobs")]
impl JobsApi {
    /// One of your jobs.
    #[oai(path = "/jobs/:id", method = "get")]
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
}

fn job_view(job: JobStatus) -> Job {
    let state = match job.status.as_str() {
        "Running" => JobState::Running,
        "Done" => JobState::Succeeded,
        "Failed" if job.attempts < job.max_attempts => JobState::Retrying,
        "Failed" | "Killed" => JobState::Failed,
        _ => JobState::Queued,
    };
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
    }
}
