//! Users' control of their data through the API alone (no worker): quotas at their edges,
//! deletion requests, account deletion, and the export read back.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use veza_e2e::fixtures;

use crate::helpers::{PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

/// An app whose accounts may store `bytes` bytes and `items` items.
async fn app_with_quota(bytes: u64, items: u64) -> TestApp {
    spawn_app_with(|config| {
        config.quota = veza_jobs::quota::QuotaDefaults { bytes, items };
    })
    .await
}

/// Uploads `bytes` as a chunked body (no `Content-Length`): the API cannot know its size until
/// the end, so only the streaming cap can stop it.
async fn upload_chunked(app: &TestApp, token: &str, bytes: Vec<u8>, pause: Duration) -> reqwest::Response {
    let chunks: Vec<Bytes> = bytes.chunks(4096).map(Bytes::copy_from_slice).collect();
    let body = stream::iter(chunks).then(move |chunk| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(chunk)
    });
    app.http
        .post(app.url("/v1/media"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
}

async fn usage(app: &TestApp, token: &str) -> Value {
    let me: Value = app.get(token, "/v1/me").await.json().await.unwrap();
    me["usage"].clone()
}

async fn reservations(app: &TestApp) -> i64 {
    app.count("select count(*) from upload_reservations").await
}

/// Waits for the reservations to be freed (a dropped upload frees its own from a task).
async fn wait_for_no_reservations(app: &TestApp) {
    for _ in 0..100 {
        if reservations(app).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("upload reservations were not freed");
}

#[tokio::test]
async fn an_upload_that_fits_exactly_passes_and_one_byte_more_is_quota_exceeded() {
    let wav = fixtures::wav(0.2, 8_000, 1);
    let size = wav.len() as u64;
    let app = app_with_quota(2 * size, 10).await;
    let token = app.user("ada@example.com").await;
    assert_eq!(
        usage(&app, &token).await,
        json!({ "bytes_used": 0, "bytes_limit": 2 * size, "items_used": 0, "items_limit": 10 })
    );

    assert_eq!(
        app.upload(&token, wav.clone()).await.status(),
        StatusCode::ACCEPTED
    );
    // One byte more than what is left, declared: refused before a byte is read.
    let mut over = wav.clone();
    over.push(0);
    let problem = assert_problem(
        app.upload(&token, over.clone()).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains(&size.to_string()),
        "{problem}"
    );
    // The same, undeclared: the stream is cut at the cap, nothing stays stored.
    assert_problem(
        upload_chunked(&app, &token, over, Duration::ZERO).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;
    assert_eq!(app.stored_originals(), 1);
    wait_for_no_reservations(&app).await;

    // Exactly what is left, undeclared: fits.
    let resp = upload_chunked(&app, &token, wav.clone(), Duration::ZERO).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(
        usage(&app, &token).await,
        json!({ "bytes_used": 2 * size, "bytes_limit": 2 * size, "items_used": 2, "items_limit": 10 })
    );
    assert_problem(
        app.upload(&token, fixtures::png(1, 1)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;
    assert_eq!(
        reservations(&app).await,
        0,
        "a recorded upload frees its reservation in its transaction"
    );

    // Another account has its own quota.
    let bob = app.user("bob@example.com").await;
    assert_eq!(app.upload(&bob, wav).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_item_quota_counts_items_and_a_deletion_gives_the_space_back() {
    let app = app_with_quota(1 << 30, 1).await;
    let token = app.user("ada@example.com").await;
    let first: Value = app
        .upload(&token, fixtures::png(2, 2))
        .await
        .json()
        .await
        .unwrap();
    let problem = assert_problem(
        app.upload(&token, fixtures::png(2, 2)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("1 items"),
        "{problem}"
    );

    let media_id = first["media_id"].as_str().unwrap();
    let resp = app
        .http
        .delete(app.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_eq!(usage(&app, &token).await["items_used"], 0);
    assert_eq!(
        app.upload(&token, fixtures::png(2, 2)).await.status(),
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn two_parallel_uploads_cannot_both_take_the_last_space() {
    let wav = fixtures::wav(0.5, 8_000, 1);
    let size = wav.len() as u64;

    // Declared sizes: each reserves its own; the second no longer fits. Several rounds: the
    // race is in the database (a locking read that waited must still see what the transaction
    // it waited for reserved), and one round rarely lands on it.
    for _ in 0..8 {
        // Room for one and a half.
        let app = app_with_quota(size + size / 2, 10).await;
        let token = app.user("ada@example.com").await;
        let (a, b) = tokio::join!(app.upload(&token, wav.clone()), app.upload(&token, wav.clone()));
        let mut answers = Vec::new();
        for resp in [a, b] {
            answers.push((resp.status(), resp.text().await.unwrap()));
        }
        answers.sort();
        let statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(
            statuses,
            [StatusCode::ACCEPTED, StatusCode::PAYLOAD_TOO_LARGE],
            "{answers:?}"
        );
    }

    // Undeclared and slow, both in flight together: the first holds all that is left until it
    // ends, so the second is refused even though the first is still streaming.
    let app = app_with_quota(size + size / 2, 10).await;
    let token = app.user("ada@example.com").await;
    let (a, b) = tokio::join!(
        upload_chunked(&app, &token, wav.clone(), Duration::from_millis(20)),
        upload_chunked(&app, &token, wav.clone(), Duration::from_millis(20)),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::PAYLOAD_TOO_LARGE]);
    assert_eq!(usage(&app, &token).await["bytes_used"], size);
    assert_eq!(app.stored_originals(), 1);
    wait_for_no_reservations(&app).await;
}

#[tokio::test]
async fn a_deleted_item_leaves_every_route_at_once_and_a_repeat_finds_the_same_purge() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let other = app.user("bob@example.com").await;
    let uploaded: Value = app
        .upload(&token, fixtures::wav(0.2, 8_000, 1))
        .await
        .json()
        .await
        .unwrap();
    let media_id = uploaded["media_id"].as_str().unwrap();
    let transcode = uploaded["job_ids"][0].as_str().unwrap();
    let delete = |token: String| {
        let request = app
            .http
            .delete(app.url(&format!("/v1/media/{media_id}")))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };

    assert_problem(
        delete(other.clone()).await,
        StatusCode::NOT_FOUND,
        "media-not-found",
    )
    .await;
    let first = delete(token.clone()).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["media_id"], media_id);
    let again: Value = delete(token.clone()).await.json().await.unwrap();
    assert_eq!(again["job_id"], first["job_id"], "idempotent: the same purge");

    assert_eq!(
        app.get(&token, &format!("/v1/media/{media_id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let list: Value = app.get(&token, "/v1/media").await.json().await.unwrap();
    assert_eq!(list["items"], json!([]));
    let reprocess = app
        .http
        .post(app.url(&format!("/v1/media/{media_id}/reprocess")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reprocess.status(), StatusCode::NOT_FOUND);

    // Its waiting transcode will never run; the purge is queued, owned by the user.
    let job: Value = app
        .get(&token, &format!("/v1/jobs/{transcode}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(job["state"], "cancelled", "{job}");
    let purge_id = first["job_id"].as_str().unwrap();
    let purge: Value = app
        .get(&token, &format!("/v1/jobs/{purge_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(purge["kind"], "purge");
    assert_eq!(purge["state"], "queued");
    assert_eq!(
        app.count("select count(*) from audit_events where action = 'media-deleted'")
            .await,
        1,
        "one event, however many requests"
    );
}

#[tokio::test]
async fn account_deletion_needs_the_password_and_closes_the_account_at_once() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    app.upload(&token, fixtures::png(2, 2)).await;
    let delete = |password: &str| {
        app.http
            .delete(app.url("/v1/me"))
            .bearer_auth(&token)
            .json(&json!({ "password": password }))
            .send()
    };
    assert_problem(
        delete("not the password").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid-credentials",
    )
    .await;
    assert_eq!(app.get(&token, "/v1/me").await.status(), StatusCode::OK);

    assert_eq!(delete(PASSWORD).await.unwrap().status(), StatusCode::ACCEPTED);
    assert_problem(
        app.get(&token, "/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token-invalid",
    )
    .await;
    assert_problem(
        app.login("ada@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
    )
    .await;
    assert_eq!(
        app.count("select count(*) from media where deleted_at is null")
            .await,
        0
    );
    assert_eq!(
        app.count(
            "select count(*) from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
              where q.job_type = 'email' and convert_from(q.job, 'UTF8')::jsonb->>'template' = 'account-deleted'"
        )
        .await,
        1,
        "the farewell email is queued"
    );
    assert_eq!(
        app.count("select count(*) from jobs where kind = 'purge'").await,
        1
    );
    assert_eq!(
        app.count("select count(*) from audit_events where action = 'account-deleted'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_export_holds_the_account_the_items_and_every_original_byte_for_byte() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(0.3, 8_000, 1);
    let png = fixtures::png(3, 2);
    let mut uploads = Vec::new();
    for (bytes, name) in [(wav, "tone.wav"), (png, "../evil.png")] {
        let resp = app
            .http
            .post(app.url(&format!("/v1/media?filename={}", urlencode(name))))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        uploads.push((body["media_id"].as_str().unwrap().to_owned(), bytes));
    }
    // Someone else's item is not in it.
    let bob = app.user("bob@example.com").await;
    app.upload(&bob, fixtures::png(1, 1)).await;

    let resp = app.get(&token, "/v1/me/export").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"veza-export-")
    );
    let archive = resp.bytes().await.unwrap().to_vec();

    // An independent reader checks the archive's structure and every CRC.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, &archive).unwrap();
    let check = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-t"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let entries = read_zip(archive).await;
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    let entry = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, bytes)| bytes.clone())
            .unwrap_or_else(|| panic!("{name} missing from {names:?}"))
    };
    let account: Value = serde_json::from_slice(&entry("account.json")).unwrap();
    assert_eq!(account["email_address"], "ada@example.com");
    assert_eq!(account["sessions"].as_array().unwrap().len(), 1);
    let items: Value = serde_json::from_slice(&entry("media.json")).unwrap();
    assert_eq!(items.as_array().unwrap().len(), 2);
    for (media_id, bytes) in &uploads {
        let item = items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == *media_id)
            .unwrap();
        assert_eq!(item["sha256"], hex::encode(Sha256::digest(bytes)));
        assert_eq!(item["size_bytes"], bytes.len());
        let original = entry(item["original"].as_str().unwrap());
        assert_eq!(
            &original, bytes,
            "the original of {media_id} comes back byte for byte"
        );
    }
    assert!(
        names.contains(&format!("originals/{}", uploads[1].0).as_str()),
        "an unsafe name is dropped: {names:?}"
    );
    assert_eq!(entries.len(), 4, "{names:?}");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every entry of a ZIP held in memory, each read with its CRC checked.
async fn read_zip(archive: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let reader = async_zip::base::read::mem::ZipFileReader::new(archive)
        .await
        .unwrap();
    let mut out = Vec::new();
    for index in 0..reader.file().entries().len() {
        let name = reader.file().entries()[index]
            .filename()
            .as_str()
            .unwrap()
            .to_owned();
        let mut entry = reader.reader_with_entry(index).await.unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end_checked(&mut bytes).await.unwrap();
        out.push((name, bytes));
    }
    out
}
