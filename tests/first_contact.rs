//! What reaches the logs of the real API: the single-use tokens in email links never do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use veza_e2e::platform::Platform;

#[tokio::test]
async fn tokens_in_link_urls_never_reach_the_log() {
    let platform = Platform::start().await;
    let secrets = [
        "reset-secret-1f9a",
        "verify-secret-7c2e",
        "unsubscribe-secret-44d0",
    ];
    for (path, secret) in ["/reset", "/verify", "/unsubscribe"].into_iter().zip(secrets) {
        let resp = platform
            .http
            .get(platform.url(&format!("{path}?token={secret}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = platform
        .http
        .post(platform.url(&format!("/unsubscribe?token={}", secrets[2])))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The log line of a request is written when it is answered; give the writer a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = platform.api_log();
    assert!(
        log.contains("/unsubscribe"),
        "requests are logged, by path:\n{log}"
    );
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the API's log:\n{log}");
    }
}
