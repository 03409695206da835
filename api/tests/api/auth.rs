use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn register_creates_the_account_and_enqueues_its_verification_email_in_one_go() {
    let app = spawn_app().await;
    let resp = app.register("Ada@Example.com").await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(
        body.get("welcome_email_job_id").is_none(),
        "the welcome email waits for the address to be verified"
    );
    let job_id = body["verification_email_job_id"].as_str().unwrap();
    assert_eq!(app.count("select count(*) from users").await, 1);
    assert_eq!(
        app.count("select count(*) from apalis.jobs where job_type = 'email' and status = 'Pending'")
            .await,
        1,
        "the verification email only: an unverified address gets nothing else"
    );
    let kind: String = sqlx::query_scalar("select kind from jobs where id = $1::uuid")
        .bind(job_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kind, "email");
}

#[tokio::test]
async fn registering_a_taken_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    assert_problem(
        app.register("ADA@example.com").await,
        StatusCode::CONFLICT,
        "email-taken",
    )
    .await;
    assert_eq!(
        app.count("select count(*) from apalis.jobs").await,
        1,
        "no second verification email"
    );
}

#[tokio::test]
async fn register_rejects_a_malformed_address_and_a_short_password() {
    let app = spawn_app().await;
    assert_problem(
        app.register("not-an-address").await,
        StatusCode::BAD_REQUEST,
        "invalid-email",
    )
    .await;
    let resp = app
        .http
        .post(app.url("/v1/auth/register"))
        .json(&serde_json::json!({ "email": "a@b.co", "password": "short" }))
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "bad-request").await;
    assert_eq!(app.count("select count(*) from users").await, 0);
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(app.url("/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.co\", ")
        .send()
        .await
        .unwrap();
    assert_problem(resp, StatusCode::BAD_REQUEST, "bad-request").await;
}

#[tokio::test]
async fn login_with_the_right_password_gives_a_token_that_me_accepts() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let me: Value = app.get(&token, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
}

#[tokio::test]
async fn wrong_password_and_unknown_address_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let wrong = app.login("ada@example.com", "not the password").await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid-credentials").await;
}

#[tokio::test]
async fn me_without_a_token_is_401() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/v1/me")).send().await.unwrap();
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn a_tampered_token_is_401() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    // Change the payload (another subject) and keep the signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload = parts[1].clone().into_bytes();
    payload[10] = if payload[10] == b'A' { b'B' } else { b'A' };
    parts[1] = String::from_utf8(payload).unwrap();
    let resp = app.get(&parts.join("."), "/v1/me").await;
    assert_problem(resp, StatusCode::UNAUTHORIZED, "token-invalid").await;
}
