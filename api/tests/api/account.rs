//! Account flows over HTTP: verification and reset links (single use, expiry, non-enumerating
//! reset), session revocation, the registration rate limit, one-click unsubscribe. The link
//! tokens come from the real email: the queued email job runs against an SMTP server on
//! loopback and the test reads the link out of the received message.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_e2e::servers::{SmtpSink, decoded_body};
use veza_jobs::{
    accounts::tokens::{self, TokenPurpose},
    context::{JobContext, JobRun, KindSettings},
    email::{self, EmailJob},
    lease::Lease,
    mailer::{Mailer, MailerConfig},
    storage::{Storage, StorageConfig},
};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Runs every queued email job with `template` against a fresh SMTP sink (as a worker would)
/// and returns the messages the server received.
async fn deliver_queued(app: &TestApp, template: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let sink = SmtpSink::start_scripted(&maildir, "accept").await;
    let ctx = JobContext {
        pool: app.pool.clone(),
        storage: Storage::open(&StorageConfig::Fs {
            root: dir.path().join("objects"),
        })
        .unwrap(),
        mailer: Mailer::open(&MailerConfig::smtp(format!("smtp://127.0.0.1:{}", sink.port))).unwrap(),
        cpu: veza_jobs::cpu::CpuPool::per_core(),
        scratch_dir: dir.path().join("scratch"),
        settings: KindSettings::default().with(email::EmailSettings {
            from: "Veza <noreply@veza.test>".into(),
            public_url: "https://veza.test".into(),
        }),
    };
    let queued: Vec<(String, Value)> = sqlx::query_as(
        "select id, convert_from(job, 'utf8')::jsonb from apalis.jobs
          where job_type = 'email' and status = 'Pending' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (task_id, payload) in queued {
        if payload["template"] != template {
            continue;
        }
        let id = veza_jobs::task_ids::job_id(&task_id).unwrap();
        let job: EmailJob = serde_json::from_value(payload).unwrap();
        let run = JobRun {
            id,
            lease: Lease::new(id, "test-worker"),
            cancel: CancellationToken::new(),
        };
        email::handle(&ctx, &run, job).await.unwrap();
        sqlx::query("update apalis.jobs set status = 'Done' where id = $1")
            .bind(&task_id)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    SmtpSink::received(&maildir)
}

/// The token of the `https://veza.test/{path}?token=…` link in `mail`.
fn link_token(mail: &str, path: &str) -> String {
    let mail = decoded_body(mail);
    let marker = format!("https://veza.test/{path}?token=");
    let start = mail
        .find(&marker)
        .unwrap_or_else(|| panic!("no {path} link in {mail}"))
        + marker.len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url(path)).json(&body).send().await.unwrap()
}

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_verification_link_from_the_email_verifies_the_address_once() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["email_verified"], false);

    let mails = deliver_queued(&app, "verify-email").await;
    assert_eq!(mails.len(), 1);
    let link = link_token(&mails[0], "verify");

    // Opening the link shows a page and changes nothing (mail scanners open links).
    let page = app
        .http
        .get(app.url(&format!("/verify?token={link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&link));
    let resp = post(&app, "/v1/auth/verify-email", json!({ "token": link })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);

    let again = post(&app, "/v1/auth/verify-email", json!({ "token": link })).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "token-used").await;
    let forged = post(&app, "/v1/auth/verify-email", json!({ "token": "not-a-token" })).await;
    assert_problem(forged, StatusCode::BAD_REQUEST, "token-invalid").await;
}

#[tokio::test]
async fn the_verification_page_form_verifies_the_address() {
    let app = spawn_app().await;
    app.user("ada@example.com").await;
    let link = link_token(&deliver_queued(&app, "verify-email").await[0], "verify");
    let resp = app
        .http
        .post(app.url("/verify"))
        .form(&[("token", link.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("verified"));
    let used = app
        .http
        .post(app.url("/verify"))
        .form(&[("token", link.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_verification_token_is_refused() {
    let app = spawn_app().await;
    app.user("ada@example.com").await;
    let id = user_id(&app, "ada@example.com").await;
    let token = tokens::issue(
        &app.pool,
        id,
        TokenPurpose::VerifyEmail,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    sqlx::query("update account_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let resp = post(&app, "/v1/auth/verify-email", json!({ "token": token })).await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "token-expired").await;
}

#[tokio::test]
async fn password_reset_answers_the_same_for_known_and_unknown_addresses() {
    let app = spawn_app().await;
    app.user("ada@example.com").await;
    let known = post(
        &app,
        "/v1/auth/password-reset",
        json!({ "email": "ada@example.com" }),
    )
    .await;
    let unknown = post(
        &app,
        "/v1/auth/password-reset",
        json!({ "email": "nobody@example.com" }),
    )
    .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let (known, unknown): (Value, Value) = (known.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(known, unknown);
    let mails = deliver_queued(&app, "password-reset").await;
    assert_eq!(mails.len(), 1, "only the real account gets a link");
    assert!(mails[0].contains("To: ada@example.com"));
}

#[tokio::test]
async fn reset_requests_past_the_accounts_limit_answer_the_same_and_send_nothing() {
    let app = spawn_app_with(|config| config.reset_request_limit = 2).await;
    app.user("ada@example.com").await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        let resp = post(
            &app,
            "/v1/auth/password-reset",
            json!({ "email": "ada@example.com" }),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        answers.push(resp.json::<Value>().await.unwrap());
    }
    assert!(answers.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(deliver_queued(&app, "password-reset").await.len(), 2);
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_revokes_sessions_and_kills_other_links() {
    let app = spawn_app().await;
    let session = app.user("ada@example.com").await;
    for _ in 0..2 {
        post(
            &app,
            "/v1/auth/password-reset",
            json!({ "email": "ada@example.com" }),
        )
        .await;
    }
    let mails = deliver_queued(&app, "password-reset").await;
    assert_eq!(mails.len(), 2);
    let (first, second) = (link_token(&mails[0], "reset"), link_token(&mails[1], "reset"));

    let resp = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": first, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    assert_problem(
        app.get(&session, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-revoked",
    )
    .await;
    assert_problem(
        app.login("ada@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );

    for token in [&first, &second] {
        let reuse = post(
            &app,
            "/v1/auth/password-reset/confirm",
            json!({ "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
        assert_problem(reuse, StatusCode::BAD_REQUEST, "token-used").await;
    }
}

#[tokio::test]
async fn an_expired_reset_token_changes_nothing() {
    let app = spawn_app().await;
    app.user("ada@example.com").await;
    let id = user_id(&app, "ada@example.com").await;
    let token = tokens::issue(
        &app.pool,
        id,
        TokenPurpose::ResetPassword,
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    sqlx::query("update account_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let resp = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": token, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "token-expired").await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_revokes_every_session_and_outstanding_reset_links() {
    let app = spawn_app().await;
    let laptop = app.user("ada@example.com").await;
    let phone: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let phone = phone["access_token"].as_str().unwrap().to_owned();
    let id = user_id(&app, "ada@example.com").await;
    let reset = tokens::issue(
        &app.pool,
        id,
        TokenPurpose::ResetPassword,
        std::time::Duration::from_secs(600),
    )
    .await
    .unwrap();

    let wrong = app
        .http
        .post(app.url("/v1/me/password"))
        .bearer_auth(&laptop)
        .json(&json!({ "current_password": "not it", "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(wrong, StatusCode::BAD_REQUEST, "invalid-credentials").await;

    let resp = app
        .http
        .post(app.url("/v1/me/password"))
        .bearer_auth(&laptop)
        .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let fresh: Value = resp.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();

    for old in [&laptop, &phone] {
        assert_problem(
            app.get(old, "/v1/me").await,
            StatusCode::UNAUTHORIZED,
            "token-revoked",
        )
        .await;
    }
    assert_eq!(app.get(fresh, "/v1/me").await.status(), StatusCode::OK);
    let resp = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": reset, "new_password": "yet another passphrase" }),
    )
    .await;
    assert_problem(resp, StatusCode::BAD_REQUEST, "token-used").await;
}

#[tokio::test]
async fn registration_attempts_per_client_are_limited() {
    let app = spawn_app_with(|config| config.register_limit = 3).await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    // A taken address says so, but each answer costs an attempt.
    assert_problem(
        app.register("ada@example.com").await,
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    assert_eq!(
        app.register("bob@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.register("carol@example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
        "register-rate-limited",
    )
    .await;
    assert_problem(
        app.register("ada@example.com").await,
        StatusCode::TOO_MANY_REQUESTS,
        "register-rate-limited",
    )
    .await;
    assert_eq!(app.count("select count(*) from users").await, 2);
}

#[tokio::test]
async fn the_one_click_unsubscribe_link_from_a_notification_turns_notifications_off() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    // The welcome email is the first notification; it follows verification.
    app.verify_address("ada@example.com").await;
    let mails = deliver_queued(&app, "welcome").await;
    let unsubscribe = link_token(&mails[0], "unsubscribe");

    // Opening the link changes nothing.
    let page = app
        .http
        .get(app.url(&format!("/unsubscribe?token={unsubscribe}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["notifications"], true);

    // What a mail client sends for RFC 8058 one-click.
    let resp = app
        .http
        .post(app.url(&format!("/unsubscribe?token={unsubscribe}")))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let prefs: Value = app
        .get(&token, "/v1/me/email-preferences")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prefs["notifications"], false);

    let forged = app
        .http
        .post(app.url(&format!("/unsubscribe?token={}.00", Uuid::now_v7().simple())))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn notifications_can_be_turned_back_on() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let set = |on: bool| {
        app.http
            .put(app.url("/v1/me/email-preferences"))
            .bearer_auth(&token)
            .json(&json!({ "notifications": on }))
            .send()
    };
    assert_eq!(set(false).await.unwrap().status(), StatusCode::OK);
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["notifications"], false);
    assert_eq!(set(true).await.unwrap().status(), StatusCode::OK);
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["notifications"], true);
}
