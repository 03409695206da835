//! What every request handler can reach: the pool, the store, the keys and the limits, created
//! once at start (`startup`) and handed to the routes as poem data.

use sqlx::PgPool;
use veza_jobs::storage::Storage;

use crate::{auth::TokenKeys, metrics::ApiMetrics};

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// Token keys.
    pub keys: TokenKeys,
    /// How long a session lasts without a refresh.
    pub refresh_ttl: std::time::Duration,
    /// Largest accepted upload in bytes.
    pub max_upload_bytes: u64,
    /// Signs and verifies playback URLs.
    pub playback: crate::playback::PlaybackKeys,
    /// How long a playback URL handed out works.
    pub playback_url_ttl: std::time::Duration,
    /// Signed playback URLs of files (not playlists) redirect to presigned S3 URLs.
    pub presigned_redirects: bool,
    /// What an account may store without a quota of its own.
    pub quota: veza_jobs::quota::QuotaDefaults,
    /// Admins by configuration (lower case).
    pub admin_emails: Vec<String>,
    /// Registration attempts per client address and window.
    pub register_limit: (u32, std::time::Duration),
    /// Password reset requests per account and window.
    pub reset_request_limit: (u32, std::time::Duration),
    /// Prometheus metrics.
    pub metrics: std::sync::Arc<ApiMetrics>,
    /// What a scrape of `/metrics` must carry.
    pub metrics_token: veza_jobs::metrics::ScrapeToken,
    /// Password hashing, bounded.
    pub passwords: crate::passwords::Passwords,
    /// Body, login and mail limits.
    pub limits: crate::config::RequestLimits,
    /// Origins whose pages may call the API (`VEZA_CORS_ORIGINS`); also checked on the socket.
    pub cors_origins: Vec<String>,
    /// The chat sockets of this instance.
    pub chat: std::sync::Arc<crate::chat::ChatHub>,
}
