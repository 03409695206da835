//! `veza-worker` configuration: environment variables (`VEZA_*`, `DATABASE_URL`) over an
//! optional TOML file (`VEZA_CONFIG`), every default written here, every problem reported at once.

use std::{path::PathBuf, str::FromStr, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;
use veza_jobs::{
    email::{EmailPolicy, MailerConfig, SmtpCredentials},
    storage::{StorageConfig, StorageSettings},
    thumbnail::ThumbnailSettings,
    transcode::{Rendition, TranscodeSettings, loudness::GainTarget, waveform::WaveformSettings},
};

#[derive(Debug, Deserialize)]
struct RawConfig {
    database_url: Option<String>,
    #[serde(default = "defaults::data_dir")]
    data_dir: PathBuf,
    #[serde(flatten)]
    storage: StorageSettings,
    smtp_url: Option<String>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    #[serde(default = "defaults::smtp_timeout_seconds")]
    smtp_timeout_seconds: u64,
    #[serde(default = "defaults::email_recipient_limit")]
    email_recipient_limit: u32,
    #[serde(default = "defaults::email_recipient_window_seconds")]
    email_recipient_window_seconds: u64,
    #[serde(default = "defaults::verify_token_ttl_seconds")]
    verify_token_ttl_seconds: u64,
    #[serde(default = "defaults::reset_token_ttl_seconds")]
    reset_token_ttl_seconds: u64,
    #[serde(default = "defaults::media_emails")]
    media_emails: bool,
    outbox_dir: Option<PathBuf>,
    scratch_dir: Option<PathBuf>,
    cpu_threads: Option<usize>,
    #[serde(default = "defaults::email_from")]
    email_from: String,
    #[serde(default = "defaults::public_url")]
    public_url: String,
    #[serde(default = "defaults::email_concurrency")]
    email_concurrency: usize,
    #[serde(default = "defaults::thumbnail_concurrency")]
    thumbnail_concurrency: usize,
    #[serde(default = "defaults::transcode_concurrency")]
    transcode_concurrency: usize,
    #[serde(default = "defaults::canary_concurrency")]
    canary_concurrency: usize,
    #[serde(default = "defaults::heartbeat_seconds")]
    heartbeat_seconds: u64,
    #[serde(default = "defaults::poll_interval_ms")]
    poll_interval_ms: u64,
    #[serde(default = "defaults::missed_heartbeats")]
    missed_heartbeats: usize,
    #[serde(default = "defaults::shutdown_timeout_seconds")]
    shutdown_timeout_seconds: u64,
    #[serde(default = "defaults::email_timeout_seconds")]
    email_timeout_seconds: u64,
    #[serde(default = "defaults::thumbnail_timeout_seconds")]
    thumbnail_timeout_seconds: u64,
    #[serde(default = "defaults::transcode_timeout_seconds")]
    transcode_timeout_seconds: u64,
    retry_base_ms: Option<u64>,
    #[serde(default = "defaults::metrics_listen")]
    metrics_listen: String,
    metrics_token: Option<String>,
    #[serde(default = "defaults::repair_schedule")]
    repair_schedule: String,
    #[serde(default = "defaults::prune_schedule")]
    prune_schedule: String,
    #[serde(default = "defaults::orphans_schedule")]
    orphans_schedule: String,
    #[serde(default = "defaults::job_retention_seconds")]
    job_retention_seconds: u64,
    #[serde(default = "defaults::orphan_grace_seconds")]
    orphan_grace_seconds: u64,
    #[serde(default = "defaults::repair_batch")]
    repair_batch: i64,
    #[serde(default = "defaults::audio_ladder")]
    audio_ladder: String,
    #[serde(default = "defaults::loudness_target_lufs")]
    loudness_target_lufs: f64,
    #[serde(default = "defaults::waveform_samples_per_pixel")]
    waveform_samples_per_pixel: u32,
    #[serde(default = "defaults::segment_seconds")]
    segment_seconds: f64,
    #[serde(default = "defaults::max_audio_seconds")]
    max_audio_seconds: f64,
    #[serde(default = "defaults::max_audio_bytes")]
    max_audio_bytes: u64,
    #[serde(default = "defaults::thumbnail_sizes")]
    thumbnail_sizes: String,
    #[serde(default = "defaults::thumbnail_jpeg_quality")]
    thumbnail_jpeg_quality: u8,
    #[serde(default = "defaults::thumbnail_webp_quality")]
    thumbnail_webp_quality: f32,
    #[serde(default = "defaults::thumbnail_formats")]
    thumbnail_formats: String,
    #[serde(default = "defaults::thumbnail_avif_quality")]
    thumbnail_avif_quality: f32,
    #[serde(default = "defaults::thumbnail_avif_speed")]
    thumbnail_avif_speed: u8,
    #[serde(default = "defaults::max_image_alloc_bytes")]
    max_image_alloc_bytes: u64,
    #[serde(default = "defaults::max_image_bytes")]
    max_image_bytes: u64,
    #[serde(default = "defaults::max_image_pixels")]
    max_image_pixels: u64,
}

/// Every default of the worker, in one place.
mod defaults {
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        PathBuf::from("data")
    }
    pub fn email_from() -> String {
        "Veza <noreply@veza.local>".to_owned()
    }
    pub fn public_url() -> String {
        "http://127.0.0.1:8080".to_owned()
    }
    pub fn smtp_timeout_seconds() -> u64 {
        30
    }
    pub fn email_recipient_limit() -> u32 {
        20
    }
    pub fn email_recipient_window_seconds() -> u64 {
        3600
    }
    pub fn verify_token_ttl_seconds() -> u64 {
        24 * 3600
    }
    pub fn reset_token_ttl_seconds() -> u64 {
        3600
    }
    pub fn media_emails() -> bool {
        true
    }
    pub fn email_concurrency() -> usize {
        4
    }
    pub fn thumbnail_concurrency() -> usize {
        2
    }
    pub fn transcode_concurrency() -> usize {
        2
    }
    pub fn canary_concurrency() -> usize {
        32
    }
    pub fn poll_interval_ms() -> u64 {
        1000
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
    pub fn metrics_listen() -> String {
        "127.0.0.1:0".to_owned()
    }
    pub fn repair_schedule() -> String {
        "0 */15 * * * *".to_owned()
    }
    pub fn prune_schedule() -> String {
        "0 0 * * * *".to_owned()
    }
    pub fn orphans_schedule() -> String {
        "0 30 * * * *".to_owned()
    }
    pub fn job_retention_seconds() -> u64 {
        7 * 24 * 3600
    }
    pub fn orphan_grace_seconds() -> u64 {
        24 * 3600
    }
    pub fn repair_batch() -> i64 {
        100
    }
    pub fn email_timeout_seconds() -> u64 {
        60
    }
    pub fn thumbnail_timeout_seconds() -> u64 {
        300
    }
    pub fn transcode_timeout_seconds() -> u64 {
        3 * 3600
    }
    pub fn audio_ladder() -> String {
        "aac:160,opus:64,opus:128,opus:192".into()
    }
    pub fn loudness_target_lufs() -> f64 {
        -14.0
    }
    pub fn waveform_samples_per_pixel() -> u32 {
        256
    }
    pub fn segment_seconds() -> f64 {
        6.0
    }
    pub fn max_audio_bytes() -> u64 {
        4 << 30
    }
    pub fn max_audio_seconds() -> f64 {
        4.0 * 3600.0
    }
    pub fn thumbnail_sizes() -> String {
        "160,320,640,1280".to_owned()
    }
    pub fn thumbnail_jpeg_quality() -> u8 {
        82
    }
    pub fn thumbnail_webp_quality() -> f32 {
        80.0
    }
    /// AVIF is opt-in: it costs far more CPU per thumbnail than JPEG and WebP together.
    pub fn thumbnail_formats() -> String {
        "jpeg,webp".to_owned()
    }
    pub fn thumbnail_avif_quality() -> f32 {
        veza_jobs::thumbnail::ThumbnailSettings::default().avif_quality
    }
    pub fn thumbnail_avif_speed() -> u8 {
        veza_jobs::thumbnail::ThumbnailSettings::default().avif_speed
    }
    pub fn max_image_alloc_bytes() -> u64 {
        512 * 1024 * 1024
    }
    pub fn max_image_bytes() -> u64 {
        64 * 1024 * 1024
    }
    pub fn max_image_pixels() -> u64 {
        50_000_000
    }
}

/// How many jobs of each kind one worker process runs at once.
#[derive(Debug, Clone, Copy)]
pub struct Concurrency {
    /// `VEZA_EMAIL_CONCURRENCY` (default 4).
    pub email: usize,
    /// `VEZA_THUMBNAIL_CONCURRENCY` (default 2).
    pub thumbnail: usize,
    /// `VEZA_TRANSCODE_CONCURRENCY` (default 2).
    pub transcode: usize,
    /// `VEZA_CANARY_CONCURRENCY` (default 32).
    pub canary: usize,
}

/// Periodic maintenance settings.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Repair schedule (`VEZA_REPAIR_SCHEDULE`, cron with seconds, default every 15 minutes).
    pub repair_schedule: cron::Schedule,
    /// Prune schedule (`VEZA_PRUNE_SCHEDULE`, default hourly on the hour).
    pub prune_schedule: cron::Schedule,
    /// Orphan cleanup schedule (`VEZA_ORPHANS_SCHEDULE`, default hourly at half past).
    pub orphans_schedule: cron::Schedule,
    /// How long finished jobs stay queryable (`VEZA_JOB_RETENTION_SECONDS`, default 7 days).
    pub job_retention: Duration,
    /// Objects younger than this are never deleted as orphans (`VEZA_ORPHAN_GRACE_SECONDS`,
    /// default 24 h; must exceed every job timeout).
    pub orphan_grace: Duration,
    /// Items repair looks at per run (`VEZA_REPAIR_BATCH`, default 100).
    pub repair_batch: i64,
}

/// Attempt time limits per job kind.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Email.
    pub email: Duration,
    /// Thumbnail.
    pub thumbnail: Duration,
    /// Transcode.
    pub transcode: Duration,
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
    /// Per-queue concurrency.
    pub concurrency: Concurrency,
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
    /// Per-kind attempt time limits (`VEZA_{EMAIL,THUMBNAIL,TRANSCODE}_TIMEOUT_SECONDS`, defaults
    /// 60, 300, 10800).
    pub timeouts: Timeouts,
    /// Overrides every kind's first retry delay (`VEZA_RETRY_BASE_MS`); for tests and tuning.
    pub retry_base: Option<Duration>,
    /// Periodic maintenance.
    pub maintenance: MaintenanceConfig,
    /// Where `/metrics` is served (`VEZA_METRICS_LISTEN`; default `127.0.0.1:0`, a free port
    /// that the worker logs at start — set a fixed one for Prometheus).
    pub metrics_listen: std::net::SocketAddr,
    /// The bearer token a scrape of `/metrics` must carry (`VEZA_METRICS_TOKEN`, at least 16
    /// bytes); unset, anyone who reaches the listener may scrape.
    pub metrics_token: Option<String>,
    /// Audio transcoding (`VEZA_AUDIO_LADDER`, `VEZA_SEGMENT_SECONDS`, `VEZA_MAX_AUDIO_SECONDS`).
    pub transcode: TranscodeSettings,
    /// Thumbnails (`VEZA_THUMBNAIL_SIZES`, `VEZA_THUMBNAIL_FORMATS`, `VEZA_THUMBNAIL_*_QUALITY`,
    /// `VEZA_THUMBNAIL_AVIF_SPEED`, `VEZA_MAX_IMAGE_BYTES`, `VEZA_MAX_IMAGE_PIXELS`).
    pub thumbnail: ThumbnailSettings,
}

impl WorkerConfig {
    /// Loads from the environment (and `VEZA_CONFIG` when set), validating every value.
    pub fn load() -> Result<Self, Vec<String>> {
        let mut figment = Figment::new();
        if let Ok(path) = std::env::var("VEZA_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let raw: RawConfig = figment
            .merge(Env::prefixed("VEZA_").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url"]))
            .extract()
            .map_err(|err| {
                err.into_iter()
                    .map(|e| format!("configuration: {e}"))
                    .collect::<Vec<_>>()
            })?;
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<WorkerConfig, Vec<String>> {
        let mut problems = Vec::new();
        let database_url = self.database_url.clone().unwrap_or_else(|| {
            problems.push("DATABASE_URL is required (e.g. postgres://postgres@127.0.0.1:5432/veza)".into());
            String::new()
        });
        let storage = self.storage.validate(&self.data_dir, &mut problems);
        let mailer = match self.smtp_url.clone().filter(|u| !u.is_empty()) {
            Some(url) => MailerConfig::Smtp {
                url,
                credentials: match (self.smtp_username.clone(), self.smtp_password.clone()) {
                    (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
                    (None, None) => None,
                    _ => {
                        problems.push("VEZA_SMTP_USERNAME and VEZA_SMTP_PASSWORD go together".into());
                        None
                    }
                },
                timeout: Duration::from_secs(self.smtp_timeout_seconds.max(1)),
            },
            None => MailerConfig::Outbox(
                self.outbox_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("outbox")),
            ),
        };
        for (name, value) in [
            ("VEZA_EMAIL_CONCURRENCY", self.email_concurrency),
            ("VEZA_THUMBNAIL_CONCURRENCY", self.thumbnail_concurrency),
            ("VEZA_TRANSCODE_CONCURRENCY", self.transcode_concurrency),
            ("VEZA_CANARY_CONCURRENCY", self.canary_concurrency),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        for (name, value) in [
            ("VEZA_EMAIL_TIMEOUT_SECONDS", self.email_timeout_seconds),
            ("VEZA_THUMBNAIL_TIMEOUT_SECONDS", self.thumbnail_timeout_seconds),
            ("VEZA_TRANSCODE_TIMEOUT_SECONDS", self.transcode_timeout_seconds),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        let mut schedule = |name: &str, expression: &str| {
            cron::Schedule::from_str(expression)
                .map_err(|err| {
                    problems.push(format!(
                        "{name} is not a cron schedule (`sec min hour day month weekday`): {err}"
                    ))
                })
                .ok()
        };
        let repair_schedule = schedule("VEZA_REPAIR_SCHEDULE", &self.repair_schedule);
        let prune_schedule = schedule("VEZA_PRUNE_SCHEDULE", &self.prune_schedule);
        let orphans_schedule = schedule("VEZA_ORPHANS_SCHEDULE", &self.orphans_schedule);
        let longest_timeout = self
            .email_timeout_seconds
            .max(self.thumbnail_timeout_seconds)
            .max(self.transcode_timeout_seconds);
        if self.orphan_grace_seconds <= longest_timeout {
            problems.push(format!(
                "VEZA_ORPHAN_GRACE_SECONDS ({}) must be longer than the longest job timeout ({longest_timeout} s), \
                 or a generation still being written could be deleted",
                self.orphan_grace_seconds
            ));
        }
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
        if self.email_recipient_limit == 0 || self.email_recipient_window_seconds == 0 {
            problems.push(
                "VEZA_EMAIL_RECIPIENT_LIMIT and VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS must be positive".into(),
            );
        }
        if self.email_recipient_window_seconds > self.job_retention_seconds {
            problems.push(format!(
                "VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS ({}) must not exceed VEZA_JOB_RETENTION_SECONDS ({}): \
                 the delivery log it counts is pruned at the retention",
                self.email_recipient_window_seconds, self.job_retention_seconds
            ));
        }
        if self.verify_token_ttl_seconds == 0 || self.reset_token_ttl_seconds == 0 {
            problems.push(
                "VEZA_VERIFY_TOKEN_TTL_SECONDS and VEZA_RESET_TOKEN_TTL_SECONDS must be positive".into(),
            );
        }
        if self.repair_batch < 1 {
            problems.push("VEZA_REPAIR_BATCH must be at least 1".into());
        }
        if self.poll_interval_ms < 10 {
            problems.push(format!(
                "VEZA_POLL_INTERVAL_MS must be at least 10, not {}",
                self.poll_interval_ms
            ));
        }
        if self.heartbeat_seconds == 0 || self.missed_heartbeats == 0 {
            problems.push("VEZA_HEARTBEAT_SECONDS and VEZA_MISSED_HEARTBEATS must be positive".into());
        }
        let ladder = Rendition::parse_ladder(&self.audio_ladder)
            .map_err(|err| problems.push(format!("VEZA_AUDIO_LADDER: {err}")))
            .unwrap_or_default();
        if !(-70.0..=0.0).contains(&self.loudness_target_lufs) {
            problems.push("VEZA_LOUDNESS_TARGET_LUFS must be within -70–0".into());
        }
        if !(32..=65_536).contains(&self.waveform_samples_per_pixel) {
            problems.push("VEZA_WAVEFORM_SAMPLES_PER_PIXEL must be within 32–65536".into());
        }
        if !(1.0..=30.0).contains(&self.segment_seconds) {
            problems.push("VEZA_SEGMENT_SECONDS must be within 1–30".into());
        }
        if self.max_audio_seconds <= 0.0 {
            problems.push("VEZA_MAX_AUDIO_SECONDS must be positive".into());
        }
        let sizes: Result<Vec<u32>, _> = self
            .thumbnail_sizes
            .split(',')
            .map(|s| s.trim().parse::<u32>())
            .collect();
        let sizes = match sizes {
            Ok(sizes) if !sizes.is_empty() && sizes.iter().all(|s| (1..=8192).contains(s)) => sizes,
            _ => {
                problems.push(format!(
                    "VEZA_THUMBNAIL_SIZES must be a comma-separated list of sizes 1–8192, not `{}`",
                    self.thumbnail_sizes
                ));
                Vec::new()
            }
        };
        if !(0.0..=100.0).contains(&self.thumbnail_webp_quality) {
            problems.push("VEZA_THUMBNAIL_WEBP_QUALITY must be within 0–100".into());
        }
        if !(1..=100).contains(&self.thumbnail_jpeg_quality) {
            problems.push("VEZA_THUMBNAIL_JPEG_QUALITY must be within 1–100".into());
        }
        if !(1.0..=100.0).contains(&self.thumbnail_avif_quality) {
            problems.push("VEZA_THUMBNAIL_AVIF_QUALITY must be within 1–100".into());
        }
        if !(1..=10).contains(&self.thumbnail_avif_speed) {
            problems.push("VEZA_THUMBNAIL_AVIF_SPEED must be within 1–10".into());
        }
        let formats = parse_thumbnail_formats(&self.thumbnail_formats).unwrap_or_else(|| {
            problems.push(format!(
                "VEZA_THUMBNAIL_FORMATS must be a comma-separated list of distinct formats from \
                 jpeg, webp, avif, not `{}`",
                self.thumbnail_formats
            ));
            Vec::new()
        });
        let maintenance = match (repair_schedule, prune_schedule, orphans_schedule) {
            (Some(repair_schedule), Some(prune_schedule), Some(orphans_schedule)) => {
                Some(MaintenanceConfig {
                    repair_schedule,
                    prune_schedule,
                    orphans_schedule,
                    job_retention: Duration::from_secs(self.job_retention_seconds),
                    orphan_grace: Duration::from_secs(self.orphan_grace_seconds),
                    repair_batch: self.repair_batch,
                })
            }
            _ => None,
        };
        match (storage, maintenance) {
            (Some(storage), Some(maintenance)) if problems.is_empty() => Ok(WorkerConfig {
                maintenance,
                metrics_listen,
                metrics_token: self.metrics_token,
                database_url,
                storage,
                mailer,
                email_policy: EmailPolicy {
                    recipient_limit: self.email_recipient_limit,
                    recipient_window: Duration::from_secs(self.email_recipient_window_seconds),
                    verify_valid_for: Duration::from_secs(self.verify_token_ttl_seconds),
                    reset_valid_for: Duration::from_secs(self.reset_token_ttl_seconds),
                    media_emails: self.media_emails,
                },
                email_from: self.email_from,
                public_url: self.public_url,
                scratch_dir: self.scratch_dir.unwrap_or_else(|| self.data_dir.join("scratch")),
                cpu_threads: self
                    .cpu_threads
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
                concurrency: Concurrency {
                    email: self.email_concurrency,
                    thumbnail: self.thumbnail_concurrency,
                    transcode: self.transcode_concurrency,
                    canary: self.canary_concurrency,
                },
                heartbeat_interval: Duration::from_secs(self.heartbeat_seconds),
                poll_interval: Duration::from_millis(self.poll_interval_ms),
                missed_heartbeats: self.missed_heartbeats,
                shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
                timeouts: Timeouts {
                    email: Duration::from_secs(self.email_timeout_seconds),
                    thumbnail: Duration::from_secs(self.thumbnail_timeout_seconds),
                    transcode: Duration::from_secs(self.transcode_timeout_seconds),
                },
                retry_base: self.retry_base_ms.map(Duration::from_millis),
                transcode: TranscodeSettings {
                    ladder,
                    loudness_target: GainTarget {
                        target_lufs: self.loudness_target_lufs,
                        ..GainTarget::default()
                    },
                    waveform: WaveformSettings {
                        samples_per_pixel: self.waveform_samples_per_pixel,
                        ..WaveformSettings::default()
                    },
                    segment_seconds: self.segment_seconds,
                    max_duration_seconds: self.max_audio_seconds,
                    max_input_bytes: self.max_audio_bytes,
                },
                thumbnail: ThumbnailSettings {
                    sizes,
                    jpeg_quality: self.thumbnail_jpeg_quality,
                    webp_quality: self.thumbnail_webp_quality,
                    formats,
                    avif_quality: self.thumbnail_avif_quality,
                    avif_speed: self.thumbnail_avif_speed,
                    max_alloc_bytes: self.max_image_alloc_bytes,
                    max_input_bytes: self.max_image_bytes,
                    max_input_pixels: self.max_image_pixels,
                },
            }),
            _ => Err(problems),
        }
    }
}

/// `jpeg,webp,avif` (any order, no repeats, at least one) as formats; `None` when invalid.
fn parse_thumbnail_formats(list: &str) -> Option<Vec<veza_jobs::thumbnail::Format>> {
    let mut formats = Vec::new();
    for name in list.split(',') {
        let format = veza_jobs::thumbnail::Format::from_name(name)?;
        if formats.contains(&format) {
            return None;
        }
        formats.push(format);
    }
    (!formats.is_empty()).then_some(formats)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{RawConfig, parse_thumbnail_formats};
    use figment::{Figment, providers::Format as _, providers::Toml};
    use veza_jobs::thumbnail::Format;

    fn validate(toml: &str) -> Result<(), Vec<String>> {
        let raw: RawConfig = Figment::new()
            .merge(Toml::string(toml))
            .extract()
            .map_err(|err| vec![err.to_string()])?;
        raw.validate().map(|_| ())
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

    #[test]
    fn thumbnail_formats_are_a_list_of_distinct_known_names() {
        assert_eq!(
            parse_thumbnail_formats("jpeg,webp"),
            Some(vec![Format::Jpeg, Format::Webp])
        );
        assert_eq!(
            parse_thumbnail_formats(" AVIF , jpg "),
            Some(vec![Format::Avif, Format::Jpeg])
        );
        assert_eq!(parse_thumbnail_formats("jpeg,jpeg"), None);
        assert_eq!(parse_thumbnail_formats("png"), None);
        assert_eq!(parse_thumbnail_formats(""), None);
    }
}
