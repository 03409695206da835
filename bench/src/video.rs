//! `just bench-video`: a 1080p clip (30 s at 30 fps by default: the test pattern under moving
//! grain, so every frame costs bits; silent, so only video is measured) to the default AV1
//! ladder (360p 700k, 720p 2000k, 1080p 4000k; the H.264 rung off, as the references make none)
//! on the release platform, from upload to ready, beside ffmpeg making the same ladder in one
//! command with librav1e (same speed preset, same keyframe interval) and with libsvtav1 (preset
//! 12, what users would pick for speed), in the same run. Reported per encoder: wall time,
//! output bytes and the Y-PSNR of every rung against the source scaled to its size (Lanczos).
//!
//! Then the default beside 20-s chunks (`VEZA_VIDEO_CHUNK_SEGMENTS=5`) on one worker, and the
//! fleet: the same video with one and with two worker processes, each limited to one encode at a
//! time on one thread (`VEZA_ENCODE_CONCURRENCY=1`, `VEZA_CPU_THREADS=1`, AV1 threads 1), and
//! every worker's peak RSS (`VmHWM`). The load average is printed before and
//! after: these machines are shared.
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-video [SECONDS] [PARTS]`, PARTS a comma
//! list of `compare`, `chunks`, `fleet` (the default: all three) and `veza` (Veza's default run
//! alone, with its peak RSS). Needs the release
//! binaries beside this one (`just bench-video` builds them) and Debian's ffmpeg.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;
use veza_bench::measure::{Timing, load_average, process_cpu_time, run_measured};
use veza_e2e::platform::Platform;

/// The default ladder: (height, width, kbit/s).
const LADDER: [(u32, u32, u32); 3] = [(360, 640, 700), (720, 1280, 2000), (1080, 1920, 4000)];
const FPS: u32 = 30;
/// The platform's default segment (4 s): a keyframe every 120 frames in every encoder.
const KEYINT: u32 = 4 * FPS;

/// The parts of the benchmark, each selectable on the command line.
const PARTS: [&str; 4] = ["compare", "veza", "chunks", "fleet"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let mut args = std::env::args().skip(1);
    let seconds: u32 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(30);
    let parts: Vec<String> = match args.next() {
        Some(list) => list.split(',').map(str::to_owned).collect(),
        // `veza` is the first row of `compare`: only on request.
        None => ["compare", "chunks", "fleet"].map(str::to_owned).to_vec(),
    };
    if let Some(unknown) = parts.iter().find(|p| !PARTS.contains(&p.as_str())) {
        bail!("unknown part {unknown:?}: the parts are {}", PARTS.join(","));
    }
    let dir = tempfile::Builder::new()
        .prefix("veza-bench-video-")
        .tempdir_in("/var/tmp")?;
    let source = dir.path().join("source.mp4");
    generate(&source, seconds)?;
    let bytes = std::fs::read(&source)?;
    println!(
        "bench-video: {seconds} s of 1920x1080 at {FPS} fps (test pattern + moving grain, H.264 \
         CRF 16, {} MB) → AV1 360p/720p/1080p, keyframe every {KEYINT} frames; 2 cores",
        bytes.len() / 1_000_000
    );
    println!("load average before: {}", load_average());
    let mut veza = None;
    if parts.iter().any(|p| p == "compare") {
        veza = Some(compare(dir.path(), &source, &bytes).await?);
    }
    if parts.iter().any(|p| p == "veza") {
        let platform = Platform::start_with(&[("VEZA_VIDEO_H264", "off")]).await;
        let (timing, rss) = upload_to_ready(&platform, &bytes, None).await?;
        println!(
            "Veza alone, upload to ready (1 worker, defaults): {:.1} s; worker peak RSS {rss:.0} MiB",
            timing.wall.as_secs_f64()
        );
    }
    if parts.iter().any(|p| p == "chunks") {
        chunk_lengths(&bytes, veza).await?;
    }
    if parts.iter().any(|p| p == "fleet") {
        fleet(&bytes).await?;
    }
    println!("load average after: {}", load_average());
    Ok(())
}

/// Veza (one worker, the default settings: both cores) beside ffmpeg with librav1e and with
/// libsvtav1: wall time, bytes and Y-PSNR per rung. Veza's timing, for the chunk comparison.
async fn compare(dir: &Path, source: &Path, bytes: &[u8]) -> anyhow::Result<Timing> {
    let (veza, veza_dir, rss) = {
        let platform = Platform::start_with(&[("VEZA_VIDEO_H264", "off")]).await;
        let out = dir.join("veza");
        let (timing, rss) = upload_to_ready(&platform, bytes, Some(&out)).await?;
        (timing, out, rss)
    };
    println!(
        "Veza, upload to ready: {:.1} s (load average now {})",
        veza.wall.as_secs_f64(),
        load_average()
    );
    let veza_rungs = measure_rungs(source, |height| veza_dir.join(format!("av1-{height}p.m3u8")))?;
    let rav1e_dir = dir.join("librav1e");
    let rav1e = ffmpeg_ladder(source, &rav1e_dir, "librav1e")?;
    let rav1e_rungs = measure_rungs(source, |height| rav1e_dir.join(format!("{height}.mkv")))?;
    let svt_dir = dir.join("svtav1");
    let svt = ffmpeg_ladder(source, &svt_dir, "libsvtav1")?;
    let svt_rungs = measure_rungs(source, |height| svt_dir.join(format!("{height}.mkv")))?;

    println!();
    println!(
        "{:<44} {:>9} {:>11}   Y-PSNR per rung (360p / 720p / 1080p); bytes per rung",
        "", "wall", "bytes"
    );
    for (label, timing, rungs) in [
        ("Veza, upload to ready (1 worker, defaults)", &veza, &veza_rungs),
        ("ffmpeg + librav1e, speed 10, one command", &rav1e, &rav1e_rungs),
        ("ffmpeg + libsvtav1, preset 12, one command", &svt, &svt_rungs),
    ] {
        let total: u64 = rungs.iter().map(|r| r.bytes).sum();
        let psnr: Vec<String> = rungs.iter().map(|r| format!("{:.2}", r.psnr)).collect();
        let bytes: Vec<String> = rungs.iter().map(|r| r.bytes.to_string()).collect();
        println!(
            "{label:<44} {:>8.1}s {total:>11}   {} dB; {}",
            timing.wall.as_secs_f64(),
            psnr.join(" / "),
            bytes.join(" / ")
        );
    }
    let bytes_of = |rungs: &[Rung]| rungs.iter().map(|r| r.bytes).sum::<u64>() as f64;
    println!(
        "Veza / librav1e: wall {:.2}x, bytes {:.2}x, Y-PSNR {:+.2} dB (mean over rungs)",
        ratio(&veza, &rav1e),
        bytes_of(&veza_rungs) / bytes_of(&rav1e_rungs),
        mean_psnr(&veza_rungs) - mean_psnr(&rav1e_rungs)
    );
    println!("Veza worker peak RSS: {rss:.0} MiB");
    Ok(veza)
}

/// The default (8-s chunks) beside 20-s chunks (`VEZA_VIDEO_CHUNK_SEGMENTS=5`) on one worker:
/// what the chunk length costs. `default` is the comparison's run, when it ran.
async fn chunk_lengths(bytes: &[u8], default: Option<Timing>) -> anyhow::Result<()> {
    let default = match default {
        Some(timing) => timing,
        None => {
            let platform = Platform::start_with(&[("VEZA_VIDEO_H264", "off")]).await;
            upload_to_ready(&platform, bytes, None).await?.0
        }
    };
    let platform =
        Platform::start_with(&[("VEZA_VIDEO_H264", "off"), ("VEZA_VIDEO_CHUNK_SEGMENTS", "5")]).await;
    let long_chunks = upload_to_ready(&platform, bytes, None).await?.0;
    println!(
        "Veza with 20-s chunks instead of 8-s: {:.1} s wall ({:.2}x the default's {:.1} s)",
        long_chunks.wall.as_secs_f64(),
        ratio(&long_chunks, &default),
        default.wall.as_secs_f64()
    );
    Ok(())
}

/// The same video with one and with two worker processes, each limited to one encode at a
/// time on one thread; every worker's peak RSS.
async fn fleet(bytes: &[u8]) -> anyhow::Result<()> {
    let single = [
        ("VEZA_VIDEO_H264", "off"),
        ("VEZA_ENCODE_CONCURRENCY", "1"),
        ("VEZA_CPU_THREADS", "1"),
        ("VEZA_VIDEO_AV1_THREADS", "1"),
    ];
    let mut walls = Vec::new();
    for workers in [1, 2] {
        let mut platform = Platform::start_with(&single).await;
        for _ in 1..workers {
            platform.add_worker_with(&single);
        }
        let (timing, _) = upload_to_ready(&platform, bytes, None).await?;
        let rss: Vec<String> = (0..workers)
            .map(|i| peak_rss_mib(platform.worker_pid(i)).map(|m| format!("{m:.0}")))
            .collect::<anyhow::Result<_>>()?;
        println!(
            "{workers} worker process(es), one thread each: {:>8.1} s wall; peak RSS {} MiB; \
             load average now {}",
            timing.wall.as_secs_f64(),
            rss.join(" / "),
            load_average()
        );
        walls.push(timing.wall.as_secs_f64());
    }
    println!("speed-up with two workers: {:.2}x", walls[0] / walls[1]);
    Ok(())
}

fn ratio(a: &Timing, b: &Timing) -> f64 {
    a.wall.as_secs_f64() / b.wall.as_secs_f64()
}

/// The source clip: the test pattern under moving grain, near-lossless H.264, BT.709 labelled.
fn generate(path: &Path, seconds: u32) -> anyhow::Result<()> {
    let source = format!("testsrc2=size=1920x1080:rate={FPS}:duration={seconds}");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &source])
        .args([
            "-vf",
            "noise=alls=8:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args(["-crf", "16", "-pix_fmt", "yuv420p", "-colorspace", "bt709"])
        .args(["-color_primaries", "bt709", "-color_trc", "bt709"])
        .arg(path)
        .status()?;
    if !status.success() {
        bail!("ffmpeg could not generate the source");
    }
    Ok(())
}

/// ffmpeg making the ladder in one command with `encoder`, both cores, into `dir/{height}.mkv`.
fn ffmpeg_ladder(source: &Path, dir: &Path, encoder: &str) -> anyhow::Result<Timing> {
    std::fs::create_dir_all(dir)?;
    let split: Vec<String> = (0..LADDER.len()).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:v]split={}{}", LADDER.len(), split.concat());
    for (i, (height, width, _)) in LADDER.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]scale={width}:{height}:flags=lanczos[o{i}]"));
    }
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y", "-threads", "2", "-i"])
        .arg(source)
        .args(["-filter_complex", &graph]);
    for (i, (height, _, kbps)) in LADDER.iter().enumerate() {
        cmd.args(["-map", &format!("[o{i}]"), "-c:v", encoder]);
        if encoder == "librav1e" {
            cmd.args(["-speed", "10", "-tiles", "2", "-threads", "2"]);
        } else {
            cmd.args(["-preset", "12"]);
        }
        cmd.args(["-b:v", &format!("{kbps}k"), "-g", &KEYINT.to_string()])
            .arg(dir.join(format!("{height}.mkv")));
    }
    Ok(run_measured(&mut cmd)?.0)
}

struct Rung {
    bytes: u64,
    psnr: f64,
}

fn mean_psnr(rungs: &[Rung]) -> f64 {
    rungs.iter().map(|r| r.psnr).sum::<f64>() / rungs.len().max(1) as f64
}

/// Bytes and Y-PSNR of every rung, found by `path_of(height)`.
fn measure_rungs(source: &Path, path_of: impl Fn(u32) -> PathBuf) -> anyhow::Result<Vec<Rung>> {
    LADDER
        .iter()
        .map(|(height, width, _)| {
            let path = path_of(*height);
            Ok(Rung {
                bytes: media_bytes(&path)?,
                psnr: y_psnr(&path, source, *width, *height)?,
            })
        })
        .collect()
}

/// The bytes of an output: an `.mkv`, or an HLS rendition's init segment and segments.
fn media_bytes(path: &Path) -> anyhow::Result<u64> {
    if path.extension().is_some_and(|e| e == "mkv") {
        return Ok(std::fs::metadata(path)?.len());
    }
    let stem = path
        .file_stem()
        .context("a rendition name")?
        .to_string_lossy()
        .into_owned();
    let dir = path.parent().context("a folder")?;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{stem}-")) {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

/// Y-PSNR of `encoded` against `source` scaled to `width` x `height` with Lanczos.
fn y_psnr(encoded: &Path, source: &Path, width: u32, height: u32) -> anyhow::Result<f64> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "info", "-hide_banner", "-nostats"]);
    if encoded.extension().is_some_and(|e| e == "m3u8") {
        cmd.args(["-allowed_extensions", "ALL"]);
    }
    // Frames are paired by number, not by timestamp: a Matroska output's millisecond timestamps
    // (33, 67, 100 ms) fall just before the source's exact ones (33.3, 66.7 ms), and timestamp
    // pairing then compares most frames with the source frame before them (about 11 dB lost).
    let number = format!("settb=1/{FPS},setpts=N");
    let graph = format!("[1:v]scale={width}:{height}:flags=lanczos,{number}[r];[0:v]{number}[e];[e][r]psnr");
    let out = cmd
        .arg("-i")
        .arg(encoded)
        .arg("-i")
        .arg(source)
        .args(["-lavfi", &graph, "-f", "null", "-"])
        .output()?;
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("PSNR y:"))
        .with_context(|| format!("no PSNR for {}: {log}", encoded.display()))?;
    let y = line
        .split("PSNR y:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("a y: value")?;
    Ok(y.parse()?)
}

/// Uploads `bytes`, polls until ready; the wall time from the upload's first byte, the first
/// worker's CPU time meanwhile and peak RSS (MiB); with `copy`, the HLS output fetched there.
async fn upload_to_ready(
    platform: &Platform,
    bytes: &[u8],
    copy: Option<&Path>,
) -> anyhow::Result<(Timing, f64)> {
    let token = platform.register_verified_and_login("bench@example.com").await;
    let worker = platform.worker_pid(0);
    let cpu_before = process_cpu_time(worker)?;
    let started = Instant::now();
    let accepted = platform.upload(&token, bytes.to_vec(), "source.mp4").await;
    let id = accepted["media_id"].as_str().context("a media_id")?.to_owned();
    let deadline = started + Duration::from_secs(3600);
    let media: Value = loop {
        let media = platform.get_json(&token, &format!("/v1/media/{id}")).await;
        match media["status"].as_str() {
            Some("ready") => break media,
            Some("failed") => bail!("the video failed: {media}"),
            _ if Instant::now() > deadline => bail!("not ready in an hour: {media}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let timing = Timing {
        wall: started.elapsed(),
        cpu: process_cpu_time(worker)? - cpu_before,
    };
    if let Some(copy) = copy {
        std::fs::create_dir_all(copy)?;
        let master = media["playlist_url"].as_str().context("a playlist")?;
        platform.fetch_hls(&token, master, copy).await;
    }
    Ok((timing, peak_rss_mib(worker)?))
}

/// A process's peak resident set (`VmHWM`), MiB.
fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("VmHWM")?
        .parse()?;
    Ok(kib / 1024.0)
}
