//! What an operator and an attacker meet first in the real API: it will not start with a
//! guessable signing key, and the single-use tokens in email links never reach its log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use veza_e2e::{TestDatabase, platform::Platform};

/// `veza-api migrate` with `env` on a fresh database: whether it succeeded, and its output.
fn migrate_with(database_url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(veza_e2e::platform::binary("veza-api"));
    cmd.arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("VEZA_DATA_DIR", std::env::temp_dir().join("veza-keys-test"));
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_api_refuses_to_start_with_a_missing_or_weak_key_outside_development_mode() {
    let db = TestDatabase::create().await;
    let refused = [
        (vec![], "VEZA_JWT_SECRET is required"),
        (
            vec![("VEZA_JWT_SECRET", "too-short-0123456789")],
            "VEZA_JWT_SECRET must be at least 32 bytes",
        ),
        (
            vec![("VEZA_JWT_SECRET", "changeme-changeme-changeme-changeme")],
            "VEZA_JWT_SECRET is weak",
        ),
        // Development mode allows a missing key, not a weak one.
        (
            vec![
                ("VEZA_DEV_MODE", "1"),
                ("VEZA_JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ],
            "VEZA_JWT_SECRET is weak",
        ),
        (
            vec![
                ("VEZA_JWT_SECRET", "a-strong-secret-0123456789-ABCDEFGHIJ"),
                ("VEZA_JWT_PREVIOUS_SECRETS", "old"),
            ],
            "each of VEZA_JWT_PREVIOUS_SECRETS must be at least 32 bytes",
        ),
    ];
    for (env, expected) in refused {
        let (ok, output) = migrate_with(&db.url, &env);
        assert!(!ok, "{env:?} was accepted");
        assert!(
            output.contains(expected),
            "{env:?}: expected `{expected}` in:\n{output}"
        );
    }
    for env in [
        vec![("VEZA_DEV_MODE", "1")],
        vec![("VEZA_JWT_SECRET", "a-strong-secret-0123456789-ABCDEFGHIJ")],
    ] {
        let (ok, output) = migrate_with(&db.url, &env);
        assert!(ok, "{env:?} was refused:\n{output}");
    }
}

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
