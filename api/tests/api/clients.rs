//! Who the client is behind a proxy: `X-Forwarded-For` counts only from `VEZA_TRUSTED_PROXIES`,
//! and IPv6 clients share their /64's limits.

use reqwest::StatusCode;
use serde_json::{Value, json};
use veza_api::middleware::client::TrustedProxies;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app_with};

async fn register_from(app: &TestApp, email: &str, forwarded_for: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn limits_and_sessions_key_on_the_forwarded_client_only_behind_a_trusted_proxy() {
    let behind_proxy = spawn_app_with(|config| {
        config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        config.register_limit = 2;
    })
    .await;
    // Two clients behind the proxy: each has its own allowance.
    for (i, client) in ["198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.2"]
        .iter()
        .enumerate()
    {
        let resp = register_from(&behind_proxy, &format!("u{i}@example.com"), client).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{client}");
    }
    // A client's own fake entry on the left changes nothing: the proxy appended the real one.
    let spoofed = register_from(&behind_proxy, "u4@example.com", "203.0.113.50, 198.51.100.1").await;
    assert_problem(spoofed, StatusCode::TOO_MANY_REQUESTS, "register-rate-limited").await;

    // IPv6 clients of one /64 share the limit; the next /64 is another client.
    for (i, client) in ["2001:db8:5:6::1", "2001:db8:5:6:ffff::2"].iter().enumerate() {
        let resp = register_from(&behind_proxy, &format!("v{i}@example.com"), client).await;
        assert_eq!(resp.status(), StatusCode::CREATED, "{client}");
    }
    let same_64 = register_from(&behind_proxy, "v2@example.com", "2001:db8:5:6:1234::9").await;
    assert_problem(same_64, StatusCode::TOO_MANY_REQUESTS, "register-rate-limited").await;
    let next_64 = register_from(&behind_proxy, "v3@example.com", "2001:db8:5:7::1").await;
    assert_eq!(next_64.status(), StatusCode::CREATED);

    // The session list shows the forwarded address.
    let login: Value = behind_proxy
        .http
        .post(behind_proxy.url("/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({ "email": "u0@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let sessions: Value = behind_proxy
        .get(token, "/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"][0]["client"], "198.51.100.9");

    // Without trusted proxies the header is the client's own claim: ignored.
    let direct = spawn_app_with(|config| config.register_limit = 2).await;
    for (i, client) in ["198.51.100.1", "198.51.100.2"].iter().enumerate() {
        let resp = register_from(&direct, &format!("w{i}@example.com"), client).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let third = register_from(&direct, "w2@example.com", "198.51.100.3").await;
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "register-rate-limited").await;
}
