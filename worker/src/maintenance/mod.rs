//! Periodic maintenance, each task in its own file with a `run_once` that tests call directly:
//! [`repair`] (reprocess items whose outputs are missing or outdated), [`prune`] (forget finished
//! jobs, spent tokens, old rate-limit attempts and delivery rows past the retention) and
//! [`orphans`] (delete objects nothing refers to, past a grace).
//!
//! Every worker runs the schedules (apalis-cron), but a tick runs once across the fleet: the
//! first worker to insert the tick's row in `maintenance_ticks` runs it; the others find the row
//! taken and skip. The row also keeps what the run did (its report) or why it failed.

pub mod orphans;
pub mod prune;
pub mod repair;

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data, WorkerContext};
use apalis_cron::Tick;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::PgPool;

/// Errors of a maintenance run.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// Postgres.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Object storage.
    #[error(transparent)]
    Storage(#[from] veza_jobs::storage::StorageError),
    /// Enqueueing a reprocess.
    #[error(transparent)]
    Enqueue(#[from] veza_jobs::queue::EnqueueError),
}

/// One periodic task.
pub enum Task {
    /// See [`repair::Repair`].
    Repair(repair::Repair),
    /// See [`prune::Prune`].
    Prune(prune::Prune),
    /// See [`orphans::Orphans`].
    Orphans(orphans::Orphans),
}

impl Task {
    /// The name in `maintenance_ticks.task` and in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Repair(_) => "repair",
            Self::Prune(_) => "prune",
            Self::Orphans(_) => "orphans",
        }
    }

    /// Runs the task once; returns its report.
    pub async fn run_once(&self) -> Result<serde_json::Value, MaintenanceError> {
        let report = match self {
            Self::Repair(task) => serde_json::to_value(task.run_once().await?),
            Self::Prune(task) => serde_json::to_value(task.run_once().await?),
            Self::Orphans(task) => serde_json::to_value(task.run_once().await?),
        };
        Ok(report.unwrap_or(serde_json::Value::Null))
    }
}

/// Claims tick `tick_at` of `task` for `worker`: true for exactly one caller across the fleet.
pub async fn claim_tick(
    pool: &PgPool,
    task: &str,
    tick_at: DateTime<Utc>,
    worker: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into maintenance_ticks (task, tick_at, claimed_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(task)
    .bind(tick_at)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// What a maintenance tick handler needs.
pub struct Scheduled {
    /// The task.
    pub task: Task,
    /// Postgres, for the tick rows.
    pub pool: PgPool,
}

/// The apalis-cron handler: claim the tick, run the task if ours, record the outcome.
pub async fn run_tick(
    tick: Tick,
    scheduled: Data<Arc<Scheduled>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let name = scheduled.task.name();
    let seconds = i64::try_from(tick.get_timestamp()).unwrap_or(i64::MAX);
    let Some(tick_at) = Utc.timestamp_opt(seconds, 0).single() else {
        return Ok(());
    };
    if !claim_tick(&scheduled.pool, name, tick_at, worker.name()).await? {
        tracing::debug!(task = name, %tick_at, "tick already claimed by another worker");
        return Ok(());
    }
    let outcome = scheduled.task.run_once().await;
    let (report, error) = match &outcome {
        Ok(report) => {
            tracing::info!(task = name, %tick_at, %report, "maintenance ran");
            (Some(report.clone()), None)
        }
        Err(err) => {
            tracing::warn!(task = name, %tick_at, error = %err, "maintenance failed");
            (None, Some(err.to_string()))
        }
    };
    sqlx::query(
        "update maintenance_ticks set finished_at = now(), report = $3, error = $4
          where task = $1 and tick_at = $2",
    )
    .bind(name)
    .bind(tick_at)
    .bind(report)
    .bind(error)
    .execute(&scheduled.pool)
    .await?;
    // A failed run is reported in its row; the next tick tries again. No in-process retry.
    Ok(())
}

/// Registers the three schedules on `monitor` (repair, prune, orphans), each a cron consumer
/// named `{task}-{instance}`.
pub fn schedule(
    monitor: apalis::prelude::Monitor,
    config: &crate::config::WorkerConfig,
    pool: &PgPool,
    storage: &veza_jobs::storage::Storage,
    instance: &str,
) -> apalis::prelude::Monitor {
    let maintenance = &config.maintenance;
    let tasks = [
        (
            Task::Repair(repair::Repair {
                pool: pool.clone(),
                storage: storage.clone(),
                batch: maintenance.repair_batch,
                thumbnail_formats: config.thumbnail.formats.clone(),
            }),
            maintenance.repair_schedule.clone(),
        ),
        (
            Task::Prune(prune::Prune {
                pool: pool.clone(),
                retention: maintenance.job_retention,
            }),
            maintenance.prune_schedule.clone(),
        ),
        (
            Task::Orphans(orphans::Orphans {
                pool: pool.clone(),
                storage: storage.clone(),
                grace: maintenance.orphan_grace,
            }),
            maintenance.orphans_schedule.clone(),
        ),
    ];
    tasks.into_iter().fold(monitor, |monitor, (task, schedule)| {
        let name = format!("{}-{instance}", task.name());
        let scheduled = Arc::new(Scheduled {
            task,
            pool: pool.clone(),
        });
        monitor.register(move |_| {
            apalis::prelude::WorkerBuilder::new(name.as_str())
                .backend(apalis_cron::CronScheduler::new(schedule.clone()))
                .data(scheduled.clone())
                .build(run_tick)
        })
    })
}
