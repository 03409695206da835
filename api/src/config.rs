//! `veza-api` configuration: environment variables (`VEZA_*`, `DATABASE_URL`) over an optional
//! TOML file (`VEZA_CONFIG`), every default written here, every problem reported at once.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;
use veza_jobs::storage::{StorageConfig, StorageSettings};

/// The settings as read, before validation.
#[derive(Debug, Deserialize)]
struct RawConfig {
    database_url: Option<String>,
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    #[serde(flatten)]
    storage: StorageSettings,
    jwt_secret: Option<String>,
    jwt_previous_secrets: Option<String>,
    // `VEZA_DEV_MODE=1` reaches serde as a number: accept 1/0 and true/false alike.
    #[serde(default, deserialize_with = "figment::util::bool_from_str_or_int")]
    dev_mode: bool,
    #[serde(default = "default_token_ttl")]
    token_ttl_seconds: u64,
    #[serde(default = "default_refresh_ttl")]
    refresh_ttl_seconds: u64,
    #[serde(default = "default_max_upload")]
    max_upload_bytes: u64,
    #[serde(default = "default_playback_url_ttl")]
    playback_url_ttl_seconds: u64,
    #[serde(
        default = "default_true",
        deserialize_with = "figment::util::bool_from_str_or_int"
    )]
    s3_presigned_redirects: bool,
    #[serde(default = "default_quota_bytes")]
    quota_bytes: u64,
    #[serde(default = "default_quota_items")]
    quota_items: u64,
    #[serde(default = "default_db_connections")]
    db_max_connections: u32,
    admin_emails: Option<String>,
    trusted_proxies: Option<String>,
    cors_origins: Option<String>,
    metrics_token: Option<String>,
    #[serde(default = "default_register_limit")]
    register_limit: u32,
    #[serde(default = "default_register_window")]
    register_window_seconds: u64,
    #[serde(default = "default_reset_request_limit")]
    reset_request_limit: u32,
    #[serde(default = "default_register_window")]
    reset_request_window_seconds: u64,
    #[serde(flatten)]
    limits: RequestLimits,
    #[serde(flatten)]
    chat: crate::chat::ChatLimits,
}

fn default_true() -> bool {
    true
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_token_ttl() -> u64 {
    900
}
fn default_refresh_ttl() -> u64 {
    30 * 24 * 3600
}
fn default_max_upload() -> u64 {
    1024 * 1024 * 1024
}
fn default_playback_url_ttl() -> u64 {
    6 * 3600
}
fn default_quota_bytes() -> u64 {
    10 * 1024 * 1024 * 1024
}
fn default_quota_items() -> u64 {
    10_000
}
fn default_db_connections() -> u32 {
    10
}
fn default_register_limit() -> u32 {
    10
}
fn default_register_window() -> u64 {
    3600
}
fn default_reset_request_limit() -> u32 {
    3
}

/// What keeps one client from exhausting the API or using it against others: body sizes,
/// password hashing, login attempts, verification mail. Each field's variable is its name in
/// upper case with `VEZA_` in front.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RequestLimits {
    /// Largest request body outside the upload route (`VEZA_MAX_REQUEST_BODY_BYTES`, default
    /// 64 KiB); larger, chunked or not, is 413 before any of it is parsed.
    pub max_request_body_bytes: u64,
    /// Password hashes computed at once (`VEZA_PASSWORD_HASH_CONCURRENCY`, default: the number
    /// of CPUs). Each argon2 hash takes 19 MiB and a core for tens of milliseconds.
    pub password_hash_concurrency: u32,
    /// How long a request waits for a hashing slot before it is answered 503 with
    /// `Retry-After` (`VEZA_PASSWORD_HASH_WAIT_MS`, default 5000).
    pub password_hash_wait_ms: u64,
    /// Login attempts per account and window that did not succeed (`VEZA_LOGIN_ACCOUNT_LIMIT`,
    /// default 10); more is 429 with `Retry-After`, whatever the password.
    pub login_account_limit: u32,
    /// Login attempts per client address and window (`VEZA_LOGIN_CLIENT_LIMIT`, default 30).
    pub login_client_limit: u32,
    /// The window of both login limits (`VEZA_LOGIN_WINDOW_SECONDS`, default 900).
    pub login_window_seconds: u64,
    /// Verification emails one account may ask for again per window
    /// (`VEZA_VERIFICATION_RESEND_LIMIT`, default 3); more is 429 with `Retry-After`.
    pub verification_resend_limit: u32,
    /// The window of the resend limit (`VEZA_VERIFICATION_RESEND_WINDOW_SECONDS`, default 3600).
    pub verification_resend_window_seconds: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 64 * 1024,
            password_hash_concurrency: std::thread::available_parallelism()
                .map_or(2, |n| u32::try_from(n.get()).unwrap_or(2)),
            password_hash_wait_ms: 5000,
            login_account_limit: 10,
            login_client_limit: 30,
            login_window_seconds: 900,
            verification_resend_limit: 3,
            verification_resend_window_seconds: 3600,
        }
    }
}

impl RequestLimits {
    fn validate(&self, problems: &mut Vec<String>) {
        let positive = [
            ("VEZA_MAX_REQUEST_BODY_BYTES", self.max_request_body_bytes),
            (
                "VEZA_PASSWORD_HASH_CONCURRENCY",
                u64::from(self.password_hash_concurrency),
            ),
            ("VEZA_LOGIN_ACCOUNT_LIMIT", u64::from(self.login_account_limit)),
            ("VEZA_LOGIN_CLIENT_LIMIT", u64::from(self.login_client_limit)),
            ("VEZA_LOGIN_WINDOW_SECONDS", self.login_window_seconds),
            (
                "VEZA_VERIFICATION_RESEND_LIMIT",
                u64::from(self.verification_resend_limit),
            ),
            (
                "VEZA_VERIFICATION_RESEND_WINDOW_SECONDS",
                self.verification_resend_window_seconds,
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                problems.push(format!("{name} must be positive"));
            }
        }
    }
}

/// Validated configuration of `veza-api`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Postgres URL (`DATABASE_URL`).
    pub database_url: String,
    /// Address to listen on (`VEZA_LISTEN`, default `127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Object storage (`VEZA_STORAGE`, `VEZA_STORAGE_DIR`, `VEZA_S3_*`).
    pub storage: StorageConfig,
    /// HS256 signing secret (`VEZA_JWT_SECRET`, at least 32 bytes and not a repetition); `None`
    /// only in development mode, which generates a key at start, with a warning.
    pub jwt_secret: Option<String>,
    /// Secrets that verify tokens but no longer sign (`VEZA_JWT_PREVIOUS_SECRETS`,
    /// comma-separated): the overlap of a key rotation.
    pub jwt_previous_secrets: Vec<String>,
    /// Development mode (`VEZA_DEV_MODE=1`, set by `just up` and the tests): allows a missing
    /// `VEZA_JWT_SECRET`. Off, the API refuses to start without a strong key.
    pub dev_mode: bool,
    /// Lifetime of access tokens (`VEZA_TOKEN_TTL_SECONDS`, default 900).
    pub token_ttl_seconds: u64,
    /// How long a session lasts without a refresh (`VEZA_REFRESH_TTL_SECONDS`, default 30
    /// days); each refresh extends it by as much.
    pub refresh_ttl_seconds: u64,
    /// Largest accepted upload (`VEZA_MAX_UPLOAD_BYTES`, default 1 GiB); larger is 413.
    pub max_upload_bytes: u64,
    /// How long the signed playback URLs a media item lists work
    /// (`VEZA_PLAYBACK_URL_TTL_SECONDS`, default 6 hours: a film and then some).
    pub playback_url_ttl_seconds: u64,
    /// With S3 storage, whether a signed playback URL of a file other than a playlist redirects
    /// to a presigned URL of the object, so its bytes do not pass through the API
    /// (`VEZA_S3_PRESIGNED_REDIRECTS`, default on; a folder store always serves them).
    pub s3_presigned_redirects: bool,
    /// What an account may store unless its own quota says otherwise (`VEZA_QUOTA_BYTES` of
    /// originals, default 10 GiB; `VEZA_QUOTA_ITEMS`, default 10,000); over it, 413.
    pub quota: veza_jobs::quota::QuotaDefaults,
    /// Pool size (`VEZA_DB_MAX_CONNECTIONS`, default 10).
    pub db_max_connections: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`VEZA_TRUSTED_PROXIES`, addresses and
    /// networks, comma-separated); from anyone else the header is ignored.
    pub trusted_proxies: crate::middleware::client::TrustedProxies,
    /// Origins whose browser scripts may call the API (`VEZA_CORS_ORIGINS`, comma-separated,
    /// e.g. `https://app.example.com`; `*` for any); unset, no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Accounts with the admin role by configuration (`VEZA_ADMIN_EMAILS`, comma-separated,
    /// compared case-insensitively); `veza-api admin grant EMAIL` grants it in the database.
    pub admin_emails: Vec<String>,
    /// The bearer token a scrape of `/metrics` must carry (`VEZA_METRICS_TOKEN`, at least 16
    /// bytes); unset, anyone who reaches the API may scrape (it listens on loopback by default).
    pub metrics_token: Option<String>,
    /// Registration attempts one client address may make per window (`VEZA_REGISTER_LIMIT`,
    /// default 10); over it, 429. It keeps "this address is taken" from sweeping addresses.
    pub register_limit: u32,
    /// The window of the registration limit (`VEZA_REGISTER_WINDOW_SECONDS`, default 3600).
    pub register_window_seconds: u64,
    /// Password reset emails one account may be sent per window (`VEZA_RESET_REQUEST_LIMIT`,
    /// default 3); further requests get the same answer and send nothing.
    pub reset_request_limit: u32,
    /// The window of the reset request limit (`VEZA_RESET_REQUEST_WINDOW_SECONDS`, default 3600).
    pub reset_request_window_seconds: u64,
    /// Body, hashing, login and mail limits.
    pub limits: RequestLimits,
    /// What bounds the chat sockets.
    pub chat: crate::chat::ChatLimits,
}

impl ApiConfig {
    /// Loads from the environment (and `VEZA_CONFIG` when set), validating every value.
    pub fn load() -> Result<Self, Vec<String>> {
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("VEZA_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(Env::prefixed("VEZA_").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url"]));
        let raw: RawConfig = figment.extract().map_err(|err| {
            err.into_iter()
                .map(|e| format!("configuration: {e}"))
                .collect::<Vec<_>>()
        })?;
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<ApiConfig, Vec<String>> {
        let mut problems = Vec::new();
        let database_url = self.database_url.unwrap_or_else(|| {
            problems.push("DATABASE_URL is required (e.g. postgres://postgres@127.0.0.1:5432/veza)".into());
            String::new()
        });
        let listen = self.listen.parse().unwrap_or_else(|_| {
            problems.push(format!("VEZA_LISTEN must be host:port, not `{}`", self.listen));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let storage = self.storage.validate(&self.data_dir, &mut problems);
        match &self.jwt_secret {
            Some(secret) => check_jwt_secret("VEZA_JWT_SECRET", secret, &mut problems),
            None if self.dev_mode => {}
            None => problems.push(
                "VEZA_JWT_SECRET is required: at least 32 random bytes (e.g. `openssl rand -base64 48`); \
                 for a throwaway development key, set VEZA_DEV_MODE=1"
                    .into(),
            ),
        }
        let trusted_proxies = crate::middleware::client::TrustedProxies::parse(
            self.trusted_proxies.as_deref().unwrap_or_default(),
        )
        .unwrap_or_else(|problem| {
            problems.push(format!("VEZA_TRUSTED_PROXIES: {problem}"));
            Default::default()
        });
        let cors_origins: Vec<String> = self
            .cors_origins
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect();
        for origin in &cors_origins {
            let scheme_host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .filter(|host| !host.is_empty() && !host.contains('/'));
            if origin != "*" && scheme_host.is_none() {
                problems.push(format!(
                    "VEZA_CORS_ORIGINS: `{origin}` is not an origin (scheme://host[:port], or *)"
                ));
            }
        }
        let jwt_previous_secrets: Vec<String> = self
            .jwt_previous_secrets
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for secret in &jwt_previous_secrets {
            check_jwt_secret("each of VEZA_JWT_PREVIOUS_SECRETS", secret, &mut problems);
        }
        if let Some(token) = &self.metrics_token
            && token.len() < veza_jobs::metrics::SCRAPE_TOKEN_MIN_BYTES
        {
            problems.push(format!(
                "VEZA_METRICS_TOKEN must be at least {} bytes",
                veza_jobs::metrics::SCRAPE_TOKEN_MIN_BYTES
            ));
        }
        if self.token_ttl_seconds == 0 || self.refresh_ttl_seconds == 0 {
            problems.push("VEZA_TOKEN_TTL_SECONDS and VEZA_REFRESH_TTL_SECONDS must be positive".into());
        }
        if self.register_limit == 0 || self.register_window_seconds == 0 {
            problems.push("VEZA_REGISTER_LIMIT and VEZA_REGISTER_WINDOW_SECONDS must be positive".into());
        }
        if self.reset_request_limit == 0 || self.reset_request_window_seconds == 0 {
            problems.push(
                "VEZA_RESET_REQUEST_LIMIT and VEZA_RESET_REQUEST_WINDOW_SECONDS must be positive".into(),
            );
        }
        self.limits.validate(&mut problems);
        self.chat.validate(&mut problems);
        if self.playback_url_ttl_seconds == 0 {
            problems.push("VEZA_PLAYBACK_URL_TTL_SECONDS must be positive".into());
        }
        if self.max_upload_bytes == 0 {
            problems.push("VEZA_MAX_UPLOAD_BYTES must be positive".into());
        }
        match storage {
            Some(storage) if problems.is_empty() => Ok(ApiConfig {
                database_url,
                listen,
                storage,
                jwt_secret: self.jwt_secret,
                jwt_previous_secrets,
                trusted_proxies,
                cors_origins,
                dev_mode: self.dev_mode,
                refresh_ttl_seconds: self.refresh_ttl_seconds,
                metrics_token: self.metrics_token,
                token_ttl_seconds: self.token_ttl_seconds,
                max_upload_bytes: self.max_upload_bytes,
                playback_url_ttl_seconds: self.playback_url_ttl_seconds,
                s3_presigned_redirects: self.s3_presigned_redirects,
                quota: veza_jobs::quota::QuotaDefaults {
                    bytes: self.quota_bytes,
                    items: self.quota_items,
                },
                db_max_connections: self.db_max_connections.max(1),
                register_limit: self.register_limit,
                register_window_seconds: self.register_window_seconds,
                reset_request_limit: self.reset_request_limit,
                reset_request_window_seconds: self.reset_request_window_seconds,
                limits: self.limits,
                chat: self.chat,
                admin_emails: self
                    .admin_emails
                    .unwrap_or_default()
                    .split(',')
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect(),
            }),
            _ => Err(problems),
        }
    }
}

/// Refuses a signing secret an attacker could guess: shorter than 32 bytes, or made of fewer
/// than 10 distinct characters (`aaaa…`, `changeme` repeated). Random keys pass by far: 32 hex
/// digits hold about 14 distinct ones, base64 many more.
fn check_jwt_secret(name: &str, secret: &str, problems: &mut Vec<String>) {
    let distinct = secret.bytes().collect::<std::collections::BTreeSet<u8>>().len();
    if secret.len() < 32 {
        problems.push(format!("{name} must be at least 32 bytes"));
    } else if distinct < 10 {
        problems.push(format!(
            "{name} is weak ({distinct} distinct characters): use random bytes, e.g. `openssl rand -base64 48`"
        ));
    }
}
