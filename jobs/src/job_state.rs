//! A job's state: the one Rust spelling of what the SQL function `veza_job_state` computes.

/// Where a job is in its life: the SQL function `veza_job_state` computes it from the queue
/// row and Veza's row; this is its one Rust spelling, shared by the worker and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Every state, in the order of a job's life.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Running,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The SQL spelling.
    pub fn as_str(self) -> &'static str {
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

/// A state the SQL function answered that this code does not know (a migration and the code
/// disagree): reading the row fails instead of guessing.
#[derive(Debug, thiserror::Error)]
#[error("unknown job state `{0}`")]
pub struct UnknownJobState(String);

impl TryFrom<String> for JobState {
    type Error = UnknownJobState;

    fn try_from(state: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|known| known.as_str() == state)
            .ok_or(UnknownJobState(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_round_trip_and_an_unknown_one_is_an_error() {
        for state in JobState::ALL {
            assert_eq!(JobState::try_from(state.as_str().to_owned()).ok(), Some(state));
        }
        assert!(JobState::try_from("paused".to_owned()).is_err());
    }
}
