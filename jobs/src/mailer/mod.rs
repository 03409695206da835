//! The mail transport every job may use (the platform's, not one kind's): delivery through
//! lettre, SMTP when a URL is configured, otherwise `.eml` files in an outbox.
//!
//! How an SMTP failure is classified (the worker's runner turns a transient error into a retry
//! scheduled with backoff, capped in attempts, and a permanent one into a failed job):
//! - `4xx` replies, connection failures and timeouts: transient (`smtp-unavailable`);
//! - a `5xx` reply to RCPT or DATA: permanent (`smtp-rejected`), the server's reply recorded;
//! - authentication refused (`530`, `534`, `535`, `538`) and TLS failures: our configuration's
//!   fault, not the message's. They retry like an outage (mail waits, never dropped) and raise
//!   an operator-visible error: an error log line and `veza_email_config_faults{fault}`.

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, transport::smtp::authentication::Credentials,
};
use uuid::Uuid;

pub mod metrics;

use crate::error::{ErrorCode, JobError};
use metrics::DeliveryMetrics;

/// SMTP credentials (`VEZA_SMTP_USERNAME`, `VEZA_SMTP_PASSWORD`).
#[derive(Clone)]
pub struct SmtpCredentials {
    /// User name.
    pub username: String,
    /// Password (never printed).
    pub password: String,
}

impl std::fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpCredentials({}, ***)", self.username)
    }
}

/// Where mail goes.
#[derive(Clone)]
pub enum MailerConfig {
    /// An SMTP relay.
    Smtp {
        /// A lettre URL: `smtp://host:25` (plain), `smtp://host:587?tls=required` (STARTTLS,
        /// required), `smtp://host:587?tls=opportunistic`, `smtps://host:465` (implicit TLS).
        url: String,
        /// Credentials, when the relay wants them (they may also be in the URL).
        credentials: Option<SmtpCredentials>,
        /// How long one SMTP conversation may take.
        timeout: Duration,
    },
    /// A folder of `.eml` files (the local default).
    Outbox(PathBuf),
}

impl std::fmt::Debug for MailerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the SMTP URL: it may carry credentials.
        match self {
            Self::Smtp { credentials, .. } => write!(f, "MailerConfig::Smtp({credentials:?})"),
            Self::Outbox(dir) => write!(f, "MailerConfig::Outbox({})", dir.display()),
        }
    }
}

impl MailerConfig {
    /// SMTP at `url`, no separate credentials, a 30 s timeout.
    pub fn smtp(url: impl Into<String>) -> Self {
        Self::Smtp {
            url: url.into(),
            credentials: None,
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// A ready-to-use transport, with its delivery metrics.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    metrics: DeliveryMetrics,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.transport {
            Transport::Smtp(_) => f.write_str("Mailer::Smtp"),
            Transport::Outbox(dir) => write!(f, "Mailer::Outbox({})", dir.display()),
        }
    }
}

impl Mailer {
    /// Builds the transport (the outbox folder is created when missing), with unregistered
    /// metrics.
    pub fn open(config: &MailerConfig) -> Result<Self, String> {
        let transport = match config {
            MailerConfig::Smtp {
                url,
                credentials,
                timeout,
            } => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|err| format!("VEZA_SMTP_URL is not a valid SMTP URL: {err}"))?
                    .timeout(Some(*timeout));
                if let Some(credentials) = credentials {
                    builder = builder.credentials(Credentials::new(
                        credentials.username.clone(),
                        credentials.password.clone(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
            MailerConfig::Outbox(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|err| format!("creating the outbox {}: {err}", dir.display()))?;
                Transport::Outbox(dir.clone())
            }
        };
        Ok(Self {
            transport,
            metrics: DeliveryMetrics::default(),
        })
    }

    /// The same mailer counting into `metrics`.
    pub fn with_metrics(self, metrics: DeliveryMetrics) -> Self {
        Self { metrics, ..self }
    }

    /// The delivery metrics.
    pub fn metrics(&self) -> &DeliveryMetrics {
        &self.metrics
    }

    /// Delivers `message` and returns the server's reply. See the module comment for how a
    /// failure is classified.
    pub async fn deliver(&self, job_id: Uuid, message: Message) -> Result<String, JobError> {
        match &self.transport {
            Transport::Smtp(transport) => match transport.send(message).await {
                Ok(response) => Ok(format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                )),
                Err(err) => Err(self.classify(job_id, &err)),
            },
            Transport::Outbox(dir) => {
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
                    .map(|()| format!("written to {}", path.display()))
                    .map_err(|err| {
                        JobError::with_message(
                            ErrorCode::OutboxUnwritable,
                            "the mail outbox could not be written",
                        )
                        .with_cause(err)
                    })
            }
        }
    }

    fn classify(&self, job_id: Uuid, err: &lettre::transport::smtp::Error) -> JobError {
        let code = err.status().map(|code| code.to_string());
        let fault = match code.as_deref() {
            Some("530" | "534" | "535" | "538") => Some(("auth", ErrorCode::SmtpAuthFailed)),
            _ if err.is_tls() || caused_by_tls(err) => Some(("tls", ErrorCode::SmtpTlsFailed)),
            _ => None,
        };
        if let Some((fault, code)) = fault {
            self.metrics.config_fault(fault);
            tracing::error!(
                %job_id, fault, error = %err,
                "SMTP {fault} failed: check VEZA_SMTP_URL and the SMTP credentials; mail waits and retries until fixed"
            );
            return JobError::new(code).with_cause(err);
        }
        if err.is_permanent() {
            JobError::with_message(ErrorCode::SmtpRejected, "the mail server refused the message")
                .with_cause(err)
        } else {
            JobError::with_message(ErrorCode::SmtpUnavailable, "the mail relay could not be reached")
                .with_cause(err)
        }
    }
}

/// Whether a rustls error is among the causes: lettre reports a failed TLS handshake (a server
/// that does not speak TLS, a certificate that does not verify) as a connection error whose cause
/// is an I/O error wrapping the rustls error.
fn caused_by_tls(err: &lettre::transport::smtp::Error) -> bool {
    let mut cause = std::error::Error::source(err);
    while let Some(current) = cause {
        if current.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        cause = current.source();
    }
    false
}
