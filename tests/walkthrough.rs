//! The whole path, end to end, with the real binaries: register, log in, upload audio and an
//! image, wait for the worker, fetch the HLS stream and the thumbnails, find the welcome,
//! verification and media-ready emails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use veza_e2e::{fixtures, platform::Platform, servers::decoded_body};

#[tokio::test]
async fn upload_audio_and_image_then_fetch_stream_thumbnails_and_emails() {
    let platform = Platform::start().await;
    let token = platform.register_verified_and_login("ada@example.com").await;

    let audio = platform
        .upload(&token, fixtures::wav(3.0, 44_100, 2), "tone.wav")
        .await;
    let image = platform
        .upload(&token, fixtures::png(800, 600), "gradient.png")
        .await;
    assert_eq!(audio["kind"], "audio");
    assert_eq!(image["kind"], "image");

    for upload in [&audio, &image] {
        let job_id = upload["job_ids"][0].as_str().unwrap();
        let job = platform.wait_for_job(&token, job_id).await;
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1);
    }
    // The transcode reports its stage and progress on the job.
    let transcode = platform
        .wait_for_job(&token, audio["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(transcode["stage"], "done", "{transcode}");
    assert_eq!(transcode["progress_percent"], 100, "{transcode}");

    check_hls_stream(&platform, &token, audio["media_id"].as_str().unwrap()).await;
    check_thumbnails(&platform, &token, image["media_id"].as_str().unwrap()).await;
    check_emails(&platform, "ada@example.com").await;
}

/// Fetches the master playlist, every media playlist and every file they name, then has ffprobe
/// read each rendition of the copy: the default ladder (AAC-LC 160 and Opus 64/128/192), 48 kHz
/// stereo, the uploaded length.
async fn check_hls_stream(platform: &Platform, token: &str, media_id: &str) {
    let media = platform.get_json(token, &format!("/v1/media/{media_id}")).await;
    platform.check_default_ladder(token, &media, 3.0).await;

    // What the transcode learned, and the waveform peaks (audiowaveform v2, 8-bit).
    let audio = &media["audio"];
    assert!(
        (audio["duration_seconds"].as_f64().unwrap() - 3.0).abs() < 1e-3,
        "{audio}"
    );
    assert_eq!(audio["channels"], 2);
    assert_eq!(audio["codec"], "pcm_s16le");
    let lufs = audio["integrated_lufs"].as_f64().expect("a loudness");
    let gain = audio["playback_gain_db"].as_f64().unwrap();
    let peak = audio["true_peak_dbtp"].as_f64().unwrap();
    assert!(lufs < 0.0 && peak + gain <= -1.0 + 1e-9, "{audio}");
    let waveform = media["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "waveform.dat")
        .unwrap_or_else(|| panic!("no waveform in {media}"));
    let (status, dat) = platform.get(token, waveform["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(i32::from_le_bytes(dat[0..4].try_into().unwrap()), 2, "version");
    assert_eq!(
        u32::from_le_bytes(dat[4..8].try_into().unwrap()) & 1,
        1,
        "8-bit flag"
    );
    let pixels = u32::from_le_bytes(dat[16..20].try_into().unwrap()) as usize;
    assert_eq!(dat.len(), 24 + 2 * pixels, "one min/max pair per pixel");
}

/// Every thumbnail `media` lists, fetched through the API: served with its listed content type
/// and the immutable cache header, bytes of that type, decoded at the listed size. Returns
/// `(content type, width, height)` of each, sorted.
async fn fetch_thumbnails(platform: &Platform, token: &str, media: &Value) -> Vec<(String, u32, u32)> {
    let mut fetched = Vec::new();
    for thumb in media["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "thumbnail")
    {
        let resp = platform
            .http
            .get(platform.url(thumb["url"].as_str().unwrap()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(content_type, thumb["content_type"]);
        assert_eq!(
            resp.headers()["cache-control"],
            "private, max-age=31536000, immutable"
        );
        let bytes = resp.bytes().await.unwrap();
        let (width, height) = match content_type.as_str() {
            "image/avif" => avif_dimensions(&bytes),
            "image/jpeg" | "image/webp" => {
                let format = if content_type == "image/jpeg" {
                    image::ImageFormat::Jpeg
                } else {
                    image::ImageFormat::WebP
                };
                // The bytes are what the content type says.
                assert_eq!(image::guess_format(&bytes).unwrap(), format);
                let decoded = image::load_from_memory_with_format(&bytes, format).unwrap();
                (decoded.width(), decoded.height())
            }
            other => panic!("unexpected thumbnail type {other}"),
        };
        assert_eq!(
            (thumb["width"].as_u64(), thumb["height"].as_u64()),
            (Some(width.into()), Some(height.into()))
        );
        fetched.push((content_type, width, height));
    }
    fetched.sort_unstable();
    fetched
}

/// Every thumbnail listed is fetched and decoded; sizes keep the 4:3 aspect ratio.
async fn check_thumbnails(platform: &Platform, token: &str, media_id: &str) {
    let media = platform.get_json(token, &format!("/v1/media/{media_id}")).await;
    assert_eq!(media["status"], "ready", "{media}");
    let expected = ladder(
        &["image/jpeg", "image/webp"],
        &[(160, 120), (320, 240), (640, 480)],
    );
    assert_eq!(fetch_thumbnails(platform, token, &media).await, expected);
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(800), Some(600))
    );
    assert!(!media["thumbhash"].as_str().unwrap().is_empty());
    assert!(media["dominant_color"].as_str().unwrap().starts_with('#'));
}

/// The outbox ends up with the verification, the welcome (once verified) and one "is ready"
/// email per upload, each once, all to `to`.
async fn check_emails(platform: &Platform, to: &str) {
    let outbox = platform.data_dir.path().join("outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mails: Vec<String> = std::fs::read_dir(&outbox)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let subjects = |subject: &str| {
            mails
                .iter()
                .filter(|m| m.contains(&format!("Subject: {subject}")))
                .count()
        };
        if mails.len() >= 4 {
            assert!(mails.iter().all(|m| m.contains(&format!("To: {to}"))));
            assert!(
                mails
                    .iter()
                    .all(|m| m.contains("text/plain") && m.contains("text/html"))
            );
            assert_eq!(subjects("Welcome to Veza"), 1);
            assert_eq!(subjects("Confirm your email address"), 1);
            assert_eq!(subjects("Your upload is ready"), 2);
            let ready = |name: &str| {
                mails
                    .iter()
                    .any(|m| m.contains("Your upload is ready") && decoded_body(m).contains(name))
            };
            assert!(
                ready("tone.wav") && ready("gradient.png"),
                "each named in its body"
            );
            assert_eq!(mails.len(), 4, "exactly these emails");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of 4 emails in {}",
            mails.len(),
            outbox.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn corrupt_audio_fails_permanently_with_a_reason_and_the_worker_keeps_serving() {
    let mut platform = Platform::start().await;
    let token = platform.register_and_login("bob@example.com").await;

    let bad = platform
        .upload(&token, fixtures::corrupt_wav(), "broken.wav")
        .await;
    let job = platform
        .wait_for_job(&token, bad["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["attempts"], 1, "a permanent failure is not retried: {job}");
    assert_eq!(job["last_error"]["code"], "corrupt-media", "{job}");
    let media = platform
        .get_json(
            &token,
            &format!("/v1/media/{}", bad["media_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(media["status"], "failed");
    assert_eq!(media["error"]["code"], "corrupt-media");
    assert!(!media["error"]["message"].as_str().unwrap().is_empty());

    let good = platform
        .upload(&token, fixtures::wav(1.0, 48_000, 1), "ok.wav")
        .await;
    let job = platform
        .wait_for_job(&token, good["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(platform.worker_is_running());
}

#[tokio::test]
async fn sigterm_stops_the_api_and_the_worker_cleanly() {
    let mut platform = Platform::start().await;
    let (api, worker) = platform.terminate().await;
    assert!(api.success(), "veza-api exited with {api}");
    assert!(worker.success(), "veza-worker exited with {worker}");
}

/// Waits until every job of the media item (the transcode, then the thumbnail job it queues)
/// has succeeded, and returns the item.
async fn wait_for_item(platform: &Platform, token: &str, media_id: &str) -> Value {
    loop {
        let media = platform.get_json(token, &format!("/v1/media/{media_id}")).await;
        let jobs: Vec<String> = media["job_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect();
        for job in &jobs {
            let job = platform.wait_for_job(token, job).await;
            assert_eq!(job["state"], "succeeded", "{job}");
        }
        let again = platform.get_json(token, &format!("/v1/media/{media_id}")).await;
        if again["job_ids"].as_array().unwrap().len() == jobs.len() && jobs.len() >= 2 {
            return again;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The (width, height) of every thumbnail listed.
fn thumbnail_sizes(media: &Value) -> Vec<(u64, u64)> {
    media["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == "thumbnail")
        .map(|o| (o["width"].as_u64().unwrap(), o["height"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn audio_gets_thumbnails_from_its_cover_art_else_from_its_waveform() {
    let platform = Platform::start().await;
    let token = platform.register_and_login("grace@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let (wav, cover, flac) = (
        dir.path().join("in.wav"),
        dir.path().join("cover.png"),
        dir.path().join("in.flac"),
    );
    std::fs::write(&wav, fixtures::wav(2.0, 44_100, 2)).unwrap();
    std::fs::write(&cover, fixtures::png(400, 400)).unwrap();
    let made = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&wav)
        .arg("-i")
        .arg(&cover)
        .args([
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-c:a",
            "flac",
            "-c:v",
            "png",
            "-disposition:v",
            "attached_pic",
        ])
        .args(["-metadata", "title=Covered"])
        .arg(&flac)
        .status()
        .expect("ffmpeg (Debian package) must be installed");
    assert!(made.success());

    let covered = platform
        .upload(&token, std::fs::read(&flac).unwrap(), "covered.flac")
        .await;
    let plain = platform
        .upload(&token, fixtures::wav(2.0, 44_100, 2), "plain.wav")
        .await;

    let covered = wait_for_item(&platform, &token, covered["media_id"].as_str().unwrap()).await;
    assert_eq!(covered["audio"]["tags"]["title"], "Covered", "{covered}");
    assert!(
        covered["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "cover-art")
    );
    let sizes = thumbnail_sizes(&covered);
    assert!(
        !sizes.is_empty() && sizes.iter().all(|(w, h)| w == h),
        "square like the cover: {sizes:?}"
    );

    let plain = wait_for_item(&platform, &token, plain["media_id"].as_str().unwrap()).await;
    let sizes = thumbnail_sizes(&plain);
    assert!(
        sizes.contains(&(640, 160)),
        "the waveform drawing, 4:1: {sizes:?}"
    );
    assert!(sizes.iter().all(|(w, h)| *w == 4 * h), "{sizes:?}");
}

#[tokio::test]
async fn heic_upload_gets_upright_jpeg_webp_and_avif_thumbnails() {
    // AVIF is opt-in; the fastest speed keeps the test quick.
    let platform = Platform::start_with(&[
        ("VEZA_THUMBNAIL_FORMATS", "jpeg,webp,avif"),
        ("VEZA_THUMBNAIL_AVIF_SPEED", "10"),
    ])
    .await;
    let token = platform.register_and_login("hedy@example.com").await;
    // Stored 800x600, displayed turned 90° (irot): the item is 600x800.
    let upload = platform
        .upload(&token, fixtures::heic_rotated(800, 600), "IMG_0001.HEIC")
        .await;
    assert_eq!(upload["kind"], "image");
    let media_id = upload["media_id"].as_str().unwrap();
    let job = platform
        .wait_for_job(&token, upload["job_ids"][0].as_str().unwrap())
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
    assert_eq!(media["status"], "ready", "{media}");
    assert_eq!(media["content_type"], "image/heic", "{media}");
    assert_eq!(
        (media["width"].as_u64(), media["height"].as_u64()),
        (Some(600), Some(800))
    );
    let expected = ladder(
        &["image/avif", "image/jpeg", "image/webp"],
        &[(120, 160), (240, 320), (480, 640)],
    );
    assert_eq!(fetch_thumbnails(&platform, &token, &media).await, expected);
}

/// Every `(content type, width, height)` of a thumbnail ladder, sorted as the tests sort theirs.
fn ladder(content_types: &[&str], sizes: &[(u32, u32)]) -> Vec<(String, u32, u32)> {
    content_types
        .iter()
        .flat_map(|t| sizes.iter().map(|(w, h)| (t.to_string(), *w, *h)))
        .collect()
}

/// The size of an AVIF's primary image, read with libheif (which also checks it parses).
fn avif_dimensions(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[4..12], b"ftypavif");
    let context = libheif_rs::HeifContext::read_from_bytes(bytes).unwrap();
    let handle = context.primary_image_handle().unwrap();
    let image = libheif_rs::LibHeif::new()
        .decode(
            &handle,
            libheif_rs::ColorSpace::Rgb(libheif_rs::RgbChroma::Rgb),
            None,
        )
        .unwrap();
    (image.width(), image.height())
}
