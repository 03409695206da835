//! Renders email messages from the templates under `jobs/templates/email/`: a plain-text part
//! (`NAME.txt`) and an HTML part (`NAME.html`, every value escaped by default) for each.

use lettre::{
    Message,
    message::{
        Mailbox, MultiPart, SinglePart,
        header::{ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue},
    },
};
use minijinja::{Environment, context};
use uuid::Uuid;

use super::EmailJob;
use crate::error::{ErrorCode, JobError};

/// The templates, compiled into the binary from the repository's files.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/email/layout.html")),
    ("footer.txt", include_str!("../../templates/email/footer.txt")),
    ("welcome.html", include_str!("../../templates/email/welcome.html")),
    ("welcome.txt", include_str!("../../templates/email/welcome.txt")),
    (
        "verify-email.html",
        include_str!("../../templates/email/verify-email.html"),
    ),
    (
        "verify-email.txt",
        include_str!("../../templates/email/verify-email.txt"),
    ),
    (
        "password-reset.html",
        include_str!("../../templates/email/password-reset.html"),
    ),
    (
        "password-reset.txt",
        include_str!("../../templates/email/password-reset.txt"),
    ),
    (
        "account-deleted.html",
        include_str!("../../templates/email/account-deleted.html"),
    ),
    (
        "account-deleted.txt",
        include_str!("../../templates/email/account-deleted.txt"),
    ),
    (
        "media-ready.html",
        include_str!("../../templates/email/media-ready.html"),
    ),
    (
        "media-ready.txt",
        include_str!("../../templates/email/media-ready.txt"),
    ),
    (
        "media-failed.html",
        include_str!("../../templates/email/media-failed.html"),
    ),
    (
        "media-failed.txt",
        include_str!("../../templates/email/media-failed.txt"),
    ),
];

/// The links a message carries besides the public URL.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The URL users reach Veza at (`VEZA_PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
    /// The link that carries an account token (`/verify?token=…`, `/reset?token=…`).
    pub action_url: Option<String>,
    /// How long the action link works, in words (`24 hours`).
    pub valid_for: Option<String>,
    /// The one-click unsubscribe URL of notification emails (RFC 8058).
    pub unsubscribe_url: Option<String>,
}

/// Builds the message of `job`, addressed from `from`. The Message-ID is derived from the job id,
/// so a message sent twice (see `handle`) is recognisable as the same one.
pub fn render(from: &str, job_id: Uuid, job: &EmailJob, links: &Links) -> Result<Message, JobError> {
    let from: Mailbox = from.parse().map_err(|err| {
        JobError::with_message(
            ErrorCode::InvalidSender,
            format!("sender address `{from}`: {err}"),
        )
    })?;
    let to_address = job.recipient();
    let to: Mailbox = to_address.parse().map_err(|err| {
        JobError::with_message(
            ErrorCode::InvalidRecipient,
            format!("recipient `{to_address}`: {err}"),
        )
    })?;
    let (template, subject, values) = match job {
        EmailJob::Welcome { .. } => ("welcome", "Welcome to Veza".to_owned(), context! {}),
        EmailJob::VerifyEmail { .. } => (
            "verify-email",
            "Confirm your email address".to_owned(),
            context! {},
        ),
        EmailJob::PasswordReset { .. } => (
            "password-reset",
            "Reset your Veza password".to_owned(),
            context! {},
        ),
        EmailJob::AccountDeleted { .. } => (
            "account-deleted",
            "Your Veza account is deleted".to_owned(),
            context! {},
        ),
        EmailJob::MediaReady { media_id, name, .. } => (
            "media-ready",
            // Subjects carry no text a user chose (a file name could make one read as
            // anything); the name is in the body, escaped.
            "Your upload is ready".to_owned(),
            context! { name => display_name(name.as_deref()), media_url => media_url(&links.public_url, *media_id) },
        ),
        EmailJob::MediaFailed {
            media_id,
            name,
            reason,
            ..
        } => (
            "media-failed",
            "Your upload could not be processed".to_owned(),
            context! {
                name => display_name(name.as_deref()),
                reason => reason,
                media_url => media_url(&links.public_url, *media_id),
            },
        ),
    };
    let values = context! {
        to => to_address,
        public_url => links.public_url,
        action_url => links.action_url,
        valid_for => links.valid_for,
        unsubscribe_url => links.unsubscribe_url,
        ..values
    };
    let env = environment()?;
    let part = |ext: &str| {
        env.get_template(&format!("{template}.{ext}"))
            .and_then(|t| t.render(&values))
            .map_err(|err| {
                JobError::with_message(
                    ErrorCode::TemplateFailed,
                    format!("rendering {template}.{ext}: {err}"),
                )
            })
    };
    let (text, html) = (part("txt")?, part("html")?);
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{job_id}@{domain}>")));
    if let Some(url) = &links.unsubscribe_url {
        builder = builder
            .header(ListUnsubscribe(format!("<{url}>")))
            .header(ListUnsubscribePost);
    }
    // Both parts quoted-printable, whatever their content: a long line or a non-ASCII name can
    // then never change how a part is encoded.
    let part = |content_type: ContentType, body: String| {
        SinglePart::builder()
            .header(content_type)
            .header(ContentTransferEncoding::QuotedPrintable)
            .body(body)
    };
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, text))
                .singlepart(part(ContentType::TEXT_HTML, html)),
        )
        .map_err(|err| JobError::with_message(ErrorCode::InvalidMessage, err.to_string()))
}

/// The template environment: `.html` templates escape every value, `.txt` ones do not.
fn environment() -> Result<Environment<'static>, JobError> {
    let mut env = Environment::new();
    for &(name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|err| {
            JobError::with_message(ErrorCode::TemplateFailed, format!("template {name}: {err}"))
        })?;
    }
    Ok(env)
}

fn display_name(name: Option<&str>) -> String {
    name.filter(|n| !n.trim().is_empty())
        .unwrap_or("Your upload")
        .to_owned()
}

fn media_url(public_url: &str, media_id: Uuid) -> String {
    format!("{public_url}/v1/media/{media_id}")
}

/// `List-Unsubscribe: <https://…/unsubscribe?token=…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn links() -> Links {
        Links {
            public_url: "http://localhost:8080".into(),
            ..Links::default()
        }
    }

    fn formatted(job: &EmailJob, links: &Links) -> (Uuid, String) {
        let job_id = Uuid::now_v7();
        let message = render("Veza <noreply@veza.local>", job_id, job, links).unwrap();
        (job_id, String::from_utf8(message.formatted()).unwrap())
    }

    #[test]
    fn welcome_has_plain_and_html_parts_and_a_job_derived_message_id() {
        let job = EmailJob::Welcome {
            user_id: Uuid::now_v7(),
            to: "ada@example.com".into(),
        };
        let (job_id, text) = formatted(&job, &links());
        assert!(text.contains("To: ada@example.com"));
        assert!(text.contains(&format!("Message-ID: <{job_id}@veza.local>")));
        assert!(text.contains("Content-Type: text/plain"));
        assert!(text.contains("Content-Type: text/html"));
        assert!(!text.contains("List-Unsubscribe"), "no link, no header");
    }

    #[test]
    fn html_part_escapes_values_and_the_text_part_keeps_them() {
        let job = EmailJob::MediaFailed {
            user_id: Uuid::now_v7(),
            to: "ada@example.com".into(),
            media_id: Uuid::now_v7(),
            name: Some("<b>x</b>.wav".into()),
            reason: "unsupported codec".into(),
        };
        let message = render("noreply@veza.local", Uuid::now_v7(), &job, &links()).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        let body = veza_e2e::servers::decoded_body(&raw);
        let (text, html) = body.split_once("Content-Type: text/html").unwrap();
        assert!(html.contains("&lt;b&gt;x&lt;"), "{html}");
        assert!(!html.contains("<b>x"), "{html}");
        assert!(
            text.contains("<b>x</b>.wav"),
            "the plain text part is not HTML: {text}"
        );
        assert!(text.contains("unsupported codec") && html.contains("unsupported codec"));
    }

    #[test]
    fn notification_with_an_unsubscribe_url_carries_the_one_click_headers() {
        let job = EmailJob::Welcome {
            user_id: Uuid::now_v7(),
            to: "ada@example.com".into(),
        };
        let links = Links {
            unsubscribe_url: Some("http://localhost:8080/unsubscribe?token=abc".into()),
            ..links()
        };
        let (_, text) = formatted(&job, &links);
        assert!(text.contains("List-Unsubscribe: <http://localhost:8080/unsubscribe?token=abc>"));
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }

    #[test]
    fn a_malformed_recipient_is_a_permanent_failure() {
        let job = EmailJob::Welcome {
            user_id: Uuid::now_v7(),
            to: "not an address".into(),
        };
        let err = render("noreply@veza.local", Uuid::now_v7(), &job, &links()).unwrap_err();
        assert_eq!(err.code(), "invalid-recipient");
        assert!(!err.is_retryable());
    }
}
