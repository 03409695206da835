//! How one attempt of a job runs in this worker, whatever its kind: claim bookkeeping, a
//! per-kind timeout, cooperative cancellation at the drain deadline, and the settling of the
//! outcome — success, a retry scheduled in the database, a permanent failure recorded on the job
//! and its media item, or a release for another worker.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use crate::{metrics::WorkerMetrics, wakeup::Finishes};
use apalis::prelude::{AbortError, Attempt, BoxDynError, Data, TaskId, WorkerContext};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_jobs::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    lease::Lease,
    queue,
    retry::RetryPolicy,
    settle,
};

/// Retry policy and time limit of one job kind.
#[derive(Debug, Clone, Copy)]
pub struct KindPolicy {
    /// The queue name.
    pub queue: &'static str,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Longest an attempt may run before it is cancelled (and counted as a transient failure).
    pub timeout: Duration,
}

/// What every queue consumer of this process shares.
pub struct Runner {
    /// The handlers' context.
    pub ctx: JobContext,
    /// The policy of every queue this process serves.
    pub policies: HashMap<&'static str, KindPolicy>,
    /// Cancelled at the drain deadline after a shutdown signal: running attempts stop at their
    /// next checkpoint and their jobs are released for another worker.
    pub stopping: CancellationToken,
    /// The queues operators paused (kept current by the pause watcher).
    pub paused: tokio::sync::watch::Receiver<Vec<String>>,
    /// Prometheus metrics.
    pub metrics: Arc<WorkerMetrics>,
    /// When each queue's jobs last finished, for its consumer's wake-ups (see `wakeup`).
    pub finishes: HashMap<&'static str, Finishes>,
}

/// How an attempt ended, before settling.
enum Ending {
    Finished(Result<(), JobError>),
    TimedOut,
    Stopped,
    CancelledByOwner,
    Paused,
}

/// When a running attempt first looks for its owner's cancel request, and how often after that.
/// A job that is done sooner (most emails, every canary) never pays the round trip.
const CANCEL_FIRST_LOOK: Duration = Duration::from_millis(50);
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// Runs one attempt of a job of kind `K`: the one handler every queue consumer is built with.
pub async fn run<K: Kind>(
    job: K::Payload,
    runner: Data<Arc<Runner>>,
    id: TaskId,
    attempt: Attempt,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let run = runner.start(&id, &worker)?;
    let media_id = K::media_id(&job);
    let span = if K::QUIET {
        tracing::debug_span!("job", kind = K::QUEUE, job_id = %run.id, media_id = ?media_id, attempt = attempt.current())
    } else {
        tracing::info_span!("job", kind = K::QUEUE, job_id = %run.id, media_id = ?media_id, attempt = attempt.current())
    };
    let policy = runner.policy(K::QUEUE)?;
    let work = K::handle(&runner.ctx, &run, job);
    runner.run(policy, &run, media_id, &attempt, work, span).await
}

impl Runner {
    /// The policy of `queue`; every consumer is registered with its queue's policy, so a miss
    /// is a task for a queue this process does not serve: fail it for good.
    fn policy(&self, queue: &str) -> Result<KindPolicy, BoxDynError> {
        self.policies.get(queue).copied().ok_or_else(|| {
            Box::new(AbortError::new(format!(
                "queue {queue} is not served by this worker"
            ))) as BoxDynError
        })
    }

    /// Runs one attempt and settles it, recording its duration and outcome.
    async fn run(
        &self,
        policy: KindPolicy,
        run: &JobRun,
        media_id: Option<Uuid>,
        attempt: &Attempt,
        work: impl Future<Output = Result<(), JobError>>,
        span: tracing::Span,
    ) -> Result<(), BoxDynError> {
        let started = std::time::Instant::now();
        let ending = self.execute(policy, run, attempt, work, span).await;
        let (result, outcome) = self.settle(run, media_id, attempt, policy, ending).await;
        self.acknowledge(run, attempt, &result, outcome).await;
        self.metrics.attempt(policy.queue, outcome, started.elapsed());
        if let Some(finishes) = self.finishes.get(policy.queue) {
            finishes.record();
        }
        result
    }

    /// Writes apalis's acknowledgement of the attempt ourselves (see [`Lease::acknowledge`]): the
    /// consumer that claimed the job may have been restarted meanwhile, its acknowledgement lost.
    /// A released job or a lost lease has nothing to acknowledge.
    async fn acknowledge(
        &self,
        run: &JobRun,
        attempt: &Attempt,
        result: &Result<(), BoxDynError>,
        outcome: &str,
    ) {
        if outcome == "released" || outcome == "lease-lost" {
            return;
        }
        // The status and result apalis would write (apalis-core's `LifecycleFuture`).
        let (status, recorded) = match result {
            Ok(()) => ("Done", serde_json::json!({ "Ok": null })),
            Err(err) if err.downcast_ref::<AbortError>().is_some() => {
                ("Killed", serde_json::json!({ "Err": err.to_string() }))
            }
            Err(err) => ("Failed", serde_json::json!({ "Err": err.to_string() })),
        };
        if let Err(db) = run
            .lease
            .acknowledge(&self.ctx.pool, status, attempt.current(), &recorded)
            .await
        {
            // apalis's own acknowledgement still follows while the consumer lives.
            tracing::warn!(job_id = %run.id, error = %db, "could not record the attempt's end");
        }
    }

    /// The attempt's identity: Veza's job id, the lease, a cancellation token tied to shutdown.
    fn start(&self, id: &TaskId, worker: &WorkerContext) -> Result<JobRun, BoxDynError> {
        // A task without a Veza id was not enqueued by Veza: fail it for good.
        let job_id = veza_jobs::task_ids::job_id(&id.to_string()).ok_or_else(|| {
            Box::new(AbortError::new(format!("task {id} was not enqueued by Veza"))) as BoxDynError
        })?;
        Ok(JobRun {
            id: job_id,
            lease: Lease::new(job_id, worker.name()),
            cancel: self.stopping.child_token(),
        })
    }

    /// Runs the handler under the kind's timeout. A timeout or the drain deadline cancels the
    /// attempt's token and then waits for the handler to reach a checkpoint and return.
    async fn execute(
        &self,
        policy: KindPolicy,
        run: &JobRun,
        attempt: &Attempt,
        work: impl Future<Output = Result<(), JobError>>,
        span: tracing::Span,
    ) -> Ending {
        // Claimed just before its queue was paused: hand it back untouched.
        if self.paused.borrow().iter().any(|q| q == policy.queue) {
            return Ending::Paused;
        }
        // Only a job that ran before can have been rescued from a dead worker or asked to stop
        // during an earlier attempt: a first attempt (attempt 1, by far the most common) skips
        // this round trip, and a cancel request that reached it after its claim is seen by the
        // owner-cancel poll below within CANCEL_FIRST_LOOK.
        if attempt.current() > 1 {
            let (cancel_requested, rescued) = queue::start_checks(&self.ctx.pool, run.id)
                .await
                .unwrap_or((false, false));
            if rescued {
                self.metrics.rescue(policy.queue);
            }
            if cancel_requested {
                return Ending::CancelledByOwner;
            }
        }
        let work = tracing::Instrument::instrument(work, span);
        tokio::pin!(work);
        let interrupted = tokio::select! {
            result = &mut work => return Ending::Finished(result),
            () = tokio::time::sleep(policy.timeout) => Ending::TimedOut,
            () = run.cancel.cancelled() => Ending::Stopped,
            () = self.owner_cancel(run.id) => Ending::CancelledByOwner,
        };
        run.cancel.cancel();
        match work.await {
            // It finished before it noticed: keep the result.
            Ok(()) => Ending::Finished(Ok(())),
            Err(_) => interrupted,
        }
    }

    /// Resolves once the job's owner has asked to cancel it.
    async fn owner_cancel(&self, job_id: Uuid) {
        let mut wait = CANCEL_FIRST_LOOK;
        loop {
            tokio::time::sleep(wait).await;
            wait = CANCEL_POLL;
            if queue::cancel_requested(&self.ctx.pool, job_id)
                .await
                .unwrap_or(false)
            {
                return;
            }
        }
    }

    /// Records the outcome and tells apalis what to do with the job.
    async fn settle(
        &self,
        run: &JobRun,
        media_id: Option<Uuid>,
        attempt: &Attempt,
        policy: KindPolicy,
        ending: Ending,
    ) -> (Result<(), BoxDynError>, &'static str) {
        let pool = &self.ctx.pool;
        let err = match ending {
            Ending::Finished(Ok(())) => {
                tracing::info!(job_id = %run.id, "job succeeded");
                if let Some(media_id) = media_id {
                    settle::media_job_succeeded(&self.ctx, run.id, media_id).await;
                }
                return (Ok(()), "succeeded");
            }
            Ending::Paused => {
                let released = run.lease.release(pool).await;
                tracing::info!(job_id = %run.id, ?released, "queue paused: job released");
                return (Err(Box::new(JobError::Cancelled)), "released");
            }
            Ending::Stopped => {
                // Not the job's fault: hand it back uncounted. apalis's acknowledgement that
                // follows is fenced on the lease, which is gone, so it changes nothing.
                let released = run.lease.release(pool).await;
                tracing::warn!(job_id = %run.id, ?released, "drain deadline reached: job released for another worker");
                return (Err(Box::new(JobError::Cancelled)), "released");
            }
            Ending::CancelledByOwner => JobError::owner_cancelled(false),
            Ending::TimedOut => JobError::with_message(
                ErrorCode::TimedOut,
                format!("the attempt ran longer than {} s", policy.timeout.as_secs()),
            ),
            Ending::Finished(Err(JobError::LeaseLost)) => {
                tracing::warn!(job_id = %run.id, "lease lost: another worker holds this job now");
                return (Err(Box::new(JobError::LeaseLost)), "lease-lost");
            }
            Ending::Finished(Err(err)) => err,
        };
        let attempts_left = attempt.current() < policy.retry.max_attempts;
        let retry_at = (err.is_retryable() && attempts_left)
            .then(|| policy.retry.delay(attempt.current(), rand::random()));
        tracing::warn!(
            job_id = %run.id, code = err.code(), error = %err, cause = err.cause(), ?retry_at,
            "job attempt failed"
        );
        if let Err(db) = queue::record_failure(pool, run.id, &err).await {
            tracing::error!(job_id = %run.id, error = %db, "could not record the job's failure");
        }
        match retry_at {
            Some(delay) => {
                if let Err(db) = run.lease.schedule_retry(pool, delay).await {
                    tracing::error!(job_id = %run.id, error = %db, "could not schedule the retry; it runs at once");
                }
                self.metrics.retry(policy.queue);
                (Err(Box::new(err)), "retry")
            }
            None => {
                if let Err(db) = queue::mark_stage_failed(pool, run.id).await {
                    tracing::error!(job_id = %run.id, error = %db, "could not mark the job's stage failed");
                }
                if let Some(media_id) = media_id {
                    settle::media_job_dead(&self.ctx, run.id, media_id, &err).await;
                }
                // Dead: permanent, or out of attempts. AbortError stops apalis from fetching it again.
                let outcome = if err.is_owner_cancelled() {
                    "cancelled"
                } else {
                    "failed"
                };
                (Err(Box::new(AbortError::new(err))), outcome)
            }
        }
    }
}
