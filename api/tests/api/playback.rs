//! Signed playback URLs and CORS, in-process: what a player or a browser on another origin meets.

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;
use veza_api::playback::PlaybackKeys;
use veza_e2e::fixtures;

use crate::helpers::{SECRET, THUMBNAIL_BYTES, TestApp, assert_problem, spawn_app, spawn_app_with};

/// An item of a new user with a published thumbnail; its id and the item as the API shows it.
async fn published(app: &TestApp) -> (String, Uuid, Value) {
    let token = app.user("ada@example.com").await;
    let uploaded: Value = app
        .upload(&token, fixtures::png(4, 4))
        .await
        .json()
        .await
        .unwrap();
    let media_id: Uuid = uploaded["media_id"].as_str().unwrap().parse().unwrap();
    app.publish_thumbnail(media_id, "g1").await;
    let item: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    (token, media_id, item)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_signed_url_serves_with_no_header_until_it_expires_or_its_generation_goes() {
    let app = spawn_app().await;
    let (token, media_id, item) = published(&app).await;
    let signed = item["outputs"][0]["signed_url"].as_str().unwrap().to_owned();
    assert!(
        signed.starts_with(&format!("/v1/play/{media_id}/g1/")),
        "{signed}"
    );

    let resp = app.http.get(app.url(&signed)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/webp");
    let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
    let max_age: u64 = cache.strip_prefix("private, max-age=").unwrap().parse().unwrap();
    assert!(
        max_age > 3500 && max_age <= 3660,
        "cached no longer than the URL lives: {cache}"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), THUMBNAIL_BYTES);

    // Another generation, another item, a forged or a lapsed token: refused.
    let keys = PlaybackKeys::new(SECRET.as_bytes(), &[]);
    let other_generation = format!("{}/64.webp", keys.folder(media_id, "g0", unix_now() + 60));
    let moved = other_generation.replace("/g0/", "/g1/");
    assert_problem(
        app.http.get(app.url(&moved)).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "playback-url-invalid",
    )
    .await;
    let forged = format!(
        "{}/64.webp",
        PlaybackKeys::new(b"not the server's secret at all, no", &[]).folder(media_id, "g1", unix_now() + 60)
    );
    assert_problem(
        app.http.get(app.url(&forged)).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "playback-url-invalid",
    )
    .await;
    let lapsed = format!("{}/64.webp", keys.folder(media_id, "g1", unix_now() - 1));
    assert_problem(
        app.http.get(app.url(&lapsed)).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "playback-url-expired",
    )
    .await;
    let fresh = format!("{}/64.webp", keys.folder(media_id, "g1", unix_now() + 60));
    assert_eq!(
        app.http.get(app.url(&fresh)).send().await.unwrap().status(),
        StatusCode::OK
    );
    let missing = fresh.replace("64.webp", "128.webp");
    assert_problem(
        app.http.get(app.url(&missing)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "output-not-found",
    )
    .await;

    // A new generation replaces the old: its URLs stop working.
    app.publish_thumbnail(media_id, "g2").await;
    assert_problem(
        app.http.get(app.url(&signed)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "output-not-found",
    )
    .await;
    let item: Value = app
        .get(&token, &format!("/v1/media/{media_id}"))
        .await
        .json()
        .await
        .unwrap();
    let renewed = item["outputs"][0]["signed_url"].as_str().unwrap().to_owned();
    assert_eq!(
        app.http.get(app.url(&renewed)).send().await.unwrap().status(),
        StatusCode::OK
    );

    // A deleted item's URLs stop working in the request that deletes it.
    let resp = app
        .http
        .delete(app.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    assert_problem(
        app.http.get(app.url(&renewed)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "output-not-found",
    )
    .await;
}

#[tokio::test]
async fn a_signed_url_outlives_a_key_rotation_in_the_overlap_only() {
    let old_secret = "the-old-secret-0123456789-abcdefghijkl";
    let before = spawn_app_with(|config| config.jwt_secret = Some(old_secret.into())).await;
    let (_, _, item) = published(&before).await;
    let signed = item["outputs"][0]["signed_url"].as_str().unwrap().to_owned();

    // Instances with the new secret, on the same database and storage.
    let objects = before.data.path().join("objects");
    let same_storage = |config: &mut veza_api::config::ApiConfig| {
        config.storage = veza_jobs::storage::StorageConfig::Fs {
            root: objects.clone(),
        };
    };
    let overlap = crate::helpers::spawn_app_on(&before.database_url, |config| {
        same_storage(config);
        config.jwt_previous_secrets = vec![old_secret.into()];
    })
    .await;
    let resp = overlap.http.get(overlap.url(&signed)).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the previous secret still verifies"
    );
    let after = crate::helpers::spawn_app_on(&before.database_url, same_storage).await;
    assert_problem(
        after.http.get(after.url(&signed)).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "playback-url-invalid",
    )
    .await;
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only_errors_included() {
    let app = spawn_app_with(|config| config.cors_origins = vec!["https://app.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/v1/media"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(headers.contains("authorization"), "{headers}");

    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());

    // A 401 problem reaches the allowed origin's script, so it can read why.
    let resp = app
        .http
        .get(app.url("/v1/me"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_problem(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Unconfigured: no CORS headers at all.
    let plain = spawn_app().await;
    let resp = plain
        .http
        .get(plain.url("/v1/me"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

/// With S3 storage, a signed URL of a file redirects to a presigned URL of the object (its bytes
/// never pass through the API); a playlist is still served, so its relative URIs keep the
/// signature; an invalid token is refused before any redirect; the setting turns it off.
#[tokio::test]
async fn with_s3_storage_files_redirect_to_presigned_urls_and_playlists_are_served() {
    let s3 = veza_e2e::servers::S3Server::start("veza-play").await;
    let storage = veza_jobs::storage::StorageConfig::S3 {
        endpoint: Some(s3.endpoint.clone()),
        bucket: "veza-play".to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: "test".to_owned(),
        secret_access_key: "test".to_owned(),
    };
    let store = veza_jobs::storage::Storage::open(&storage).unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for redirects in [true, false] {
        let config = storage.clone();
        let app = spawn_app_with(|c| {
            c.storage = config;
            c.s3_presigned_redirects = redirects;
        })
        .await;
        let token = app.user("ada@example.com").await;
        let uploaded: Value = app
            .upload(&token, fixtures::png(4, 4))
            .await
            .json()
            .await
            .unwrap();
        let media_id: Uuid = uploaded["media_id"].as_str().unwrap().parse().unwrap();
        // A published generation with a segment and its playlist, stored in the bucket.
        let generation = format!("g-{redirects}");
        for (name, bytes, content_type, kind) in [
            (
                "seg-00001.m4s",
                &b"segment bytes"[..],
                "video/iso.segment",
                "hls-segment",
            ),
            (
                "index.m3u8",
                &b"#EXTM3U\nseg-00001.m4s\n"[..],
                "application/vnd.apple.mpegurl",
                "hls-playlist",
            ),
        ] {
            let key = veza_jobs::storage::Storage::output_key(media_id, "hls", &generation, name);
            store
                .put_bytes(&key, bytes::Bytes::from_static(bytes))
                .await
                .unwrap();
            sqlx::query(
                "insert into outputs (id, media_id, kind, generation, name, object_key, content_type, size_bytes)
                 values ($1, $2, $8, $3, $4, $5, $6, $7)",
            )
            .bind(Uuid::now_v7())
            .bind(media_id)
            .bind(&generation)
            .bind(name)
            .bind(&key)
            .bind(content_type)
            .bind(bytes.len() as i64)
            .bind(kind)
            .execute(&app.pool)
            .await
            .unwrap();
        }
        sqlx::query("update media set status = 'ready', playback_generation = $2 where id = $1")
            .bind(media_id)
            .bind(&generation)
            .execute(&app.pool)
            .await
            .unwrap();
        let keys = PlaybackKeys::new(SECRET.as_bytes(), &[]);
        let folder = keys.folder(media_id, &generation, unix_now() + 600);

        let segment = no_redirects
            .get(app.url(&format!("{folder}/seg-00001.m4s")))
            .send()
            .await
            .unwrap();
        if redirects {
            assert_eq!(segment.status(), StatusCode::TEMPORARY_REDIRECT);
            let location = segment.headers()["location"].to_str().unwrap().to_owned();
            assert!(location.starts_with(&s3.endpoint), "{location}");
            assert!(location.contains("X-Amz-Signature="), "{location}");
            // The presigned URL works with no credentials at all, straight from the store.
            let fetched = reqwest::get(&location).await.unwrap();
            assert_eq!(fetched.status(), StatusCode::OK);
            assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"segment bytes");
        } else {
            assert_eq!(segment.status(), StatusCode::OK);
            assert_eq!(segment.bytes().await.unwrap().as_ref(), b"segment bytes");
        }
        let playlist = no_redirects
            .get(app.url(&format!("{folder}/index.m3u8")))
            .send()
            .await
            .unwrap();
        assert_eq!(playlist.status(), StatusCode::OK);
        assert_eq!(playlist.text().await.unwrap(), "#EXTM3U\nseg-00001.m4s\n");

        let forged = folder.replace(&generation, "g-other");
        assert_eq!(
            no_redirects
                .get(app.url(&format!("{forged}/seg-00001.m4s")))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::FORBIDDEN
        );
    }
}
