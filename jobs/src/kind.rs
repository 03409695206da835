//! The seam between a kind of job and the platform. A kind is a type implementing [`Kind`]: its
//! queue name, retry policy, default time limit and concurrency, its payload and its handler.
//! Everything else — enqueueing, the worker's runner and registration, the operator API, the
//! metrics, the configuration keys — is derived from the kinds listed in [`crate::registry`].
//! `docs/architecture.md` says how to add one.

use std::{future::Future, time::Duration};

use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::JobError,
    retry::RetryPolicy,
};

/// A kind of job: one apalis queue and the work its jobs do.
pub trait Kind: Send + Sync + 'static {
    /// The queue name, also `jobs.kind` and the `{QUEUE}` of its configuration keys
    /// (`VEZA_{QUEUE}_CONCURRENCY`, `VEZA_{QUEUE}_TIMEOUT_SECONDS`).
    const QUEUE: &'static str;
    /// Attempts and backoff.
    const RETRY: RetryPolicy;
    /// Longest an attempt may run before it is cancelled, unless configured otherwise.
    const TIMEOUT: Duration;
    /// Jobs of this kind one worker process runs at once, unless configured otherwise.
    const CONCURRENCY: usize;
    /// Whether each attempt is logged at debug level instead of info (kinds that run by the
    /// thousand and do nothing worth reading).
    const QUIET: bool = false;
    /// One line for operators: what the kind does.
    const ABOUT: &'static str;

    /// What a job of this kind carries (JSON in the queue).
    type Payload: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static;

    /// Jobs one fetch claims, for a consumer running `concurrency` at once. Long jobs claim no
    /// more than they can start (a larger batch would hoard jobs other workers could run).
    fn batch_size(concurrency: usize) -> usize {
        concurrency
    }

    /// The media item a job works on: its outcome is the item's (see [`crate::settle`]).
    fn media_id(_payload: &Self::Payload) -> Option<Uuid> {
        None
    }

    /// Runs one attempt.
    fn handle(
        ctx: &JobContext,
        run: &JobRun,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}
