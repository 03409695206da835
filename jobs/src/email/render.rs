//! Renders email messages: a plain-text and an HTML part for each template.

use lettre::{
    Message,
    message::{Mailbox, MultiPart},
};
use uuid::Uuid;

use super::EmailJob;
use crate::error::JobError;

/// Builds the message of `job`, addressed from `from`.
pub fn render(from: &str, public_url: &str, job_id: Uuid, job: &EmailJob) -> Result<Message, JobError> {
    let from: Mailbox = from
        .parse()
        .map_err(|err| JobError::permanent("invalid-sender", format!("sender address `{from}`: {err}")))?;
    let (to, subject, text, html) = match job {
        EmailJob::Welcome { to, .. } => (
            to,
            "Welcome to Veza",
            format!(
                "Welcome to Veza!\n\nYour account {to} is ready. Upload audio and images at {public_url} \
                 and Veza turns them into streams and thumbnails.\n"
            ),
            format!(
                "<!doctype html><html><body><h1>Welcome to Veza!</h1>\
                 <p>Your account <strong>{}</strong> is ready. Upload audio and images at \
                 <a href=\"{}\">{}</a> and Veza turns them into streams and thumbnails.</p></body></html>",
                escape_html(to),
                escape_html(public_url),
                escape_html(public_url)
            ),
        ),
    };
    let to: Mailbox = to
        .parse()
        .map_err(|err| JobError::permanent("invalid-recipient", format!("recipient `{to}`: {err}")))?;
    let domain = from.email.domain().to_owned();
    Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{job_id}@{domain}>")))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|err| JobError::permanent("invalid-message", err.to_string()))
}

/// Escapes text for an HTML body.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn welcome_has_plain_and_html_parts_and_a_job_derived_message_id() {
        let job_id = Uuid::now_v7();
        let job = EmailJob::Welcome {
            user_id: Uuid::now_v7(),
            to: "ada@example.com".into(),
        };
        let text = String::from_utf8(
            render("Veza <noreply@veza.local>", "http://localhost:8080", job_id, &job)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(text.contains("To: ada@example.com"));
        assert!(text.contains(&format!("Message-ID: <{job_id}@veza.local>")));
        assert!(text.contains("Content-Type: text/plain"));
        assert!(text.contains("Content-Type: text/html"));
    }

    #[test]
    fn a_malformed_recipient_is_a_permanent_failure() {
        let job = EmailJob::Welcome {
            user_id: Uuid::now_v7(),
            to: "not an address".into(),
        };
        let err = render("noreply@veza.local", "http://x", Uuid::now_v7(), &job).unwrap_err();
        assert_eq!(err.code(), "invalid-recipient");
        assert!(!err.is_retryable());
    }
}
