//! The API's spelling of a job's state and last error, shared by the owner's routes
//! (`/v1/jobs`) and the operator's (`/v1/admin/jobs`): spec types converted from the job
//! layer's in one place.

use poem_openapi::{Enum, Object};
use veza_jobs::queue;

use crate::error::ApiError;

/// 404 `job-not-found`: no job with this id that the caller may see (one spelling for every
/// route that looks a job up).
pub fn job_not_found() -> ApiError {
    ApiError::not_found("job-not-found", "no such job")
}

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

/// The API's spelling of the job layer's one `JobState` (its spec enum); exhaustive both ways,
/// so a new state fails to compile here rather than showing up as another.
impl From<queue::JobState> for JobState {
    fn from(state: queue::JobState) -> Self {
        match state {
            queue::JobState::Queued => Self::Queued,
            queue::JobState::Running => Self::Running,
            queue::JobState::Retrying => Self::Retrying,
            queue::JobState::Succeeded => Self::Succeeded,
            queue::JobState::Failed => Self::Failed,
            queue::JobState::Cancelled => Self::Cancelled,
        }
    }
}

impl From<JobState> for queue::JobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Queued => Self::Queued,
            JobState::Running => Self::Running,
            JobState::Retrying => Self::Retrying,
            JobState::Succeeded => Self::Succeeded,
            JobState::Failed => Self::Failed,
            JobState::Cancelled => Self::Cancelled,
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
