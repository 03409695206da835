//! `veza-worker` configuration: environment variables (`VEZA_*`, `DATABASE_URL`) over an
//! optional TOML file (`VEZA_CONFIG`), every default written down, every problem reported at
//! once. The process-wide keys are here; each job kind validates its own section
//! ([`email`], [`thumbnail`], [`transcode`], [`video`]), maintenance has [`maintenance`], and the per-queue
//! keys are read by `placement` from the job registry.

mod email;
mod maintenance;
mod thumbnail;
mod transcode;
mod video;

use std::{path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;
use veza_jobs::{
    email::EmailPolicy,
    mailer::MailerConfig,
    storage::{StorageConfig, StorageSettings},
    thumbnail::ThumbnailSettings,
    transcode::TranscodeSettings,
    video::VideoSettings,
    webhooks::WebhookSettings,
};

pub use maintenance::MaintenanceConfig;

use crate::placement::Placement;

#[derive(Debug, Deserialize)]
struct RawConfig {
    database_url: Option<String>,
    #[serde(default = "defaults::data_dir")]
    data_dir: PathBuf,
    #[serde(flatten)]
    storage: StorageSettings,
    scratch_dir: Option<PathBuf>,
    cpu_threads: Option<usize>,
    #[serde(default = "defaults::memory_budget_mib")]
    memory_budget_mib: u32,
    queues: Option<String>,
    #[serde(default = "defaults::heartbeat_seconds")]
    heartbeat_seconds: u64,
    #[serde(default = "defaults::poll_interval_ms")]
    poll_interval_ms: u64,
    #[serde(default = "defaults::missed_heartbeats")]
    missed_heartbeats: usize,
    #[serde(default = "defaults::shutdown_timeout_seconds")]
    shutdown_timeout_seconds: u64,
    retry_base_ms: Option<u64>,
    #[serde(default = "defaults::metrics_listen")]
    metrics_listen: String,
    #[serde(default, deserialize_with = "optional_text")]
    metrics_token: Option<String>,
    // `VEZA_WEBHOOKS_ALLOW_PRIVATE=1` reaches serde as a number: accept 1/0 and true/false alike.
    #[serde(default, deserialize_with = "figment::util::bool_from_str_or_int")]
    webhooks_allow_private: bool,
    #[serde(default = "defaults::webhook_timeout_seconds")]
    webhook_timeout_seconds: u64,
}

/// A text setting as written, even when figment read it as a number or a boolean: it types
/// environment values by their look, so `VEZA_SMTP_PASSWORD=12345678` or
/// `VEZA_THUMBNAIL_SIZES=640` arrive as numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Text {
    Plain(String),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Bool(bool),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Self::Plain(text) => text,
            Self::Signed(n) => n.to_string(),
            Self::Unsigned(n) => n.to_string(),
            Self::Float(n) => n.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

/// `deserialize_with` for a text setting (see [`Text`]).
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Text::deserialize(deserializer).map(Text::into_string)
}

/// `deserialize_with` for an optional text setting (with `#[serde(default)]`).
fn optional_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Option::<Text>::deserialize(deserializer).map(|text| text.map(Text::into_string))
}

/// A section read from the same sources as the rest. Not `#[serde(flatten)]`: flattened fields
/// lose figment's lenient typing (an all-digit `VEZA_SMTP_PASSWORD` would no longer be a string).
fn section<T: serde::de::DeserializeOwned>(figment: &Figment, problems: &mut Vec<String>) -> Option<T> {
    figment
        .extract()
        .map_err(|err| problems.extend(err.into_iter().map(|e| format!("configuration: {e}"))))
        .ok()
}

/// The process-wide defaults; each section keeps its own.
mod defaults {
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn poll_interval_ms() -> u64 {
        1000
    }
    pub fn webhook_timeout_seconds() -> u64 {
        10
    }
    pub fn memory_budget_mib() -> u32 {
        veza_jobs::cpu::DEFAULT_MEMORY_BUDGET_MIB
    }
    pub fn heartbeat_seconds() -> u64 {
        5
    }
    pub fn missed_heartbeats() -> usize {
        3
    }
    pub fn shutdown_timeout_seconds() -> u64 {
        30
    }
    /// A fixed port, so probes and Prometheus know where to look; 9464 is the port
    /// OpenTelemetry's Prometheus exporters use, unclaimed by the usual exporters.
    pub fn metrics_listen() -> String {
        "127.0.0.1:9464".to_owned()
    }
}

/// Validated configuration of `veza-worker`.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Postgres URL (`DATABASE_URL`).
    pub database_url: String,
    /// Object storage (`VEZA_STORAGE`, `VEZA_STORAGE_DIR`, `VEZA_S3_*`; default `{data}/objects`).
    pub storage: StorageConfig,
    /// SMTP (`VEZA_SMTP_URL`, `VEZA_SMTP_USERNAME`, `VEZA_SMTP_PASSWORD`,
    /// `VEZA_SMTP_TIMEOUT_SECONDS`) or the outbox folder (`VEZA_OUTBOX_DIR`, default `{data}/outbox`).
    pub mailer: MailerConfig,
    /// Per-recipient rate limit and account link lifetimes (`VEZA_EMAIL_RECIPIENT_LIMIT`,
    /// `VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS`, `VEZA_VERIFY_TOKEN_TTL_SECONDS`,
    /// `VEZA_RESET_TOKEN_TTL_SECONDS`, `VEZA_MEDIA_EMAILS`).
    pub email_policy: EmailPolicy,
    /// Sender address (`VEZA_EMAIL_FROM`).
    pub email_from: String,
    /// Public URL for links in emails (`VEZA_PUBLIC_URL`).
    pub public_url: String,
    /// Scratch folder for local copies of originals (`VEZA_SCRATCH_DIR`, default `{data}/scratch`).
    pub scratch_dir: PathBuf,
    /// Decoding/encoding tasks that run at once (`VEZA_CPU_THREADS`, default one per core).
    pub cpu_threads: usize,
    /// The memory a worker's video chunks may hold at once, in MiB (`VEZA_MEMORY_BUDGET_MIB`,
    /// default 1280): each chunk declares its encoders' estimate and waits for its share, so
    /// with the default ladder one 1080p chunk encodes at a time (on every free core) and the
    /// worker stays under 1.5 GiB, while chunks of smaller videos pair up. A chunk that
    /// declares more than the budget runs alone.
    pub memory_budget_mib: u32,
    /// The queues this worker serves, with each queue's concurrency and time limit
    /// (`VEZA_QUEUES`, `VEZA_{QUEUE}_CONCURRENCY`, `VEZA_{QUEUE}_TIMEOUT_SECONDS`).
    pub placement: Placement,
    /// Heartbeat period (`VEZA_HEARTBEAT_SECONDS`, default 5).
    pub heartbeat_interval: Duration,
    /// How often an idle consumer looks for work no notification announced
    /// (`VEZA_POLL_INTERVAL_MS`, default 1000, at least 10): a retry whose run-at came, inserts
    /// made while its listener reconnected (see `wakeup`).
    pub poll_interval: Duration,
    /// Heartbeats missed before a worker's jobs are rescued (`VEZA_MISSED_HEARTBEATS`, default 3:
    /// a dead worker's jobs run elsewhere after about 15 s).
    pub missed_heartbeats: usize,
    /// How long running jobs may take to finish after SIGTERM (`VEZA_SHUTDOWN_TIMEOUT_SECONDS`);
    /// at the deadline they are cancelled and released for another worker.
    pub shutdown_timeout: Duration,
    /// Overrides every kind's first retry delay (`VEZA_RETRY_BASE_MS`); for tests and tuning.
    pub retry_base: Option<Duration>,
    /// Periodic maintenance.
    pub maintenance: MaintenanceConfig,
    /// Where `/healthz`, `/readyz` and `/metrics` are served (`VEZA_METRICS_LISTEN`; default
    /// `127.0.0.1:9464`; in a container `0.0.0.0:9464`; port 0 picks a free one, logged at
    /// start, for several workers on one machine).
    pub metrics_listen: std::net::SocketAddr,
    /// The bearer token a scrape of `/metrics` must carry (`VEZA_METRICS_TOKEN`, at least 16
    /// bytes); unset, anyone who reaches the listener may scrape.
    pub metrics_token: Option<String>,
    /// Audio transcoding (`VEZA_AUDIO_LADDER`, `VEZA_SEGMENT_SECONDS`, `VEZA_MAX_AUDIO_SECONDS`).
    pub transcode: TranscodeSettings,
    /// Thumbnails (`VEZA_THUMBNAIL_SIZES`, `VEZA_THUMBNAIL_FORMATS`, `VEZA_THUMBNAIL_*_QUALITY`,
    /// `VEZA_THUMBNAIL_AVIF_SPEED`, `VEZA_MAX_IMAGE_BYTES`, `VEZA_MAX_IMAGE_PIXELS`).
    pub thumbnail: ThumbnailSettings,
    /// Video probe limits (`VEZA_VIDEO_MAX_PIXELS`, `VEZA_VIDEO_MAX_FRAME_RATE`,
    /// `VEZA_VIDEO_MAX_DURATION_SECONDS`, `VEZA_VIDEO_MAX_INPUT_BYTES`).
    pub video: VideoSettings,
    /// Webhook deliveries: whether private, loopback and link-local addresses may be called
    /// (`VEZA_WEBHOOKS_ALLOW_PRIVATE`, default off) and each request's time limit
    /// (`VEZA_WEBHOOK_TIMEOUT_SECONDS`, default 10).
    pub webhooks: WebhookSettings,
}

impl WorkerConfig {
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
        raw.validate(&figment)
    }
}

impl RawConfig {
    /// `figment` is where `self` came from: the per-queue keys are read from it by name.
    fn validate(self, figment: &Figment) -> Result<WorkerConfig, Vec<String>> {
        let mut problems = Vec::new();
        let placement = Placement::read(figment, self.queues.as_deref(), &mut problems);
        let database_url = self.database_url.unwrap_or_else(|| {
            problems.push("DATABASE_URL is required (e.g. postgres://postgres@127.0.0.1:5432/veza)".into());
            String::new()
        });
        let storage = self.storage.validate(&self.data_dir, &mut problems);
        let maintenance = section::<maintenance::RawMaintenance>(figment, &mut problems);
        let retention = maintenance.as_ref().map_or(u64::MAX, |m| m.job_retention_seconds);
        let email = section::<email::RawEmail>(figment, &mut problems)
            .map(|raw| raw.validate(&self.data_dir, retention, &mut problems));
        let maintenance =
            maintenance.and_then(|raw| raw.validate(placement.longest_timeout(), &mut problems));
        let transcode =
            section::<transcode::RawTranscode>(figment, &mut problems).map(|raw| raw.validate(&mut problems));
        let thumbnail =
            section::<thumbnail::RawThumbnail>(figment, &mut problems).map(|raw| raw.validate(&mut problems));
        let video = section::<video::RawVideo>(figment, &mut problems).map(|raw| raw.validate(&mut problems));
        let metrics_listen = self.metrics_listen.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "VEZA_METRICS_LISTEN must be host:port, not `{}`",
                self.metrics_listen
            ));
            std::net::SocketAddr::from(([127, 0, 0, 1], 0))
        });
        if let Some(token) = &self.metrics_token
            && token.len() < veza_jobs::metrics::SCRAPE_TOKEN_MIN_BYTES
        {
            problems.push(format!(
                "VEZA_METRICS_TOKEN must be at least {} bytes",
                veza_jobs::metrics::SCRAPE_TOKEN_MIN_BYTES
            ));
        }
        if self.poll_interval_ms < 10 {
            problems.push(format!(
                "VEZA_POLL_INTERVAL_MS must be at least 10, not {}",
                self.poll_interval_ms
            ));
        }
        if self.memory_budget_mib == 0 {
            problems.push("VEZA_MEMORY_BUDGET_MIB must be positive".into());
        }
        if self.webhook_timeout_seconds == 0 {
            problems.push("VEZA_WEBHOOK_TIMEOUT_SECONDS must be positive".into());
        }
        if self.heartbeat_seconds == 0 || self.missed_heartbeats == 0 {
            problems.push("VEZA_HEARTBEAT_SECONDS and VEZA_MISSED_HEARTBEATS must be positive".into());
        }
        let (Some(storage), Some(maintenance), Some(email), Some(transcode), Some(thumbnail), Some(video)) =
            (storage, maintenance, email, transcode, thumbnail, video)
        else {
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(WorkerConfig {
            database_url,
            storage,
            mailer: email.mailer,
            email_policy: email.policy,
            email_from: email.email_from,
            public_url: email.public_url,
            scratch_dir: self.scratch_dir.unwrap_or_else(|| self.data_dir.join("scratch")),
            cpu_threads: self
                .cpu_threads
                .filter(|n| *n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
            memory_budget_mib: self.memory_budget_mib,
            placement,
            heartbeat_interval: Duration::from_secs(self.heartbeat_seconds),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            missed_heartbeats: self.missed_heartbeats,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
            retry_base: self.retry_base_ms.map(Duration::from_millis),
            maintenance,
            metrics_listen,
            metrics_token: self.metrics_token,
            transcode,
            thumbnail,
            video,
            webhooks: WebhookSettings {
                allow_private: self.webhooks_allow_private,
                timeout: Duration::from_secs(self.webhook_timeout_seconds),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::RawConfig;
    use figment::{Figment, providers::Format as _, providers::Toml};

    fn validate(toml: &str) -> Result<(), Vec<String>> {
        let figment = Figment::new().merge(Toml::string(toml));
        let raw: RawConfig = figment.extract().map_err(|err| vec![err.to_string()])?;
        raw.validate(&figment).map(|_| ())
    }

    #[test]
    fn a_recipient_window_longer_than_the_retention_is_refused() {
        let url = "database_url = 'postgres://localhost/veza'\n";
        assert_eq!(validate(url), Ok(()));
        let longer = format!("{url}email_recipient_window_seconds = 7200\njob_retention_seconds = 3600\n");
        let problems = validate(&longer).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS (7200)")),
            "{problems:?}"
        );
        let equal = format!("{url}email_recipient_window_seconds = 3600\njob_retention_seconds = 3600\n");
        assert_eq!(validate(&equal), Ok(()));
    }

    #[test]
    fn all_digit_strings_stay_strings_in_every_section() {
        let url = "database_url = 'postgres://localhost/veza'\n";
        let digits = format!(
            "{url}smtp_url = 'smtp://relay:25'\nsmtp_username = 12345\nsmtp_password = 987654321\n\
             thumbnail_sizes = 640\nemail_from = 42\n"
        );
        assert_eq!(validate(&digits), Ok(()));
    }

    #[test]
    fn a_poll_interval_under_10_ms_is_refused() {
        let url = "database_url = 'postgres://localhost/veza'\n";
        let problems = validate(&format!("{url}poll_interval_ms = 5\n")).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("VEZA_POLL_INTERVAL_MS must be at least 10")),
            "{problems:?}"
        );
        assert_eq!(validate(&format!("{url}poll_interval_ms = 10\n")), Ok(()));
    }
}
