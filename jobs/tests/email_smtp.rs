//! The email job against real SMTP servers: a Python aiosmtpd server on loopback
//! (`tests/src/smtp_sink.py`) that stores what it accepts in a maildir, or answers 421, 550,
//! 554 or 535 as the test asks. The tests read back what the server received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_e2e::{
    TestDatabase,
    servers::{SmtpSink, decoded_body, free_port},
};
use veza_jobs::{
    accounts::{
        links::LinkKey,
        tokens::{self, TokenCheck, TokenPurpose},
    },
    context::{JobContext, JobRun, KindSettings},
    email::{self, EmailJob, EmailPolicy, Links, media::notify_media_outcome, render},
    error::JobError,
    lease::Lease,
    mailer::{Mailer, MailerConfig, SmtpCredentials},
    storage::{Storage, StorageConfig},
};

const ADA: &str = "ada@example.com";

struct Setup {
    ctx: JobContext,
    pool: PgPool,
    user_id: Uuid,
    maildir: PathBuf,
    _sink: Option<SmtpSink>,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// A database with one user, a sink answering in `mode`, a mailer under `policy`.
    async fn new(mode: &str, policy: EmailPolicy) -> Self {
        Self::with_mailer(mode, policy, |port| {
            MailerConfig::smtp(format!("smtp://127.0.0.1:{port}"))
        })
        .await
    }

    async fn with_mailer(mode: &str, policy: EmailPolicy, config: impl FnOnce(u16) -> MailerConfig) -> Self {
        let db = TestDatabase::create().await;
        let pool = veza_jobs::db::connect(&db.url, 4).await.unwrap();
        veza_jobs::db::migrate(&pool).await.unwrap();
        let user_id = Uuid::now_v7();
        // Verified: notifications go only to verified addresses (see the test of that below).
        sqlx::query(
            "insert into users (id, email, password_hash, email_verified_at) values ($1, $2, 'x', now())",
        )
        .bind(user_id)
        .bind(ADA)
        .execute(&pool)
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let sink = SmtpSink::start_scripted(&maildir, mode).await;
        let mailer = Mailer::open(&config(sink.port)).unwrap();
        let ctx = JobContext {
            pool: pool.clone(),
            storage: Storage::open(&StorageConfig::Fs {
                root: dir.path().join("objects"),
            })
            .unwrap(),
            mailer,
            cpu: veza_jobs::cpu::CpuPool::per_core(),
            scratch_dir: dir.path().join("scratch"),
            settings: KindSettings::default()
                .with(email::EmailSettings {
                    from: "Veza <noreply@veza.test>".into(),
                    public_url: "https://veza.test".into(),
                })
                .with(policy),
        };
        Self {
            ctx,
            pool,
            user_id,
            maildir,
            _sink: Some(sink),
            _dir: dir,
        }
    }

    /// Enqueues `job` the way the API does and returns the attempt a worker would run.
    async fn enqueue(&self, job: &EmailJob) -> JobRun {
        let mut tx = self.pool.begin().await.unwrap();
        let id = email::enqueue(&mut tx, self.user_id, job).await.unwrap();
        tx.commit().await.unwrap();
        JobRun {
            id,
            lease: Lease::new(id, "test-worker"),
            cancel: CancellationToken::new(),
        }
    }

    async fn run(&self, run: &JobRun, job: &EmailJob) -> Result<(), JobError> {
        email::handle(&self.ctx, run, job.clone()).await
    }

    fn received(&self) -> Vec<String> {
        SmtpSink::received(&self.maildir)
    }

    async fn logged(&self, run: &JobRun) -> Option<(String, Option<String>)> {
        sqlx::query_as("select outcome, smtp_reply from email_deliveries where job_id = $1")
            .bind(run.id)
            .fetch_optional(&self.pool)
            .await
            .unwrap()
    }

    fn welcome(&self) -> EmailJob {
        EmailJob::Welcome {
            user_id: self.user_id,
            to: ADA.into(),
        }
    }

    fn verify(&self) -> EmailJob {
        EmailJob::VerifyEmail {
            user_id: self.user_id,
            to: ADA.into(),
        }
    }
}

/// The value of a header in a raw message (first occurrence, unfolded).
fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// The `token` parameter of the first link to `path` in the message.
fn token_in(mail: &str, path: &str) -> String {
    let marker = format!("https://veza.test/{path}?token=");
    let start = mail
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {mail}"))
        + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect()
}

#[tokio::test]
async fn verification_email_has_both_parts_a_job_derived_message_id_and_a_working_single_use_token() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    let job = setup.verify();
    let run = setup.enqueue(&job).await;
    setup.run(&run, &job).await.unwrap();

    let received = setup.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(header(mail, "To"), Some(ADA));
    assert_eq!(header(mail, "Subject"), Some("Confirm your email address"));
    assert_eq!(
        header(mail, "Message-ID"),
        Some(format!("<{}@veza.test>", run.id).as_str())
    );
    assert!(mail.contains("Content-Type: text/plain") && mail.contains("Content-Type: text/html"));
    assert!(
        header(mail, "List-Unsubscribe").is_none(),
        "security mail cannot be unsubscribed from"
    );
    assert!(decoded_body(mail).contains("expires in 24 hours"), "{mail}");

    let token = token_in(&decoded_body(mail), "verify");
    let stored: i64 = sqlx::query_scalar("select count(*) from account_tokens where token_hash = $1")
        .bind(tokens::hash(&token))
        .fetch_one(&setup.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1, "the token is stored by its hash");
    let mut conn = setup.pool.acquire().await.unwrap();
    assert_eq!(
        tokens::consume(&mut conn, &token, TokenPurpose::VerifyEmail)
            .await
            .unwrap(),
        TokenCheck::Accepted(setup.user_id)
    );
    assert_eq!(
        tokens::consume(&mut conn, &token, TokenPurpose::VerifyEmail)
            .await
            .unwrap(),
        TokenCheck::Used
    );
    let (outcome, reply) = setup.logged(&run).await.unwrap();
    assert_eq!(outcome, "sent");
    assert!(reply.unwrap().starts_with("250"), "the server's reply is logged");
}

#[tokio::test]
async fn notification_carries_a_signed_one_click_unsubscribe_link() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    let job = setup.welcome();
    let run = setup.enqueue(&job).await;
    setup.run(&run, &job).await.unwrap();

    let mail = &setup.received()[0];
    assert_eq!(
        header(mail, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let list_unsubscribe = header(mail, "List-Unsubscribe").unwrap();
    assert!(
        list_unsubscribe.starts_with("<https://veza.test/unsubscribe?token="),
        "{list_unsubscribe}"
    );
    let token = token_in(list_unsubscribe, "unsubscribe");
    let key = LinkKey::load(&setup.pool).await.unwrap();
    assert_eq!(key.verify_unsubscribe_token(&token), Some(setup.user_id));
}

#[tokio::test]
async fn a_421_reply_is_a_transient_failure_and_the_retry_delivers_once() {
    let setup = Setup::new("busy-once", EmailPolicy::default()).await;
    let job = setup.welcome();
    let run = setup.enqueue(&job).await;

    let err = setup.run(&run, &job).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.code(), "smtp-unavailable");
    // The server's 421 is in the cause (the worker's log), not in what the owner sees.
    assert!(
        err.cause().is_some_and(|c| c.contains("busy, try again later")),
        "the server's 421: {err:?}"
    );
    assert_eq!(err.to_string(), "the mail relay could not be reached");
    assert!(setup.received().is_empty());
    assert!(
        setup.logged(&run).await.is_none(),
        "nothing logged: the retry must send"
    );

    setup.run(&run, &job).await.unwrap();
    assert_eq!(setup.received().len(), 1);
    assert_eq!(setup.logged(&run).await.unwrap().0, "sent");
}

#[tokio::test]
async fn a_550_to_rcpt_fails_permanently_with_the_servers_reply_recorded() {
    let setup = Setup::new("reject-rcpt", EmailPolicy::default()).await;
    let job = setup.welcome();
    let run = setup.enqueue(&job).await;

    let err = setup.run(&run, &job).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(err.code(), "smtp-rejected");
    // The relay's reply is for operators (the delivery log, the worker's log), not the owner.
    assert!(!err.to_string().contains("mailbox unavailable"), "{err}");
    assert!(err.cause().unwrap().contains("mailbox unavailable"), "{err:?}");
    let (outcome, reply) = setup.logged(&run).await.unwrap();
    assert_eq!(outcome, "rejected");
    assert!(reply.unwrap().contains("mailbox unavailable"));
    assert!(setup.received().is_empty());
}

#[tokio::test]
async fn a_554_to_data_fails_permanently() {
    let setup = Setup::new("reject-data", EmailPolicy::default()).await;
    let job = setup.verify();
    let run = setup.enqueue(&job).await;
    let err = setup.run(&run, &job).await.unwrap_err();
    assert_eq!(err.code(), "smtp-rejected");
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), "the mail server refused the message");
    assert!(err.cause().unwrap().contains("message refused"), "{err:?}");
}

#[tokio::test]
async fn refused_smtp_credentials_retry_and_count_as_a_configuration_fault() {
    let setup = Setup::with_mailer("auth-reject", EmailPolicy::default(), |port| MailerConfig::Smtp {
        url: format!("smtp://127.0.0.1:{port}"),
        credentials: Some(SmtpCredentials {
            username: "veza".into(),
            password: "wrong".into(),
        }),
        timeout: std::time::Duration::from_secs(30),
    })
    .await;
    let job = setup.verify();
    let run = setup.enqueue(&job).await;
    let err = setup.run(&run, &job).await.unwrap_err();
    assert_eq!(err.code(), "smtp-auth-failed", "{err}");
    assert!(err.is_retryable(), "mail waits for the configuration to be fixed");
    assert_eq!(setup.ctx.mailer.metrics().config_faults("auth"), 1);
    assert!(setup.logged(&run).await.is_none());
}

#[tokio::test]
async fn a_tls_failure_retries_and_counts_as_a_configuration_fault() {
    // Implicit TLS against a server that speaks plain SMTP: the handshake fails.
    let setup = Setup::with_mailer("accept", EmailPolicy::default(), |port| {
        MailerConfig::smtp(format!("smtps://127.0.0.1:{port}"))
    })
    .await;
    let job = setup.welcome();
    let run = setup.enqueue(&job).await;
    let err = setup.run(&run, &job).await.unwrap_err();
    assert_eq!(err.code(), "smtp-tls-failed", "{err}");
    assert!(err.is_retryable());
    assert_eq!(setup.ctx.mailer.metrics().config_faults("tls"), 1);
}

#[tokio::test]
async fn a_job_run_again_after_the_delivery_log_commit_sends_nothing() {
    // A worker that crashed after logging the delivery and before acknowledging the job: the
    // job runs again (same id) and must not mail twice.
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    let job = setup.welcome();
    let run = setup.enqueue(&job).await;
    setup.run(&run, &job).await.unwrap();
    let rescued = JobRun {
        id: run.id,
        lease: Lease::new(run.id, "another-worker"),
        cancel: CancellationToken::new(),
    };
    setup.run(&rescued, &job).await.unwrap();
    assert_eq!(setup.received().len(), 1);
}

#[tokio::test]
async fn over_the_recipient_limit_notifications_are_dropped_and_security_mail_waits() {
    let policy = EmailPolicy {
        recipient_limit: 1,
        ..EmailPolicy::default()
    };
    let setup = Setup::new("accept", policy).await;
    let first = setup.welcome();
    let run = setup.enqueue(&first).await;
    setup.run(&run, &first).await.unwrap();

    // The same mailbox under a tag, another case and a display name: still one recipient.
    let media_ready = EmailJob::MediaReady {
        user_id: setup.user_id,
        to: format!("Ada <{}>", ADA.replace('@', "+music@").to_uppercase()),
        media_id: Uuid::now_v7(),
        name: Some("song.wav".into()),
    };
    let dropped = setup.enqueue(&media_ready).await;
    setup.run(&dropped, &media_ready).await.unwrap();
    assert_eq!(setup.logged(&dropped).await.unwrap().0, "rate-limited");

    let verify = setup.verify();
    let waiting = setup.enqueue(&verify).await;
    let set_attempt = |attempt: i32| {
        // Attempts settled so far, as apalis records them.
        sqlx::query("update apalis.jobs set attempts = $2 where id = $1")
            .bind(veza_jobs::task_ids::task_id(waiting.id))
            .bind(attempt)
            .execute(&setup.pool)
    };
    set_attempt(1).await.unwrap();
    let err = setup.run(&waiting, &verify).await.unwrap_err();
    assert_eq!(err.code(), "recipient-rate-limited");
    assert!(err.is_retryable(), "security mail is delayed, not dropped");
    assert!(setup.logged(&waiting).await.is_none());
    assert_eq!(setup.received().len(), 1);

    // Its last attempt sends regardless: security mail is never dropped.
    set_attempt(i32::try_from(<email::EmailKind as veza_jobs::kind::Kind>::RETRY.max_attempts - 1).unwrap())
        .await
        .unwrap();
    setup.run(&waiting, &verify).await.unwrap();
    assert_eq!(setup.logged(&waiting).await.unwrap().0, "sent");
    assert_eq!(setup.received().len(), 2);
}

#[tokio::test]
async fn an_opted_out_user_gets_security_mail_but_no_notifications() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    sqlx::query("update users set notifications_opt_out = true")
        .execute(&setup.pool)
        .await
        .unwrap();
    let welcome = setup.welcome();
    let run = setup.enqueue(&welcome).await;
    setup.run(&run, &welcome).await.unwrap();
    assert_eq!(setup.logged(&run).await.unwrap().0, "opted-out");
    let verify = setup.verify();
    let run = setup.enqueue(&verify).await;
    setup.run(&run, &verify).await.unwrap();
    let received = setup.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        header(&received[0], "Subject"),
        Some("Confirm your email address")
    );
}

#[tokio::test]
async fn a_failed_media_item_mails_its_reason_once() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    let media_id = Uuid::now_v7();
    sqlx::query(
        "insert into media (id, owner_id, kind, status, original_key, original_filename, content_type,
                            size_bytes, sha256, error_code, error_message)
         values ($1, $2, 'audio', 'failed', 'originals/x', 'song.wav', 'audio/wav', 10, 'x',
                 'unsupported-codec', 'unsupported codec: the file is not audio Veza can decode')",
    )
    .bind(media_id)
    .bind(setup.user_id)
    .execute(&setup.pool)
    .await
    .unwrap();
    let settled_job = Uuid::now_v7();
    let email_job = notify_media_outcome(&setup.pool, settled_job, media_id)
        .await
        .unwrap()
        .expect("an email job");
    assert_eq!(
        notify_media_outcome(&setup.pool, settled_job, media_id)
            .await
            .unwrap(),
        None,
        "the same job settled twice mails once"
    );
    assert_eq!(
        notify_media_outcome(&setup.pool, Uuid::now_v7(), media_id)
            .await
            .unwrap(),
        None,
        "another job ending the same way (a reprocess) mails nothing either"
    );
    let payload: serde_json::Value =
        sqlx::query_scalar("select convert_from(job, 'utf8')::jsonb from apalis.jobs where id = $1")
            .bind(veza_jobs::task_ids::task_id(email_job))
            .fetch_one(&setup.pool)
            .await
            .unwrap();
    let job: EmailJob = serde_json::from_value(payload).unwrap();
    let run = JobRun {
        id: email_job,
        lease: Lease::new(email_job, "test-worker"),
        cancel: CancellationToken::new(),
    };
    setup.run(&run, &job).await.unwrap();
    let mail = &setup.received()[0];
    // No user-chosen text in the subject; the file name is in the body.
    assert_eq!(
        header(mail, "Subject"),
        Some("Your upload could not be processed")
    );
    assert!(
        decoded_body(mail).contains("unsupported codec: the file is not audio Veza can decode"),
        "{mail}"
    );
    assert!(header(mail, "List-Unsubscribe").is_some());
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_a_transient_failure() {
    let port = free_port();
    let mailer = Mailer::open(&MailerConfig::smtp(format!("smtp://127.0.0.1:{port}"))).unwrap();
    let job_id = Uuid::now_v7();
    let job = EmailJob::Welcome {
        user_id: Uuid::now_v7(),
        to: ADA.into(),
    };
    let links = Links {
        public_url: "https://veza.test".into(),
        ..Links::default()
    };
    let message = render("noreply@veza.test", job_id, &job, &links).unwrap();
    let err = mailer.deliver(job_id, message).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.code(), "smtp-unavailable");
}

#[tokio::test]
async fn an_unverified_address_gets_its_verification_link_and_no_notification() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    sqlx::query("update users set email_verified_at = null where id = $1")
        .bind(setup.user_id)
        .execute(&setup.pool)
        .await
        .unwrap();
    let welcome = setup.welcome();
    let welcome_run = setup.enqueue(&welcome).await;
    setup.run(&welcome_run, &welcome).await.unwrap();
    assert_eq!(setup.logged(&welcome_run).await.unwrap().0, "unverified");
    assert!(setup.received().is_empty(), "nothing but the verification link");

    let verify = setup.verify();
    let verify_run = setup.enqueue(&verify).await;
    setup.run(&verify_run, &verify).await.unwrap();
    assert_eq!(setup.logged(&verify_run).await.unwrap().0, "sent");
    assert_eq!(setup.received().len(), 1);
}

#[tokio::test]
async fn a_deleted_account_gets_its_farewell_through_smtp_even_opted_out_and_no_notification() {
    let setup = Setup::new("accept", EmailPolicy::default()).await;
    sqlx::query("update users set notifications_opt_out = true, deleted_at = now()")
        .execute(&setup.pool)
        .await
        .unwrap();
    let welcome = setup.welcome();
    let run = setup.enqueue(&welcome).await;
    setup.run(&run, &welcome).await.unwrap();
    assert_eq!(setup.logged(&run).await.unwrap().0, "opted-out");

    let farewell = EmailJob::AccountDeleted {
        user_id: setup.user_id,
        to: ADA.into(),
    };
    let run = setup.enqueue(&farewell).await;
    setup.run(&run, &farewell).await.unwrap();
    assert_eq!(setup.logged(&run).await.unwrap().0, "sent");
    let received = setup.received();
    assert_eq!(received.len(), 1, "only the farewell");
    let mail = &received[0];
    assert_eq!(header(mail, "Subject"), Some("Your Veza account is deleted"));
    assert!(mail.contains(ADA));
    assert!(
        !mail.contains("unsubscribe") && !mail.contains("token="),
        "no link into an account that is going: {mail}"
    );
}
