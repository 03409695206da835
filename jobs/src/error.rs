//! How a job attempt fails: permanently (bad input — retrying cannot help) or transiently
//! (storage, network, database hiccups — a later attempt may succeed).

use crate::storage::StorageError;

/// A failed job attempt. `code()` is stable and machine-readable; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Retrying cannot help: the input is bad or unsupported.
    #[error("{message}")]
    Permanent {
        /// Stable kebab-case code, e.g. `unsupported-codec`.
        code: &'static str,
        /// Readable reason.
        message: String,
    },
    /// A later attempt may succeed.
    #[error("{message}")]
    Transient {
        /// Stable kebab-case code, e.g. `storage-unavailable`.
        code: &'static str,
        /// Readable reason.
        message: String,
    },
    /// Another worker holds the job now (this one stalled and was rescued): stop without
    /// storing or publishing anything; the job is in the other worker's hands.
    #[error("another worker holds this job now")]
    LeaseLost,
    /// The attempt stopped because it was asked to (shutdown deadline, timeout, cancel).
    #[error("the attempt was cancelled")]
    Cancelled,
}

impl JobError {
    /// A permanent failure with its code and reason.
    pub fn permanent(code: &'static str, message: impl Into<String>) -> Self {
        Self::Permanent {
            code,
            message: message.into(),
        }
    }

    /// A transient failure with its code and reason.
    pub fn transient(code: &'static str, message: impl Into<String>) -> Self {
        Self::Transient {
            code,
            message: message.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Permanent { code, .. } | Self::Transient { code, .. } => code,
            Self::LeaseLost => "lease-lost",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether a later attempt may succeed (lease loss and cancellation are neither: the
    /// worker decides what they mean).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

impl From<StorageError> for JobError {
    fn from(err: StorageError) -> Self {
        Self::transient("storage-unavailable", err.to_string())
    }
}

impl From<sqlx::Error> for JobError {
    fn from(err: sqlx::Error) -> Self {
        Self::transient("database-unavailable", err.to_string())
    }
}

impl From<crate::queue::EnqueueError> for JobError {
    fn from(err: crate::queue::EnqueueError) -> Self {
        Self::transient("enqueue-failed", err.to_string())
    }
}

impl From<tokio::task::JoinError> for JobError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::transient("worker-task-failed", err.to_string())
    }
}
