//! The delivery log: one row per email job, keyed by the job id, committed right after the SMTP
//! server accepted the message (or once the job decided not to send it). A job that runs again
//! — after a crash between the send and the acknowledgement — finds the row and sends nothing.
//!
//! The one window left: a crash after the server's `250` and before the row commits. The job
//! then runs again and the message goes out twice; both copies carry the same Message-ID (derived
//! from the job id), so mail clients and people can tell it is one message.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::Category;

/// What became of an email job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The SMTP server (or the outbox) accepted it.
    Sent,
    /// The SMTP server refused it for good (a 5xx reply to RCPT or DATA).
    Rejected,
    /// A notification over the recipient's rate limit: dropped.
    RateLimited,
    /// A notification to a user who opted out: not sent.
    OptedOut,
    /// A notification to an address nobody has verified yet: not sent.
    Unverified,
}

impl Outcome {
    /// The `email_deliveries.outcome` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Rejected => "rejected",
            Self::RateLimited => "rate-limited",
            Self::OptedOut => "opted-out",
            Self::Unverified => "unverified",
        }
    }
}

/// One row of the log.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The email job.
    pub job_id: Uuid,
    /// Its address.
    pub recipient: &'a str,
    /// Its template.
    pub template: &'a str,
    /// Security or notification.
    pub category: Category,
    /// What became of it.
    pub outcome: Outcome,
    /// The server's reply, when there was one.
    pub smtp_reply: Option<&'a str>,
}

/// The outcome already recorded for `job_id`, if any (as stored: `sent`, `rejected`, …).
pub async fn recorded(pool: &PgPool, job_id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select outcome from email_deliveries where job_id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await
}

/// Records what became of a job (first record wins).
pub async fn record(pool: &PgPool, entry: &Entry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into email_deliveries (job_id, recipient, recipient_key, template, category, outcome, smtp_reply)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (job_id) do nothing",
    )
    .bind(entry.job_id)
    .bind(entry.recipient)
    .bind(recipient_key(entry.recipient))
    .bind(entry.template)
    .bind(entry.category.as_str())
    .bind(entry.outcome.as_str())
    .bind(entry.smtp_reply)
    .execute(pool)
    .await?;
    Ok(())
}

/// Messages sent to the mailbox of `recipient` (by [`recipient_key`]) within the last `window`.
pub async fn sent_within(pool: &PgPool, recipient: &str, window: Duration) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from email_deliveries
          where recipient_key = $1 and outcome = 'sent' and created_at > now() - make_interval(secs => $2)",
    )
    .bind(recipient_key(recipient))
    .bind(window.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// The mailbox an address reaches, the key of the per-recipient limit: the address inside
/// `<…>` when there is a display name, lower case, without a `+tag` in the local part. So
/// `Ada <Ada+x@Example.com>` and `ada+y@example.com` count as one recipient.
pub fn recipient_key(address: &str) -> String {
    let address = match (address.rfind('<'), address.rfind('>')) {
        (Some(open), Some(close)) if open < close => &address[open + 1..close],
        _ => address,
    };
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(mailbox, _tag)| mailbox);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::recipient_key;

    #[test]
    fn tags_case_and_display_names_do_not_make_another_recipient() {
        for form in [
            "ada@example.com",
            "Ada@Example.COM",
            "ada+news@example.com",
            "ada+a+b@example.com",
            "<ada+x@example.com>",
            "Ada Lovelace <ADA+y@example.com>",
            "  ada@example.com ",
        ] {
            assert_eq!(recipient_key(form), "ada@example.com", "{form}");
        }
        assert_eq!(recipient_key("bob@example.com"), "bob@example.com");
        assert_ne!(recipient_key("ada@example.org"), "ada@example.com");
    }
}
