//! The live queue consumers of this process, and the watcher that pauses and resumes them.
//!
//! A consumer that fails (its database connection broke, e.g. Postgres restarted) is started
//! again under a *new* name. apalis acknowledges finished jobs from an in-memory channel of the
//! consumer; a failed consumer's channel, and so the acknowledgements in it, are gone. Its jobs
//! stay locked by its old name, and only once nothing heartbeats under that name does apalis
//! rescue them (after `heartbeat × missed_heartbeats`) for another run — which the handlers'
//! idempotence makes harmless. Restarting under the same name would keep heartbeating for the
//! dead consumer and leave those jobs `Running` forever.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use apalis::prelude::WorkerContext;
use sqlx::PgPool;
use tokio::sync::watch;
use veza_jobs::operations;

/// How often a worker looks for paused queues.
const PAUSE_POLL: Duration = Duration::from_secs(1);

/// The current consumer of each queue in this process.
#[derive(Clone)]
pub struct Consumers {
    instance: String,
    current: Arc<Mutex<HashMap<&'static str, WorkerContext>>>,
}

impl Consumers {
    /// No consumers yet; names will be `{queue}-{instance}[-r{restarts}]`.
    pub fn new(instance: &str) -> Self {
        Self {
            instance: instance.to_owned(),
            current: Arc::default(),
        }
    }

    /// The context of `queue`'s consumer after `restarts` restarts: a new name each time.
    pub fn context(&self, queue: &'static str, restarts: usize) -> WorkerContext {
        let name = match restarts {
            0 => format!("{queue}-{}", self.instance),
            n => format!("{queue}-{}-r{n}", self.instance),
        };
        let context = WorkerContext::new(&name);
        // On a restart apalis keeps running the first context (its state is shared by every
        // clone), renamed to the new context's name, and drops the new context unstarted
        // (apalis-core 1.0, `Monitor::register`: "Reuse the current context"). So the first one
        // is the live one: keeping a later one would show the consumer `pending` for good and
        // pause a context nobody runs.
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(queue)
            .or_insert_with(|| context.clone());
        context
    }

    /// Each queue's consumer state as apalis names it (`pending`, `running`, `paused`, ...).
    pub fn states(&self) -> Vec<(&'static str, String)> {
        self.snapshot()
            .into_iter()
            .map(|(queue, context)| (queue, context.state().to_owned()))
            .collect()
    }

    fn snapshot(&self) -> Vec<(&'static str, WorkerContext)> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .iter()
            .map(|(queue, context)| (*queue, context.clone()))
            .collect()
    }
}

/// Keeps the consumers of paused queues paused (no new claims) and resumes them when the pause
/// is lifted; publishes the paused set to the handlers.
pub async fn watch_pauses(pool: PgPool, paused_tx: watch::Sender<Vec<String>>, consumers: Consumers) {
    loop {
        match operations::paused_queues(&pool).await {
            Ok(paused) => {
                for (queue, consumer) in consumers.snapshot() {
                    let should_pause = paused.iter().any(|q| q == queue);
                    // Errors mean the consumer is not running (starting, stopping): try next time.
                    if should_pause && !consumer.is_paused() {
                        let _ = consumer.pause();
                    } else if !should_pause && consumer.is_paused() {
                        let _ = consumer.resume();
                    }
                }
                paused_tx.send_replace(paused);
            }
            Err(err) => tracing::warn!(error = %err, "could not read paused queues"),
        }
        tokio::time::sleep(PAUSE_POLL).await;
    }
}
