//! Graceful shutdown: on the signal, consumers stop claiming; running attempts get the drain
//! deadline (`VEZA_SHUTDOWN_TIMEOUT_SECONDS`) to finish, then are cancelled and release their
//! jobs for another worker; the monitor waits for that release too.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use apalis::prelude::Monitor;
use tokio_util::sync::CancellationToken;

/// Time after the drain deadline for cancelled attempts to release their jobs.
const RELEASE_GRACE: Duration = Duration::from_secs(10);

/// Restarts of one queue consumer before the process gives up.
const MAX_CONSUMER_RESTARTS: usize = 100;

/// The drain deadline and the token that cancels running attempts when it passes.
pub struct Shutdown {
    drain: Duration,
    stopping: CancellationToken,
}

impl Shutdown {
    /// A shutdown that gives running attempts `drain` to finish.
    pub fn new(drain: Duration) -> Self {
        Self {
            drain,
            stopping: CancellationToken::new(),
        }
    }

    /// Cancelled at the drain deadline: running attempts stop at their next checkpoint.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Runs `monitor` until `signal` resolves and the jobs have drained. A consumer that fails
    /// (e.g. its database connection broke) is started again; one that keeps failing, or every
    /// consumer stopping without a signal, ends the process with an error so its supervisor
    /// notices; the error says why.
    pub async fn run(
        self,
        monitor: Monitor,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let monitor = monitor
            .should_restart(|worker, error| {
                tracing::error!(worker = %worker.name(), %error, restarts = worker.restarts(), "queue consumer failed");
                worker.restarts() < MAX_CONSUMER_RESTARTS
            })
            .shutdown_timeout(self.drain + RELEASE_GRACE);
        let signalled = Arc::new(AtomicBool::new(false));
        let signal_seen = signalled.clone();
        let (drain, stopping) = (self.drain, self.stopping);
        monitor
            .run_with_signal(async move {
                signal.await;
                signal_seen.store(true, Ordering::SeqCst);
                // Claiming stops now; running attempts get `drain` to finish, then are cancelled.
                tokio::spawn(async move {
                    tokio::time::sleep(drain).await;
                    tracing::warn!("drain deadline reached: cancelling running jobs");
                    stopping.cancel();
                });
                Ok(())
            })
            .await
            .map_err(|err| err.to_string())?;
        if signalled.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("every queue consumer stopped".into())
        }
    }
}
