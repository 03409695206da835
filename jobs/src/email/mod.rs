//! The email job: render a message and deliver it (SMTP when configured, else an outbox folder).

mod deliver;
mod render;

pub use deliver::{Mailer, MailerConfig};
pub use render::render;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::JobError,
    queue::{self, EnqueueError, JobKind, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "email";
/// Attempts and backoff: SMTP outages are transient and can last, so more attempts, longer waits.
pub const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base: Duration::from_secs(10),
    cap: Duration::from_secs(3600),
};

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

impl EmailJob {
    /// Mail a person is waiting for goes first.
    fn priority(&self) -> Priority {
        match self {
            // Read right after signing up.
            Self::Welcome { .. } => Priority::Interactive,
        }
    }
}

/// Enqueues an email job on the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, user_id: Uuid, job: &EmailJob) -> Result<Uuid, EnqueueError> {
    let owner = JobOwner {
        user_id,
        media_id: None,
    };
    queue::enqueue(
        conn,
        JobKind::Email,
        owner,
        job,
        RETRY.max_attempts,
        job.priority(),
    )
    .await
}

/// Renders and delivers the message. The Message-ID is derived from the job id, and the outbox
/// file is named by it, so a re-run after a crash rewrites the same file instead of adding one.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: EmailJob) -> Result<(), JobError> {
    let message = render::render(&ctx.settings.email_from, &ctx.settings.public_url, run.id, &job)?;
    ctx.mailer.deliver(run.id, message).await
}
