//! MP4 and M4A uploads through the real binaries: the API accepts the MP4/QuickTime family from
//! its `ftyp` brands, and the transcode decides from the `moov` box, wherever it lies in the file,
//! whether it is audio (the normal ladder) or something it refuses for good.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use veza_e2e::{fixtures, platform::Platform};

/// 3 s of a stereo tone, as ffmpeg's lavfi source makes it.
const TONE: [&str; 6] = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ac", "2"];

/// `TONE` encoded with `codec` into `name`.
fn tone(codec: &str, name: &str) -> Vec<u8> {
    let mut args = TONE.to_vec();
    args.extend(["-c:a", codec]);
    fixtures::ffmpeg(&args, name)
}

/// The types of the top-level boxes of an ISO-BMFF file, in order.
fn top_level_boxes(file: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut at = 0;
    while at + 8 <= file.len() {
        let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        kinds.push(String::from_utf8_lossy(&file[at + 4..at + 8]).into_owned());
        if size < 8 {
            break;
        }
        at += size;
    }
    kinds
}

/// Polls the media item until it leaves `processing`; returns it.
async fn settled_item(platform: &Platform, token: &str, upload: &Value) -> Value {
    platform
        .wait_for_media(token, upload["media_id"].as_str().unwrap())
        .await
}

#[tokio::test]
async fn aac_m4a_alac_m4a_and_audio_only_mp4_with_moov_last_play_as_the_audio_ladder() {
    let aac_m4a = tone("aac", "voice.m4a");
    let alac_m4a = tone("alac", "lossless.m4a");
    let podcast = tone("aac", "podcast.mp4");
    assert_eq!(&aac_m4a[4..12], b"ftypM4A ");
    assert_eq!(&alac_m4a[4..12], b"ftypM4A ");
    assert_eq!(&podcast[4..12], b"ftypisom");
    // ffmpeg writes the index after the media data unless told `-movflags +faststart`: the API's
    // first 8 KiB cannot say whether the file holds video.
    assert_eq!(top_level_boxes(&podcast), ["ftyp", "free", "mdat", "moov"]);

    let platform = Platform::start().await;
    let token = platform.register_and_login("ada@example.com").await;
    // The M4A brands are audio from the start; an `isom` MP4 is probed as video, and the probe,
    // finding no video stream, hands it to the audio transcode.
    for (bytes, name, content_type, uploaded_as, codec) in [
        (aac_m4a, "voice.m4a", "audio/mp4", "audio", "aac"),
        (alac_m4a, "lossless.m4a", "audio/mp4", "audio", "alac"),
        (podcast, "podcast.mp4", "video/mp4", "video", "aac"),
    ] {
        let upload = platform.upload(&token, bytes, name).await;
        assert_eq!(upload["kind"], uploaded_as, "{name}: {upload}");
        assert_eq!(upload["content_type"], content_type, "{name}: {upload}");
        let media = settled_item(&platform, &token, &upload).await;
        assert_eq!(media["kind"], "audio", "{name}: {media}");
        platform.check_default_ladder(&token, &media, 3.0).await;
        let audio = &media["audio"];
        assert_eq!(audio["codec"], codec, "{name}: {audio}");
        assert_eq!(audio["container"], "isomp4", "{name}: {audio}");
        assert_eq!(audio["channels"], 2, "{name}: {audio}");
        assert!(
            (audio["duration_seconds"].as_f64().unwrap() - 3.0).abs() < 0.05,
            "{name}: {audio}"
        );
    }
}

#[tokio::test]
async fn unreadable_video_mp4s_fail_for_good_and_the_worker_keeps_going() {
    // MPEG-4 Part 2, a video codec Veza does not read.
    let silent = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10:duration=2",
            "-c:v",
            "mpeg4",
        ],
        "silent.mp4",
    );
    let mut truncated = tone("aac", "cut.mp4");
    // An upload cut off before its trailing `moov` box, as an interrupted copy leaves it.
    truncated.truncate(truncated.len() / 2);
    assert_eq!(top_level_boxes(&truncated), ["ftyp", "free", "mdat"]);

    let mut platform = Platform::start().await;
    let token = platform.register_and_login("ada@example.com").await;
    for (bytes, name, code) in [
        (silent, "silent.mp4", "unsupported-video-codec"),
        (truncated, "cut.mp4", "unreadable-moov"),
    ] {
        let upload = platform.upload(&token, bytes, name).await;
        assert_eq!(upload["kind"], "video", "{name}: {upload}");
        let job_id = upload["job_ids"][0].as_str().unwrap();
        let job = platform.wait_for_job(&token, job_id).await;
        // Failed at the first attempt: permanent, not retried.
        assert_eq!(job["state"], "failed", "{name}: {job}");
        assert_eq!(job["attempts"], 1, "{name}: {job}");
        assert_eq!(job["last_error"]["code"], code, "{name}: {job}");
        let media = settled_item(&platform, &token, &upload).await;
        assert_eq!(media["status"], "failed", "{name}: {media}");
        assert_eq!(media["error"]["code"], code, "{name}: {media}");
        let message = media["error"]["message"].as_str().unwrap();
        if code == "unsupported-video-codec" {
            assert!(message.contains("mpeg4"), "{message}");
        } else {
            assert!(message.contains("(moov) is missing"), "{message}");
        }
        assert!(platform.worker_is_running(), "after {name}");
    }

    // The same worker still transcodes what it can.
    let upload = platform
        .upload(&token, fixtures::wav(3.0, 44_100, 2), "after.wav")
        .await;
    let media = settled_item(&platform, &token, &upload).await;
    platform.check_default_ladder(&token, &media, 3.0).await;
    assert!(platform.worker_is_running());
}
