//! How a job attempt fails: permanently (bad input — retrying cannot help) or transiently
//! (storage, network, database hiccups — a later attempt may succeed).
//!
//! The message of a failure is public: it is stored on the job and shown to the item's owner.
//! What went wrong inside (a driver's error text naming hosts, buckets, paths or a relay's
//! reply) is the failure's `cause`, which only the worker's log sees.

mod code;

pub use code::ErrorCode;

use crate::storage::StorageError;

/// A failed job attempt. `code()` is stable and machine-readable; the message is for people.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A failure with its code from the catalogue, which says whether a retry can help.
    #[error("{message}")]
    Failed {
        /// What went wrong, from the catalogue.
        code: ErrorCode,
        /// Readable reason, safe to show the owner (the code's summary unless more is known).
        message: String,
        /// The internal cause, for the log only.
        cause: Option<String>,
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
    /// A failure with `code`'s summary as its message.
    pub fn new(code: ErrorCode) -> Self {
        Self::with_message(code, code.summary())
    }

    /// A failure with a message of its own (safe to show the owner: no hosts, paths or keys).
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// The job's owner cancelled it; `before_it_ran` tells a waiting job from a running one in
    /// the message.
    pub fn owner_cancelled(before_it_ran: bool) -> Self {
        let message = if before_it_ran {
            "cancelled by its owner before it ran"
        } else {
            "cancelled by its owner"
        };
        Self::with_message(ErrorCode::Cancelled, message)
    }

    /// Whether this is the failure of a job its owner cancelled.
    pub fn is_owner_cancelled(&self) -> bool {
        self.error_code() == Some(ErrorCode::Cancelled)
    }

    /// The same failure with the internal `cause` attached: the log shows it, the owner never.
    #[must_use]
    pub fn with_cause(mut self, err: impl std::fmt::Display) -> Self {
        if let Self::Failed { cause, .. } = &mut self {
            *cause = Some(err.to_string());
        }
        self
    }

    /// The internal cause, when there is one (for the log).
    pub fn cause(&self) -> Option<&str> {
        match self {
            Self::Failed { cause, .. } => cause.as_deref(),
            Self::LeaseLost | Self::Cancelled => None,
        }
    }

    /// The catalogue code of a failure (`None` for a lost lease or a stopped attempt).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Failed { code, .. } => Some(*code),
            Self::LeaseLost | Self::Cancelled => None,
        }
    }

    /// The stable code as stored and shown.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Failed { code, .. } => code.as_str(),
            Self::LeaseLost => "lease-lost",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether a later attempt may succeed (lease loss and cancellation are neither: the
    /// worker decides what they mean).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Failed { code, .. } if !code.is_permanent())
    }
}

impl From<StorageError> for JobError {
    fn from(err: StorageError) -> Self {
        Self::new(ErrorCode::StorageUnavailable).with_cause(err)
    }
}

impl From<sqlx::Error> for JobError {
    fn from(err: sqlx::Error) -> Self {
        Self::new(ErrorCode::DatabaseUnavailable).with_cause(err)
    }
}

impl From<tokio::task::JoinError> for JobError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::new(ErrorCode::WorkerTaskFailed).with_cause(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_tells_the_owner_nothing_of_the_database() {
        let raw = sqlx::Error::Configuration("password authentication failed for host db-7.internal".into());
        let err = JobError::from(raw);
        assert_eq!(err.code(), "database-unavailable");
        assert!(!err.to_string().contains("db-7.internal"), "{err}");
        assert!(err.cause().is_some_and(|c| c.contains("db-7.internal")));
        assert!(err.is_retryable());
    }

    #[test]
    fn a_failure_made_with_a_cause_keeps_its_public_message() {
        let err =
            JobError::new(ErrorCode::SmtpRejected).with_cause("550 5.1.1 <ada@relay.internal>: user unknown");
        assert_eq!(err.to_string(), "the mail server refused the message");
        assert!(err.cause().is_some_and(|c| c.contains("relay.internal")));
        assert!(!err.is_retryable());
    }
}
