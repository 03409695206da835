//! The email kind's section: the transport (SMTP or the outbox folder), the sender and link
//! base, the per-recipient limit and the account links' lifetimes.

use std::{path::Path, path::PathBuf, time::Duration};

use serde::Deserialize;
use veza_jobs::{
    email::EmailPolicy,
    mailer::{MailerConfig, SmtpCredentials},
};

#[derive(Debug, Deserialize)]
pub(super) struct RawEmail {
    smtp_url: Option<String>,
    #[serde(default, deserialize_with = "super::optional_text")]
    smtp_username: Option<String>,
    #[serde(default, deserialize_with = "super::optional_text")]
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
    #[serde(default = "defaults::email_from", deserialize_with = "super::text")]
    email_from: String,
    #[serde(default = "defaults::public_url", deserialize_with = "super::text")]
    public_url: String,
}

mod defaults {
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
}

/// The validated email section.
pub(super) struct EmailSection {
    pub mailer: MailerConfig,
    pub policy: EmailPolicy,
    pub email_from: String,
    pub public_url: String,
}

impl RawEmail {
    /// The section, or problems added to `problems`. The outbox defaults to `{data_dir}/outbox`;
    /// the recipient window may not outlast the delivery log it counts (pruned at
    /// `job_retention_seconds`).
    pub(super) fn validate(
        self,
        data_dir: &Path,
        job_retention_seconds: u64,
        problems: &mut Vec<String>,
    ) -> EmailSection {
        let mailer = match self.smtp_url.filter(|u| !u.is_empty()) {
            Some(url) => MailerConfig::Smtp {
                url,
                credentials: match (self.smtp_username, self.smtp_password) {
                    (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
                    (None, None) => None,
                    _ => {
                        problems.push("VEZA_SMTP_USERNAME and VEZA_SMTP_PASSWORD go together".into());
                        None
                    }
                },
                timeout: Duration::from_secs(self.smtp_timeout_seconds.max(1)),
            },
            None => MailerConfig::Outbox(self.outbox_dir.unwrap_or_else(|| data_dir.join("outbox"))),
        };
        if self.email_recipient_limit == 0 || self.email_recipient_window_seconds == 0 {
            problems.push(
                "VEZA_EMAIL_RECIPIENT_LIMIT and VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS must be positive".into(),
            );
        }
        if self.email_recipient_window_seconds > job_retention_seconds {
            problems.push(format!(
                "VEZA_EMAIL_RECIPIENT_WINDOW_SECONDS ({}) must not exceed VEZA_JOB_RETENTION_SECONDS ({}): \
                 the delivery log it counts is pruned at the retention",
                self.email_recipient_window_seconds, job_retention_seconds
            ));
        }
        if self.verify_token_ttl_seconds == 0 || self.reset_token_ttl_seconds == 0 {
            problems.push(
                "VEZA_VERIFY_TOKEN_TTL_SECONDS and VEZA_RESET_TOKEN_TTL_SECONDS must be positive".into(),
            );
        }
        EmailSection {
            mailer,
            policy: EmailPolicy {
                recipient_limit: self.email_recipient_limit,
                recipient_window: Duration::from_secs(self.email_recipient_window_seconds),
                verify_valid_for: Duration::from_secs(self.verify_token_ttl_seconds),
                reset_valid_for: Duration::from_secs(self.reset_token_ttl_seconds),
                media_emails: self.media_emails,
            },
            email_from: self.email_from,
            public_url: self.public_url,
        }
    }
}
