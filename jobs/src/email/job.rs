//! The email job's payload: one variant per template, each with what its message needs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::deliveries;
use crate::queue::Priority;

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
    /// A link that proves the user reads the address (`/verify?token=…`).
    VerifyEmail {
        /// The user.
        user_id: Uuid,
        /// The address to verify.
        to: String,
    },
    /// A link to choose a new password (`/reset?token=…`).
    PasswordReset {
        /// The user.
        user_id: Uuid,
        /// The account's address.
        to: String,
    },
    /// The last email of an account deleted at its owner's request (sent before the purge
    /// removes the account's rows).
    AccountDeleted {
        /// The deleted account.
        user_id: Uuid,
        /// Its address.
        to: String,
    },
    /// An upload finished processing.
    MediaReady {
        /// The owner.
        user_id: Uuid,
        /// The owner's address.
        to: String,
        /// The item.
        media_id: Uuid,
        /// Its original file name, if known.
        name: Option<String>,
    },
    /// An upload could not be processed.
    MediaFailed {
        /// The owner.
        user_id: Uuid,
        /// The owner's address.
        to: String,
        /// The item.
        media_id: Uuid,
        /// Its original file name, if known.
        name: Option<String>,
        /// The readable reason (the job's error message).
        reason: String,
    },
}

/// Security mail is never dropped nor opted out of; notification mail may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Verification, password reset, account deletion.
    Security,
    /// Welcome and media outcomes.
    Notification,
}

impl Category {
    /// The `email_deliveries.category` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Security => "security",
            Self::Notification => "notification",
        }
    }
}

impl EmailJob {
    /// The user the email is for.
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::Welcome { user_id, .. }
            | Self::VerifyEmail { user_id, .. }
            | Self::PasswordReset { user_id, .. }
            | Self::AccountDeleted { user_id, .. }
            | Self::MediaReady { user_id, .. }
            | Self::MediaFailed { user_id, .. } => *user_id,
        }
    }

    /// The address it goes to.
    pub fn recipient(&self) -> &str {
        match self {
            Self::Welcome { to, .. }
            | Self::VerifyEmail { to, .. }
            | Self::PasswordReset { to, .. }
            | Self::AccountDeleted { to, .. }
            | Self::MediaReady { to, .. }
            | Self::MediaFailed { to, .. } => to,
        }
    }

    /// The template name.
    pub fn template(&self) -> &'static str {
        match self {
            Self::Welcome { .. } => "welcome",
            Self::VerifyEmail { .. } => "verify-email",
            Self::PasswordReset { .. } => "password-reset",
            Self::AccountDeleted { .. } => "account-deleted",
            Self::MediaReady { .. } => "media-ready",
            Self::MediaFailed { .. } => "media-failed",
        }
    }

    /// The delivery log row of this email as job `job_id`.
    pub fn log_entry<'a>(
        &'a self,
        job_id: Uuid,
        outcome: deliveries::Outcome,
        smtp_reply: Option<&'a str>,
    ) -> deliveries::Entry<'a> {
        deliveries::Entry {
            job_id,
            recipient: self.recipient(),
            template: self.template(),
            category: self.category(),
            outcome,
            smtp_reply,
        }
    }

    /// Mail a person is waiting for goes first: security mail (a verification or reset link
    /// someone just asked for) before notifications.
    pub(super) fn priority(&self) -> Priority {
        match self.category() {
            Category::Security => Priority::Interactive,
            Category::Notification => Priority::Normal,
        }
    }

    /// Security or notification.
    pub fn category(&self) -> Category {
        match self {
            Self::VerifyEmail { .. } | Self::PasswordReset { .. } | Self::AccountDeleted { .. } => {
                Category::Security
            }
            Self::Welcome { .. } | Self::MediaReady { .. } | Self::MediaFailed { .. } => {
                Category::Notification
            }
        }
    }
}
