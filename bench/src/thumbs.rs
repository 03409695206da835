//! `just bench-thumbs`: a 24-megapixel JPEG to the full thumbnail ladder, JPEG and WebP, through
//! Veza's thumbnail job (from claim to stored outputs: fetch the original from storage, decode
//! once, render every size and format, store them, publish the rows), beside `vipsthumbnail`
//! producing the same sizes and formats at the same qualities, one run per size and format,
//! summed. Also reports Veza's peak RSS (the largest accepted image's cost in memory).
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-thumbs [RUNS]`; needs `vipsthumbnail`
//! (Debian libvips-tools) on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use veza_bench::photo::{photo, vips};
use veza_e2e::TestDatabase;
use veza_jobs::{
    context::{JobContext, JobRun, KindSettings},
    lease::Lease,
    mailer::{Mailer, MailerConfig},
    media::{self, MediaKind, NewMedia},
    queue,
    storage::{Storage, StorageConfig},
    thumbnail::{self, ThumbnailJob, ThumbnailSettings},
};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let runs: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(5);
    let db = TestDatabase::create_on(&admin_url).await;
    let pool = veza_jobs::db::connect(&db.url, 4).await?;
    veza_jobs::db::migrate(&pool).await?;
    let dir = tempfile::tempdir()?;
    let storage = Storage::open(&StorageConfig::Fs {
        root: dir.path().join("objects"),
    })?;
    let settings = ThumbnailSettings::default();
    let ctx = JobContext {
        pool: pool.clone(),
        storage: storage.clone(),
        mailer: Mailer::open(&MailerConfig::Outbox(dir.path().join("outbox"))).map_err(anyhow::Error::msg)?,
        cpu: veza_jobs::cpu::CpuPool::per_core(),
        scratch_dir: dir.path().join("scratch"),
        settings: KindSettings::default().with(settings.clone()),
    };

    let original = photo();
    let input = dir.path().join("photo.jpg");
    std::fs::write(&input, &original)?;
    let owner = Uuid::now_v7();
    sqlx::query("insert into users (id, email, password_hash) values ($1, 'bench@example.com', 'x')")
        .bind(owner)
        .execute(&pool)
        .await?;
    let media_id = Uuid::now_v7();
    let key = Storage::original_key(media_id);
    storage.put_bytes(&key, original.clone().into()).await?;
    let mut conn = pool.acquire().await?;
    media::insert(
        &mut conn,
        &NewMedia {
            id: media_id,
            owner_id: owner,
            kind: MediaKind::Image,
            original_key: &key,
            original_filename: None,
            content_type: "image/jpeg",
            size_bytes: original.len() as u64,
            sha256: "bench",
        },
    )
    .await?;

    sqlx::query(
        "insert into apalis.workers (id, worker_type, storage_name) values ('bench', 'thumbnail', 'bench')",
    )
    .execute(&pool)
    .await?;
    let mut veza = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..runs {
        // A claimed job: its lease is held by this process, as a worker's would be.
        let job_id = thumbnail::enqueue(&mut conn, owner, media_id, queue::Priority::Interactive).await?;
        sqlx::query("update apalis.jobs set status = 'Running', lock_by = 'bench' where id = $1")
            .bind(veza_jobs::task_ids::task_id(job_id))
            .execute(&pool)
            .await?;
        let run = JobRun {
            id: job_id,
            lease: Lease::new(job_id, "bench"),
            cancel: CancellationToken::new(),
        };
        let started = Instant::now();
        thumbnail::handle(&ctx, &run, ThumbnailJob { media_id }).await?;
        veza.push(started.elapsed());
        reference.push(vips(&input, dir.path(), &settings.sizes)?);
    }
    veza.sort();
    reference.sort();
    let median = |v: &[Duration]| v[v.len() / 2].as_secs_f64() * 1000.0;
    let (v, r) = (median(&veza), median(&reference));
    println!(
        "thumbnail benchmark: 6000x4000 JPEG → sizes {:?}, JPEG q{} + WebP q{}, median of {runs}",
        settings.sizes, settings.jpeg_quality, settings.webp_quality
    );
    println!(
        "{:<52} {:>10.0} ms",
        "Veza thumbnail job (claim → stored outputs)", v
    );
    println!(
        "{:<52} {:>10.0} ms",
        "vipsthumbnail, one run per size and format, summed", r
    );
    println!(
        "{:<52} {:>10.2}x",
        "ratio (vips / Veza; above 1 = Veza faster)",
        r / v
    );
    println!(
        "{:<52} {:>10.0} MiB",
        "Veza peak RSS (this process)",
        peak_rss_mib()
    );
    Ok(())
}
