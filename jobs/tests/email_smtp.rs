//! Delivery over real SMTP: an aiosmtpd server on loopback stores what it receives in a
//! maildir, and the test reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use uuid::Uuid;
use veza_e2e::servers::{SmtpSink, free_port};
use veza_jobs::email::{EmailJob, Mailer, MailerConfig, render};

#[tokio::test]
async fn welcome_email_is_delivered_over_smtp_with_both_parts_and_a_job_derived_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let sink = SmtpSink::start(&maildir).await;
    let mailer = Mailer::open(&MailerConfig::Smtp(format!("smtp://127.0.0.1:{}", sink.port))).unwrap();

    let job_id = Uuid::now_v7();
    let job = EmailJob::Welcome {
        user_id: Uuid::now_v7(),
        to: "ada@example.com".into(),
    };
    let message = render("Veza <noreply@veza.test>", "https://veza.test", job_id, &job).unwrap();
    mailer.deliver(job_id, message).await.unwrap();

    let received = SmtpSink::received(&maildir);
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert!(mail.contains("To: ada@example.com"), "{mail}");
    assert!(mail.contains("Subject: Welcome to Veza"));
    assert!(mail.contains(&format!("Message-ID: <{job_id}@veza.test>")));
    assert!(mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"));
    assert!(mail.contains("https://veza.test"));
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_a_transient_failure() {
    let port = free_port();
    let mailer = Mailer::open(&MailerConfig::Smtp(format!("smtp://127.0.0.1:{port}"))).unwrap();
    let job_id = Uuid::now_v7();
    let job = EmailJob::Welcome {
        user_id: Uuid::now_v7(),
        to: "ada@example.com".into(),
    };
    let message = render("noreply@veza.test", "https://veza.test", job_id, &job).unwrap();
    let err = mailer.deliver(job_id, message).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.code(), "smtp-unavailable");
}
