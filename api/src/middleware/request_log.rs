//! One log line per request: method, path, status and time, never the query string.
//!
//! Email links carry single-use account tokens in their query (`/reset?token=…`,
//! `/verify?token=…`, `/unsubscribe?token=…`); logging full URIs, as poem's `Tracing` does,
//! would copy working credentials into every log store.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response};

/// Calls `endpoint` inside a span that names the request, and logs its outcome.
pub async fn log_request<E: Endpoint>(endpoint: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %method, %path);
    let started = Instant::now();
    let result = tracing::Instrument::instrument(endpoint.call(req), span.clone()).await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(output) => {
            let response = output.into_response();
            let status = response.status().as_u16();
            if response.status().is_server_error() {
                tracing::warn!(status, elapsed_ms, "request answered");
            } else {
                tracing::info!(status, elapsed_ms, "request answered");
            }
            Ok(response)
        }
        Err(err) => {
            tracing::info!(
                status = err.status().as_u16(),
                elapsed_ms,
                "request answered with an error"
            );
            Err(err)
        }
    }
}
