//! The email job: decide whether to send (delivery log, opt-out, per-recipient rate limit),
//! render the message from the templates, deliver it (SMTP when configured, else an outbox
//! folder) and record the delivery.
//!
//! - [`render`]: templates (`jobs/templates/email/`), plain text and HTML, escaped by default.
//! - delivery through the platform's transport ([`crate::mailer`]: SMTP failures classified
//!   there), under this kind's [`EmailPolicy`] (rate limit, link lifetimes) from its settings.
//! - [`EmailJob`]: the payload, one variant per template, and its [`Category`].
//! - [`deliveries`]: the delivery log that makes a re-run send nothing.
//! - account tokens and unsubscribe links come from [`crate::accounts`].
//! - [`media`]: the media ready / failed emails the worker enqueues when a media job settles.

pub mod deliveries;
mod job;
pub mod media;
mod render;

pub use job::{Category, EmailJob};
pub use render::{Links, render};

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::accounts::{
    links,
    tokens::{self, TokenPurpose},
};
use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    queue::{self, EnqueueError, JobOwner},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "email";
/// The email kind.
pub struct EmailKind;

impl Kind for EmailKind {
    const QUEUE: &'static str = QUEUE;
    /// SMTP outages are transient and can last, so more attempts, longer waits.
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(3600),
    };
    const TIMEOUT: Duration = Duration::from_secs(60);
    const CONCURRENCY: usize = 4;
    const ABOUT: &'static str = "sends one email: account links, welcome, media notices";
    type Payload = EmailJob;

    /// Emails are short: the batch, not the concurrency, sets their throughput (docs/queue.md).
    fn batch_size(_concurrency: usize) -> usize {
        10
    }

    async fn handle(ctx: &JobContext, run: &JobRun, job: EmailJob) -> Result<(), JobError> {
        handle(ctx, run, job).await
    }
}

/// How much mail one address may get and how long account links work.
#[derive(Debug, Clone, Copy)]
pub struct EmailPolicy {
    /// Messages one address may get per window (`VEZA_EMAIL_RECIPIENT_LIMIT`, default 20).
    /// Over it, notifications are dropped (with a log line) and security mail waits.
    pub recipient_limit: u32,
    /// The window (`VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS`, default 3600).
    pub recipient_window: Duration,
    /// How long a verification link works (`VEZA_VERIFY_TOKEN_TTL_SECONDS`, default 24 h).
    pub verify_valid_for: Duration,
    /// How long a reset link works (`VEZA_RESET_TOKEN_TTL_SECONDS`, default 1 h).
    pub reset_valid_for: Duration,
    /// Whether settled media jobs mail their owner (`VEZA_MEDIA_EMAILS`, default true).
    pub media_emails: bool,
}

impl Default for EmailPolicy {
    fn default() -> Self {
        Self {
            recipient_limit: 20,
            recipient_window: Duration::from_secs(3600),
            verify_valid_for: Duration::from_secs(24 * 3600),
            reset_valid_for: Duration::from_secs(3600),
            media_emails: true,
        }
    }
}

/// The email kind's settings.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Sender of every email (`VEZA_EMAIL_FROM`).
    pub from: String,
    /// The URL users reach Veza at, for links in emails (`VEZA_PUBLIC_URL`).
    pub public_url: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            from: "Veza <noreply@veza.local>".into(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// Enqueues an email job on the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, user_id: Uuid, job: &EmailJob) -> Result<Uuid, EnqueueError> {
    let owner = JobOwner {
        user_id,
        media_id: None,
    };
    queue::enqueue::<EmailKind>(conn, owner, job, job.priority()).await
}

/// Sends the email of job `run` unless the delivery log says it was dealt with already.
///
/// Steps: the log (a re-run after a crash stops here) → opt-out (notifications) → the
/// recipient's rate limit → links (a fresh account token for security mail) → render → deliver →
/// record in the log right after the server's reply. See [`deliveries`] for the one duplicate window.
pub async fn handle(ctx: &JobContext, run: &JobRun, job: EmailJob) -> Result<(), JobError> {
    let pool = &ctx.pool;
    let mailer = &ctx.mailer;
    if let Some(outcome) = deliveries::recorded(pool, run.id).await? {
        tracing::info!(job_id = %run.id, outcome = %outcome, "email already dealt with: not sending again");
        return Ok(());
    }
    if job.category() == Category::Notification
        && let Some(skipped) = notification_withheld(pool, job.user_id()).await?
    {
        tracing::info!(job_id = %run.id, template = job.template(), outcome = skipped.as_str(), "notification not sent");
        deliveries::record(pool, &job.log_entry(run.id, skipped, None)).await?;
        mailer.metrics().delivery(skipped.as_str());
        return Ok(());
    }
    let policy = *ctx.settings.get::<EmailPolicy>();
    let sent = deliveries::sent_within(pool, job.recipient(), policy.recipient_window).await?;
    if sent >= i64::from(policy.recipient_limit) && !send_over_limit(ctx, run, &job).await? {
        return over_rate_limit(
            ctx,
            run,
            &job,
            job.log_entry(run.id, deliveries::Outcome::RateLimited, None),
        )
        .await;
    }
    let links = links_for(ctx, &job).await?;
    let message = render(&ctx.settings.get::<EmailSettings>().from, run.id, &job, &links)?;
    match mailer.deliver(run.id, message).await {
        Ok(reply) => {
            // Committed at once: from here on a re-run of this job sends nothing.
            deliveries::record(
                pool,
                &job.log_entry(run.id, deliveries::Outcome::Sent, Some(&reply)),
            )
            .await?;
            mailer.metrics().delivery("sent");
            Ok(())
        }
        Err(err) if err.code() == "smtp-rejected" => {
            // The delivery log (operators only) keeps the server's own reply; the job keeps
            // the public message.
            let reply = err.cause().unwrap_or("rejected").to_owned();
            deliveries::record(
                pool,
                &job.log_entry(run.id, deliveries::Outcome::Rejected, Some(&reply)),
            )
            .await?;
            mailer.metrics().delivery("rejected");
            Err(err)
        }
        Err(err) => {
            mailer.metrics().delivery("failed");
            Err(err)
        }
    }
}

/// Whether a message over the recipient's limit goes out all the same: only security mail on
/// the job's last attempt, so that waiting out the limit can never make it fail.
async fn send_over_limit(ctx: &JobContext, run: &JobRun, job: &EmailJob) -> Result<bool, sqlx::Error> {
    if job.category() != Category::Security {
        return Ok(false);
    }
    let attempt: Option<i32> = sqlx::query_scalar("select attempts from apalis.jobs where id = $1")
        .bind(crate::task_ids::task_id(run.id))
        .fetch_optional(&ctx.pool)
        .await?;
    // `attempts` counts the attempts settled before this one (apalis records the count when
    // it acknowledges an attempt).
    let last = attempt.is_some_and(|a| usize::try_from(a).unwrap_or(0) + 1 >= EmailKind::RETRY.max_attempts);
    if last {
        tracing::warn!(
            job_id = %run.id, template = job.template(),
            "recipient over the email rate limit, but security email is never dropped: sending on its last attempt"
        );
    }
    Ok(last)
}

/// Over the recipient's limit: a notification is dropped (logged), security mail waits. Waiting
/// is a transient failure, so the runner schedules a retry with backoff (10 s doubling to an
/// hour: about 20 minutes over the 8 attempts); the last attempt sends regardless.
async fn over_rate_limit(
    ctx: &JobContext,
    run: &JobRun,
    job: &EmailJob,
    entry: deliveries::Entry<'_>,
) -> Result<(), JobError> {
    match job.category() {
        Category::Notification => {
            tracing::warn!(
                job_id = %run.id, template = job.template(),
                "recipient over the email rate limit: notification dropped"
            );
            deliveries::record(&ctx.pool, &entry).await?;
            ctx.mailer.metrics().delivery("rate-limited");
            Ok(())
        }
        Category::Security => {
            tracing::warn!(
                job_id = %run.id, template = job.template(),
                "recipient over the email rate limit: security email deferred"
            );
            ctx.mailer.metrics().delivery("deferred");
            Err(JobError::with_message(
                ErrorCode::RecipientRateLimited,
                "the recipient got too many emails recently; this one waits",
            ))
        }
    }
}

/// Why a notification to `user_id` is not sent, if it is not: the user opted out, or nobody
/// has verified the address yet (only the verification link goes to an unverified address, so
/// registering someone else's address cannot be used to mail them).
async fn notification_withheld(
    pool: &PgPool,
    user_id: Uuid,
) -> Result<Option<deliveries::Outcome>, sqlx::Error> {
    let account = crate::users::notification_state(pool, user_id).await?;
    Ok(match account {
        // A deleted account gets no notifications.
        None | Some((true, _)) => Some(deliveries::Outcome::OptedOut),
        Some((false, false)) => Some(deliveries::Outcome::Unverified),
        Some((false, true)) => None,
    })
}

/// The links of `job`'s message. Security mail gets a fresh single-use token (a retry issues
/// another; unused ones simply expire); notifications get the signed unsubscribe link.
async fn links_for(ctx: &JobContext, job: &EmailJob) -> Result<Links, JobError> {
    let public_url = ctx
        .settings
        .get::<EmailSettings>()
        .public_url
        .trim_end_matches('/')
        .to_owned();
    let policy = ctx.settings.get::<EmailPolicy>();
    let token_link = |path: &str, token: String| format!("{public_url}/{path}?token={token}");
    let mut links = Links {
        public_url: public_url.clone(),
        ..Links::default()
    };
    match job {
        EmailJob::VerifyEmail { user_id, .. } => {
            let token = tokens::issue(
                &ctx.pool,
                *user_id,
                TokenPurpose::VerifyEmail,
                policy.verify_valid_for,
            )
            .await?;
            links.action_url = Some(token_link("verify", token));
            links.valid_for = Some(in_words(policy.verify_valid_for));
        }
        EmailJob::PasswordReset { user_id, .. } => {
            let token = tokens::issue(
                &ctx.pool,
                *user_id,
                TokenPurpose::ResetPassword,
                policy.reset_valid_for,
            )
            .await?;
            links.action_url = Some(token_link("reset", token));
            links.valid_for = Some(in_words(policy.reset_valid_for));
        }
        // The account is going: no link to it.
        EmailJob::AccountDeleted { .. } => {}
        EmailJob::Welcome { user_id, .. }
        | EmailJob::MediaReady { user_id, .. }
        | EmailJob::MediaFailed { user_id, .. } => {
            let key = links::LinkKey::load(&ctx.pool).await?;
            links.unsubscribe_url = Some(token_link("unsubscribe", key.unsubscribe_token(*user_id)));
        }
    }
    Ok(links)
}

/// `90 minutes`, `24 hours`, `2 days`.
fn in_words(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    match minutes {
        0..=1 => "1 minute".to_owned(),
        2..=119 => format!("{minutes} minutes"),
        _ if minutes < 48 * 60 => format!("{} hours", minutes / 60),
        _ => format!("{} days", minutes / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(in_words(Duration::from_secs(3600)), "60 minutes");
        assert_eq!(in_words(Duration::from_secs(24 * 3600)), "24 hours");
        assert_eq!(in_words(Duration::from_secs(3 * 24 * 3600)), "3 days");
    }
}
