//! What every job handler gets: the pool, the store, the mailer and the settings.

use std::path::PathBuf;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    cpu::CpuPool, email::Mailer, lease::Lease, storage::Storage, thumbnail::ThumbnailSettings,
    transcode::TranscodeSettings,
};

/// One attempt of one job: its id, the lease that fences what it publishes, and the token that
/// asks it to stop (checked at the handler's checkpoints).
#[derive(Debug, Clone)]
pub struct JobRun {
    /// The job id (the same for every attempt).
    pub id: Uuid,
    /// The worker's hold on the job.
    pub lease: Lease,
    /// Cancelled when the attempt must stop early.
    pub cancel: CancellationToken,
}

/// Shared, cheap-to-clone handles and settings for job handlers.
#[derive(Clone)]
pub struct JobContext {
    /// Postgres.
    pub pool: PgPool,
    /// Object storage.
    pub storage: Storage,
    /// Email transport.
    pub mailer: Mailer,
    /// Where decoding and encoding run, bounded.
    pub cpu: CpuPool,
    /// Handler settings.
    pub settings: JobSettings,
}

/// Settings of the handlers.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Sender of every email, e.g. `Veza <noreply@veza.local>`.
    pub email_from: String,
    /// The URL users reach Veza at, for links in emails.
    pub public_url: String,
    /// Folder for temporary local copies of originals.
    pub scratch_dir: PathBuf,
    /// Audio transcode settings.
    pub transcode: TranscodeSettings,
    /// Thumbnail settings.
    pub thumbnail: ThumbnailSettings,
}
