//! The API's Prometheus metrics: request latency per operation and status, plus the queue
//! depth per kind and state read at scrape time. Served at `GET /metrics`.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, web::Data};
use poem_openapi::OperationId;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use veza_jobs::{
    metrics::{QueueDepth, render},
    storage::StorageTraffic,
};

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    operation: &'static str,
    status: u16,
}

/// The API's metrics.
pub struct ApiMetrics {
    registry: Registry,
    requests: Family<HttpLabels, Histogram>,
    queue: QueueDepth,
    /// Bytes of uploads stored and of files served (counted by the storage).
    pub storage: StorageTraffic,
    /// Chat sockets open and closed.
    pub chat: crate::chat::ChatMetrics,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // 1 ms to ~65 s.
        let requests = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 17))
        });
        registry.register(
            "veza_http_request_duration_seconds",
            "HTTP request latency by operation and status",
            requests.clone(),
        );
        let queue = QueueDepth::register(&mut registry);
        let storage = StorageTraffic::register(&mut registry);
        let chat = crate::chat::ChatMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            queue,
            storage,
            chat,
        }
    }
}

impl ApiMetrics {
    /// Wraps an endpoint to time every request. The operation label is the OpenAPI operation id
    /// (bounded cardinality, unlike paths with ids in them); anything else is `other`.
    pub async fn time<E: Endpoint>(&self, endpoint: &E, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let method = req.method().to_string();
        let result = endpoint.call(req).await.map(IntoResponse::into_response);
        let (status, operation) = match &result {
            Ok(resp) => (resp.status(), resp.data::<OperationId>().map(|id| id.0)),
            Err(err) => (err.status(), err.data::<OperationId>().map(|id| id.0)),
        };
        self.requests
            .get_or_create(&HttpLabels {
                method,
                operation: operation.unwrap_or("other"),
                status: status.as_u16(),
            })
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

/// `GET /metrics`: Prometheus text format; 401 without the scrape token when one is configured.
#[poem::handler]
pub async fn metrics(state: Data<&AppState>, req: &Request) -> Response {
    let authorization = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if !state.metrics_token.admits(authorization) {
        let mut response = ApiError::unauthorized(
            "metrics-token-required",
            "scraping the metrics needs the metrics token as a bearer token",
        )
        .into_response();
        response.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    if let Err(err) = state.metrics.queue.refresh(&state.pool).await {
        tracing::warn!(error = %err, "metrics: queue depth unavailable");
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(&state.metrics.registry))
}
