//! Webhooks end to end: a receiver on loopback (tests/webhooks/receiver.py) verifies every
//! delivery with the Standard Webhooks reference library; deliveries are retried after 500s and
//! sent again on request under the same `webhook-id`; with private addresses not allowed (the
//! default), endpoints on loopback addresses and names are refused before anything is sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use veza_e2e::{fixtures, platform::Platform, servers::free_port};

/// The receiver, killed on drop; what it got is in `log`.
struct Receiver {
    log: PathBuf,
    _process: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Receiver {
    async fn start(port: u16, secret: &str, fail_first: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("received.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("webhooks/receiver.py");
        let process = tokio::process::Command::new("python3")
            .arg(script)
            .args([port.to_string(), secret.to_owned(), fail_first.to_string()])
            .arg(&log)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 must be installed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            log,
            _process: process,
            _dir: dir,
        }
    }

    fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until `done` holds for what was received.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(Instant::now() < deadline, "{what}: got {received:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn create_webhook(platform: &Platform, token: &str, url: &str, events: &[&str]) -> Value {
    let resp = platform
        .http
        .post(platform.url("/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({ "url": url, "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn upload_and_wait(platform: &Platform, token: &str) -> String {
    let uploaded = platform.upload(token, fixtures::png(64, 48), "picture.png").await;
    let media_id = uploaded["media_id"].as_str().unwrap().to_owned();
    let media = platform.wait_for_media(token, &media_id).await;
    assert_eq!(media["status"], "ready");
    media_id
}

#[tokio::test]
async fn deliveries_are_signed_retried_after_500s_and_sent_again_on_request() {
    let platform = Platform::start_with(&[
        ("VEZA_WEBHOOKS_ALLOW_PRIVATE", "1"),
        ("VEZA_RETRY_BASE_MS", "200"),
    ])
    .await;
    let token = platform.register_and_login("hooks@example.com").await;
    let port = free_port();
    let created = create_webhook(
        &platform,
        &token,
        &format!("http://127.0.0.1:{port}/hook"),
        &["media.ready", "job.succeeded"],
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created:#}");
    let webhook = created["webhook"]["id"].as_str().unwrap().to_owned();
    // The first two requests get 500: their deliveries must come again.
    let receiver = Receiver::start(port, secret, 2).await;

    let media_id = upload_and_wait(&platform, &token).await;
    let accepted = |received: &[Value]| received.iter().filter(|r| r["status"] == 204).count();
    let received = receiver
        .wait_for("both events accepted", |r| accepted(r) >= 2)
        .await;
    assert!(
        received.iter().all(|r| r["verified"] == true),
        "every delivery verifies with the secret: {received:#?}"
    );
    let types: Vec<&str> = received
        .iter()
        .filter(|r| r["status"] == 204)
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"media.ready") && types.contains(&"job.succeeded"),
        "{types:?}"
    );
    for event in &received {
        assert_eq!(event["data"]["media_id"], media_id.as_str());
        assert_eq!(event["path"], "/hook");
    }
    // Each refused delivery came again with its webhook-id, and was then accepted.
    let refused: Vec<&Value> = received.iter().filter(|r| r["status"] == 500).collect();
    assert_eq!(refused.len(), 2);
    for failed in refused {
        assert!(
            received
                .iter()
                .any(|r| r["status"] == 204 && r["id"] == failed["id"]),
            "{received:#?}"
        );
    }

    // The log says the same.
    let log: Value = platform
        .get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries"))
        .await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log.iter()
            .all(|d| d["status"] == "delivered" && d["last_status"] == 204)
    );
    let attempts: i64 = log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(attempts, 4, "two accepted sends and two refused ones: {log:#?}");

    // Sent again on request: the same webhook-id, received (and verified) twice.
    let ready = log.iter().find(|d| d["event_type"] == "media.ready").unwrap();
    let delivery = ready["id"].as_str().unwrap();
    let redelivered = platform
        .http
        .post(platform.url(&format!("/v1/webhooks/{webhook}/deliveries/{delivery}/redeliver")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 202);
    let received = receiver
        .wait_for("the redelivery", |r| {
            r.iter()
                .filter(|e| e["id"] == delivery && e["status"] == 204)
                .count()
                == 2
        })
        .await;
    assert!(received.iter().all(|r| r["verified"] == true));

    // Deleting the item takes the deliveries about it (their bodies name it) with it.
    let deleted: Value = platform
        .http
        .delete(platform.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let purge = platform
        .wait_for_job(&token, deleted["job_id"].as_str().unwrap())
        .await;
    assert_eq!(purge["state"], "succeeded", "{purge:#}");
    let log: Value = platform
        .get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries"))
        .await;
    assert_eq!(log, json!([]));
}

#[tokio::test]
async fn endpoints_on_loopback_addresses_and_names_are_refused_when_private_addresses_are_not_allowed() {
    let platform = Platform::start().await;
    let token = platform.register_and_login("ssrf@example.com").await;
    let port = free_port();
    let receiver = Receiver::start(port, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 0).await;
    let mut webhooks = Vec::new();
    for url in [
        format!("http://127.0.0.2:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
    ] {
        let created = create_webhook(&platform, &token, &url, &["job.succeeded"]).await;
        webhooks.push(created["webhook"]["id"].as_str().unwrap().to_owned());
    }
    upload_and_wait(&platform, &token).await;

    for webhook in &webhooks {
        let deadline = Instant::now() + Duration::from_secs(60);
        let delivery = loop {
            let log: Value = platform
                .get_json(&token, &format!("/v1/webhooks/{webhook}/deliveries"))
                .await;
            if log[0]["status"] == "failed" {
                break log[0].clone();
            }
            assert!(Instant::now() < deadline, "the delivery did not fail: {log:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Refused before anything was sent, for good: one attempt, no retry.
        assert_eq!(delivery["attempts"], 1, "{delivery:#?}");
        assert!(
            delivery["last_error"]
                .as_str()
                .unwrap()
                .contains("a private, loopback or link-local address"),
            "{delivery:#?}"
        );
        assert!(delivery.get("last_status").is_none(), "{delivery:#?}");
    }
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}
