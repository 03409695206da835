//! A listener's view: the published master playlist plays in a real browser. Headless Debian
//! Chromium runs hls.js against the API's own URLs (tests/player/play.mjs, driven by
//! playwright-core) — once with hls.js's own level choice, then forced onto the AAC rung and onto
//! an Opus rung — and each run must play the clip to its end with no fatal hls.js error, no
//! refused segment (even one hls.js recovers from by falling back to another level), no media
//! element error and no error in Chromium's media log. The source is 44.1 kHz, as most music
//! is, so every rendition has been resampled. A video's master plays the same way in a
//! `<video>`, forced once onto the AV1 rung and once onto the H.264 one, every frame decoded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::Value;
use veza_e2e::{fixtures, platform::Platform};

/// Long enough for two 6-second segments per rendition, short enough to play quickly.
const CLIP_SECONDS: f64 = 8.0;

#[tokio::test]
async fn master_playlist_plays_in_headless_chromium_on_aac_and_opus_rungs() {
    let player = player_dir();
    install_player(&player);
    let platform = Platform::start().await;
    let token = platform.register_and_login("listener@example.com").await;
    let upload = platform
        .upload(&token, fixtures::wav(CLIP_SECONDS, 44_100, 2), "tone.wav")
        .await;
    let job = platform
        .wait_for_job(&token, upload["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let media_id = upload["media_id"].as_str().unwrap();
    let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
    let master = media["playlist_url"].as_str().expect("a published playlist");

    let report = play_in_chromium(&player, &platform.base_url, master, &token, &[]).await;

    let runs = report["runs"].as_array().unwrap();
    let families: Vec<&str> = runs
        .iter()
        .map(|r| r["family"].as_str().unwrap_or("auto"))
        .collect();
    assert_eq!(families, ["auto", "mp4a", "opus"], "{report:#}");
    for run in runs {
        assert_eq!(run["ok"], true, "{report:#}");
        let played = run["currentTime"].as_f64().unwrap();
        assert!(
            (played - CLIP_SECONDS).abs() < 0.1,
            "played {played} s: {report:#}"
        );
    }
    assert!(
        runs[1]["level"]["codecs"]
            .as_str()
            .unwrap()
            .starts_with("mp4a.40.2"),
        "{report:#}"
    );
    assert_eq!(runs[2]["level"]["audioCodec"], "opus", "{report:#}");
    // Seen in the output of `cargo test -- --nocapture`: what Chromium and hls.js did.
    for run in runs {
        println!(
            "chromium {} hls.js {}: {} played level {} ({}, {} b/s) to {:.3} s",
            report["chromium"].as_str().unwrap_or("?"),
            run["hlsVersion"].as_str().unwrap_or("?"),
            run["family"].as_str().unwrap_or("auto"),
            run["level"]["index"],
            run["level"]["codecs"].as_str().unwrap_or("?"),
            run["level"]["bitrate"],
            run["currentTime"].as_f64().unwrap_or(0.0),
        );
    }
}

#[tokio::test]
async fn a_signed_playback_url_plays_with_no_header_in_chromium_and_ffprobe_until_the_item_is_deleted() {
    let player = player_dir();
    install_player(&player);
    let platform = Platform::start().await;
    let token = platform.register_and_login("listener@example.com").await;
    let upload = platform
        .upload(&token, fixtures::wav(CLIP_SECONDS, 44_100, 2), "tone.wav")
        .await;
    let media_id = upload["media_id"].as_str().unwrap();
    assert_eq!(platform.wait_for_media(&token, media_id).await["status"], "ready");
    let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
    let signed = media["playback_url"]
        .as_str()
        .expect("a signed playback URL")
        .to_owned();
    assert!(signed.starts_with("/v1/play/"), "{signed}");

    // hls.js in Chromium, no Authorization header on any request.
    let report = play_in_chromium(&player, &platform.base_url, &signed, "none", &[]).await;
    for run in report["runs"].as_array().unwrap() {
        assert_eq!(run["ok"], true, "{report:#}");
        assert_eq!(run["requestsWithAuthorization"], 0, "{report:#}");
        let played = run["currentTime"].as_f64().unwrap();
        assert!(
            (played - CLIP_SECONDS).abs() < 0.1,
            "played {played} s: {report:#}"
        );
    }

    // ffprobe follows the master to a media playlist and its segments over plain HTTP.
    let url = platform.url(&signed);
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "json",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let format: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let seconds: f64 = format["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((seconds - CLIP_SECONDS).abs() < 0.2, "ffprobe read {seconds} s");

    // A tampered signature is refused; a deleted item's URL stops working at once.
    // `/v1/play/{media}/{generation}/{expires}.{kid}.{tag}/{name}`: a later expiry, same tag.
    let signed_token = signed.split('/').nth(5).unwrap();
    let (expires, rest) = signed_token.split_once('.').unwrap();
    let later = expires.parse::<u64>().unwrap() + 86_400;
    let tampered = url.replace(signed_token, &format!("{later}.{rest}"));
    let resp = platform.http.get(&tampered).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN, "{tampered}");
    let resp = platform
        .http
        .delete(platform.url(&format!("/v1/media/{media_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
    let resp = platform.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::NOT_FOUND);
}

/// Long enough for two segments per rendition at the test's 1-second segments.
const VIDEO_SECONDS: f64 = 3.0;

#[tokio::test]
async fn video_master_plays_in_headless_chromium_on_the_av1_and_the_h264_rung() {
    let player = player_dir();
    install_player(&player);
    let clip = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=96x54:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=3",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
        ],
        "clip.mp4",
    );
    let platform = Platform::start_with(&[("VEZA_VIDEO_SEGMENT_SECONDS", "1")]).await;
    let token = platform.register_and_login("viewer@example.com").await;
    let upload = platform.upload(&token, clip, "clip.mp4").await;
    let media = platform
        .wait_for_media(&token, upload["media_id"].as_str().unwrap())
        .await;
    assert_eq!(media["status"], "ready", "{media}");
    let master = media["playlist_url"].as_str().expect("a published playlist");

    let extra = ["--element", "video", "--families", "av01,avc1"];
    let report = play_in_chromium(&player, &platform.base_url, master, &token, &extra).await;

    let runs = report["runs"].as_array().unwrap();
    let families: Vec<&str> = runs
        .iter()
        .map(|r| r["family"].as_str().unwrap_or("auto"))
        .collect();
    assert_eq!(families, ["auto", "av01", "avc1"], "{report:#}");
    for run in runs {
        assert_eq!(run["ok"], true, "{report:#}");
        let played = run["currentTime"].as_f64().unwrap();
        assert!(
            (played - VIDEO_SECONDS).abs() < 0.1,
            "played {played} s: {report:#}"
        );
        assert_eq!(run["videoSize"], serde_json::json!([96, 54]), "{report:#}");
        // Every frame reached the decoder (a few may be dropped at twice real time).
        let decoded = run["videoFrames"]["decoded"].as_u64().unwrap();
        assert!(decoded >= 70, "decoded {decoded} frames: {report:#}");
    }
    assert!(
        runs[1]["level"]["videoCodec"]
            .as_str()
            .unwrap()
            .starts_with("av01"),
        "{report:#}"
    );
    assert!(
        runs[2]["level"]["videoCodec"]
            .as_str()
            .unwrap()
            .starts_with("avc1"),
        "{report:#}"
    );
    for run in runs {
        println!(
            "chromium {}: {} played level {} ({}) to {:.3} s, {} frames",
            report["chromium"].as_str().unwrap_or("?"),
            run["family"].as_str().unwrap_or("auto"),
            run["level"]["index"],
            run["level"]["codecs"].as_str().unwrap_or("?"),
            run["currentTime"].as_f64().unwrap_or(0.0),
            run["videoFrames"]["decoded"],
        );
    }
}

/// tests/player: the Node script and its pinned npm packages.
fn player_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("player")
}

/// Installs the player's npm packages from its lock file when they are missing, and checks that
/// Chromium is there: a missing tool fails the test, it never skips it.
fn install_player(player: &Path) {
    assert!(
        Path::new(&chromium()).exists(),
        "{} is missing: run scripts/system-deps.sh (installs Debian's chromium)",
        chromium()
    );
    if player.join("node_modules/playwright-core").exists() && player.join("node_modules/hls.js").exists() {
        return;
    }
    veza_e2e::node::npm_ci(player);
}

/// The browser to drive: `VEZA_CHROMIUM`, or Debian's.
fn chromium() -> String {
    std::env::var("VEZA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Runs play.mjs on the master at `master` (a path on `origin`); returns its JSON report, or
/// fails with everything it printed when it exits non-zero or runs past its deadline.
async fn play_in_chromium(player: &Path, origin: &str, master: &str, token: &str, extra: &[&str]) -> Value {
    let script = player.join("play.mjs");
    let browser = chromium();
    let mut args = vec![
        script.to_str().unwrap(),
        "--origin",
        origin,
        "--master",
        master,
        "--token",
        token,
        "--chromium",
        &browser,
        "--timeout-seconds",
        "20",
    ];
    args.extend_from_slice(extra);
    let output = veza_e2e::node::run(player, &args, Duration::from_secs(120)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "playback failed ({}):\n{}\nthe player's report:\n{stdout}\n{}",
        output.status,
        problems(&stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

/// One line per failed run of the player's report, with Chromium's media log: the first thing
/// to read when playback fails.
fn problems(report: &str) -> String {
    let Ok(report) = serde_json::from_str::<Value>(report) else {
        return "(no report)".to_owned();
    };
    let mut lines = vec![format!("error: {}", report["error"].as_str().unwrap_or("none"))];
    for run in report["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["ok"] != true)
    {
        lines.push(format!(
            "run {} (level {}): {} | Chromium: {}",
            run["family"].as_str().unwrap_or("auto"),
            run["forced"],
            run["problems"],
            run["mediaLog"]
        ));
    }
    lines.join("\n")
}
