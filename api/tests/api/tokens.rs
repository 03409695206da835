//! Access tokens and sessions: forged and stale tokens, key rotation by `kid`, refresh-token
//! rotation and reuse, logout, the session list and revocation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use veza_api::auth::key_id;

use crate::helpers::{PASSWORD, SECRET, TestApp, assert_problem, spawn_app, spawn_app_on};

const OTHER_SECRET: &str = "another-secret-0123456789-ABCDEFGHIJKLMNOP";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a token the API issued (read, not verified).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Signs `claims` with `secret`, naming `kid` (or none) and using `alg`.
fn sign(claims: &Value, secret: &str, kid: Option<String>, alg: jsonwebtoken::Algorithm) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn login_body(app: &TestApp, email: &str) -> Value {
    let resp = app.login(email, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_tokens_signed_with_a_known_key_in_hs256_and_unexpired_are_accepted() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let mut claims = claims_of(&token);
    let kid = Some(key_id(SECRET.as_bytes()));
    use jsonwebtoken::Algorithm::{HS256, HS512};

    // The same claims, re-signed the way the API signs: accepted (the harness is sound).
    let resigned = sign(&claims, SECRET, kid.clone(), HS256);
    assert_eq!(app.get(&resigned, "/v1/me").await.status(), StatusCode::OK);

    let mut cases = vec![
        (
            "another key under the API's kid",
            sign(&claims, OTHER_SECRET, kid.clone(), HS256),
        ),
        (
            "another key under its own kid",
            sign(
                &claims,
                OTHER_SECRET,
                Some(key_id(OTHER_SECRET.as_bytes())),
                HS256,
            ),
        ),
        ("the right key but no kid", sign(&claims, SECRET, None, HS256)),
        (
            "the right key in HS512",
            sign(&claims, SECRET, kid.clone(), HS512),
        ),
    ];
    // `alg: none`: a header and payload with an empty signature.
    let none_header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    cases.push(("alg none", format!("{none_header}.{payload}.")));
    // Another account's id in a token of this session.
    let mut other_subject = claims.clone();
    other_subject["sub"] = json!(uuid::Uuid::now_v7());
    cases.push((
        "another subject",
        sign(&other_subject, SECRET, kid.clone(), HS256),
    ));
    let mut no_session = claims.clone();
    no_session.as_object_mut().unwrap().remove("sid");
    cases.push(("no session", sign(&no_session, SECRET, kid.clone(), HS256)));
    for (what, token) in cases {
        let resp = app.get(&token, "/v1/me").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "token-invalid", "{what}");
    }

    claims["iat"] = json!(now() - 120);
    claims["exp"] = json!(now() - 1);
    let expired = sign(&claims, SECRET, kid, HS256);
    assert_problem(
        app.get(&expired, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-expired",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_key_verifies_during_the_overlap_and_not_after() {
    let old = spawn_app().await;
    let issued_by_old_key = old.user("ada@example.com").await;
    assert!(claims_of(&issued_by_old_key).get("sid").is_some());

    // Rotation: a new signing secret, the old one kept for verification only.
    let overlap = spawn_app_on(&old.database_url, |config| {
        config.jwt_secret = Some(OTHER_SECRET.to_owned());
        config.jwt_previous_secrets = vec![SECRET.to_owned()];
    })
    .await;
    assert_eq!(
        overlap.get(&issued_by_old_key, "/v1/me").await.status(),
        StatusCode::OK
    );
    let issued_by_new_key = login_body(&overlap, "ada@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&issued_by_new_key).unwrap().kid,
        Some(key_id(OTHER_SECRET.as_bytes())),
        "the new key signs"
    );

    // The overlap is over: the old key is gone.
    let after = spawn_app_on(&old.database_url, |config| {
        config.jwt_secret = Some(OTHER_SECRET.to_owned());
    })
    .await;
    assert_problem(
        after.get(&issued_by_old_key, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-invalid",
    )
    .await;
    assert_eq!(
        after.get(&issued_by_new_key, "/v1/me").await.status(),
        StatusCode::OK
    );
    // And the instance still on the old key alone does not know the new one.
    assert_problem(
        old.get(&issued_by_new_key, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-invalid",
    )
    .await;
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_revokes_the_whole_session() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let first = login_body(&app, "ada@example.com").await;
    let other_session = login_body(&app, "ada@example.com").await;

    let resp = refresh(&app, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let second: Value = resp.json().await.unwrap();
    assert_eq!(
        second["session_id"], first["session_id"],
        "the same session goes on"
    );
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(app.get(access, "/v1/me").await.status(), StatusCode::OK);

    // The first refresh token again: copied, so the session (the family) ends.
    assert_problem(
        refresh(&app, first["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-reused",
    )
    .await;
    assert_problem(
        app.get(access, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-revoked",
    )
    .await;
    assert_problem(
        refresh(&app, second["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "session-ended",
    )
    .await;
    // Only that family: the account's other session is untouched.
    let other = other_session["access_token"].as_str().unwrap();
    assert_eq!(app.get(other, "/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        refresh(&app, other_session["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        refresh(&app, "made-up").await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-invalid",
    )
    .await;
}

#[tokio::test]
async fn a_lapsed_session_cannot_be_refreshed() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let body = login_body(&app, "ada@example.com").await;
    sqlx::query("update sessions set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        refresh(&app, body["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "session-ended",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_the_session_of_the_token_and_no_other() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let laptop = login_body(&app, "ada@example.com").await;
    let phone = login_body(&app, "ada@example.com").await;
    let laptop_token = laptop["access_token"].as_str().unwrap();
    let resp = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(laptop_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(laptop_token, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-revoked",
    )
    .await;
    assert_problem(
        refresh(&app, laptop["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "session-ended",
    )
    .await;
    assert_eq!(
        app.get(phone["access_token"].as_str().unwrap(), "/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn owners_list_their_open_sessions_and_revoke_one_from_another() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let laptop = login_body(&app, "ada@example.com").await;
    let phone = app
        .http
        .post(app.url("/v1/auth/login"))
        .header("user-agent", "VezaPhone/1.0")
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let bob = app.user("bob@example.com").await;
    let laptop_token = laptop["access_token"].as_str().unwrap();

    let list: Value = app
        .get(laptop_token, "/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert_eq!(sessions[0]["id"], phone["session_id"], "newest first");
    assert_eq!(sessions[0]["user_agent"], "VezaPhone/1.0");
    assert_eq!(sessions[0]["client"], "127.0.0.1");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["current"], true);

    let revoke = |token: String, id: Value| {
        let app = &app;
        async move {
            app.http
                .delete(app.url(&format!("/v1/me/sessions/{}", id.as_str().unwrap())))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // Another account cannot see nor end it.
    assert_problem(
        revoke(bob.clone(), phone["session_id"].clone()).await,
        StatusCode::NOT_FOUND,
        "session-not-found",
    )
    .await;
    for _ in 0..2 {
        let resp = revoke(laptop_token.to_owned(), phone["session_id"].clone()).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "idempotent");
    }
    assert_problem(
        app.get(phone["access_token"].as_str().unwrap(), "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-revoked",
    )
    .await;
    let list: Value = app
        .get(laptop_token, "/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&bob, "/v1/me").await.status(), StatusCode::OK);
}
