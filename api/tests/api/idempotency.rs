//! `Idempotency-Key` on `POST /v1/media`: a retried upload answers as the first one did and makes
//! no second item; the key with another request is 422; two racing requests make one item.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use veza_e2e::fixtures;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

async fn upload_with_key(
    app: &TestApp,
    token: &str,
    key: &str,
    bytes: Vec<u8>,
    filename: Option<&str>,
) -> Response {
    let mut url = app.url("/v1/media");
    if let Some(name) = filename {
        url = format!("{url}?filename={name}");
    }
    app.http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("idempotency-key", key)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// The same, as a chunked body trickling in (no `Content-Length`).
async fn upload_chunked_with_key(app: &TestApp, token: &str, key: &str, bytes: Vec<u8>) -> Response {
    let chunks: Vec<Bytes> = bytes.chunks(2048).map(Bytes::copy_from_slice).collect();
    let body = stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    app.http
        .post(app.url("/v1/media"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .header("idempotency-key", key)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
}

fn replayed(resp: &Response) -> Option<String> {
    resp.headers()
        .get("idempotent-replayed")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_retried_upload_with_its_key_gets_the_first_answer_and_makes_no_second_item() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(0.2, 8_000, 1);

    let first = upload_with_key(&app, &token, "retry-me", wav.clone(), Some("take.wav")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&first), None);
    let first: Value = first.json().await.unwrap();

    // Sent again as it was: the first answer, byte for byte.
    let again = upload_with_key(&app, &token, "retry-me", wav.clone(), Some("take.wav")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&again).as_deref(), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.count("select count(*) from media").await, 1);
    assert_eq!(
        app.count("select count(*) from jobs where media_id is not null")
            .await,
        1
    );
    assert_eq!(app.stored_originals(), 1);

    // Without a file name on both sides, the chunked body is the same request.
    let plain = upload_with_key(&app, &token, "plain", wav.clone(), None).await;
    assert_eq!(plain.status(), StatusCode::ACCEPTED);
    let plain: Value = plain.json().await.unwrap();
    let chunked = upload_chunked_with_key(&app, &token, "plain", wav.clone()).await;
    assert_eq!(chunked.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&chunked).as_deref(), Some("true"));
    assert_eq!(chunked.json::<Value>().await.unwrap(), plain);

    // Keys are per account: another user's "retry-me" is a new upload.
    let grace = app.user("grace@example.com").await;
    let theirs = upload_with_key(&app, &grace, "retry-me", wav, Some("take.wav")).await;
    assert_eq!(theirs.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&theirs), None);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["media_id"], first["media_id"]);
    assert_eq!(app.count("select count(*) from media").await, 3);
}

#[tokio::test]
async fn the_same_key_with_another_body_or_file_name_is_422_and_stores_nothing() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(0.2, 8_000, 1);
    let first = upload_with_key(&app, &token, "k1", wav.clone(), Some("a.wav")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);

    let mut same_size = wav.clone();
    let last = same_size.len() - 1;
    same_size[last] ^= 0x55;
    let mut longer = wav.clone();
    longer.extend_from_slice(&[0; 16]);
    for (body, name) in [
        (same_size, Some("a.wav")),
        (longer.clone(), Some("a.wav")),
        (wav.clone(), Some("b.wav")),
        (wav.clone(), None),
    ] {
        assert_problem(
            upload_with_key(&app, &token, "k1", body, name).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
        )
        .await;
    }
    // A longer body without a declared length is refused too, once it has grown past the first.
    assert_problem(
        upload_chunked_with_key(&app, &token, "k1", longer).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    )
    .await;
    assert_eq!(app.count("select count(*) from media").await, 1);
    assert_eq!(app.stored_originals(), 1);
    assert_eq!(app.count("select count(*) from upload_reservations").await, 0);

    for bad in ["", &"k".repeat(256), "clé", "tab\there"] {
        let resp = app
            .http
            .post(app.url("/v1/media"))
            .bearer_auth(&token)
            .header("content-type", "application/octet-stream")
            .header("idempotency-key", bad.as_bytes())
            .body(wav.clone())
            .send()
            .await
            .unwrap();
        assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-idempotency-key").await;
    }
}

#[tokio::test]
async fn two_racing_uploads_with_one_key_make_one_item_and_both_get_its_answer() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(0.5, 8_000, 1);
    let (a, b) = tokio::join!(
        upload_chunked_with_key(&app, &token, "race", wav.clone()),
        upload_chunked_with_key(&app, &token, "race", wav.clone()),
    );
    assert_eq!(a.status(), StatusCode::ACCEPTED);
    assert_eq!(b.status(), StatusCode::ACCEPTED);
    let replays = [replayed(&a), replayed(&b)];
    assert!(
        replays.contains(&Some("true".to_owned())),
        "one of the two is the replay: {replays:?}"
    );
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(app.count("select count(*) from media").await, 1);
    // The loser's stored copy is removed, its reservation freed.
    assert_eq!(app.stored_originals(), 1);
    for _ in 0..100 {
        if app.count("select count(*) from upload_reservations").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.count("select count(*) from upload_reservations").await, 0);
}

#[tokio::test]
async fn a_replay_needs_no_quota_and_a_key_is_new_again_after_24_hours() {
    let wav = fixtures::wav(0.2, 8_000, 1);
    let size = wav.len() as u64;
    let app = spawn_app_with(|config| {
        config.quota = veza_jobs::quota::QuotaDefaults {
            bytes: 2 * size,
            items: 10,
        };
    })
    .await;
    let token = app.user("ada@example.com").await;
    assert_eq!(
        upload_with_key(&app, &token, "k", wav.clone(), None)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        upload_with_key(&app, &token, "other", wav.clone(), None)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    // The quota is full, yet the retry is answered: it stores nothing.
    let again = upload_with_key(&app, &token, "k", wav.clone(), None).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&again).as_deref(), Some("true"));

    // A day later the key names nothing: the same key is a new upload (here over the quota).
    sqlx::query("update upload_idempotency_keys set created_at = now() - interval '24 hours 1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        upload_with_key(&app, &token, "k", wav.clone(), None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;
    let first_id: String = sqlx::query_scalar("select id::text from media order by id limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let deleted = app
        .http
        .delete(app.url(&format!("/v1/media/{first_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    let fresh = upload_with_key(&app, &token, "k", wav, None).await;
    assert_eq!(fresh.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed(&fresh), None);
    assert_eq!(
        app.count("select count(*) from upload_idempotency_keys where key = 'k'")
            .await,
        1,
        "the expired record was replaced"
    );
}
