//! Veza's job contract and the work itself, shared by `veza-api` and `veza-worker`.
//!
//! How data flows through the modules:
//!
//! - [`db`]: the Postgres pool and the migrate step (Veza's tables and apalis's schema).
//! - [`storage`]: object storage (local folder or S3) and the key layout.
//! - [`media`]: what an upload is (sniffed from its bytes), the `media` row and its outputs, and
//!   the facts kinds share about an item: audio details and tags, waveform peaks.
//! - [`accounts`]: account tokens (verification, reset) and signed unsubscribe links, checked
//!   by the API and sent by the email kind.
//! - [`queue`]: enqueue a job on the caller's transaction; the job record the API reports;
//!   cancel. [`reprocess`]: a new job for an item, at most one at a time.
//! - [`kind`]: the seam — what a job kind is (queue name, retry policy, defaults, payload,
//!   handler); [`registry`]: every kind, once, which the worker, the operator API, the metrics
//!   and the configuration derive their queues from (`docs/architecture.md`).
//! - one module per job kind, each with its payload, its `Kind` and an `enqueue(&mut tx, ..)`:
//!   [`email`], [`thumbnail`], [`transcode`], [`video`], [`purge`] (deletes an item or an
//!   account for good), [`webhooks`] (delivers events to users' endpoints), and [`canary`] (does nothing: checks the fleet and
//!   measures the queue).
//! - [`quota`]: what an account may store, and the space its uploads in flight reserve.
//! - [`idempotency`]: `Idempotency-Key` on uploads — the first upload recorded under a key.
//! - [`resumable`]: resumable (tus) uploads — their state, parts and completion.
//! - [`users`]: the users store — every query of the `users` table (the API's and the email
//!   kind's).
//! - [`metrics`]: the Prometheus registry's encoding and the queue depth both binaries export.
//! - [`operations`]: what operators do — queue statistics, job listing, retrying dead jobs,
//!   pausing queues, listing workers.
//! - [`mailer`]: the mail transport (SMTP or an outbox folder) and its delivery metrics.
//! - [`hls`]: playlist text and the file names of a generation (audio and video ladders).
//! - [`context`]: what every handler gets (pool, storage, mailer, settings) and the attempt
//!   it runs ([`context::JobRun`]: job id, lease, cancellation).
//! - [`task_ids`]: a job id's UUID (Veza) and ULID (apalis) spellings.
//! - [`signals`]: SIGTERM and SIGINT, caught from the start of either binary.
//! - [`lease`]: the fencing check before anything is published; release and retry scheduling.
//! - [`retry`]: attempts and backoff per job kind.
//! - [`settle`]: the media policy — what a media job's success or death means for its item
//!   and its owner.
//! - [`error`]: how an attempt fails: a code from one catalogue (`ErrorCode`), which says
//!   whether retrying can help and what the owner is told.
//!
//! The API calls `media::insert` and the kinds' `enqueue` in one transaction; the worker claims
//! jobs from the apalis queues and calls the kinds' `handle`.

pub mod accounts;
pub mod audit;
pub mod canary;
pub mod context;
pub mod cpu;
pub mod db;
pub mod email;
pub mod error;
pub mod fan_out;
pub mod hls;
pub mod idempotency;
pub mod job_state;
pub mod kind;
pub mod lease;
pub mod live;
pub mod mailer;
pub mod media;
pub mod metrics;
pub mod operations;
pub mod purge;
pub mod queue;
pub mod quota;
pub mod registry;
pub mod reprocess;
pub mod resumable;
pub mod retry;
pub mod settle;
pub mod signals;
pub mod storage;
pub mod task_ids;
pub mod thumbnail;
pub mod transcode;
pub mod users;
pub mod video;
pub mod webhooks;
