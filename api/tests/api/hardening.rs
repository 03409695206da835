//! What an attacker meets first: bounded bodies, admin only for verified addresses, password
//! hashing that cannot be used as an amplifier, login and mail limits, security headers.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.login(email, password).await
}

#[tokio::test]
async fn a_login_body_over_the_limit_is_413_naming_the_limit_and_its_setting() {
    let app = spawn_app_with(|config| config.limits.max_request_body_bytes = 1024).await;
    let padding = "x".repeat(4096);
    let resp = app
        .http
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": "ada@example.com", "password": padding }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "request-too-large").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("1024") && detail.contains("VEZA_MAX_REQUEST_BODY_BYTES"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_chunked_body_without_a_length_is_cut_off_at_the_limit_too() {
    let app = spawn_app_with(|config| config.limits.max_request_body_bytes = 1024).await;
    // 64 chunks of 1 KiB and no Content-Length: only counting the bytes can stop it.
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024])));
    let resp = app
        .http
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "request-too-large").await;
}

#[tokio::test]
async fn a_body_under_the_limit_and_uploads_over_it_still_work() {
    let app = spawn_app_with(|config| config.limits.max_request_body_bytes = 1024).await;
    let token = app.user("ada@example.com").await;
    // The upload route streams under its own limit: a 200 KB image is accepted.
    let image = veza_e2e::fixtures::png(256, 256);
    assert!(image.len() > 1024);
    assert_eq!(app.upload(&token, image).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_configured_admin_address_is_admin_only_once_verified() {
    let app = spawn_app_with(|config| config.admin_emails = vec!["ops@example.com".into()]).await;
    // Whoever registers the listed address first must not become admin by doing so.
    let token = app.user("ops@example.com").await;
    assert_problem(
        app.get(&token, "/v1/admin/queues").await,
        StatusCode::FORBIDDEN,
        "admin-required",
    )
    .await;
    app.verify_address("ops@example.com").await;
    assert_eq!(app.get(&token, "/v1/admin/queues").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_per_account_are_limited_with_retry_after_whatever_the_password() {
    let app = spawn_app_with(|config| config.limits.login_account_limit = 3).await;
    app.user("ada@example.com").await;
    app.user("bob@example.com").await;
    for _ in 0..3 {
        let resp = login(&app, "ada@example.com", "wrong password").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login(&app, "Ada@Example.com", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&resp);
    assert!((1..=900).contains(&wait), "{wait}");
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "login-rate-limited").await;
    // Another account is not affected, and its success clears its own count.
    assert_eq!(
        login(&app, "bob@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_clears_the_accounts_failures() {
    let app = spawn_app_with(|config| config.limits.login_account_limit = 3).await;
    app.user("ada@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "ada@example.com", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            login(&app, "ada@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn login_attempts_per_client_are_limited_across_accounts() {
    let app = spawn_app_with(|config| config.limits.login_client_limit = 4).await;
    // `user` logs in once: the first attempt of this client.
    app.user("ada@example.com").await;
    for n in 0..3 {
        let resp = login(&app, &format!("nobody{n}@example.com"), "guess").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let resp = login(&app, "ada@example.com", PASSWORD).await;
    assert!(retry_after(&resp) >= 1);
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "login-rate-limited").await;
}

#[tokio::test]
async fn hashes_beyond_the_concurrency_wait_briefly_then_get_503_with_retry_after() {
    let app = spawn_app_with(|config| {
        config.limits.password_hash_concurrency = 1;
        config.limits.password_hash_wait_ms = 1;
    })
    .await;
    app.user("ada@example.com").await;
    let attempts = (0..8).map(|_| login(&app, "ada@example.com", PASSWORD));
    let answers = futures::future::join_all(attempts).await;
    let busy: Vec<&reqwest::Response> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(
        answers.iter().any(|r| r.status() == StatusCode::OK),
        "one hash at a time still runs"
    );
    assert!(
        !busy.is_empty(),
        "8 hashes at once with one slot: some must be turned away"
    );
    assert!(busy.iter().all(|r| retry_after(r) >= 1));
    for resp in answers {
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "hashing-busy").await;
        }
    }
}

#[tokio::test]
async fn a_reset_with_a_made_up_token_is_refused_before_any_hashing() {
    // One hashing slot and no waiting: were the made-up tokens hashed before they were
    // checked, eight at once would meet a busy slot (503) instead of their 400.
    let app = spawn_app_with(|config| {
        config.limits.password_hash_concurrency = 1;
        config.limits.password_hash_wait_ms = 1;
    })
    .await;
    let attempts = (0..8).map(|n| {
        app.http
            .post(app.url("/v1/auth/password-reset/confirm"))
            .json(&json!({ "token": format!("made-up-{n}"), "new_password": "a brand new passphrase" }))
            .send()
    });
    for resp in futures::future::join_all(attempts).await {
        assert_problem(resp.unwrap(), StatusCode::BAD_REQUEST, "token-invalid").await;
    }
}

#[tokio::test]
async fn the_verification_email_can_be_asked_for_again_only_a_few_times() {
    let app = spawn_app_with(|config| config.limits.verification_resend_limit = 2).await;
    let token = app.user("ada@example.com").await;
    let resend = || {
        app.http
            .post(app.url("/v1/me/verification-email"))
            .bearer_auth(&token)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(resend().await.unwrap().status(), StatusCode::ACCEPTED);
    }
    let resp = resend().await.unwrap();
    assert!(retry_after(&resp) >= 1);
    assert_problem(resp, StatusCode::TOO_MANY_REQUESTS, "verification-resend-limited").await;
    assert_eq!(
        app.count("select count(*) from apalis.jobs where job_type = 'email'")
            .await,
        3,
        "the registration's link and two more"
    );
}

#[tokio::test]
async fn the_welcome_email_is_queued_when_the_address_is_verified_not_before() {
    let app = spawn_app().await;
    app.user("ada@example.com").await;
    let welcome = "select count(*) from apalis.jobs
                    where job_type = 'email' and convert_from(job, 'utf8')::jsonb->>'template' = 'welcome'";
    assert_eq!(app.count(welcome).await, 0);
    app.verify_address("ada@example.com").await;
    assert_eq!(app.count(welcome).await, 1);
}

#[tokio::test]
async fn link_pages_cannot_be_framed_cached_or_leak_their_token_as_referrer() {
    let app = spawn_app().await;
    for path in ["/verify?token=abc", "/reset?token=abc", "/unsubscribe?token=abc"] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
    }
}

#[tokio::test]
async fn every_answer_is_nosniff_and_outputs_are_sandboxed() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let me = app.get(&token, "/v1/me").await;
    assert_eq!(me.headers()["x-content-type-options"], "nosniff");
    let missing = app
        .get(
            &token,
            "/v1/media/0190d5a0-0000-7000-8000-000000000000/outputs/g/cover.svg",
        )
        .await;
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    let csp = missing.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("sandbox"), "{csp}");
    let problem: Value = missing.json().await.unwrap();
    assert_eq!(problem["code"], "output-not-found");
}
