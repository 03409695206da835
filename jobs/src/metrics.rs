//! Prometheus metrics shared by both binaries: the registry's text encoding and the queue
//! depth per kind and state, read from Postgres at scrape time (so every process reports the
//! same, current numbers). Each binary adds its own metrics to the same registry.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use sqlx::PgPool;

use crate::operations;

/// Labels of the queue depth gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueStateLabels {
    queue: String,
    state: &'static str,
}

/// `veza_queue_jobs{queue, state}`: jobs per queue and state.
#[derive(Clone)]
pub struct QueueDepth {
    jobs: Family<QueueStateLabels, Gauge>,
}

impl QueueDepth {
    /// Registers the gauge.
    pub fn register(registry: &mut Registry) -> Self {
        let jobs = Family::default();
        registry.register("veza_queue_jobs", "Jobs per queue and state", jobs.clone());
        Self { jobs }
    }

    /// Reads the current counts from Postgres into the gauge.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        for stats in operations::queue_stats(pool).await? {
            for (state, count) in [
                ("queued", stats.queued),
                ("running", stats.running),
                ("retrying", stats.retrying),
                ("succeeded", stats.succeeded),
                ("failed", stats.failed),
                ("cancelled", stats.cancelled),
            ] {
                self.jobs
                    .get_or_create(&QueueStateLabels {
                        queue: stats.queue.clone(),
                        state,
                    })
                    .set(count);
            }
        }
        Ok(())
    }
}

/// The registry in Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail; an encoding error would only drop the output.
    if let Err(err) = encode(&mut text, registry) {
        tracing::error!(error = %err, "encoding metrics");
    }
    text
}
