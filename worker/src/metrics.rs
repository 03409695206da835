//! The worker's Prometheus metrics, served at `GET /metrics` on `VEZA_METRICS_LISTEN` ([`crate::status`]): job
//! duration and outcome per kind, scheduled retries, rescues, and the queue depth per kind and
//! state (read from Postgres at scrape time).

use std::{sync::Arc, time::Duration};

use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::Data,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use sqlx::PgPool;
use veza_jobs::{
    mailer::metrics::DeliveryMetrics,
    metrics::{QueueDepth, ScrapeToken, render},
    storage::StorageTraffic,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The worker's metrics.
pub struct WorkerMetrics {
    registry: Registry,
    durations: Family<OutcomeLabels, Histogram>,
    retries: Family<KindLabels, Counter>,
    rescues: Family<KindLabels, Counter>,
    queue: QueueDepth,
    /// Email deliveries and SMTP configuration faults (counted by the email handler).
    pub email: DeliveryMetrics,
    /// Bytes the jobs read from and wrote to object storage (counted by the storage).
    pub storage: StorageTraffic,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // 10 ms to ~2.9 h.
        let durations = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 21))
        });
        registry.register(
            "veza_job_duration_seconds",
            "Job attempt duration by kind and outcome (succeeded, retry, failed, cancelled, released, lease-lost)",
            durations.clone(),
        );
        let retries = Family::default();
        registry.register("veza_job_retries", "Retries scheduled, by kind", retries.clone());
        let rescues = Family::default();
        registry.register(
            "veza_job_rescues",
            "Jobs run again after their worker stopped heartbeating, by kind",
            rescues.clone(),
        );
        let queue = QueueDepth::register(&mut registry);
        let email = DeliveryMetrics::register(&mut registry);
        let storage = StorageTraffic::register(&mut registry);
        Self {
            email,
            storage,
            registry,
            durations,
            retries,
            rescues,
            queue,
        }
    }
}

impl WorkerMetrics {
    /// Records an attempt's duration and outcome.
    pub fn attempt(&self, kind: &'static str, outcome: &'static str, duration: Duration) {
        self.durations
            .get_or_create(&OutcomeLabels { kind, outcome })
            .observe(duration.as_secs_f64());
    }

    /// Counts a scheduled retry.
    pub fn retry(&self, kind: &'static str) {
        self.retries.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts a rescued job.
    pub fn rescue(&self, kind: &'static str) {
        self.rescues.get_or_create(&KindLabels { kind }).inc();
    }
}

/// `GET /metrics`, served by [`crate::status`].
#[handler]
pub(crate) async fn scrape(
    metrics: Data<&Arc<WorkerMetrics>>,
    pool: Data<&PgPool>,
    token: Data<&ScrapeToken>,
    req: &Request,
) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if !token.admits(authorization) {
        // The API's problem document, written out: this listener has no API around it.
        let problem = serde_json::json!({
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "scraping the metrics needs the metrics token as a bearer token",
            "code": "metrics-token-required",
        });
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .content_type("application/problem+json")
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .body(problem.to_string());
    }
    if let Err(err) = metrics.queue.refresh(&pool).await {
        tracing::warn!(error = %err, "metrics: queue depth unavailable");
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(&metrics.registry))
}
