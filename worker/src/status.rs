//! The worker's own HTTP listener, on `VEZA_METRICS_LISTEN`: `/healthz` (the process answers),
//! `/readyz` (it can work) and `/metrics` ([`crate::metrics`]).
//!
//! A worker takes no traffic, so readiness is what an orchestrator needs for rollouts and
//! alerts: the database answers, every served queue has a running consumer (a paused one
//! counts: pausing is an operator's choice, not a fault), and the worker is not draining. A
//! draining worker answers 503 at once, so a rollout does not count it as capacity while it
//! finishes its last jobs. `/healthz` stays 200 throughout: restarting a worker because its
//! database is down would not bring the database back, and would cut its running jobs.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    EndpointExt, Response, Route, Server, get, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use veza_jobs::metrics::ScrapeToken;

use crate::{consumers::Consumers, metrics::WorkerMetrics};

/// The longest a readiness probe waits for the database.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` looks at.
#[derive(Clone)]
pub struct Readiness {
    /// Postgres.
    pub pool: PgPool,
    /// The live consumers.
    pub consumers: Consumers,
    /// The queues this worker serves: each needs a running consumer.
    pub queues: Vec<&'static str>,
    /// Cancelled when the shutdown signal arrives.
    pub draining: CancellationToken,
}

/// The answer of `/healthz` and `/readyz`: `ok`, or `unavailable` with what is wrong.
#[derive(Debug, Serialize)]
struct Status {
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
}

impl Readiness {
    /// What keeps this worker from working; empty when it is ready.
    async fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let database =
            tokio::time::timeout(DATABASE_TIMEOUT, sqlx::query("select 1").execute(&self.pool)).await;
        match database {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => problems.push(format!("database: {err}")),
            Err(_) => problems.push(format!("database: no answer within {DATABASE_TIMEOUT:?}")),
        }
        let states = self.consumers.states();
        for queue in &self.queues {
            match states.iter().find(|(name, _)| name == queue) {
                Some((_, state)) if *state == "running" || *state == "paused" => {}
                Some((_, state)) => problems.push(format!("queue {queue}: consumer {state}")),
                None => problems.push(format!("queue {queue}: no consumer yet")),
            }
        }
        // Looked at last: a signal that arrived while the database answered stops consumers,
        // and the answer must then say why they stopped.
        if self.draining.is_cancelled() {
            problems.insert(0, "draining: the shutdown signal arrived".to_owned());
        }
        problems
    }
}

fn json(status: StatusCode, body: &Status) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::to_string(body).unwrap_or_default())
}

#[handler]
fn healthz() -> Response {
    json(
        StatusCode::OK,
        &Status {
            status: "ok",
            problems: Vec::new(),
        },
    )
}

#[handler]
async fn readyz(readiness: Data<&Readiness>) -> Response {
    let problems = readiness.problems().await;
    if problems.is_empty() {
        json(
            StatusCode::OK,
            &Status {
                status: "ok",
                problems,
            },
        )
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Status {
                status: "unavailable",
                problems,
            },
        )
    }
}

/// Binds `listen` and serves the health routes and `/metrics` until the task is aborted;
/// returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    token: ScrapeToken,
    metrics: Arc<WorkerMetrics>,
    readiness: Readiness,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .unwrap_or(listen);
    let app = Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(crate::metrics::scrape))
        .data(metrics)
        .data(readiness.pool.clone())
        .data(token)
        .data(readiness);
    let server = tokio::spawn(async move {
        if let Err(err) = Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %err, "status listener stopped");
        }
    });
    Ok((bound, server))
}
