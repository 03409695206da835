//! Video uploads through the real binaries: the probe reads the headers of what phones and
//! browsers record (MP4/MOV, Matroska/WebM; H.264, HEVC, VP9; AAC, Opus, none), stores the facts
//! (rotation, display size, range, bit depth, HDR transfer) and fails for good, with a stable code
//! and a reason, what it cannot take: codecs, limits, damaged files. The worker keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sqlx::Row;
use veza_e2e::{fixtures, platform::Platform};

/// 1 s of test pattern at 160x90 (under the test's pixel limit) and of tone.
const SRC: &str = "testsrc2=size=160x90:rate=25:duration=1";
const TONE: &str = "sine=frequency=440:sample_rate=48000:duration=1";

/// Writes a display rotation of `cw_degrees` clockwise into the first `tkhd` box (the video
/// track's, as ffmpeg orders them): ffmpeg 5.1's muxer no longer writes one from `-metadata`.
fn rotate(mut mp4: Vec<u8>, cw_degrees: u32) -> Vec<u8> {
    let at = mp4.windows(4).position(|w| w == b"tkhd").unwrap();
    assert_eq!(mp4[at + 4], 0, "a version 0 tkhd");
    // type, version/flags, created, modified, track id, reserved, duration, reserved (8), layer,
    // alternate group, volume, reserved: then the 3x3 matrix.
    let matrix_at = at + 4 + 4 * 6 + 8 + 2 * 4;
    let one: i32 = 0x10000;
    let (a, b, c, d) = match cw_degrees {
        90 => (0, one, -one, 0),
        180 => (-one, 0, 0, -one),
        270 => (0, -one, one, 0),
        _ => (one, 0, 0, one),
    };
    for (i, v) in [a, b, 0, c, d, 0, 0, 0, 0x4000_0000].iter().enumerate() {
        mp4[matrix_at + i * 4..matrix_at + i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    mp4
}

async fn details(platform: &Platform, media_id: &str) -> sqlx::postgres::PgRow {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url)
        .await
        .unwrap();
    sqlx::query("select * from video_details where media_id = $1::uuid")
        .bind(media_id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Uploads `bytes`, waits for the item to settle, returns (upload, item).
async fn settle(platform: &Platform, token: &str, bytes: Vec<u8>, name: &str) -> (Value, Value) {
    let upload = platform.upload(token, bytes, name).await;
    assert_eq!(upload["kind"], "video", "{name}: {upload}");
    let media = platform
        .wait_for_media(token, upload["media_id"].as_str().unwrap())
        .await;
    (upload, media)
}

#[tokio::test]
async fn the_probe_reads_what_phones_and_browsers_record_and_refuses_the_rest_with_a_reason() {
    let phone = rotate(
        fixtures::ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                SRC,
                "-f",
                "lavfi",
                "-i",
                TONE,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuvj420p",
                "-color_range",
                "pc",
                "-c:a",
                "aac",
                "-shortest",
            ],
            "phone.mp4",
        ),
        90,
    );
    let webm = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-f",
            "lavfi",
            "-i",
            TONE,
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
            "-shortest",
        ],
        "browser.webm",
    );
    let hdr = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=none:pools=1:frame-threads=1",
            "-pix_fmt",
            "yuv420p10le",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
        ],
        "hdr.mkv",
    );
    let large = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x180:rate=25:duration=1",
            "-c:v",
            "libx264",
        ],
        "large.mp4",
    );
    let mut damaged = webm.clone();
    // The EBML header survives; everything after it is noise.
    for (i, byte) in damaged.iter_mut().enumerate().skip(48) {
        *byte = (i * 7919 % 251) as u8;
    }

    let platform = Platform::start_with(&[("VEZA_VIDEO_MAX_PIXELS", "20000")]).await;
    let token = platform.register_and_login("ada@example.com").await;

    // A portrait phone clip: full-range H.264 turned 90° in its track header, AAC.
    let (upload, media) = settle(&platform, &token, phone, "phone.mp4").await;
    assert_eq!(upload["content_type"], "video/mp4");
    assert_eq!(media["error"]["code"], "unsupported-video", "{media}");
    assert!(
        media["error"]["message"]
            .as_str()
            .unwrap()
            .contains("90x160 h264 video"),
        "{media}"
    );
    let row = details(&platform, media["id"].as_str().unwrap()).await;
    assert_eq!(row.get::<String, _>("codec"), "h264");
    assert_eq!(row.get::<i32, _>("rotation_degrees"), 90);
    assert_eq!(
        (
            row.get::<i32, _>("coded_width"),
            row.get::<i32, _>("coded_height")
        ),
        (160, 90)
    );
    assert_eq!(
        (
            row.get::<i32, _>("display_width"),
            row.get::<i32, _>("display_height")
        ),
        (90, 160)
    );
    assert_eq!(row.get::<String, _>("color_range"), "full");
    assert_eq!(
        row.get::<Option<String>, _>("audio_codec").as_deref(),
        Some("aac")
    );
    assert!((row.get::<f64, _>("duration_seconds") - 1.0).abs() < 0.1);
    assert_eq!(
        (
            row.get::<Option<i32>, _>("frame_rate_num"),
            row.get::<Option<i32>, _>("frame_rate_den")
        ),
        (Some(25), Some(1))
    );

    // A browser recording: VP9 and Opus in WebM.
    let (upload, media) = settle(&platform, &token, webm, "browser.webm").await;
    assert_eq!(upload["content_type"], "video/webm");
    let row = details(&platform, media["id"].as_str().unwrap()).await;
    assert_eq!(row.get::<String, _>("codec"), "vp9");
    assert_eq!(
        row.get::<Option<String>, _>("audio_codec").as_deref(),
        Some("opus")
    );
    assert_eq!(row.get::<Option<i32>, _>("audio_channels"), Some(1));

    // 10-bit HEVC with the PQ transfer, in Matroska, no sound.
    let (upload, media) = settle(&platform, &token, hdr, "hdr.mkv").await;
    assert_eq!(upload["content_type"], "video/x-matroska");
    let row = details(&platform, media["id"].as_str().unwrap()).await;
    assert_eq!(row.get::<String, _>("codec"), "hevc");
    assert_eq!(row.get::<Option<i32>, _>("bit_depth"), Some(10));
    assert_eq!(row.get::<Option<String>, _>("hdr").as_deref(), Some("pq"));
    assert_eq!(row.get::<Option<String>, _>("audio_codec"), None);

    // Over the configured pixel limit, and damaged past its header: each fails at its first
    // attempt with its code and reason, and the worker goes on.
    for (bytes, name, code, says) in [
        (large, "large.mp4", "video-over-limits", "320x180 (57600 pixels)"),
        (
            damaged,
            "damaged.webm",
            "corrupt-video",
            "cannot be read as a video",
        ),
    ] {
        let (upload, media) = settle(&platform, &token, bytes, name).await;
        assert_eq!(media["status"], "failed", "{name}: {media}");
        assert_eq!(media["error"]["code"], code, "{name}: {media}");
        let message = media["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{name}: {message}");
        let job = platform
            .wait_for_job(&token, upload["job_ids"][0].as_str().unwrap())
            .await;
        assert_eq!(job["attempts"], 1, "{name}: {job}");
    }
}
