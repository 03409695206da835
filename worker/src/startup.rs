//! Building the worker: one apalis-postgres queue consumer per job kind, each with its own
//! concurrency, heartbeats that let another worker rescue this one's jobs if it dies, and a
//! graceful shutdown that stops claiming and lets running jobs finish.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use apalis::prelude::{Monitor, ParallelizeExt, PollWith, WorkerBuilder, WorkerBuilderExt};
use apalis_cron::CronScheduler;
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_jobs::{
    canary::{self, CanaryJob},
    context::{JobContext, JobSettings},
    email::{self, EmailJob, Mailer},
    retry::RetryPolicy,
    storage::Storage,
    thumbnail::{self, ThumbnailJob},
    transcode::{self, TranscodeJob},
};

use crate::{
    config::WorkerConfig,
    consumers::{Consumers, watch_pauses},
    maintenance::{self, Scheduled, Task, orphans::Orphans, prune::Prune, repair::Repair},
    metrics::WorkerMetrics,
    queues::{self, KindPolicy, Runner},
    wakeup::{Finishes, Wakeups},
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
    /// The metrics listener.
    #[error("serving metrics on {addr}: {source}")]
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

/// Connects, builds the handlers' context and runs every queue until `shutdown` resolves;
/// then stops claiming and waits up to the configured deadline for running jobs.
pub async fn run_until_stopped(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let pool = veza_jobs::db::connect_patiently(&config.database_url, 10, std::time::Duration::from_secs(60))
        .await?;
    let metrics = Arc::new(WorkerMetrics::default());
    let storage = Storage::open(&config.storage)?.with_traffic(metrics.storage.clone());
    let mailer = Mailer::open(&config.mailer)
        .map_err(StartError::Mailer)?
        .with_policy(config.email_policy)
        .with_metrics(metrics.email.clone());
    let ctx = JobContext {
        pool: pool.clone(),
        storage: storage.clone(),
        mailer,
        cpu: veza_jobs::cpu::CpuPool::new(config.cpu_threads),
        settings: JobSettings {
            email_from: config.email_from.clone(),
            public_url: config.public_url.clone(),
            scratch_dir: config.scratch_dir.clone(),
            transcode: config.transcode.clone(),
            thumbnail: config.thumbnail.clone(),
        },
    };
    let policy = |queue, retry: RetryPolicy, timeout| KindPolicy {
        queue,
        retry: config.retry_base.map_or(retry, |base| retry.with_base(base)),
        timeout,
    };
    let stopping = CancellationToken::new();
    let (paused_tx, paused_rx) = watch::channel(Vec::new());
    let (metrics_addr, metrics_server) = crate::metrics::serve(
        config.metrics_listen,
        veza_jobs::metrics::ScrapeToken::new(config.metrics_token.as_deref()),
        metrics.clone(),
        pool.clone(),
    )
    .await
    .map_err(|source| StartError::Metrics {
        addr: config.metrics_listen,
        source,
    })?;
    tracing::info!("metrics at http://{metrics_addr}/metrics");
    // Each queue's consumer watches the finishes its jobs record (see `wakeup`).
    let (email_finishes, thumbnail_finishes, transcode_finishes, canary_finishes): (
        Finishes,
        Finishes,
        Finishes,
        Finishes,
    ) = Default::default();
    let finishes = std::collections::HashMap::from([
        (email::QUEUE, email_finishes.clone()),
        (thumbnail::QUEUE, thumbnail_finishes.clone()),
        (transcode::QUEUE, transcode_finishes.clone()),
        (canary::QUEUE, canary_finishes.clone()),
    ]);
    let runner = Arc::new(Runner {
        ctx,
        email: policy(email::QUEUE, email::RETRY, config.timeouts.email),
        thumbnail: policy(thumbnail::QUEUE, thumbnail::RETRY, config.timeouts.thumbnail),
        transcode: policy(transcode::QUEUE, transcode::RETRY, config.timeouts.transcode),
        canary: policy(canary::QUEUE, canary::RETRY, std::time::Duration::from_secs(60)),
        stopping: stopping.clone(),
        paused: paused_rx,
        metrics: metrics.clone(),
        finishes,
    });
    // Unique per process, so many workers on many machines never share a lock identity.
    let instance = Uuid::now_v7().simple().to_string();
    let instance = &instance[instance.len() - 8..];

    let maintenance = &config.maintenance;
    let scheduled = |task: Task| {
        Arc::new(Scheduled {
            task,
            pool: pool.clone(),
        })
    };
    let repair = scheduled(Task::Repair(Repair {
        pool: pool.clone(),
        storage: storage.clone(),
        batch: maintenance.repair_batch,
        thumbnail_formats: config.thumbnail.formats.clone(),
    }));
    let prune = scheduled(Task::Prune(Prune {
        pool: pool.clone(),
        retention: maintenance.job_retention,
    }));
    let orphans = scheduled(Task::Orphans(Orphans {
        pool: pool.clone(),
        storage: storage.clone(),
        grace: maintenance.orphan_grace,
    }));
    let (repair_schedule, prune_schedule, orphans_schedule) = (
        maintenance.repair_schedule.clone(),
        maintenance.prune_schedule.clone(),
        maintenance.orphans_schedule.clone(),
    );
    let (repair_name, prune_name, orphans_name) = (
        format!("repair-{instance}"),
        format!("prune-{instance}"),
        format!("orphans-{instance}"),
    );

    let concurrency = config.concurrency;
    // Batch sizes: media jobs are long, so a worker claims no more than it can start (a larger
    // batch would hoard jobs other workers could run); emails and canaries are short, and the
    // batch size is what sets their throughput (docs/queue.md): one consumer
    // fetches, hands out and acknowledges a batch per serial cycle. Canaries do nothing, so a
    // large batch hoards nothing (bench/README.md, one process on a busy machine: 100 → 2,956,
    // 500 → 6,110 jobs/s).
    let email_backend = backend::<EmailJob>(&pool, &config, email::QUEUE, 10, email_finishes);
    let thumbnail_backend = backend::<ThumbnailJob>(
        &pool,
        &config,
        thumbnail::QUEUE,
        concurrency.thumbnail,
        thumbnail_finishes,
    );
    let transcode_backend = backend::<TranscodeJob>(
        &pool,
        &config,
        transcode::QUEUE,
        concurrency.transcode,
        transcode_finishes,
    );
    let canary_backend = backend::<CanaryJob>(&pool, &config, canary::QUEUE, 500, canary_finishes);
    // `PollWith::clone`, not `.clone()`: `PollWith` derefs to the bare storage, so a method-call
    // clone of a strategy that is not `Clone` would silently hand out a consumer that never
    // hears a notification (it happened: pickup fell to the heartbeat).
    let (email_ctx, thumbnail_ctx, transcode_ctx, canary_ctx) =
        (runner.clone(), runner.clone(), runner.clone(), runner);
    let consumers = Consumers::new(instance);
    let (email_consumers, thumbnail_consumers, transcode_consumers, canary_consumers) = (
        consumers.clone(),
        consumers.clone(),
        consumers.clone(),
        consumers.clone(),
    );
    let pause_watcher = tokio::spawn(watch_pauses(pool.clone(), paused_tx, consumers));

    let monitor = Monitor::new()
        .register(move |restarts| {
            WorkerBuilder::new(email_consumers.context(email::QUEUE, restarts))
                .backend(PollWith::clone(&email_backend))
                .data(email_ctx.clone())
                .concurrency(concurrency.email)
                .parallelize(tokio::spawn)
                .build(queues::run_email)
        })
        .register(move |restarts| {
            WorkerBuilder::new(thumbnail_consumers.context(thumbnail::QUEUE, restarts))
                .backend(PollWith::clone(&thumbnail_backend))
                .data(thumbnail_ctx.clone())
                .concurrency(concurrency.thumbnail)
                .parallelize(tokio::spawn)
                .build(queues::run_thumbnail)
        })
        .register(move |restarts| {
            WorkerBuilder::new(transcode_consumers.context(transcode::QUEUE, restarts))
                .backend(PollWith::clone(&transcode_backend))
                .data(transcode_ctx.clone())
                .concurrency(concurrency.transcode)
                .parallelize(tokio::spawn)
                .build(queues::run_transcode)
        })
        .register(move |restarts| {
            WorkerBuilder::new(canary_consumers.context(canary::QUEUE, restarts))
                .backend(PollWith::clone(&canary_backend))
                .data(canary_ctx.clone())
                .concurrency(concurrency.canary)
                .parallelize(tokio::spawn)
                .build(queues::run_canary)
        })
        .register(move |_| {
            WorkerBuilder::new(repair_name.as_str())
                .backend(CronScheduler::new(repair_schedule.clone()))
                .data(repair.clone())
                .build(maintenance::run_tick)
        })
        .register(move |_| {
            WorkerBuilder::new(prune_name.as_str())
                .backend(CronScheduler::new(prune_schedule.clone()))
                .data(prune.clone())
                .build(maintenance::run_tick)
        })
        .register(move |_| {
            WorkerBuilder::new(orphans_name.as_str())
                .backend(CronScheduler::new(orphans_schedule.clone()))
                .data(orphans.clone())
                .build(maintenance::run_tick)
        })
        // A consumer that fails (e.g. its database connection broke) is started again; one that
        // keeps failing ends the process non-zero so its supervisor notices.
        .should_restart(|worker, error| {
            tracing::error!(worker = %worker.name(), %error, restarts = worker.restarts(), "queue consumer failed");
            worker.restarts() < MAX_CONSUMER_RESTARTS
        })
        // The monitor waits for the drain deadline plus the time cancelled attempts need to
        // reach a checkpoint and release their jobs.
        .shutdown_timeout(config.shutdown_timeout + RELEASE_GRACE);
    tracing::info!(instance, ?concurrency, "veza-worker running");
    let signalled = Arc::new(AtomicBool::new(false));
    let signal_seen = signalled.clone();
    let drain = config.shutdown_timeout;
    monitor
        .run_with_signal(async move {
            shutdown.await;
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
        .map_err(|err| StartError::Monitor(err.to_string()))?;
    pause_watcher.abort();
    metrics_server.abort();
    if signalled.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(StartError::Monitor("every queue consumer stopped".into()))
    }
}

/// Time after the drain deadline for cancelled attempts to release their jobs.
const RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Restarts of one queue consumer before the process gives up.
const MAX_CONSUMER_RESTARTS: usize = 100;

/// A queue consumer: woken by LISTEN/NOTIFY for low pickup latency and by a poll as the fallback
/// ([`Wakeups`]), heartbeats so a dead worker's jobs are rescued within
/// `heartbeat × missed_heartbeats`.
fn backend<Args>(
    pool: &PgPool,
    config: &WorkerConfig,
    queue: &str,
    batch_size: usize,
    finishes: Finishes,
) -> PollWith<PostgresStorage<Args>, Wakeups<Pubsub>>
where
    Args: Send + Sync + Unpin + 'static,
{
    // `with_config` replaces the whole config (its default queue is "default").
    let queue_config = Config::default()
        .queue(queue)
        .batch_size(batch_size.max(1))
        .heartbeat_interval(config.heartbeat_interval)
        .missed_heartbeats(config.missed_heartbeats);
    let storage = PostgresStorage::<Args>::new(pool).with_config(queue_config);
    let notifications = Pubsub::new(pool.clone(), queue.to_owned());
    PollWith::new(
        storage,
        Wakeups::new(notifications, config.poll_interval, finishes),
    )
}
