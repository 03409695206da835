//! Building the worker: the handlers' context, one apalis-postgres consumer per queue this
//! worker serves (registered by [`crate::register`] from the job registry), the maintenance
//! schedules when enabled, the status listener ([`crate::status`]), and a graceful shutdown ([`crate::shutdown`]).

use std::{collections::HashMap, future::Future, sync::Arc};

use apalis::prelude::Monitor;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_jobs::{
    context::{JobContext, KindSettings},
    email::EmailSettings,
    mailer::Mailer,
    registry,
    storage::Storage,
};

use crate::{
    config::WorkerConfig,
    consumers::{Consumers, watch_pauses},
    maintenance,
    metrics::WorkerMetrics,
    queues::{KindPolicy, Runner},
    register::Registrar,
    shutdown::Shutdown,
    status::Readiness,
    wakeup::Finishes,
};

/// Errors of starting the worker.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Postgres.
    #[error(transparent)]
    Db(#[from] veza_jobs::db::DbError),
    /// Storage.
    #[error("opening object storage: {0}")]
    Storage(#[from] veza_jobs::storage::StorageError),
    /// Mail transport.
    #[error("{0}")]
    Mailer(String),
    /// The status listener (health and metrics).
    #[error("serving health and metrics on {addr} (VEZA_METRICS_LISTEN): {source}")]
    Metrics {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// The monitor failed.
    #[error("running the queues: {0}")]
    Monitor(String),
}

/// Connects, builds the handlers' context and runs every served queue until `shutdown`
/// resolves; then stops claiming and waits up to the configured deadline for running jobs.
pub async fn run_until_stopped(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // Each served queue's consumer holds one connection for good (its LISTEN), so the pool
    // has one per queue on top of the ten the jobs, heartbeats and maintenance share.
    let listeners = u32::try_from(config.placement.served().count()).unwrap_or(u32::MAX);
    let pool = veza_jobs::db::connect_patiently(
        &config.database_url,
        listeners.saturating_add(10),
        std::time::Duration::from_secs(60),
    )
    .await?;
    let metrics = Arc::new(WorkerMetrics::default());
    let ctx = job_context(&config, &pool, &metrics)?;
    // Unique per process, so many workers on many machines never share a lock identity.
    let instance = Uuid::now_v7().simple().to_string();
    let instance = instance[instance.len() - 8..].to_owned();
    let consumers = Consumers::new(&instance);
    let draining = CancellationToken::new();
    let readiness = Readiness {
        pool: pool.clone(),
        consumers: consumers.clone(),
        queues: config.placement.served().map(|queue| queue.name).collect(),
        draining: draining.clone(),
    };
    let (status_addr, status_server) = crate::status::serve(
        config.metrics_listen,
        veza_jobs::metrics::ScrapeToken::new(config.metrics_token.as_deref()),
        metrics.clone(),
        readiness,
    )
    .await
    .map_err(|source| StartError::Metrics {
        addr: config.metrics_listen,
        source,
    })?;
    tracing::info!("health at http://{status_addr}/readyz, metrics at http://{status_addr}/metrics");
    // Readiness turns 503 the moment the signal arrives, before the drain begins.
    let shutdown = async move {
        shutdown.await;
        draining.cancel();
    };
    let shutdown_plan = Shutdown::new(config.shutdown_timeout);
    let (paused_tx, paused_rx) = watch::channel(Vec::new());
    let finishes: HashMap<&'static str, Finishes> = config
        .placement
        .served()
        .map(|queue| (queue.name, Finishes::default()))
        .collect();
    let runner = Arc::new(Runner {
        policies: policies(&config),
        ctx: ctx.clone(),
        stopping: shutdown_plan.stopping(),
        paused: paused_rx,
        metrics: metrics.clone(),
        finishes: finishes.clone(),
    });
    let mut registrar = Registrar {
        monitor: Some(Monitor::new()),
        pool: pool.clone(),
        config: &config,
        runner,
        consumers: consumers.clone(),
        finishes,
    };
    registry::each_kind(&mut registrar);
    let mut monitor = registrar.into_monitor();
    if config.maintenance.enabled {
        monitor = maintenance::schedule(monitor, &config, &pool, &ctx.storage, &instance);
    }
    let pause_watcher = tokio::spawn(watch_pauses(pool.clone(), paused_tx, consumers));
    let served: Vec<&str> = config.placement.served().map(|q| q.name).collect();
    tracing::info!(instance, queues = ?served, maintenance = config.maintenance.enabled, "veza-worker running");
    let result = shutdown_plan
        .run(monitor, shutdown)
        .await
        .map_err(StartError::Monitor);
    pause_watcher.abort();
    status_server.abort();
    result
}

/// What every handler gets: the pool, the store, the mailer, the CPU pool and the settings.
fn job_context(
    config: &WorkerConfig,
    pool: &PgPool,
    metrics: &WorkerMetrics,
) -> Result<JobContext, StartError> {
    let storage = Storage::open(&config.storage)?.with_traffic(metrics.storage.clone());
    let mailer = Mailer::open(&config.mailer)
        .map_err(StartError::Mailer)?
        .with_metrics(metrics.email.clone());
    Ok(JobContext {
        pool: pool.clone(),
        storage,
        mailer,
        cpu: veza_jobs::cpu::CpuPool::with_memory_budget(config.cpu_threads, config.memory_budget_mib),
        scratch_dir: config.scratch_dir.clone(),
        settings: KindSettings::default()
            .with(EmailSettings {
                from: config.email_from.clone(),
                public_url: config.public_url.clone(),
            })
            .with(config.email_policy)
            .with(config.transcode.clone())
            .with(config.thumbnail.clone())
            .with(config.video.clone())
            .with(config.webhooks.clone()),
    })
}

/// Each served queue's retry policy (its kind's, with `VEZA_RETRY_BASE_MS` applied) and time
/// limit.
fn policies(config: &WorkerConfig) -> HashMap<&'static str, KindPolicy> {
    config
        .placement
        .served()
        .map(|plan| {
            let retry = config
                .retry_base
                .map_or(plan.retry, |base| plan.retry.with_base(base));
            let policy = KindPolicy {
                queue: plan.name,
                retry,
                timeout: plan.timeout,
            };
            (plan.name, policy)
        })
        .collect()
}
