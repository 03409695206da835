//! Video uploads through the real binaries: the probe reads the headers of what phones and
//! browsers record (MP4/MOV, Matroska/WebM; H.264, HEVC, VP9; AAC, Opus, none), stores the facts
//! (rotation, display size, range, bit depth, HDR transfer), and the encode publishes an AV1
//! ladder that an independent decoder reads; what it cannot take (codecs, limits, damaged files)
//! fails for good with a stable code and a reason. The worker keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sqlx::Row;
use veza_e2e::{ffprobe, fixtures, platform::Platform};

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
                "-ac",
                "2",
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

    let platform = Platform::start_with(&[
        ("VEZA_VIDEO_MAX_PIXELS", "20000"),
        ("VEZA_VIDEO_SEGMENT_SECONDS", "0.4"),
        ("VEZA_VIDEO_CHUNK_SEGMENTS", "2"),
    ])
    .await;
    let token = platform.register_and_login("ada@example.com").await;

    // A portrait phone clip: full-range H.264 turned 90° in its track header, AAC. Smaller than
    // every rung of the ladder: one rung of its own (upright) size; segments of 0.4 s (10
    // frames), chunks of 2 segments: 2 chunks, the last one short.
    let (upload, media) = settle(&platform, &token, phone, "phone.mp4").await;
    assert_eq!(upload["content_type"], "video/mp4");
    assert_eq!(media["status"], "ready", "{media}");
    let copy = tempfile::tempdir().unwrap();
    let playlist_url = media["playlist_url"].as_str().unwrap();
    let renditions = platform.fetch_hls(&token, playlist_url, copy.path()).await;
    // The AV1 rung and the H.264 fallback once per audio group, and the soundtrack through the
    // audio ladder.
    assert_eq!(
        renditions,
        [
            "av1-160p.m3u8",
            "h264-160p.m3u8",
            "aac-160k.m3u8",
            "opus-64k.m3u8",
            "opus-128k.m3u8",
            "opus-192k.m3u8"
        ]
    );
    let master = std::fs::read_to_string(copy.path().join("index.m3u8")).unwrap();
    assert!(master.contains("CODECS=\"avc1.42c0"), "{master}");
    assert!(
        master.contains("RESOLUTION=90x160,FRAME-RATE=25.000,AUDIO=\"aac\""),
        "{master}"
    );
    assert!(master.contains("CODECS=\"av01.0.00M.08,mp4a.40.2\""), "{master}");
    assert!(master.contains("CODECS=\"av01.0.00M.08,Opus\""), "{master}");
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"aac-160k\",DEFAULT=YES"),
        "{master}"
    );
    // The soundtrack: 1 s of stereo tone, measured for loudness as an audio item's is.
    ffprobe::check_rendition(&copy.path().join("aac-160k.m3u8"), "aac", 1.0);
    assert!(media["audio"]["integrated_lufs"].as_f64().is_some(), "{media}");
    let read = ffprobe::video_rendition(&copy.path().join("av1-160p.m3u8"));
    assert_eq!(
        read,
        ffprobe::VideoRendition {
            codec: "av1".into(),
            width: 90,
            height: 160,
            frames: 25,
            keyframes: vec![0, 10, 20],
        }
    );
    // The H.264 rung, encoded from the same frames: the same keyframes.
    let read = ffprobe::video_rendition(&copy.path().join("h264-160p.m3u8"));
    assert_eq!(
        read,
        ffprobe::VideoRendition {
            codec: "h264".into(),
            width: 90,
            height: 160,
            frames: 25,
            keyframes: vec![0, 10, 20],
        }
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

/// The frame rate the probe stored for `media` (what the renditions run at).
async fn stored_frame_rate(platform: &Platform, media: &Value) -> f64 {
    let row = details(platform, media["id"].as_str().unwrap()).await;
    let num = row.get::<Option<i32>, _>("frame_rate_num").unwrap();
    let den = row.get::<Option<i32>, _>("frame_rate_den").unwrap();
    f64::from(num) / f64::from(den)
}

#[tokio::test]
async fn every_kind_of_upload_comes_out_as_renditions_an_independent_decoder_reads() {
    let x265 = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=none:pools=1:frame-threads=1",
    ];
    // What an iPhone records: HEVC in QuickTime (`hvc1`), held sideways (a 270° matrix), AAC.
    let mut args = vec!["-f", "lavfi", "-i", SRC, "-f", "lavfi", "-i", TONE];
    args.extend_from_slice(&x265);
    args.extend_from_slice(&[
        "-tag:v",
        "hvc1",
        "-c:a",
        "aac",
        "-ac",
        "2",
        "-shortest",
        "-f",
        "mov",
    ]);
    let mov = rotate(fixtures::ffmpeg(&args, "iphone.mov"), 270);
    // A screen recording's variable frame rate: every third frame of 25 missing, timestamps as
    // recorded (17 frames over 1 s), with its sound.
    let vfr = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            SRC,
            "-f",
            "lavfi",
            "-i",
            TONE,
            "-vf",
            "select=not(eq(mod(n\\,3)\\,1))",
            "-vsync",
            "vfr",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-shortest",
        ],
        "screen.mp4",
    );
    // Odd dimensions (VP9 allows them; 4:2:0 H.264 and AV1 rungs cannot), no sound.
    let odd = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=162x92:rate=25:duration=1",
            // Cropped in 4:4:4 (ffmpeg's 4:2:0 crop keeps sizes even), stored as 4:2:0.
            "-vf",
            "format=yuv444p,crop=161:91:0:0",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
        "odd.webm",
    );
    let platform = Platform::start_with(&[("VEZA_VIDEO_SEGMENT_SECONDS", "0.4")]).await;
    let token = platform.register_and_login("ada@example.com").await;

    // (clip, name, upright size of the rungs, whether it has sound)
    for (bytes, name, (width, height), sound) in [
        (mov, "iphone.mov", (90, 160), true),
        (vfr, "screen.mp4", (160, 90), true),
        (odd, "odd.webm", (162, 92), false),
    ] {
        let (_, media) = settle(&platform, &token, bytes, name).await;
        assert_eq!(media["status"], "ready", "{name}: {media}");
        let fps = stored_frame_rate(&platform, &media).await;
        let copy = tempfile::tempdir().unwrap();
        let renditions = platform
            .fetch_hls(&token, media["playlist_url"].as_str().unwrap(), copy.path())
            .await;
        let master = std::fs::read_to_string(copy.path().join("index.m3u8")).unwrap();
        let video: Vec<&String> = renditions
            .iter()
            .filter(|r| r.starts_with("av1-") || r.starts_with("h264-"))
            .collect();
        assert_eq!(video.len(), 2, "{name}: {renditions:?}");
        for rendition in video {
            let read = ffprobe::video_rendition(&copy.path().join(rendition));
            let codec = if rendition.starts_with("av1-") {
                "av1"
            } else {
                "h264"
            };
            assert_eq!(read.codec, codec, "{name} {rendition}");
            assert_eq!((read.width, read.height), (width, height), "{name} {rendition}");
            // 1 s of picture, within one frame, whatever the source's timestamps were.
            let seconds = read.frames as f64 / fps;
            assert!(
                (seconds - 1.0).abs() <= 1.0 / fps + 1e-9,
                "{name} {rendition}: {} frames at {fps} fps",
                read.frames
            );
            assert_eq!(read.keyframes.first(), Some(&0), "{name} {rendition}");
        }
        if sound {
            ffprobe::check_rendition(&copy.path().join("aac-160k.m3u8"), "aac", 1.0);
            assert!(master.contains("#EXT-X-MEDIA:TYPE=AUDIO"), "{name}: {master}");
        } else {
            // No sound: no audio group, and no audio codec promised to players.
            assert!(!master.contains("EXT-X-MEDIA"), "{name}: {master}");
            assert!(
                !master.contains("mp4a") && !master.contains("Opus"),
                "{name}: {master}"
            );
            assert!(media["audio"].is_null(), "{name}: {media}");
        }
    }
}

#[tokio::test]
async fn a_chunk_that_fails_for_good_fails_the_video_with_its_reason_and_cancels_its_siblings() {
    // H.264 with its index first; the media data zeroed: the headers probe well, and no chunk
    // has a frame that decodes. One encode slot: the first chunk to fail finds its four
    // siblings waiting, and cancels them.
    let mut clip = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-movflags",
            "+faststart",
        ],
        "damaged.mp4",
    );
    let mdat = clip.windows(4).position(|w| w == b"mdat").unwrap() + 4;
    clip[mdat..].fill(0);

    let platform = Platform::start_with(&[
        ("VEZA_VIDEO_SEGMENT_SECONDS", "0.4"),
        ("VEZA_VIDEO_CHUNK_SEGMENTS", "1"),
        ("VEZA_ENCODE_CONCURRENCY", "1"),
    ])
    .await;
    let token = platform.register_and_login("ada@example.com").await;
    let (_, media) = settle(&platform, &token, clip, "damaged.mp4").await;
    assert_eq!(media["status"], "failed", "{media}");
    // The chunk's own reason, not the cancellation of its siblings.
    assert_eq!(media["error"]["code"], "corrupt-video", "{media}");
    assert!(
        media["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no frame of this part of the video decodes"),
        "{media}"
    );
    // Every job of the item ends (the failed chunk's siblings are cancelled or finished), and no
    // playlist is ever published.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url)
        .await
        .unwrap();
    let media_id = media["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let active: i64 = sqlx::query_scalar(
            "select count(*) from jobs j join apalis.jobs q on q.id = veza_task_id(j.id)
              where j.media_id = $1::uuid and q.status in ('Pending', 'Queued', 'Running')",
        )
        .bind(media_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if active == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{active} jobs still active");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let encodes: Vec<(String, Option<String>)> = sqlx::query_as(
        "select kind, error_code from jobs where media_id = $1::uuid and kind <> 'probe' order by id",
    )
    .bind(media_id)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(encodes.len(), 5, "five chunks, no finalize: {encodes:?}");
    let count = |code: &str| encodes.iter().filter(|(_, c)| c.as_deref() == Some(code)).count();
    assert!(count("corrupt-video") >= 1, "{encodes:?}");
    assert!(count("cancelled") >= 3, "{encodes:?}");
    assert_eq!(count("corrupt-video") + count("cancelled"), 5, "{encodes:?}");
    let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
    assert_eq!(media["error"]["code"], "corrupt-video", "{media}");
    assert!(media["playlist_url"].is_null(), "{media}");
}

/// A 64x36 clip of 0.4 s of one flat colour, set by its code values (`geq`) in `pix_fmt`,
/// encoded by `codec` with the colour labels `labels`.
fn flat_clip(pix_fmt: &str, codes: (u32, u32, u32), codec: &[&str], labels: &[&str], name: &str) -> Vec<u8> {
    let filter = format!(
        "format={pix_fmt},geq=lum={}:cb={}:cr={}",
        codes.0, codes.1, codes.2
    );
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "color=c=black:size=64x36:rate=25:duration=0.4",
        "-vf",
        &filter,
        "-pix_fmt",
        pix_fmt,
    ];
    args.extend_from_slice(codec);
    args.extend_from_slice(labels);
    fixtures::ffmpeg(&args, name)
}

#[tokio::test]
async fn every_source_colour_reaches_players_as_limited_range_sdr_bt709() {
    let x265 = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=none:pools=1:frame-threads=1",
    ];
    let x264 = ["-c:v", "libx264"];
    // HDR10: white at 100 nits (PQ signal 0.508: 10-bit code 509). Shown without tone mapping it
    // is mid-grey (Y 127 in 8 bits): washed out.
    let pq = flat_clip(
        "yuv420p10le",
        (509, 512, 512),
        &x265,
        &[
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
        ],
        "pq.mkv",
    );
    // BT.601 red (Y 81, Cb 90, Cr 240), which is (63, 102, 240) in BT.709.
    let bt601 = flat_clip(
        "yuv420p",
        (81, 90, 240),
        &x264,
        &[
            "-color_primaries",
            "smpte170m",
            "-color_trc",
            "smpte170m",
            "-colorspace",
            "smpte170m",
        ],
        "red601.mp4",
    );
    // Full-range white (255): limited range's 235.
    let full = flat_clip(
        "yuvj420p",
        (255, 128, 128),
        &x264,
        &["-color_range", "pc", "-colorspace", "bt709"],
        "full.mp4",
    );
    let platform = Platform::start_with(&[("VEZA_VIDEO_SEGMENT_SECONDS", "0.4")]).await;
    let token = platform.register_and_login("ada@example.com").await;
    for (bytes, name, expected, tolerance) in [
        (pq, "pq.mkv", [215.0, 128.0, 128.0], 20.0),
        (bt601, "red601.mp4", [63.0, 102.0, 240.0], 3.0),
        (full, "full.mp4", [235.0, 128.0, 128.0], 2.0),
    ] {
        let (_, media) = settle(&platform, &token, bytes, name).await;
        assert_eq!(media["status"], "ready", "{name}: {media}");
        let copy = tempfile::tempdir().unwrap();
        let renditions = platform
            .fetch_hls(&token, media["playlist_url"].as_str().unwrap(), copy.path())
            .await;
        for rendition in renditions
            .iter()
            .filter(|r| r.starts_with("av1-") || r.starts_with("h264-"))
        {
            let (mean, stream) = ffprobe::first_frame_colour(&copy.path().join(rendition));
            for (plane, (got, want)) in mean.iter().zip(expected).enumerate() {
                assert!(
                    (got - want).abs() <= tolerance,
                    "{name} {rendition}: plane {plane} is {got:.1}, not {want} (all {mean:?}; {stream})"
                );
            }
            assert_ne!(stream["color_range"], "pc", "{name} {rendition}: {stream}");
        }
    }
}

/// The output of `kind` (and `name`, when given) listed on `media`, fetched.
async fn output(platform: &Platform, token: &str, media: &Value, kind: &str) -> (Value, Vec<u8>) {
    let listed = media["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} output: {media}"))
        .clone();
    let (status, bytes) = platform.get(token, listed["url"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{listed}");
    (listed, bytes)
}

#[tokio::test]
async fn a_video_gets_a_poster_that_is_not_its_black_opening_and_a_storyboard() {
    // One second of black, then one of test pattern: the first frame would be a black poster.
    let clip = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=64x36:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x36:rate=25:duration=1",
            "-filter_complex",
            "[0][1]concat=n=2:v=1:a=0",
            "-c:v",
            "libx264",
        ],
        "opening.mp4",
    );
    let platform = Platform::start_with(&[
        ("VEZA_VIDEO_SEGMENT_SECONDS", "0.4"),
        ("VEZA_VIDEO_CHUNK_SEGMENTS", "2"),
    ])
    .await;
    let token = platform.register_and_login("ada@example.com").await;
    let (upload, media) = settle(&platform, &token, clip, "opening.mp4").await;
    assert_eq!(media["status"], "ready", "{media}");
    let media_id = upload["media_id"].as_str().unwrap();
    // The thumbnail job follows the publication: wait for its placeholder.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let media = loop {
        let media = platform.get_json(&token, &format!("/v1/media/{media_id}")).await;
        if media["thumbhash"].is_string() {
            break media;
        }
        assert!(std::time::Instant::now() < deadline, "no thumbnails: {media}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    // The poster: full size, from the pattern (a storyboard frame every second: 0 and 25).
    let (listed, png) = output(&platform, &token, &media, "poster").await;
    assert_eq!(
        (listed["width"].as_i64(), listed["height"].as_i64()),
        (Some(64), Some(36))
    );
    let poster = image::load_from_memory(&png).unwrap().to_luma8();
    let mean = poster.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / f64::from(64 * 36);
    // Black is 0; the pattern's mean is about 50.
    assert!(mean > 30.0, "the poster is dark (mean luma {mean:.1})");
    assert_ne!(media["dominant_color"], "#000000", "{media}");
    assert!(
        media["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "thumbnail"),
        "{media}"
    );

    // The storyboard: two tiles side by side, indexed by WebVTT cues of a second each.
    let (listed, jpeg) = output(&platform, &token, &media, "storyboard").await;
    assert_eq!(
        (listed["width"].as_i64(), listed["height"].as_i64()),
        (Some(128), Some(36))
    );
    let sprite = image::load_from_memory(&jpeg).unwrap().to_luma8();
    assert_eq!(sprite.dimensions(), (128, 36));
    let tile_mean = |x0: u32| {
        let sum: f64 = (0..36)
            .flat_map(|y| (x0..x0 + 64).map(move |x| (x, y)))
            .map(|(x, y)| f64::from(sprite.get_pixel(x, y).0[0]))
            .sum();
        sum / f64::from(64 * 36)
    };
    assert!(
        tile_mean(0) < 10.0 && tile_mean(64) > 30.0,
        "{} {}",
        tile_mean(0),
        tile_mean(64)
    );
    let (_, vtt) = output(&platform, &token, &media, "storyboard-index").await;
    assert_eq!(
        String::from_utf8(vtt).unwrap(),
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,64,36\n\
         \n00:00:01.000 --> 00:00:02.000\nstoryboard.jpg#xywh=64,0,64,36\n"
    );
}

/// Decodes `playlist` with ffmpeg to raw `format` (`gray` frames or `s16le` mono samples).
fn decode_raw(playlist: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(match playlist.extension() {
            Some(ext) if ext == "m3u8" => &["-allowed_extensions", "ALL"][..],
            _ => &[],
        })
        .arg("-i")
        .arg(playlist)
        .args(args)
        .arg("-")
        .output()
        .expect("ffmpeg (Debian package) must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test]
async fn a_flash_and_its_beep_stay_together_within_one_frame() {
    // Black with one white frame at 1.00 s; silence with a 1 kHz beep from 1.00 s, through the
    // source's AAC (whose encoder delay the MP4's edit list takes back) and ours.
    let clip = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:size=64x36:rate=25:duration=2,drawbox=c=white:t=fill:enable='between(t,1,1.039)'",
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(between(t,1,1.2),sin(2*PI*1000*t),0)':s=48000:d=2",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
        ],
        "flash.mp4",
    );
    let platform = Platform::start_with(&[
        ("VEZA_VIDEO_SEGMENT_SECONDS", "0.4"),
        ("VEZA_VIDEO_CHUNK_SEGMENTS", "2"),
    ])
    .await;
    let token = platform.register_and_login("ada@example.com").await;
    let (_, media) = settle(&platform, &token, clip, "flash.mp4").await;
    assert_eq!(media["status"], "ready", "{media}");
    let copy = tempfile::tempdir().unwrap();
    let renditions = platform
        .fetch_hls(&token, media["playlist_url"].as_str().unwrap(), copy.path())
        .await;
    // The flash: the first frame whose mean luma is white, at 25 fps from 0.
    let flash = |rendition: &str| {
        let frames = decode_raw(
            &copy.path().join(rendition),
            &["-f", "rawvideo", "-pix_fmt", "gray"],
        );
        let index = frames
            .chunks(64 * 36)
            .position(|f| f.iter().map(|&s| u32::from(s)).sum::<u32>() / (64 * 36) > 128)
            .unwrap_or_else(|| panic!("{rendition}: no flash"));
        index as f64 / 25.0
    };
    // The beep: the first sample louder than a tenth of full scale, at the time a player plays
    // it: the init segment's edit list (the AAC encoder's priming) applied, as browsers and
    // Safari apply it. (ffmpeg ignores edit lists in fragmented MP4, so it is applied here.)
    let beep = |rendition: &str| {
        let pcm = decode_raw(
            &copy.path().join(rendition),
            &["-f", "s16le", "-ac", "1", "-ar", "48000"],
        );
        let init = std::fs::read(
            copy.path()
                .join(format!("{}-init.mp4", rendition.trim_end_matches(".m3u8"))),
        )
        .unwrap();
        let onset = pcm
            .chunks(2)
            .position(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > 3276)
            .unwrap_or_else(|| panic!("{rendition}: no beep"));
        // ffmpeg takes Opus's pre-skip from its dOps box (which the edit list repeats) itself.
        let skipped = if rendition.starts_with("aac-") {
            edit_list_offset(&init)
        } else {
            0.0
        };
        onset as f64 / 48_000.0 - skipped
    };
    let heard: Vec<(&String, f64)> = renditions
        .iter()
        .filter(|r| r.starts_with("aac-") || r.starts_with("opus-"))
        .map(|audio| (audio, beep(audio)))
        .collect();
    for video in renditions
        .iter()
        .filter(|r| r.starts_with("av1-") || r.starts_with("h264-"))
    {
        let seen = flash(video);
        println!("{video} flash {seen:.4} s; beeps {heard:?}");
        assert!((seen - 1.0).abs() < 0.001, "{video}: the flash at {seen} s");
        for (audio, at) in &heard {
            assert!(
                (at - seen).abs() <= 0.040,
                "{audio} beeps at {at:.4} s, {video} flashes at {seen:.4} s"
            );
        }
    }
}

/// Seconds the first edit of an init segment's edit list skips (its `media_time` over its
/// `mdhd` timescale), 0 without one.
fn edit_list_offset(init: &[u8]) -> f64 {
    let after = |name: &[u8]| init.windows(4).position(|w| w == name).map(|at| at + 4);
    let u32_at = |at: usize| u32::from_be_bytes(init[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_be_bytes(init[at..at + 8].try_into().unwrap());
    let Some(elst) = after(b"elst") else { return 0.0 };
    let mdhd = after(b"mdhd").expect("an mdhd box");
    let timescale = if init[mdhd] == 1 {
        u32_at(mdhd + 4 + 16)
    } else {
        u32_at(mdhd + 4 + 8)
    };
    // version, flags, entry count, then the first entry: duration and media time.
    let media_time = if init[elst] == 1 {
        u64_at(elst + 8 + 8)
    } else {
        u64::from(u32_at(elst + 8 + 4))
    };
    media_time as f64 / f64::from(timescale)
}

/// Y-PSNR (dB) of `encoded` against `reference`, frame by frame, by ffmpeg's `psnr` filter.
fn y_psnr(encoded: &std::path::Path, reference: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "info", "-hide_banner", "-nostats"])
        .args(match encoded.extension() {
            Some(ext) if ext == "m3u8" => &["-allowed_extensions", "ALL"][..],
            _ => &[],
        })
        .arg("-i")
        .arg(encoded)
        .arg("-i")
        .arg(reference)
        .args(["-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"])
        .output()
        .expect("ffmpeg (Debian package) must be installed");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("PSNR y:"))
        .unwrap_or_else(|| panic!("{log}"));
    let y = line
        .split("PSNR y:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    y.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[tokio::test]
async fn av1_quality_is_within_a_decibel_of_ffmpeg_with_librav1e_at_the_same_bitrate() {
    // A detailed source (the test pattern with moving grain, near-lossless H.264, labelled
    // BT.709 so neither encoder changes its colour) and a tight bitrate, so rate control
    // decides the quality.
    let source_bytes = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=25:duration=2",
            "-vf",
            "noise=alls=12:allf=t",
            "-c:v",
            "libx264",
            "-crf",
            "4",
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
        ],
        "source.mp4",
    );
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.mp4");
    std::fs::write(&source, &source_bytes).unwrap();
    let platform = Platform::start_with(&[
        ("VEZA_VIDEO_SEGMENT_SECONDS", "1"),
        ("VEZA_VIDEO_LADDER", "90:100"),
        ("VEZA_VIDEO_H264", "off"),
    ])
    .await;
    let token = platform.register_and_login("ada@example.com").await;
    let (_, media) = settle(&platform, &token, source_bytes, "source.mp4").await;
    assert_eq!(media["status"], "ready", "{media}");
    let copy = dir.path().join("hls");
    std::fs::create_dir(&copy).unwrap();
    let renditions = platform
        .fetch_hls(&token, media["playlist_url"].as_str().unwrap(), &copy)
        .await;
    assert_eq!(renditions, ["av1-90p.m3u8"]);
    let ours_bytes: u64 = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".m4s"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    let ours_kbps = ours_bytes as f64 * 8.0 / 2.0 / 1000.0;
    // Rate control holds the rung's bitrate (two seconds are short for it to settle).
    assert!(
        (50.0..200.0).contains(&ours_kbps),
        "{ours_kbps:.0} kbit/s for a 100 kbit/s rung"
    );

    // ffmpeg with librav1e, same speed preset, same bitrate as Veza's output actually has.
    let reference = dir.path().join("librav1e.mkv");
    let bitrate = format!("{}k", ours_kbps.round());
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&source)
        .args(["-c:v", "librav1e", "-speed", "10", "-b:v", &bitrate, "-g", "25"])
        .arg(&reference)
        .status()
        .unwrap();
    assert!(status.success());
    let theirs_bytes = std::fs::metadata(&reference).unwrap().len();

    let ours = y_psnr(&copy.join("av1-90p.m3u8"), &source);
    let theirs = y_psnr(&reference, &source);
    println!(
        "Y-PSNR Veza {ours:.2} dB ({ours_bytes} bytes), ffmpeg+librav1e {theirs:.2} dB ({theirs_bytes} bytes)"
    );
    assert!(ours >= theirs - 1.0, "Veza {ours:.2} dB, librav1e {theirs:.2} dB");
    // The same bitrate in effect: the container's overhead aside, within a fifth.
    let ratio = ours_bytes as f64 / theirs_bytes as f64;
    assert!(
        (0.8..1.25).contains(&ratio),
        "bytes {ours_bytes} vs {theirs_bytes}"
    );
}
