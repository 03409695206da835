//! One registration for every job kind: [`Registrar`] visits the registry and gives each queue
//! this worker serves one apalis-postgres consumer, built with the one generic handler
//! ([`crate::queues::run`]) and the queue's concurrency and claim batch.

use std::{collections::HashMap, sync::Arc};

use apalis::prelude::{Monitor, ParallelizeExt, PollWith, WorkerBuilder, WorkerBuilderExt};
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use sqlx::PgPool;
use veza_jobs::{kind::Kind, registry::KindVisitor};

use crate::{
    config::WorkerConfig,
    consumers::Consumers,
    queues::{self, Runner},
    wakeup::{Finishes, Wakeups},
};

/// Registers a consumer for each served queue on `monitor`.
pub struct Registrar<'a> {
    /// Taken and put back by each registration (apalis's `register` consumes the monitor).
    pub monitor: Option<Monitor>,
    /// Postgres.
    pub pool: PgPool,
    /// The worker's configuration (placement, heartbeats, poll interval).
    pub config: &'a WorkerConfig,
    /// What every consumer's handler shares.
    pub runner: Arc<Runner>,
    /// The live consumers (for the pause watcher and restarts).
    pub consumers: Consumers,
    /// Each served queue's finishes, for its consumer's wake-ups (see `wakeup`).
    pub finishes: HashMap<&'static str, Finishes>,
}

impl Registrar<'_> {
    /// The monitor with every consumer registered.
    pub fn into_monitor(self) -> Monitor {
        self.monitor.unwrap_or_default()
    }
}

impl KindVisitor for Registrar<'_> {
    fn visit<K: Kind>(&mut self) {
        let (Some(plan), Some(finishes)) = (
            self.config.placement.get(K::QUEUE).filter(|plan| plan.served),
            self.finishes.get(K::QUEUE),
        ) else {
            return;
        };
        let concurrency = plan.concurrency;
        let backend = backend::<K::Payload>(
            &self.pool,
            self.config,
            K::QUEUE,
            K::batch_size(concurrency),
            finishes.clone(),
        );
        let (runner, consumers) = (self.runner.clone(), self.consumers.clone());
        let monitor = self.monitor.take().unwrap_or_default();
        self.monitor = Some(monitor.register(move |restarts| {
            // `PollWith::clone`, not `.clone()`: `PollWith` derefs to the bare storage, so a
            // method-call clone of a strategy that is not `Clone` would silently hand out a
            // consumer that never hears a notification (it happened: pickup fell to the
            // heartbeat).
            WorkerBuilder::new(consumers.context(K::QUEUE, restarts))
                .backend(PollWith::clone(&backend))
                .data(runner.clone())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .build(queues::run::<K>)
        }));
    }
}

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
