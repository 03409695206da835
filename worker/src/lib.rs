//! `veza-worker`: consumes Veza's job queues.
//!
//! - [`config`]: settings from the environment, validated at start.
//! - [`startup`]: one apalis-postgres consumer per job kind (email, thumbnail, transcode), with
//!   heartbeats, LISTEN/NOTIFY pickup and graceful shutdown.
//! - [`consumers`]: the live queue consumers (renamed on restart, so that a failed consumer's
//!   unacknowledged jobs are rescued) and the pause watcher.
//! - [`wakeup`]: when a consumer looks for work (insert notifications, drained; a fallback poll).
//! - [`queues`]: the per-kind handlers that call `veza_jobs` and settle each outcome.
//! - [`metrics`]: Prometheus metrics at `/metrics` (job outcomes, retries, rescues, queue depth).
//! - [`maintenance`]: repair, prune and orphan cleanup on cron schedules, once per tick fleet-wide.

pub mod config;
pub mod consumers;
pub mod maintenance;
pub mod metrics;
pub mod queues;
pub mod startup;
pub mod wakeup;
