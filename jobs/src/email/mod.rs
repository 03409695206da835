//! The email job: render a message and deliver it (SMTP when configured, else an outbox folder).

mod deliver;
mod render;

pub use deliver::{Mailer, MailerConfig};
pub use render::render;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    context::JobContext,
    error::JobError,
    queue::{self, EnqueueError, JobKind, JobOwner},
};

/// The queue name.
pub const QUEUE: &str = "email";
/// Attempts before the job is dead (SMTP outages are transient).
pub const MAX_ATTEMPTS: usize = 5;

/// The payload of an email job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "kebab-case")]
pub enum EmailJob {
    /// Sent once when an account is created.
    Welcome {
        /// The new user.
        user_id: Uuid,
        /// Where to send it.
        to: String,
    },
}

/// Enqueues an email job on the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, user_id: Uuid, job: &EmailJob) -> Result<Uuid, EnqueueError> {
    let owner = JobOwner {
        user_id,
        media_id: None,
    };
    queue::enqueue(conn, JobKind::Email, owner, job, MAX_ATTEMPTS).await
}

/// Renders and delivers the message. The Message-ID is derived from the job id, and the outbox
/// file is named by it, so a re-run after a crash rewrites the same file instead of adding one.
pub async fn handle(ctx: &JobContext, job_id: Uuid, job: EmailJob) -> Result<(), JobError> {
    let message = render::render(&ctx.settings.email_from, &ctx.settings.public_url, job_id, &job)?;
    ctx.mailer.deliver(job_id, message).await
}
