//! Resumable uploads (tus 1.0) against the API alone: the protocol's answers, an upload in parts
//! that becomes an item, one continued on another API instance, and every refusal.

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use veza_e2e::fixtures;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_on, spawn_app_with};

const TUS: &str = "1.0.0";

async fn create(app: &TestApp, token: &str, length: usize, metadata: Option<&str>) -> Response {
    let mut req = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(token)
        .header("tus-resumable", TUS)
        .header("upload-length", length.to_string());
    if let Some(metadata) = metadata {
        req = req.header("upload-metadata", metadata);
    }
    req.send().await.unwrap()
}

/// Creates an upload; returns its path.
async fn created(app: &TestApp, token: &str, length: usize, metadata: Option<&str>) -> String {
    let resp = create(app, token, length, metadata).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["tus-resumable"], TUS);
    assert!(resp.headers().contains_key("upload-expires"));
    resp.headers()["location"].to_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, token: &str, upload: &str, offset: usize, bytes: &[u8]) -> Response {
    app.http
        .patch(app.url(upload))
        .bearer_auth(token)
        .header("tus-resumable", TUS)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn head(app: &TestApp, token: &str, upload: &str) -> Response {
    app.http
        .head(app.url(upload))
        .bearer_auth(token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap()
}

fn header(resp: &Response, name: &str) -> String {
    resp.headers()[name].to_str().unwrap().to_owned()
}

/// Files under the storage folder's `uploads/` (the parts of uploads in progress).
fn stored_parts(app: &TestApp) -> usize {
    let root = app.data.path().join("objects/uploads");
    std::fs::read_dir(root)
        .map(|dirs| {
            dirs.map(|dir| std::fs::read_dir(dir.unwrap().path()).map_or(0, Iterator::count))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn an_upload_sent_in_parts_becomes_one_item_through_the_tus_protocol() {
    let app = spawn_app().await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(1.0, 16_000, 1);

    let options = app
        .http
        .request(Method::OPTIONS, app.url("/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "tus-version"), TUS);
    assert_eq!(
        header(&options, "tus-extension"),
        "creation,termination,expiration"
    );
    assert_eq!(header(&options, "tus-max-size"), (8 * 1024 * 1024).to_string());

    // "take.wav", as tus clients encode metadata.
    let upload = created(
        &app,
        &token,
        wav.len(),
        Some("filename dGFrZS53YXY=,filetype YXVkaW8vd2F2"),
    )
    .await;
    assert!(upload.starts_with("/v1/uploads/"), "{upload}");
    let status = head(&app, &token, &upload).await;
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(header(&status, "upload-offset"), "0");
    assert_eq!(header(&status, "upload-length"), wav.len().to_string());
    assert_eq!(header(&status, "cache-control"), "no-store");
    assert_eq!(
        header(&status, "upload-metadata"),
        "filename dGFrZS53YXY=,filetype YXVkaW8vd2F2"
    );

    let (a, b) = (wav.len() / 3, 2 * wav.len() / 3);
    let first = patch(&app, &token, &upload, 0, &wav[..a]).await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&first, "upload-offset"), a.to_string());
    assert_eq!(header(&first, "tus-resumable"), TUS);
    // The same bytes again (a client that lost the answer) or from a wrong offset: 409.
    assert_problem(
        patch(&app, &token, &upload, 0, &wav[..a]).await,
        StatusCode::CONFLICT,
        "upload-offset-mismatch",
    )
    .await;
    assert_eq!(
        header(&head(&app, &token, &upload).await, "upload-offset"),
        a.to_string()
    );
    assert_eq!(
        patch(&app, &token, &upload, a, &wav[a..b]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(stored_parts(&app), 2);
    assert_eq!(
        app.count("select count(*) from media").await,
        0,
        "no item before the last byte"
    );

    let last = patch(&app, &token, &upload, b, &wav[b..]).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&last, "upload-offset"), wav.len().to_string());
    let media_id = header(&last, "veza-media-id");
    let job_id = header(&last, "veza-job-id");

    let item: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["filename"], "take.wav");
    assert_eq!(item["kind"], "audio");
    assert_eq!(item["size_bytes"], wav.len());
    assert_eq!(item["sha256"], hex::encode(Sha256::digest(&wav)));
    assert_eq!(item["job_ids"][0], job_id.as_str());
    // The original is whole; the parts and the reservation are gone.
    let original = std::fs::read(app.data.path().join(format!("objects/originals/{media_id}"))).unwrap();
    assert!(original == wav);
    assert_eq!(stored_parts(&app), 0);
    assert_eq!(app.count("select count(*) from upload_reservations").await, 0);
    // A finished upload still answers HEAD, naming its item; it takes no more bytes.
    let done = head(&app, &token, &upload).await;
    assert_eq!(header(&done, "upload-offset"), wav.len().to_string());
    assert_eq!(header(&done, "veza-media-id"), media_id);
    assert_problem(
        patch(&app, &token, &upload, wav.len(), b"more").await,
        StatusCode::CONFLICT,
        "upload-offset-mismatch",
    )
    .await;
}

#[tokio::test]
async fn an_upload_begun_on_one_api_instance_finishes_on_another() {
    let first = spawn_app().await;
    let root = first.data.path().join("objects");
    // A second instance on the same database and the same store, as behind a load balancer.
    let second = spawn_app_on(&first.database_url, |config| {
        config.storage = veza_jobs::storage::StorageConfig::Fs { root };
    })
    .await;
    let token = first.user("ada@example.com").await;
    let png = fixtures::png(64, 48);
    let upload = created(&first, &token, png.len(), None).await;
    let half = png.len() / 2;
    assert_eq!(
        patch(&first, &token, &upload, 0, &png[..half]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        header(&head(&second, &token, &upload).await, "upload-offset"),
        half.to_string()
    );
    let last = patch(&second, &token, &upload, half, &png[half..]).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    let media_id = header(&last, "veza-media-id");
    let item: Value = first
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item["kind"], "image");
    assert_eq!(item["sha256"], hex::encode(Sha256::digest(&png)));
}

#[tokio::test]
async fn the_protocol_refuses_what_it_must_and_loses_nothing() {
    let wav = fixtures::wav(0.5, 8_000, 1);
    let app = spawn_app_with(|config| {
        config.quota = veza_jobs::quota::QuotaDefaults {
            bytes: 3 * wav.len() as u64,
            items: 10,
        };
    })
    .await;
    let token = app.user("ada@example.com").await;

    // Without Tus-Resumable (or another version): 412 naming the version served.
    let unversioned = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header(&unversioned, "tus-version"), TUS);
    // No length, a deferred one, or more than the upload limit.
    let no_length = app
        .http
        .post(app.url("/v1/uploads"))
        .bearer_auth(&token)
        .header("tus-resumable", TUS)
        .header("upload-defer-length", "1")
        .send()
        .await
        .unwrap();
    assert_problem(no_length, StatusCode::BAD_REQUEST, "upload-length-required").await;
    assert_problem(
        create(&app, &token, 8 * 1024 * 1024 + 1, None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "media-too-large",
    )
    .await;
    assert_problem(
        create(&app, &token, wav.len(), Some("filename !!!")).await,
        StatusCode::BAD_REQUEST,
        "invalid-upload-metadata",
    )
    .await;
    // The quota is reserved at creation: two uploads fit, a third is refused before any byte.
    let kept = created(&app, &token, wav.len(), None).await;
    let ended = created(&app, &token, wav.len(), None).await;
    assert_problem(
        create(&app, &token, 2 * wav.len(), None).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-exceeded",
    )
    .await;

    // PATCH: the wrong content type, more bytes than are left.
    let wrong_type = app
        .http
        .patch(app.url(&kept))
        .bearer_auth(&token)
        .header("tus-resumable", TUS)
        .header("upload-offset", "0")
        .header("content-type", "application/octet-stream")
        .body(wav.clone())
        .send()
        .await
        .unwrap();
    assert_problem(
        wrong_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "wrong-content-type",
    )
    .await;
    let mut longer = wav.clone();
    longer.push(0);
    assert_problem(
        patch(&app, &token, &kept, 0, &longer).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload-length-exceeded",
    )
    .await;
    assert_eq!(header(&head(&app, &token, &kept).await, "upload-offset"), "0");

    // Another account sees nothing of it.
    let grace = app.user("grace@example.com").await;
    assert_eq!(head(&app, &grace, &kept).await.status(), StatusCode::NOT_FOUND);
    assert_problem(
        patch(&app, &grace, &kept, 0, &wav).await,
        StatusCode::NOT_FOUND,
        "upload-not-found",
    )
    .await;

    // Termination: the bytes and the reservation go, the upload answers 404.
    assert_eq!(
        patch(&app, &token, &ended, 0, &wav[..100]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(stored_parts(&app), 1);
    let terminated = app
        .http
        .delete(app.url(&ended))
        .bearer_auth(&token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(terminated.status(), StatusCode::NO_CONTENT);
    assert_eq!(head(&app, &token, &ended).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stored_parts(&app), 0);
    assert_eq!(app.count("select count(*) from upload_reservations").await, 1);

    // Bytes that are no media Veza takes: 415 at the last byte, and the upload is over.
    let text = vec![b'x'; 4000];
    let junk = created(&app, &token, text.len(), None).await;
    assert_eq!(
        patch(&app, &token, &junk, 0, &text[..1000]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        patch(&app, &token, &junk, 1000, &text[1000..]).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unknown-media-type",
    )
    .await;
    assert_eq!(head(&app, &token, &junk).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(stored_parts(&app), 0);
    assert_eq!(app.stored_originals(), 0);
    assert_eq!(app.count("select count(*) from media").await, 0);

    // Expired: gone.
    sqlx::query("update resumable_uploads set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(head(&app, &token, &kept).await.status(), StatusCode::NOT_FOUND);
}

/// On S3-compatible storage (moto): each PATCH is an object of its own in the bucket, and the last
/// joins them into the original (a multipart upload of 5 MiB parts: this one is over 5 MiB).
#[tokio::test]
async fn on_s3_the_parts_are_objects_and_the_original_is_joined_in_the_bucket() {
    let s3 = veza_e2e::servers::S3Server::start("veza-tus").await;
    let storage = veza_jobs::storage::StorageConfig::S3 {
        endpoint: Some(s3.endpoint.clone()),
        bucket: "veza-tus".to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: "test".to_owned(),
        secret_access_key: "test".to_owned(),
    };
    let store = veza_jobs::storage::Storage::open(&storage).unwrap();
    let app = spawn_app_with(|config| config.storage = storage).await;
    let token = app.user("ada@example.com").await;
    let wav = fixtures::wav(36.0, 44_100, 2);
    assert!(wav.len() > 6 * 1024 * 1024);
    let upload = created(&app, &token, wav.len(), Some("filename bG9uZy53YXY=")).await;
    let objects = |prefix: &'static str| {
        let store = store.clone();
        async move {
            use futures::StreamExt;
            store.list(prefix).collect::<Vec<_>>().await.len()
        }
    };
    let (a, b) = (2 * 1024 * 1024, 4 * 1024 * 1024);
    assert_eq!(
        patch(&app, &token, &upload, 0, &wav[..a]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        patch(&app, &token, &upload, a, &wav[a..b]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(objects("uploads").await, 2);
    let last = patch(&app, &token, &upload, b, &wav[b..]).await;
    assert_eq!(last.status(), StatusCode::NO_CONTENT);
    let media_id = header(&last, "veza-media-id");
    let original = store
        .get_bytes(&format!("originals/{media_id}"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        original.as_ref() == wav.as_slice(),
        "the joined original is the file"
    );
    assert_eq!(objects("uploads").await, 0, "the parts are gone");
}
