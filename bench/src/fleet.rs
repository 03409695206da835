//! `just bench-fleet`: one batch of mixed media (music clips, 24-megapixel photos, a short 360p
//! video with sound, in two chunks) processed by a fleet of 1, 2 and 4 worker processes, each limited to one CPU
//! thread (`VEZA_CPU_THREADS=1`, `TOKIO_WORKER_THREADS=1`, AV1 threads 1), against one database
//! and an S3-compatible server (moto), as the Kubernetes groups split the queues: worker 0 serves
//! every queue and runs maintenance, the others serve the media queues only.
//!
//! Each run: a fresh platform and bucket; the media queues paused; the batch uploaded; then the
//! queues resumed and the clock started until every item is ready. Reported per fleet size: wall
//! time (median of the rounds), the workers' CPU time, the bytes they moved through the store,
//! and the speed-up over one worker. Then a model — wall ≈ max(CPU ÷ usable cores, the longest
//! single job, bytes ÷ store bandwidth, jobs ÷ claim rate) — checked against the measurement,
//! with the store's bandwidth measured in the same run.
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-fleet [ROUNDS]`; needs the release binaries
//! beside this one (`just bench-fleet` builds them), moto and Debian's ffmpeg.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use veza_bench::{
    measure::{load_average, process_cpu_time},
    music, photo,
};
use veza_e2e::{
    fixtures,
    platform::{MEDIA_QUEUES, Platform, outstanding},
    servers::{S3Server, free_port},
};

const FLEETS: [usize; 3] = [1, 2, 4];
const MUSIC_CLIPS: usize = 8;
const MUSIC_SECONDS: u32 = 30;
const PHOTOS: usize = 6;
const VIDEO_SECONDS: u32 = 8;
/// One 4-s segment per chunk: the video's two chunks can run on two workers, as a long video's
/// many chunks would (a single chunk would be the whole run's critical path).
const VIDEO_CHUNK_SEGMENTS: &str = "1";
const BUCKET: &str = "veza-fleet";
/// Jobs a fleet claims per second from Postgres, measured by `just bench-queue` (no-op jobs,
/// one worker process; bench/README.md): the queue's own ceiling.
const CLAIM_RATE: f64 = 12_980.0;

/// One input of the batch.
struct Item {
    name: String,
    bytes: Vec<u8>,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    bytes: u64,
    jobs: u64,
    /// The longest single job's run, claim to finish: no fleet size finishes sooner.
    longest_job: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(2);
    let dir = tempfile::Builder::new()
        .prefix("veza-bench-fleet-")
        .tempdir_in("/var/tmp")?;
    let batch = batch(dir.path())?;
    let total: usize = batch.iter().map(|i| i.bytes.len()).sum();
    println!(
        "bench-fleet: {MUSIC_CLIPS} music clips of {MUSIC_SECONDS} s (FLAC), {PHOTOS} photos of 24 MP \
         (JPEG), one {VIDEO_SECONDS}-s 360p video with sound: {:.1} MB; workers of one thread each; \
         {} cores; S3 on moto",
        total as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("load average before: {}", load_average());
    let mut runs: Vec<(usize, Run)> = Vec::new();
    for round in 1..=rounds {
        for workers in FLEETS {
            let run = run(&batch, workers).await?;
            println!(
                "round {round}, {workers} worker(s): {:>6.1} s wall, {:>6.1} s CPU, {:.0} MB through the \
                 store, {} jobs; load average now {}",
                run.wall.as_secs_f64(),
                run.cpu.as_secs_f64(),
                run.bytes as f64 / 1e6,
                run.jobs,
                load_average()
            );
            runs.push((workers, run));
        }
    }
    let median = |workers: usize| -> Run {
        let mut of: Vec<Run> = runs
            .iter()
            .filter(|(w, _)| *w == workers)
            .map(|(_, r)| *r)
            .collect();
        of.sort_by_key(|r| r.wall);
        of[of.len() / 2]
    };
    let one = median(1);
    println!("\n| workers | wall (median) | speed-up | CPU | store traffic |");
    println!("|---|---|---|---|---|");
    for workers in FLEETS {
        let run = median(workers);
        println!(
            "| {workers} | {:.1} s | {:.2}x | {:.1} s | {:.0} MB |",
            run.wall.as_secs_f64(),
            one.wall.as_secs_f64() / run.wall.as_secs_f64(),
            run.cpu.as_secs_f64(),
            run.bytes as f64 / 1e6
        );
    }
    // A job's time from claim to finish includes its wait for the worker's one thread; the
    // least contended run's longest job is the closest bound on a job's own time.
    let longest = runs.iter().map(|(_, r)| r.longest_job).min().unwrap_or_default();
    model(&batch, one, longest, &median).await?;
    println!("load average after: {}", load_average());
    Ok(())
}

/// The batch: music clips cut from one generated piece, photos, a video with a soundtrack.
fn batch(dir: &Path) -> anyhow::Result<Vec<Item>> {
    let long = dir.join("music.flac");
    music::generate_music(&long, MUSIC_SECONDS * MUSIC_CLIPS as u32)?;
    let mut items = Vec::new();
    for clip in 0..MUSIC_CLIPS {
        // Each clip its own stretch of the piece, so no two are the same bytes.
        let path = dir.join(format!("clip-{clip}.flac"));
        let start = (clip as u32 * MUSIC_SECONDS).to_string();
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-ss", &start, "-t"])
            .arg(MUSIC_SECONDS.to_string())
            .arg("-i")
            .arg(&long)
            .arg(&path)
            .status()?;
        if !status.success() {
            bail!("ffmpeg could not cut clip {clip}");
        }
        items.push(Item {
            name: format!("clip-{clip}.flac"),
            bytes: std::fs::read(&path)?,
        });
    }
    let photo = photo::photo();
    for n in 0..PHOTOS {
        // A different last byte before the end marker keeps each upload its own file.
        let mut bytes = photo.clone();
        let at = bytes.len() - 3;
        bytes[at] = bytes[at].wrapping_add(n as u8);
        items.push(Item {
            name: format!("photo-{n}.jpg"),
            bytes,
        });
    }
    let seconds = VIDEO_SECONDS.to_string();
    let video = fixtures::ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size=640x360:rate=30:duration={seconds}"),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate=48000:duration={seconds}"),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "20",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
        ],
        "clip.mp4",
    );
    items.push(Item {
        name: "clip.mp4".into(),
        bytes: video,
    });
    Ok(items)
}

/// One fleet of `workers` on a fresh platform and bucket: the batch uploaded with the media
/// queues paused, then the time from resuming them until every item is ready.
async fn run(batch: &[Item], workers: usize) -> anyhow::Result<Run> {
    let s3 = S3Server::start(BUCKET).await;
    let ports: Vec<u16> = (0..workers).map(|_| free_port()).collect();
    let listen = |i: usize| format!("127.0.0.1:{}", ports[i]);
    let first = listen(0);
    let one_thread = [
        ("VEZA_CPU_THREADS", "1"),
        ("TOKIO_WORKER_THREADS", "1"),
        ("VEZA_VIDEO_AV1_THREADS", "1"),
        ("VEZA_MEDIA_EMAILS", "false"),
        ("VEZA_VIDEO_CHUNK_SEGMENTS", VIDEO_CHUNK_SEGMENTS),
        // One job per media queue at a time: with one CPU thread, a second claimed job would
        // only wait in this worker for the thread while another worker sat idle.
        ("VEZA_TRANSCODE_CONCURRENCY", "1"),
        ("VEZA_THUMBNAIL_CONCURRENCY", "1"),
        ("VEZA_PROBE_CONCURRENCY", "1"),
        ("VEZA_ENCODE_CONCURRENCY", "1"),
        ("VEZA_SOUNDTRACK_CONCURRENCY", "1"),
        ("VEZA_FINALIZE_CONCURRENCY", "1"),
    ];
    let mut worker_env = one_thread.to_vec();
    worker_env.push(("VEZA_METRICS_LISTEN", &first));
    let mut platform = Platform::start_with_env(None, &s3.env(BUCKET), &worker_env).await;
    let token = platform.register_verified_and_login("fleet@example.com").await;
    platform.grant_admin("fleet@example.com");
    for queue in MEDIA_QUEUES.split(',') {
        admin_post(&platform, &token, &format!("/v1/admin/queues/{queue}/pause")).await?;
    }
    for i in 1..workers {
        let own = listen(i);
        platform.add_worker_with(&[
            ("VEZA_QUEUES", MEDIA_QUEUES),
            ("VEZA_MAINTENANCE", "false"),
            ("VEZA_METRICS_LISTEN", own.as_str()),
        ]);
    }
    // Workers look for pauses every second; the uploads must not start work before the clock.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut ids = Vec::new();
    for item in batch {
        let accepted = platform.upload(&token, item.bytes.clone(), &item.name).await;
        ids.push(accepted["media_id"].as_str().context("a media_id")?.to_owned());
    }
    let pids: Vec<u32> = (0..workers).map(|i| platform.worker_pid(i)).collect();
    let cpu_before: Vec<Duration> = pids
        .iter()
        .map(|&p| process_cpu_time(p))
        .collect::<Result<_, _>>()?;
    let bytes_before = store_bytes(&platform, &ports).await?;
    let started = Instant::now();
    for queue in MEDIA_QUEUES.split(',') {
        admin_post(&platform, &token, &format!("/v1/admin/queues/{queue}/resume")).await?;
    }
    let deadline = started + Duration::from_secs(1800);
    for id in &ids {
        loop {
            let media = platform.get_json(&token, &format!("/v1/media/{id}")).await;
            match media["status"].as_str() {
                Some("ready") => break,
                Some("failed") => bail!("an item failed: {media}"),
                _ if Instant::now() > deadline => bail!("not ready in 30 minutes: {media}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    // Ready items may still have follow-up jobs (an audio item's cover art and waveform
    // thumbnails): the batch is done when the media queues hold nothing to run.
    loop {
        let queues = platform.get_json(&token, "/v1/admin/queues").await;
        if outstanding(&queues, MEDIA_QUEUES) == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("media jobs still outstanding after 30 minutes: {queues}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed();
    let cpu = pids
        .iter()
        .zip(&cpu_before)
        .map(|(&pid, before)| process_cpu_time(pid).map(|now| now - *before))
        .sum::<Result<Duration, _>>()?;
    let bytes = store_bytes(&platform, &ports).await? - bytes_before;
    let queues = platform.get_json(&token, "/v1/admin/queues").await;
    let jobs = queues
        .as_array()
        .context("queues")?
        .iter()
        .filter(|q| MEDIA_QUEUES.split(',').any(|queue| q["queue"] == queue))
        .map(|q| q["succeeded"].as_u64().unwrap_or(0))
        .sum();
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url).await?;
    let longest: f64 = sqlx::query_scalar(
        "select coalesce(max(extract(epoch from done_at - lock_at)), 0)::float8
           from apalis.jobs where status = 'Done'",
    )
    .fetch_one(&mut db)
    .await?;
    drop(platform);
    Ok(Run {
        wall,
        cpu,
        bytes,
        jobs,
        longest_job: Duration::from_secs_f64(longest),
    })
}

async fn admin_post(platform: &Platform, token: &str, path: &str) -> anyhow::Result<()> {
    let resp = platform
        .http
        .post(platform.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("POST {path}: {}", resp.status());
    }
    Ok(())
}

/// Bytes every worker has read from and written to the store (`veza_storage_bytes_total`).
async fn store_bytes(platform: &Platform, ports: &[u16]) -> anyhow::Result<u64> {
    let mut total = 0.0;
    for port in ports {
        let text = platform
            .http
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        total += text
            .lines()
            .filter(|l| l.starts_with("veza_storage_bytes_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    Ok(total as u64)
}

/// The model of a fleet of N machines, its terms measured here, checked against the runs.
async fn model(
    batch: &[Item],
    one: Run,
    longest_job: Duration,
    median: &dyn Fn(usize) -> Run,
) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let bandwidth = store_bandwidth(batch).await?;
    let cpu = one.cpu.as_secs_f64();
    // No fleet beats its longest single job (the video's chunk, on one thread).
    let longest = longest_job.as_secs_f64();
    let store = one.bytes as f64 / bandwidth;
    let claims = one.jobs as f64 / CLAIM_RATE;
    println!(
        "\nmodel terms: CPU {cpu:.1} s of one-thread work; longest job {longest:.1} s; store {:.0} MB at {:.0} MB/s measured \
         (moto, loopback) = {store:.2} s; {} jobs at {CLAIM_RATE:.0} claims/s = {claims:.3} s",
        one.bytes as f64 / 1e6,
        bandwidth / 1e6,
        one.jobs
    );
    println!(
        "| workers | model: max(CPU ÷ min(workers, {cores:.0} cores), longest job, store, claims) | measured |"
    );
    println!("|---|---|---|");
    for workers in FLEETS {
        let usable = (workers as f64).min(cores);
        let predicted = (cpu / usable).max(longest).max(store).max(claims);
        println!(
            "| {workers} | {predicted:.1} s | {:.1} s |",
            median(workers).wall.as_secs_f64()
        );
    }
    // N machines of `cores` each: CPU splits N·cores ways until the store or Postgres is the
    // limit; the fleet size where each term takes over.
    let machines_to_store = cpu / (cores * store.max(f64::MIN_POSITIVE));
    let machines_to_claims = cpu / (cores * claims.max(f64::MIN_POSITIVE));
    println!(
        "N machines of {cores:.0} cores: wall ≈ max({cpu:.1} s ÷ (N·{cores:.0}), {longest:.1} s, {store:.2} s, {claims:.3} s); \
         the store becomes the limit from N ≈ {machines_to_store:.0} (at this moto's bandwidth), \
         Postgres's claims from N ≈ {machines_to_claims:.0}"
    );
    Ok(())
}

/// The store's throughput for this batch's sizes: every input PUT then GET once, unsigned
/// (moto takes it), bytes moved ÷ seconds.
async fn store_bandwidth(batch: &[Item]) -> anyhow::Result<f64> {
    let s3 = S3Server::start("veza-bandwidth").await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut moved = 0u64;
    for item in batch {
        let url = format!("{}/veza-bandwidth/{}", s3.endpoint, item.name);
        let put = http.put(&url).body(item.bytes.clone()).send().await?;
        if !put.status().is_success() {
            bail!("PUT {url}: {}", put.status());
        }
        let got = http.get(&url).send().await?.bytes().await?;
        moved += (item.bytes.len() + got.len()) as u64;
    }
    Ok(moved as f64 / started.elapsed().as_secs_f64())
}
