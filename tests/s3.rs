//! The whole platform on an S3-compatible server (moto) instead of a folder: uploads stored as
//! multipart objects, transcodes and thumbnails written to the bucket, playback through it,
//! deletion purging it; and a store that cuts uploads mid-way, which costs the job an attempt
//! and publishes nothing half-written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::Value;
use veza_e2e::{cutter::CuttingProxy, fixtures, platform::Platform, servers::S3Server};

const BUCKET: &str = "veza-media";

/// Every object of the item `id` in the bucket: its original and everything under its folder.
async fn objects_of(s3: &S3Server, id: &str) -> Vec<(String, u64)> {
    let mut objects = s3.list(BUCKET, &format!("originals/{id}")).await;
    objects.extend(s3.list(BUCKET, &format!("media/{id}/")).await);
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_runs_on_s3_from_upload_to_playback_and_deletion() {
    let s3 = S3Server::start(BUCKET).await;
    let platform = Platform::start_with_env(None, &s3.env(BUCKET), &[]).await;
    let token = platform.register_and_login("ada@example.com").await;

    // 6.9 MB: more than one 5 MiB part, so the API stores the original as a multipart upload.
    let wav = fixtures::wav(36.0, 48_000, 2);
    let audio = platform.upload(&token, wav.clone(), "long.wav").await;
    let png = fixtures::png(1600, 900);
    let image = platform.upload(&token, png, "wide.png").await;
    let (audio_id, image_id) = (
        audio["media_id"].as_str().unwrap().to_owned(),
        image["media_id"].as_str().unwrap().to_owned(),
    );

    let audio_item = platform.wait_for_media(&token, &audio_id).await;
    platform.check_default_ladder(&token, &audio_item, 36.0).await;
    let image_item = platform.wait_for_media(&token, &image_id).await;
    assert_eq!(image_item["status"], "ready", "{image_item}");
    let thumbnails: Vec<&Value> = image_item["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "thumbnail")
        .collect();
    assert!(thumbnails.len() >= 8, "four sizes in two formats: {image_item}");
    for thumb in thumbnails {
        // A signed URL answers 307 to a presigned URL of the bucket; reqwest follows it.
        let (status, bytes) = platform.get(&token, thumb["url"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{thumb}");
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            u64::from(decoded.width().max(decoded.height())),
            thumb["width"]
                .as_u64()
                .unwrap()
                .max(thumb["height"].as_u64().unwrap()),
            "{thumb}"
        );
    }

    // Everything is in the bucket and nothing on the local disk; the original byte for byte.
    assert!(
        !platform.data_dir().join("objects").exists(),
        "no object in the local folder"
    );
    let original = format!("originals/{audio_id}");
    let stored = objects_of(&s3, &audio_id).await;
    assert!(
        stored.contains(&(original.clone(), wav.len() as u64)),
        "{stored:?}"
    );
    assert!(
        stored.iter().filter(|(key, _)| key.ends_with(".m4s")).count() >= 4 * 6,
        "36 s in 6 s segments, four renditions: {stored:?}"
    );
    let body = reqwest::get(format!("{}/{BUCKET}/{original}", s3.endpoint))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        body == wav,
        "the original, joined from its parts, is the upload byte for byte"
    );
    assert_eq!(s3.open_multipart_uploads(BUCKET).await, 0);

    // Deleting the image purges its objects from the bucket.
    assert!(!objects_of(&s3, &image_id).await.is_empty());
    let resp = platform
        .http
        .delete(platform.url(&format!("/v1/media/{image_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let purge: Value = resp.json().await.unwrap();
    let purge = platform
        .wait_for_job(&token, purge["job_id"].as_str().unwrap())
        .await;
    assert_eq!(purge["state"], "succeeded", "{purge}");
    assert_eq!(objects_of(&s3, &image_id).await, []);
    assert!(
        !objects_of(&s3, &audio_id).await.is_empty(),
        "the other item stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cuts_uploads_mid_way_costs_the_job_an_attempt_and_publishes_nothing_half_written() {
    let s3 = S3Server::start(BUCKET).await;
    // The API reaches the store directly; the worker through a proxy that can cut its uploads.
    let proxy = CuttingProxy::start(&s3.endpoint).await;
    let platform = Platform::start_with_env(
        None,
        &s3.env(BUCKET),
        &[
            ("VEZA_S3_ENDPOINT", &proxy.endpoint),
            ("VEZA_RETRY_BASE_MS", "500"),
        ],
    )
    .await;
    let token = platform.register_and_login("ada@example.com").await;

    // Requests and reads pass; any connection that sends more than 64 KiB is cut, so every
    // segment upload (6 s of audio: 48 KiB at 64 kbit/s, 144 KiB at 192) dies mid-body for
    // the larger renditions, and object_store's own few retries die the same way.
    proxy.arm(64 * 1024);
    let upload = platform
        .upload(&token, fixtures::wav(20.0, 48_000, 2), "cut.wav")
        .await;
    let job_id = upload["job_ids"][0].as_str().unwrap().to_owned();
    let media_path = format!("/v1/media/{}", upload["media_id"].as_str().unwrap());
    let job = platform
        .wait_for_state(&token, &job_id, &["retrying", "failed", "succeeded"])
        .await;
    assert_eq!(job["state"], "retrying", "{job}");
    assert_eq!(job["last_error"]["code"], "storage-unavailable", "{job}");
    assert!(proxy.cuts() > 0, "the proxy cut uploads");
    let media = platform.get_json(&token, &media_path).await;
    assert_eq!(media["status"], "processing", "{media}");
    assert!(media["playlist_url"].is_null(), "nothing published: {media}");

    // The store heals; the retry publishes a whole ladder, every segment whole (ffprobe reads
    // each rendition for its full 20 s), and no multipart upload is left open in the bucket.
    proxy.disarm();
    let job = platform.wait_for_job(&token, &job_id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["attempts"].as_i64().unwrap() >= 2, "{job}");
    let media = platform.get_json(&token, &media_path).await;
    platform.check_default_ladder(&token, &media, 20.0).await;
    assert_eq!(s3.open_multipart_uploads(BUCKET).await, 0);
}
