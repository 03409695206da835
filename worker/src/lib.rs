//! `veza-worker`: consumes Veza's job queues.
//!
//! - [`config`]: settings from the environment, validated at start; [`placement`]: which
//!   registered queues this worker serves (`VEZA_QUEUES`), each with its concurrency and time
//!   limit.
//! - [`startup`]: the handlers' context, the consumers, maintenance, the status listener.
//! - [`register`]: one apalis-postgres consumer per served queue, registered in one loop over
//!   the job registry, with heartbeats and LISTEN/NOTIFY pickup.
//! - [`shutdown`]: stop claiming on the signal, drain, cancel and release at the deadline.
//! - [`consumers`]: the live queue consumers (renamed on restart, so that a failed consumer's
//!   unacknowledged jobs are rescued) and the pause watcher.
//! - [`wakeup`]: when a consumer looks for work (insert notifications, drained; a fallback poll).
//! - [`queues`]: the one generic handler every consumer runs: one attempt of a job of any kind,
//!   its timeout, cancellation and pause checks, and the settling of its outcome.
//! - [`status`]: the worker's HTTP listener: `/healthz`, `/readyz` (database, consumers,
//!   draining) and `/metrics`.
//! - [`metrics`]: Prometheus metrics at `/metrics` (job outcomes, retries, rescues, queue depth).
//! - [`maintenance`]: repair, prune and orphan cleanup on cron schedules, once per tick fleet-wide.

pub mod config;
pub mod consumers;
pub mod maintenance;
pub mod metrics;
pub mod placement;
pub mod queues;
pub mod register;
pub mod shutdown;
pub mod startup;
pub mod status;
pub mod wakeup;
