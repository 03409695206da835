//! `veza-api`: the HTTP API of Veza.
//!
//! - [`config`]: settings from the environment, validated at start.
//! - [`startup`]: `Application::build` (pool, storage, keys, port) and `run_until_stopped`;
//!   [`state`]: what every handler can reach.
//! - [`routes`]: the poem-openapi operations — auth, media, jobs, health.
//! - [`accounts`]: email verification, password reset and change, unsubscribe, the
//!   registration rate limit (the JSON operations and the link pages share them).
//! - [`auth`]: access tokens; the bearer security scheme; who is admin.
//! - [`playback`]: signed playback URLs, fetched with no header.
//! - [`passwords`]: argon2 hashing, a bounded number at once.
//! - [`media_view`]: the API's view of a media item, converted from its rows in one place.
//! - [`queue_name`], [`job_view`]: the API's spelling of the job layer's queues, job states and
//!   errors, shared by the owner's and the operator's routes.
//! - [`middleware`]: what wraps every request: the body limit, the request log (no query
//!   strings: they carry account tokens) and the security headers.
//! - [`chat`]: the WebSocket at `/v1/ws`: chat rooms and their events, across instances.
//! - [`error`]: every error as problem+json with a stable code.
//! - [`metrics`]: Prometheus metrics at `/metrics` (request latency, queue depth).
//!
//! An upload flows: `routes::media::upload` streams the body into storage, then in one
//! transaction inserts the media row and enqueues its jobs through `veza_jobs`.

pub mod accounts;
pub mod auth;
pub mod chat;
pub mod config;
pub mod error;
pub mod job_view;
pub mod media_view;
pub mod metrics;
pub mod middleware;
pub mod passwords;
pub mod playback;
pub mod queue_name;
pub mod routes;
pub mod startup;
pub mod state;
pub mod uploads;
