//! `just bench-up`: upload-to-ready on the platform as `just up` runs it (the release
//! `veza-api` and one `veza-worker` with default settings, driven over HTTP) for the two files a
//! new user tries first: a 3-minute stereo 44.1 kHz FLAC, which becomes the default audio ladder
//! (AAC-LC 160 and Opus 64/128/192 as HLS fMP4, with loudness and waveform), and a 24-megapixel
//! JPEG, which becomes the thumbnail ladder (160–1280 px, JPEG and WebP). Beside each, in the
//! same run on the same machine, the reference making the same outputs from the same file:
//! ffmpeg's ladder in one command, and `vipsthumbnail` once per size and format.
//!
//! Veza's time runs from the first byte of the upload to the first `GET /v1/media/{id}` that
//! answers `ready` (polled every 20 ms): upload, storage, the queue, the jobs, publishing. The
//! worker's CPU time is read from `/proc`. The first audio and image outputs are checked
//! (ffprobe reads every rendition; eight thumbnails are published), outside the timing.
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-up [RUNS]` (default 5; median reported).
//! Needs the release binaries beside this one (`just bench-up` builds them), `ffmpeg` and
//! `vipsthumbnail` (Debian ffmpeg, libvips-tools).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use veza_bench::{
    measure::{self, Timing, load_average, process_cpu_time},
    music::{ffmpeg_ladder, generate_music},
    photo::{photo, vips},
};
use veza_e2e::platform::Platform;

/// The thumbnail ladder's sizes (the default settings), for vipsthumbnail.
const THUMBNAIL_SIZES: [u32; 4] = [160, 320, 640, 1280];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let runs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(5)
        .max(1);
    let dir = tempfile::Builder::new()
        .prefix("veza-bench-up-")
        .tempdir_in("/var/tmp")?;
    let flac_path = dir.path().join("music.flac");
    generate_music(&flac_path, 180)?;
    let flac = std::fs::read(&flac_path)?;
    let jpeg = photo();
    let jpeg_path = dir.path().join("photo.jpg");
    std::fs::write(&jpeg_path, &jpeg)?;

    let load_before = load_average();
    let platform = Platform::start().await;
    let worker = platform.worker_pid(0);
    let token = platform.register_verified_and_login("bench@example.com").await;

    let (mut veza_audio, mut ffmpeg) = (Vec::new(), Vec::new());
    let (mut veza_image, mut vips_runs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let out = dir.path().join(format!("reference-{run}"));
        std::fs::create_dir(&out)?;
        // Alternate who goes first, so neither always meets a warm or a cold cache.
        let veza_first = run % 2 == 0;
        for veza_turn in [veza_first, !veza_first] {
            if veza_turn {
                let (timing, media) = upload_to_ready(&platform, worker, &token, &flac, "music.flac").await?;
                if run == 0 {
                    platform.check_default_ladder(&token, &media, 180.0).await;
                }
                veza_audio.push(timing);
                let (timing, media) = upload_to_ready(&platform, worker, &token, &jpeg, "photo.jpg").await?;
                if run == 0 {
                    check_thumbnails(&media)?;
                }
                veza_image.push(timing);
            } else {
                ffmpeg.push(ffmpeg_ladder(&flac_path, &out)?);
                vips_runs.push(Timing {
                    wall: vips(&jpeg_path, &out, &THUMBNAIL_SIZES)?,
                    cpu: Duration::ZERO,
                });
            }
        }
        std::fs::remove_dir_all(&out)?;
    }
    let load_after = load_average();

    println!(
        "bench-up: upload to ready on the release binaries (API + one worker, default settings), \
         median of {runs}; load average {load_before} before, {load_after} after"
    );
    report(
        "3-min stereo FLAC → audio ladder (4 renditions)",
        &mut veza_audio,
        "ffmpeg, one command, same 4-rendition HLS ladder",
        &mut ffmpeg,
        true,
    );
    report(
        "6000x4000 JPEG → thumbnails (4 sizes × JPEG, WebP)",
        &mut veza_image,
        "vipsthumbnail, one run per size and format, summed",
        &mut vips_runs,
        false,
    );
    Ok(())
}

/// Uploads `bytes` and polls the item until it is ready; returns the wall time from the
/// upload's first byte, the worker's CPU time meanwhile, and the ready item.
async fn upload_to_ready(
    platform: &Platform,
    worker: u32,
    token: &str,
    bytes: &[u8],
    filename: &str,
) -> anyhow::Result<(Timing, Value)> {
    let cpu_before = process_cpu_time(worker)?;
    let started = Instant::now();
    let accepted = platform.upload(token, bytes.to_vec(), filename).await;
    let id = accepted["media_id"]
        .as_str()
        .context("the upload answers a media_id")?;
    let deadline = started + Duration::from_secs(600);
    loop {
        let media = platform.get_json(token, &format!("/v1/media/{id}")).await;
        match media["status"].as_str() {
            Some("ready") => {
                let wall = started.elapsed();
                let cpu = process_cpu_time(worker)? - cpu_before;
                return Ok((Timing { wall, cpu }, media));
            }
            Some("failed") => bail!("{filename} failed: {media}"),
            _ if Instant::now() > deadline => bail!("{filename} not ready in 600 s: {media}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The ready image has its eight thumbnails published.
fn check_thumbnails(media: &Value) -> anyhow::Result<()> {
    let thumbnails = media["outputs"].as_array().map_or(0, |outputs| {
        outputs.iter().filter(|o| o["kind"] == "thumbnail").count()
    });
    if thumbnails != THUMBNAIL_SIZES.len() * 2 {
        bail!(
            "expected {} thumbnails, found {thumbnails}: {media}",
            THUMBNAIL_SIZES.len() * 2
        );
    }
    Ok(())
}

fn report(veza_label: &str, veza: &mut [Timing], reference_label: &str, reference: &mut [Timing], cpu: bool) {
    let runs_veza = measure::list(veza);
    let runs_reference = measure::list(reference);
    let (v, r) = (measure::median(veza), measure::median(reference));
    let cpu_of = |t: &Timing| {
        if cpu {
            format!("{:>7.2} s CPU", t.cpu.as_secs_f64())
        } else {
            String::new()
        }
    };
    println!(
        "Veza, {veza_label:<52} {:>7.2} s wall (worker {:.2} s CPU)   (runs: {runs_veza})",
        v.wall.as_secs_f64(),
        v.cpu.as_secs_f64()
    );
    println!(
        "{reference_label:<58} {:>7.2} s wall {}   (runs: {runs_reference})",
        r.wall.as_secs_f64(),
        cpu_of(&r)
    );
    println!(
        "{:<58} {:>7.2}x (below 1 = Veza faster)",
        "ratio Veza / reference, wall",
        v.wall.as_secs_f64() / r.wall.as_secs_f64()
    );
}
