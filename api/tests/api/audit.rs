//! The audit log: security events are recorded where they happen and only admins read them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app_with};

async fn admin_app() -> (TestApp, String) {
    let app = spawn_app_with(|config| config.admin_emails = vec!["ops@example.com".into()]).await;
    let token = app.user("ops@example.com").await;
    app.verify_address("ops@example.com").await;
    (app, token)
}

async fn events(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let resp = app.get(admin, &format!("/v1/admin/audit{query}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page: Value = resp.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn security_events_are_recorded_and_only_admins_read_them() {
    let (app, admin) = admin_app().await;
    let ada = app.user("ada@example.com").await;
    let ada_id = app.get(&ada, "/v1/me").await.json::<Value>().await.unwrap()["id"].clone();

    assert_problem(
        app.get(&ada, "/v1/admin/audit").await,
        StatusCode::FORBIDDEN,
        "admin-required",
    )
    .await;
    let anonymous = app.http.get(app.url("/v1/admin/audit")).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // A failed login, a password change, a logout, a queue pause.
    app.login("ada@example.com", "not the password").await;
    app.login("nobody@example.com", "not the password").await;
    let changed: Value = app
        .http
        .post(app.url("/v1/me/password"))
        .bearer_auth(&ada)
        .json(&json!({ "current_password": PASSWORD, "new_password": "another good passphrase" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(changed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = app
        .http
        .post(app.url("/v1/admin/queues/email/pause"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let about_ada = events(&app, &admin, &format!("?user_id={}", ada_id.as_str().unwrap())).await;
    let actions: Vec<&str> = about_ada.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["logout", "password-changed", "login-failed", "login"],
        "newest first: {about_ada:?}"
    );
    assert_eq!(about_ada[2]["client"], "127.0.0.1");
    assert_eq!(about_ada[2]["detail"]["address"], "ada@example.com");
    assert_eq!(about_ada[0]["detail"]["session_id"], changed["session_id"]);

    let failures = events(&app, &admin, "?action=login-failed").await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0]["detail"]["address"], "nobody@example.com");
    assert!(
        failures[0].get("subject_id").is_none(),
        "no account for an unknown address"
    );

    let pauses = events(&app, &admin, "?action=queue-paused").await;
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0]["detail"]["queue"], "email");
    assert!(pauses[0]["actor_id"].is_string());

    // Pages.
    let first = app
        .get(&admin, "/v1/admin/audit?limit=2")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let before = first["next_before"].as_str().unwrap();
    let rest = events(&app, &admin, &format!("?before={before}")).await;
    let all = events(&app, &admin, "").await;
    assert_eq!(rest.len() + 2, all.len());
    assert_eq!(rest[0]["id"], all[2]["id"]);
}

#[tokio::test]
async fn a_reused_refresh_token_and_a_revoked_session_are_in_the_trail() {
    let (app, admin) = admin_app().await;
    app.register("ada@example.com").await;
    let first: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let refresh = |token: Value| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/v1/auth/refresh"))
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        refresh(first["refresh_token"].clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(first["refresh_token"].clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let reused = events(&app, &admin, "?action=refresh-token-reused").await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0]["detail"]["session_id"], first["session_id"]);

    let second: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let third: Value = app.login("ada@example.com", PASSWORD).await.json().await.unwrap();
    let resp = app
        .http
        .delete(app.url(&format!(
            "/v1/me/sessions/{}",
            third["session_id"].as_str().unwrap()
        )))
        .bearer_auth(second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let revoked = events(&app, &admin, "?action=session-revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["detail"]["session_id"], third["session_id"]);
    assert_eq!(revoked[0]["actor_id"], second_id(&second));
}

fn second_id(tokens: &Value) -> Value {
    // The actor is the account, read from the access token's `sub`.
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = tokens["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].clone()
}
