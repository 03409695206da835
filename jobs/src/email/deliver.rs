//! Delivery through lettre: SMTP when a URL is configured, otherwise `.eml` files in an outbox.

use std::path::PathBuf;

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::error::JobError;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailerConfig {
    /// An SMTP relay, as a lettre URL (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`).
    Smtp(String),
    /// A folder of `.eml` files (the local default).
    Outbox(PathBuf),
}

/// A ready-to-use transport.
#[derive(Clone)]
pub enum Mailer {
    /// SMTP relay.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Outbox folder.
    Outbox(PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the SMTP URL: it may carry credentials.
        match self {
            Self::Smtp(_) => f.write_str("Mailer::Smtp"),
            Self::Outbox(dir) => write!(f, "Mailer::Outbox({})", dir.display()),
        }
    }
}

impl Mailer {
    /// Builds the transport; the outbox folder is created when missing.
    pub fn open(config: &MailerConfig) -> Result<Self, String> {
        match config {
            MailerConfig::Smtp(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|builder| Self::Smtp(builder.build()))
                .map_err(|err| format!("VEZA_SMTP_URL is not a valid SMTP URL: {err}")),
            MailerConfig::Outbox(dir) => std::fs::create_dir_all(dir)
                .map(|()| Self::Outbox(dir.clone()))
                .map_err(|err| format!("creating the outbox {}: {err}", dir.display())),
        }
    }

    /// Delivers `message`. SMTP 5xx replies are permanent, everything else retries.
    pub async fn deliver(&self, job_id: Uuid, message: Message) -> Result<(), JobError> {
        match self {
            Self::Smtp(transport) => match transport.send(message).await {
                Ok(_) => Ok(()),
                Err(err) if err.is_permanent() => Err(JobError::permanent(
                    "smtp-rejected",
                    format!("the SMTP server rejected the message: {err}"),
                )),
                Err(err) => Err(JobError::transient("smtp-unavailable", err.to_string())),
            },
            Self::Outbox(dir) => {
                // Written under a temporary name and renamed, so a reader never sees half a file
                // and a re-run replaces the same `{job_id}.eml`.
                let tmp = dir.join(format!(".{job_id}.eml.tmp"));
                let path = dir.join(format!("{job_id}.eml"));
                let write = async {
                    tokio::fs::write(&tmp, message.formatted()).await?;
                    tokio::fs::rename(&tmp, &path).await
                };
                write
                    .await
                    .map_err(|err| JobError::transient("outbox-unwritable", err.to_string()))
            }
        }
    }
}
