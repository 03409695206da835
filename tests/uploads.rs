//! Resumable uploads through real tus clients against the real binaries: tus-js-client (npm) is
//! cut off mid-upload, the API is killed and started again, and the upload resumes from the
//! offset the new process reads from Postgres; tuspy (PyPI) stops after two chunks and resumes.
//! Each time the item is the file, byte for byte, and it is processed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use veza_e2e::{
    fixtures,
    node::{npm_ci, report},
    platform::Platform,
};

/// Runs a tus client (`program script args…` in tests/tus) and returns the JSON it prints.
async fn client(program: &str, args: &[&str]) -> Value {
    report(
        program,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tus"),
        args,
        &[],
    )
    .await
}

/// The upload's offset as the API reports it (tus HEAD).
async fn offset(platform: &Platform, token: &str, url: &str) -> u64 {
    let resp = platform
        .http
        .head(url)
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

/// The item `media_id` once processed: its original is `bytes`, its name `filename`.
async fn assert_item(platform: &Platform, token: &str, media_id: &str, bytes: &[u8], filename: &str) {
    let media = platform.wait_for_media(token, media_id).await;
    assert_eq!(media["status"], "ready", "{media:#}");
    assert_eq!(media["filename"], filename);
    assert_eq!(media["size_bytes"], bytes.len());
    assert_eq!(media["sha256"], hex::encode(Sha256::digest(bytes)));
    let original = std::fs::read(platform.data_dir().join(format!("objects/originals/{media_id}"))).unwrap();
    assert!(original == bytes, "the stored original differs from the file");
    assert_eq!(
        std::fs::read_dir(platform.data_dir().join("objects/uploads"))
            .map(|dirs| dirs
                .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
                .sum::<usize>())
            .unwrap_or(0),
        0,
        "the parts are gone"
    );
}

#[tokio::test]
async fn tus_js_client_resumes_an_interrupted_upload_after_the_api_is_killed_and_restarted() {
    npm_ci(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tus"));
    let mut platform = Platform::start().await;
    let token = platform.register_and_login("tus-js@example.com").await;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("long-take.wav");
    let wav = fixtures::wav(6.0, 44_100, 2);
    std::fs::write(&file, &wav).unwrap();
    let (base, file_arg) = (platform.base_url.clone(), file.to_str().unwrap().to_owned());
    let chunk = (128 * 1024).to_string();

    let started = client(
        "node",
        &[
            "upload.mjs",
            "start",
            &base,
            &token,
            &file_arg,
            &chunk,
            &(3 * 128 * 1024).to_string(),
        ],
    )
    .await;
    let url = started["url"].as_str().unwrap().to_owned();
    let before = offset(&platform, &token, &url).await;
    assert!(
        before >= 3 * 128 * 1024 && before < wav.len() as u64,
        "offset {before}"
    );

    // A crash of the API: the upload's state is in Postgres, its parts in storage.
    platform.restart_api().await;
    assert_eq!(offset(&platform, &token, &url).await, before);

    let resumed = client(
        "node",
        &["upload.mjs", "resume", &base, &token, &file_arg, &chunk, &url],
    )
    .await;
    assert_eq!(resumed["url"], url.as_str(), "the same upload, continued");
    let media_id = resumed["mediaId"].as_str().unwrap().to_owned();
    assert_item(&platform, &token, &media_id, &wav, "long-take.wav").await;
}

#[tokio::test]
async fn tuspy_resumes_an_upload_it_stopped() {
    let platform = Platform::start().await;
    let token = platform.register_and_login("tuspy@example.com").await;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("take.wav");
    let wav = fixtures::wav(3.0, 44_100, 2);
    std::fs::write(&file, &wav).unwrap();
    let (base, file_arg) = (platform.base_url.clone(), file.to_str().unwrap().to_owned());
    let chunk = (100 * 1000).to_string();

    let started = client(
        "python3",
        &["upload.py", "start", &base, &token, &file_arg, &chunk, "2"],
    )
    .await;
    assert_eq!(started["offset"], 200_000);
    let url = started["url"].as_str().unwrap().to_owned();
    assert_eq!(offset(&platform, &token, &url).await, 200_000);

    let resumed = client(
        "python3",
        &["upload.py", "resume", &base, &token, &file_arg, &chunk, &url],
    )
    .await;
    assert_eq!(
        resumed["resumed_from"], 200_000,
        "resumed where the server said, not from zero"
    );
    assert_eq!(resumed["offset"], wav.len());
    let media_id = resumed["mediaId"].as_str().unwrap().to_owned();
    assert_item(&platform, &token, &media_id, &wav, "take.wav").await;
}
