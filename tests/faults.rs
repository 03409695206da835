//! Faults, end to end: three real workers drain a few hundred mixed jobs while workers are
//! SIGKILLed every two seconds and the Postgres server itself is restarted, and nothing is lost,
//! duplicated, left stuck or published half-made; once with objects in a folder, once in an
//! S3-compatible bucket (moto).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use veza_e2e::{cluster::PgCluster, fixtures, platform::Platform, servers::S3Server};

/// Accounts; each registration enqueues a welcome and a verification email.
const USERS: usize = 4;
/// Small PNGs of varied sizes (one thumbnail job each).
const IMAGES: usize = 150;
/// Short WAVs of 1–3 s (one transcode job each).
const AUDIO: usize = 60;
/// Uploads are spread over this long, so that processing overlaps the faults.
const UPLOAD_SPREAD: Duration = Duration::from_secs(24);
/// A random worker is SIGKILLed (and replaced) this often.
const KILL_EVERY: Duration = Duration::from_secs(2);
/// How long Postgres stays down during its restart.
const POSTGRES_DOWN: Duration = Duration::from_secs(2);
/// Postgres restarts once half the uploads are in, or by this time into the faults at the latest.
const RESTART_BY: Duration = Duration::from_secs(16);
/// Faults stop once the uploads are in, or after this long: a slower store (S3) makes uploads
/// take longer, and every job has a budget of attempts that rescues spend, so the number of
/// SIGKILLs is bounded the same on every store (about 15-20).
const FAULTS_AT_MOST: Duration = Duration::from_secs(36);
/// Faults go on at least this long after Postgres is back.
const FAULTS_AFTER_RESTART: Duration = Duration::from_secs(10);
/// Once faults stop, every job must succeed within this.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Heartbeat 2 s × 3 missed: a killed worker's jobs are rescued within ~6 s.
/// Retries from a 2-s base: a transcode's three attempts then span 3 to 6 s, longer than the
/// Postgres outage (`POSTGRES_DOWN`), as its real 10-s base does many times over. With 0.5 s
/// they spanned under 1.5 s, and a job that started as Postgres went down could spend its
/// whole budget on the one outage (CI saw it once in the S3 run).
/// Media emails off: they are enqueued as jobs settle, so some would still be queued when the
/// test looks for stuck jobs; their own tests are in jobs/tests/email_smtp.rs.
const WORKER_ENV: &[(&str, &str)] = &[
    ("VEZA_MEDIA_EMAILS", "false"),
    ("VEZA_RETRY_BASE_MS", "2000"),
    ("VEZA_HEARTBEAT_SECONDS", "2"),
    ("VEZA_MISSED_HEARTBEATS", "3"),
];

/// One fault run at a time: each is sized to load this machine's two cores on its own.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_drain_mixed_jobs_through_sigkills_and_a_postgres_restart_losing_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    drain_through_faults(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_faults_with_every_object_in_an_s3_bucket_lose_nothing() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let s3 = S3Server::start("veza-faults").await;
    drain_through_faults(&s3.env("veza-faults")).await;
}

/// The fault run, with `env` for every process (storage settings).
async fn drain_through_faults(env: &[(String, String)]) {
    let test_started = Instant::now();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let items = media_items(&mut rng);

    let cluster = PgCluster::start().await;
    let mut platform = Platform::start_with_env(Some(&cluster.admin_url()), env, WORKER_ENV).await;
    // Worker 0 is the witness: never killed, it must live through the Postgres restart and keep
    // working (no crash loop). Slots 1 and 2 are SIGKILLed at random and replaced.
    let mut killable = [platform.add_worker(), platform.add_worker()];

    // Accounts, registered directly so that the welcome email job ids are known.
    let mut tokens = Vec::new();
    let mut jobs: Vec<(usize, String)> = Vec::new();
    for user in 0..USERS {
        let (token, email_job) = register(&platform, &email_of(user)).await;
        tokens.push(token);
        jobs.push((user, email_job));
    }

    // Uploads, paced, from a task of their own while the faults go on.
    let uploaded = Arc::new(AtomicUsize::new(0));
    let uploader = tokio::spawn(upload_all(
        platform.http.clone(),
        platform.base_url.clone(),
        tokens.clone(),
        items,
        uploaded.clone(),
    ));

    let faults_started = Instant::now();
    let mut kills = 0;
    let mut restarted_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(KILL_EVERY).await;
        // Once, mid-way through the uploads: Postgres goes down (fast shutdown: every open
        // connection is cut) and comes back. The replacement worker below then starts on a
        // running server.
        if restarted_at.is_none()
            && (uploaded.load(Ordering::SeqCst) >= (IMAGES + AUDIO) / 2
                || faults_started.elapsed() >= RESTART_BY)
        {
            println!(
                "[faults {:>5.1} s] stopping Postgres",
                faults_started.elapsed().as_secs_f64()
            );
            cluster.stop().await;
            tokio::time::sleep(POSTGRES_DOWN).await;
            cluster.start_again().await;
            println!(
                "[faults {:>5.1} s] Postgres is back",
                faults_started.elapsed().as_secs_f64()
            );
            restarted_at = Some(Instant::now());
        }
        let slot = rng.below(killable.len());
        platform.kill_worker(killable[slot]);
        killable[slot] = platform.add_worker();
        kills += 1;
        println!(
            "[faults {:>5.1} s] SIGKILLed a worker (kill {kills}), started worker {}; {} of {} uploaded",
            faults_started.elapsed().as_secs_f64(),
            killable[slot],
            uploaded.load(Ordering::SeqCst),
            IMAGES + AUDIO
        );
        if (uploader.is_finished() || faults_started.elapsed() >= FAULTS_AT_MOST)
            && restarted_at.is_some_and(|at| at.elapsed() >= FAULTS_AFTER_RESTART)
        {
            break;
        }
    }
    let fault_seconds = faults_started.elapsed().as_secs_f64();
    let (uploads, upload_retries) = uploader.await.unwrap();
    for upload in &uploads {
        jobs.extend(upload.job_ids.iter().map(|id| (upload.user, id.clone())));
    }
    println!(
        "faults stopped after {fault_seconds:.1} s: {kills} SIGKILLs, 1 Postgres restart, \
         {} uploads ({upload_retries} retried after a 5xx or a broken connection), {} jobs",
        uploads.len(),
        jobs.len()
    );

    // Every job reaches `succeeded`; a permanent failure or a cancel is a loss.
    let drain_started = Instant::now();
    let mut waiting = jobs.clone();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for (user, job_id) in waiting {
            let job = platform
                .get_json(&tokens[user], &format!("/v1/jobs/{job_id}"))
                .await;
            match job["state"].as_str().unwrap() {
                "succeeded" => {}
                "failed" | "cancelled" => panic!("job {job_id} ended without succeeding: {job}"),
                _ => still.push((user, job_id)),
            }
        }
        waiting = still;
        if !waiting.is_empty() && drain_started.elapsed() > DRAIN_LIMIT {
            let mut report = String::new();
            for (user, job_id) in &waiting {
                let job = platform
                    .get_json(&tokens[*user], &format!("/v1/jobs/{job_id}"))
                    .await;
                let row = platform.queue_row(job_id).await;
                report.push_str(&format!(
                    "\n  {job}\n    apalis.jobs (status, attempts, run_at - now, lock_by): {row:?}"
                ));
                if let Some(media_id) = job["media_id"].as_str() {
                    let media = platform
                        .get_json(&tokens[*user], &format!("/v1/media/{media_id}"))
                        .await;
                    report.push_str(&format!(
                        "\n    its media item: status {}, {} outputs published",
                        media["status"],
                        media["outputs"].as_array().map_or(0, Vec::len)
                    ));
                }
            }
            panic!(
                "{} jobs not succeeded {} s after the faults stopped:{report}",
                waiting.len(),
                DRAIN_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_seconds = drain_started.elapsed().as_secs_f64();

    // Nothing stuck in the queue (including jobs of an upload a retry may have duplicated).
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&platform.database_url)
        .await
        .unwrap();
    // Jobs that finished jobs queued (an audio item's thumbnail job) get the same drain limit.
    loop {
        let active: i64 = sqlx::query_scalar(
            "select count(*) from apalis.jobs where status in ('Pending', 'Queued', 'Running')",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        if active == 0 || drain_started.elapsed() > DRAIN_LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("select status, count(*) from apalis.jobs group by status order by status")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let stuck: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "select id, job_type, status, lock_by from apalis.jobs
          where status in ('Pending', 'Queued', 'Running') order by id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        stuck.is_empty(),
        "jobs stuck in the queue: {stuck:?} (all: {by_status:?})"
    );
    let attempts: Vec<(i32, i64)> =
        sqlx::query_as("select attempts, count(*) from apalis.jobs group by attempts order by attempts")
            .fetch_all(&mut db)
            .await
            .unwrap();

    // Exactly one verification email per account: a re-run after a kill replaced, never added.
    let outbox = platform.data_dir.path().join("outbox");
    let mut mail_per_user: BTreeMap<String, usize> = BTreeMap::new();
    let mut eml_files = 0;
    for entry in std::fs::read_dir(&outbox).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "eml")
            && !path.file_name().unwrap().to_string_lossy().starts_with('.')
        {
            eml_files += 1;
            let mail = std::fs::read_to_string(&path).unwrap();
            let to = mail
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_else(|| panic!("no To: in {}", path.display()))
                .trim()
                .to_owned();
            // The verification email: every account gets exactly one (the welcome waits for
            // the address to be verified).
            if mail.contains("Subject: Confirm your email address") {
                *mail_per_user.entry(to).or_default() += 1;
            }
        }
    }
    let expected: BTreeMap<String, usize> = (0..USERS).map(|u| (email_of(u), 1)).collect();
    assert_eq!(
        mail_per_user,
        expected,
        "one verification email per account in {}",
        outbox.display()
    );
    assert_eq!(
        eml_files, USERS,
        "nothing but the verification email: unverified addresses get no welcome or media email"
    );

    // Every media item in the database is ready, uploaded twice or not.
    let media_by_status: Vec<(String, String, i64)> = sqlx::query_as(
        "select kind, status, count(*) from media group by kind, status order by kind, status",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(
        media_by_status.iter().all(|(_, status, _)| status == "ready"),
        "media not ready: {media_by_status:?}"
    );
    let media_rows: i64 = media_by_status.iter().map(|(_, _, n)| n).sum();
    assert!(media_rows >= i64::try_from(uploads.len()).unwrap());

    // Every published output is really there: the playlist, its init and every segment it
    // names; every listed thumbnail.
    let mut fetched = 0;
    for upload in &uploads {
        let token = &tokens[upload.user];
        let media = platform
            .get_json(token, &format!("/v1/media/{}", upload.media_id))
            .await;
        assert_eq!(media["status"], "ready", "{media}");
        if upload.kind == "audio" {
            let playlist_url = media["playlist_url"]
                .as_str()
                .unwrap_or_else(|| panic!("no playlist: {media}"));
            let copy = tempfile::tempdir().unwrap();
            platform.fetch_hls(token, playlist_url, copy.path()).await;
            fetched += std::fs::read_dir(copy.path()).unwrap().count();
        } else {
            let thumbnails: Vec<&str> = media["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["kind"] == "thumbnail")
                .map(|o| o["url"].as_str().unwrap())
                .collect();
            assert!(!thumbnails.is_empty(), "no thumbnails: {media}");
            for url in thumbnails {
                let (status, bytes) = platform.get(token, url).await;
                assert_eq!(status, StatusCode::OK, "{url}");
                assert!(!bytes.is_empty(), "{url} is empty");
                fetched += 1;
            }
        }
    }

    // The witness lived through everything, and every worker still running stops cleanly.
    assert!(
        platform.worker_is_running(),
        "worker 0 (never killed) exited on its own"
    );
    for index in std::iter::once(0).chain(killable.iter().copied()) {
        let status = platform.terminate_worker(index, Duration::from_secs(45)).await;
        assert!(status.success(), "worker {index} exited with {status} on SIGTERM");
    }

    println!(
        "\nsummary: {} jobs ({USERS} emails, {} uploads; apalis.jobs {by_status:?}, attempts {attempts:?}), \
         {} media rows {media_by_status:?}, {fetched} outputs fetched\n         \
         {kills} SIGKILLs + 1 Postgres restart over {fault_seconds:.1} s of faults, \
         drained {drain_seconds:.1} s after, {upload_retries} upload retries; {:.1} s in all",
        jobs.len(),
        uploads.len(),
        media_rows,
        test_started.elapsed().as_secs_f64()
    );
}

/// An accepted upload and the jobs it queued.
struct Upload {
    user: usize,
    media_id: String,
    kind: String,
    job_ids: Vec<String>,
}

/// What to upload: (user, bytes, file name), images and audio interleaved.
fn media_items(rng: &mut XorShift) -> Vec<(usize, Vec<u8>, String)> {
    let mut items = Vec::new();
    for i in 0..IMAGES.max(AUDIO) {
        if i < IMAGES {
            let (w, h) = (24 + rng.below(600) as u32, 24 + rng.below(450) as u32);
            items.push((
                rng.below(USERS),
                fixtures::png(w, h),
                format!("img-{i}-{w}x{h}.png"),
            ));
        }
        if i < AUDIO {
            let seconds = 1.0 + rng.below(21) as f64 / 10.0;
            let rate = [8_000, 22_050, 44_100, 48_000][rng.below(4)];
            let channels = 1 + rng.below(2) as u16;
            items.push((
                rng.below(USERS),
                fixtures::wav(seconds, rate, channels),
                format!("tone-{i}-{seconds}s.wav"),
            ));
        }
    }
    items
}

/// Uploads every item, paced over [`UPLOAD_SPREAD`]; an answer of 5xx or a broken connection
/// (Postgres restarting) is retried. Returns the uploads and how many retries there were.
async fn upload_all(
    http: Client,
    base_url: String,
    tokens: Vec<String>,
    items: Vec<(usize, Vec<u8>, String)>,
    uploaded: Arc<AtomicUsize>,
) -> (Vec<Upload>, usize) {
    let started = tokio::time::Instant::now();
    let step = UPLOAD_SPREAD / u32::try_from(items.len()).unwrap();
    let mut uploads = Vec::new();
    let mut retries = 0;
    for (i, (user, bytes, filename)) in items.into_iter().enumerate() {
        tokio::time::sleep_until(started + step * u32::try_from(i).unwrap()).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        let body = loop {
            let sent = http
                .post(format!("{base_url}/v1/media?filename={filename}"))
                .bearer_auth(&tokens[user])
                .header("content-type", "application/octet-stream")
                .body(bytes.clone())
                .send()
                .await;
            let problem = match sent {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    break resp.json::<Value>().await.unwrap();
                }
                Ok(resp) if resp.status().is_server_error() => {
                    format!("{}: {}", resp.status(), resp.text().await.unwrap_or_default())
                }
                Ok(resp) => panic!(
                    "upload {filename}: {} {}",
                    resp.status(),
                    resp.text().await.unwrap_or_default()
                ),
                Err(err) => err.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "upload {filename} still failing after 60 s: {problem}"
            );
            println!("upload {filename} will be retried: {problem}");
            retries += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        uploads.push(Upload {
            user,
            media_id: body["media_id"].as_str().unwrap().to_owned(),
            kind: body["kind"].as_str().unwrap().to_owned(),
            job_ids: body["job_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_owned())
                .collect(),
        });
        uploaded.fetch_add(1, Ordering::SeqCst);
    }
    (uploads, retries)
}

/// Registers and logs in; returns the token and the welcome email's job id.
async fn register(platform: &Platform, email: &str) -> (String, String) {
    let credentials = json!({ "email": email, "password": "correct horse battery" });
    let resp = platform
        .http
        .post(platform.url("/v1/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.unwrap();
    let email_job = registered["verification_email_job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = platform
        .http
        .post(platform.url("/v1/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_owned(), email_job)
}

fn email_of(user: usize) -> String {
    format!("user{user}@example.com")
}

/// A tiny seeded PRNG (xorshift64): the same media and the same victims on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
