//! Prometheus metrics shared by both binaries: the registry's text encoding, and the queue
//! depth per kind and state with the age of each queue's oldest ready job, read from Postgres
//! at scrape time (so every process reports the same, current numbers). Each binary adds its
//! own metrics to the same registry.
//!
//! A scrape may need a credential: with `VEZA_METRICS_TOKEN` set, both binaries answer
//! `/metrics` only to `Authorization: Bearer <token>` ([`ScrapeToken`]).

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::operations;

/// Labels of the queue depth gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueStateLabels {
    queue: String,
    state: &'static str,
}

/// Labels of the oldest ready job's age.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

/// `veza_queue_jobs{queue, state}`: jobs per queue and state; and
/// `veza_queue_oldest_queued_seconds{queue}`: how long the oldest job of each queue that is
/// ready to run has waited past its run-at without starting (0 when none is).
#[derive(Clone)]
pub struct QueueDepth {
    jobs: Family<QueueStateLabels, Gauge>,
    oldest: Family<QueueLabels, Gauge<f64, AtomicU64>>,
}

impl QueueDepth {
    /// Registers the gauges.
    pub fn register(registry: &mut Registry) -> Self {
        let jobs = Family::default();
        registry.register("veza_queue_jobs", "Jobs per queue and state", jobs.clone());
        let oldest = Family::default();
        registry.register(
            "veza_queue_oldest_queued_seconds",
            "Seconds the oldest job ready to run (due, not yet running) has waited past its run-at, per queue; 0 when none",
            oldest.clone(),
        );
        Self { jobs, oldest }
    }

    /// Reads the current counts and ages from Postgres into the gauges.
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
        for wait in operations::oldest_ready(pool).await? {
            self.oldest
                .get_or_create(&QueueLabels { queue: wait.queue })
                .set(wait.oldest_ready_seconds);
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

/// The credential a scrape of `/metrics` must carry, if any (`VEZA_METRICS_TOKEN`). Only the
/// token's SHA-256 is kept, and a presented token is compared by digest, so the comparison's
/// timing says nothing useful about the token.
#[derive(Debug, Clone, Default)]
pub struct ScrapeToken(Option<[u8; 32]>);

/// The shortest token accepted at start.
pub const SCRAPE_TOKEN_MIN_BYTES: usize = 16;

impl ScrapeToken {
    /// Scrapes need `token` when it is set; anyone may scrape otherwise.
    pub fn new(token: Option<&str>) -> Self {
        Self(token.map(|token| Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether a request with this `Authorization` header value may scrape.
    pub fn admits(&self, authorization: Option<&str>) -> bool {
        let Some(expected) = &self.0 else {
            return true;
        };
        authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|given| Sha256::digest(given.as_bytes())[..] == expected[..])
    }
}

#[cfg(test)]
mod tests {
    use super::ScrapeToken;

    #[test]
    fn a_scrape_token_admits_only_its_bearer() {
        let open = ScrapeToken::new(None);
        assert!(open.admits(None));
        assert!(open.admits(Some("Bearer anything")));
        let token = ScrapeToken::new(Some("a-scrape-token-0123"));
        assert!(token.admits(Some("Bearer a-scrape-token-0123")));
        for refused in [
            None,
            Some(""),
            Some("a-scrape-token-0123"),
            Some("Basic a-scrape-token-0123"),
            Some("Bearer a-scrape-token-012"),
            Some("Bearer a-scrape-token-01234"),
            Some("Bearer "),
        ] {
            assert!(!token.admits(refused), "{refused:?}");
        }
    }
}
