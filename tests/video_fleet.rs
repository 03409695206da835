//! One video across the fleet: its chunks are encoded by every worker with a free slot, and a
//! worker killed (SIGKILL) in the middle of a chunk costs only that chunk: the rescue redoes it
//! elsewhere, chunks already counted are never encoded again, and the video publishes whole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::Value;
use veza_e2e::{ffprobe, fixtures, platform::Platform};

/// Segments of 0.4 s (10 frames at 25 fps), one per chunk, one encode slot per worker.
const VIDEO_ENV: [(&str, &str); 3] = [
    ("VEZA_VIDEO_SEGMENT_SECONDS", "0.4"),
    ("VEZA_VIDEO_CHUNK_SEGMENTS", "1"),
    ("VEZA_ENCODE_CONCURRENCY", "1"),
];

/// `seconds` of 160x90 test pattern at 25 fps, H.264.
fn clip(seconds: u32) -> Vec<u8> {
    let source = format!("testsrc2=size=160x90:rate=25:duration={seconds}");
    fixtures::ffmpeg(
        &["-f", "lavfi", "-i", &source, "-c:v", "libx264", "-g", "25"],
        "clip.mp4",
    )
}

async fn db(platform: &Platform) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url)
        .await
        .unwrap()
}

/// Who counted each chunk of the item, in chunk order (`None`: not done yet).
async fn chunk_workers(platform: &Platform, media_id: &str) -> Vec<Option<String>> {
    sqlx::query_scalar("select encoded_by from video_chunks where media_id = $1::uuid order by chunk_index")
        .bind(media_id)
        .fetch_all(&mut db(platform).await)
        .await
        .unwrap()
}

/// The published AV1 and H.264 renditions, read by ffprobe: every frame, keyframes every 10.
async fn check_published(platform: &Platform, token: &str, media: &Value, frames: u64) {
    assert_eq!(media["status"], "ready", "{media}");
    let copy = tempfile::tempdir().unwrap();
    let renditions = platform
        .fetch_hls(token, media["playlist_url"].as_str().unwrap(), copy.path())
        .await;
    assert_eq!(renditions, ["av1-90p.m3u8", "h264-90p.m3u8"]);
    for (name, codec) in [("av1-90p.m3u8", "av1"), ("h264-90p.m3u8", "h264")] {
        let read = ffprobe::video_rendition(&copy.path().join(name));
        assert_eq!(
            (read.codec.as_str(), read.width, read.height, read.frames),
            (codec, 160, 90, frames),
            "{name}"
        );
        assert_eq!(
            read.keyframes,
            (0..frames).step_by(10).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn two_workers_share_the_chunks_of_one_video() {
    let mut platform = Platform::start_with(&VIDEO_ENV).await;
    platform.add_worker_with(&VIDEO_ENV);
    let token = platform.register_and_login("ada@example.com").await;
    let upload = platform.upload(&token, clip(2), "clip.mp4").await;
    let media_id = upload["media_id"].as_str().unwrap();
    let media = platform.wait_for_media(&token, media_id).await;
    check_published(&platform, &token, &media, 50).await;
    let workers = chunk_workers(&platform, media_id).await;
    assert_eq!(workers.len(), 5);
    let mut distinct: Vec<&String> = workers.iter().map(|w| w.as_ref().unwrap()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "both workers encoded chunks: {workers:?}");
}

#[tokio::test]
async fn a_worker_killed_mid_chunk_costs_only_that_chunk_and_the_video_publishes_whole() {
    let mut platform = Platform::start_with(&VIDEO_ENV).await;
    let token = platform.register_and_login("ada@example.com").await;
    let upload = platform.upload(&token, clip(2), "clip.mp4").await;
    let media_id = upload["media_id"].as_str().unwrap().to_owned();
    // Kill the worker once it has counted a chunk and is in the middle of the next.
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = loop {
        let workers = chunk_workers(&platform, &media_id).await;
        if workers.iter().flatten().count() >= 1 {
            break workers;
        }
        assert!(Instant::now() < deadline, "no chunk done: {workers:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // One chunk of five counted, another on its way: the item shows it.
    let midway = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
    platform.kill_worker(0);
    let progress = midway["progress_percent"].as_i64().unwrap_or(-1);
    assert!((20..100).contains(&progress), "progress while encoding: {midway}");
    let killed: Vec<(usize, String)> = before
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.clone().map(|w| (i, w)))
        .collect();
    assert!(killed.len() < 5, "the kill came after the last chunk: {before:?}");

    platform.add_worker_with(&VIDEO_ENV);
    let media = platform.wait_for_media(&token, &media_id).await;
    assert_eq!(media["progress_percent"], 100, "{media}");
    check_published(&platform, &token, &media, 50).await;
    // Chunks counted before the kill kept their encoder; the rest were the new worker's.
    let after = chunk_workers(&platform, &media_id).await;
    for (i, worker) in &killed {
        assert_eq!(
            after[*i].as_ref(),
            Some(worker),
            "chunk {i} was encoded again: {after:?}"
        );
    }
    let newcomer = after
        .iter()
        .flatten()
        .filter(|w| !killed.iter().any(|(_, k)| k == *w))
        .count();
    assert_eq!(newcomer, 5 - killed.len(), "{after:?}");
}

#[tokio::test]
async fn cancelling_one_waiting_chunk_cancels_the_whole_video() {
    let platform = Platform::start_with(&VIDEO_ENV).await;
    let token = platform.register_and_login("ada@example.com").await;
    let upload = platform.upload(&token, clip(2), "clip.mp4").await;
    let media_id = upload["media_id"].as_str().unwrap().to_owned();
    // One encode slot: once the probe has queued the five chunks, the last one waits.
    let deadline = Instant::now() + Duration::from_secs(120);
    let jobs = loop {
        let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
        let ids: Vec<String> = media["job_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect();
        // The probe, five chunks (and no soundtrack: the clip is silent).
        if ids.len() >= 6 {
            break ids;
        }
        assert!(Instant::now() < deadline, "the chunks were not queued: {media}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last = jobs.last().unwrap();
    let response = reqwest::Client::new()
        .post(platform.url(&format!("/v1/jobs/{last}/cancel")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());

    let media = platform.wait_for_media(&token, &media_id).await;
    assert_eq!(media["status"], "failed", "{media}");
    assert_eq!(media["error"]["code"], "cancelled", "{media}");
    // Every job has ended; none but the probe (and chunks already done) succeeded, and no
    // finalize ran.
    for id in &jobs {
        let job = platform
            .wait_for_state(&token, id, &["succeeded", "cancelled", "failed"])
            .await;
        assert_ne!(job["kind"], "finalize", "{job}");
    }
    let cancelled = {
        let mut states = Vec::new();
        for id in &jobs[1..] {
            states.push(platform.get_json(&token, &format!("/v1/jobs/{id}")).await["state"].clone());
        }
        states
    };
    assert!(
        cancelled.iter().filter(|s| **s == "cancelled").count() >= 4,
        "the chunks: {cancelled:?}"
    );
}
