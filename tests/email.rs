//! Email through the real binaries: the worker delivers over SMTP to a server on loopback, the
//! link in the mail works against the API, and a job that runs again after its delivery was
//! logged (a worker killed between the log commit and the acknowledgement) sends nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;
use veza_e2e::{
    platform::Platform,
    servers::{SmtpSink, decoded_body},
};

struct Setup {
    platform: Platform,
    token: String,
    db: PgConnection,
    maildir: std::path::PathBuf,
    _sink: SmtpSink,
    _dir: tempfile::TempDir,
}

/// A platform whose worker sends over SMTP; one account whose address is verified with the
/// link the worker mailed, its verification and welcome emails delivered.
async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let sink = SmtpSink::start_scripted(&maildir, "accept").await;
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let platform =
        Platform::start_with(&[("VEZA_SMTP_URL", &url), ("VEZA_PUBLIC_URL", "https://veza.test")]).await;
    let token = platform.register_and_login("ada@example.com").await;
    let mut db = PgConnection::connect(&platform.database_url).await.unwrap();
    let jobs: Vec<Uuid> = sqlx::query_scalar("select id from jobs where kind = 'email'")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "only the verification email before the address is verified"
    );
    let job = platform.wait_for_job(&token, &jobs[0].to_string()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let received = SmtpSink::received(&maildir);
    let mail = received
        .iter()
        .find(|m| m.contains("Subject: Confirm your email address"))
        .expect("the verification email");
    platform.verify_with_link(mail).await;
    // Verifying the address enqueued the welcome email.
    let welcome = job_of(&mut db, "welcome").await;
    let job = platform.wait_for_job(&token, &welcome.to_string()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    Setup {
        platform,
        token,
        db,
        maildir,
        _sink: sink,
        _dir: dir,
    }
}

/// The email job with `template`.
async fn job_of(db: &mut PgConnection, template: &str) -> Uuid {
    sqlx::query_scalar(
        "select j.id from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
          where convert_from(q.job, 'utf8')::jsonb ->> 'template' = $1",
    )
    .bind(template)
    .fetch_one(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_verification_link_mailed_by_the_worker_verifies_the_address() {
    // `start` followed the link of the verification email, as its owner would.
    let setup = start().await;
    let me = setup.platform.get_json(&setup.token, "/v1/me").await;
    assert_eq!(me["email_verified"], true);
    let received = SmtpSink::received(&setup.maildir);
    assert_eq!(received.len(), 2, "the verification, then the welcome");
    assert!(received.iter().any(|m| m.contains("Subject: Welcome to Veza")));
    // The link works once.
    let mail = received
        .iter()
        .find(|m| m.contains("Subject: Confirm your email address"))
        .unwrap();
    let body = decoded_body(mail);
    let marker = "https://veza.test/verify?token=";
    let start = body.find(marker).expect("a verification link") + marker.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let resp = setup
        .platform
        .http
        .post(setup.platform.url("/v1/auth/verify-email"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_email_job_run_again_after_its_delivery_was_logged_sends_nothing() {
    let mut setup = start().await;
    let welcome = job_of(&mut setup.db, "welcome").await;
    let logged: String = sqlx::query_scalar("select outcome from email_deliveries where job_id = $1")
        .bind(welcome)
        .fetch_one(&mut setup.db)
        .await
        .unwrap();
    assert_eq!(logged, "sent");

    // The crash: the delivery is logged, but the queue never learnt the outcome, so the job is
    // waiting again (as after a rescue) and a worker claims it.
    sqlx::query(
        "update apalis.jobs set status = 'Pending', done_at = null, lock_by = null, lock_at = null,
                run_at = now() - interval '1 second'
          where id = veza_task_id($1)",
    )
    .bind(welcome)
    .execute(&mut setup.db)
    .await
    .unwrap();
    sqlx::query(
        "select pg_notify('apalis::job::insert',
                json_build_object('job_type', 'email', 'id', veza_task_id($1), 'run_at', now())::text)",
    )
    .bind(welcome)
    .execute(&mut setup.db)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: String = sqlx::query_scalar("select status from apalis.jobs where id = veza_task_id($1)")
            .bind(welcome)
            .fetch_one(&mut setup.db)
            .await
            .unwrap();
        if status == "Done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not run again (status {status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let attempts: i32 = sqlx::query_scalar("select attempts from apalis.jobs where id = veza_task_id($1)")
        .bind(welcome)
        .fetch_one(&mut setup.db)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "the job ran a second time");
    let received = SmtpSink::received(&setup.maildir);
    assert_eq!(received.len(), 2, "the re-run sent no second welcome email");
}
