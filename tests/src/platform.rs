//! The real binaries, started the way an operator starts them: `veza-api migrate`, then the API
//! and a worker, each on its own database and storage folder, driven over HTTP.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{TestDatabase, servers::free_port};

/// The `media` worker group of compose.yaml, deploy/kubernetes and docs/operations.md, as
/// `VEZA_QUEUES` takes it.
pub const MEDIA_QUEUES: &str = "transcode,thumbnail,probe,encode,soundtrack,finalize";
/// The `light` worker group (it also runs maintenance).
pub const LIGHT_QUEUES: &str = "email,webhook,purge,canary";

/// Jobs of `queues` (comma-separated) that a worker must still run — queued, running or
/// retrying — as `GET /v1/admin/queues` (`stats`) reports them.
pub fn outstanding(stats: &Value, queues: &str) -> u64 {
    let queues: Vec<&str> = queues.split(',').collect();
    stats
        .as_array()
        .expect("GET /v1/admin/queues answers a list")
        .iter()
        .filter(|q| queues.contains(&q["queue"].as_str().unwrap_or("")))
        .flat_map(|q| ["queued", "running", "retrying"].map(|state| q[state].as_u64().unwrap_or(0)))
        .sum()
}

/// A running API and its workers, killed when dropped.
pub struct Platform {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The data folder (storage, outbox, scratch).
    pub data_dir: tempfile::TempDir,
    /// The database.
    pub database_url: String,
    /// HTTP client.
    pub http: Client,
    port: u16,
    env: Vec<(String, String)>,
    worker_env: Vec<(String, String)>,
    api: Child,
    /// More API instances on the same database and data ([`Platform::add_api`]), with their ports.
    more_apis: Vec<(Child, u16)>,
    workers: Vec<Child>,
}

/// Where cargo put the workspace's binaries: beside the running executable when it is one of
/// them (a benchmark in `target/release/`), else next to a test executable's `deps/` folder, so
/// tests run the debug binaries and `bench-up` the release ones.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let beside = exe.parent().unwrap();
    let candidates = [beside.join(name), beside.parent().unwrap().join(name)];
    let found = candidates.iter().find(|path| path.exists());
    found
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: build the binaries first (`cargo build --bins`; `just test` does)",
                candidates[1].display()
            )
        })
        .clone()
}

impl Platform {
    /// Migrates a fresh database, starts `veza-api` and one `veza-worker`, waits for `/readyz`.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Like [`Platform::start`], with extra environment for every worker (e.g. short timeouts).
    pub async fn start_with(worker_env: &[(&str, &str)]) -> Self {
        Self::launch(TestDatabase::create().await.url, &[], worker_env).await
    }

    /// Like [`Platform::start_with`], with `env` for every process (the API, the workers and
    /// the `veza-api` commands): e.g. [`crate::servers::S3Server::env`] to keep every object in
    /// a bucket. The test database is created on the server of `admin_database_url`, or of
    /// `DATABASE_URL` when `None`.
    pub async fn start_with_env(
        admin_database_url: Option<&str>,
        env: &[(String, String)],
        worker_env: &[(&str, &str)],
    ) -> Self {
        let database = match admin_database_url {
            Some(url) => TestDatabase::create_on(url).await,
            None => TestDatabase::create().await,
        };
        Self::launch(database.url, env, worker_env).await
    }

    async fn launch(database_url: String, env: &[(String, String)], worker_env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut platform = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir,
            database_url,
            http: Client::new(),
            port,
            env: env.to_vec(),
            worker_env: worker_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            api: Command::new("true").spawn().unwrap(),
            more_apis: Vec::new(),
            workers: Vec::new(),
        };
        let status = platform.command("veza-api").arg("migrate").status().unwrap();
        assert!(status.success(), "veza-api migrate failed");
        platform.api = platform.spawn_api();
        platform.add_worker();
        platform.wait_ready().await;
        platform
    }

    fn command(&self, binary_name: &str) -> Command {
        let mut cmd = Command::new(binary(binary_name));
        cmd.env("DATABASE_URL", &self.database_url)
            .env("VEZA_DATA_DIR", self.data_dir.path())
            .env("VEZA_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("VEZA_JWT_SECRET", "test-secret-for-veza-e2e-0123456789ABCDEF")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if binary_name == "veza-worker" {
            // Many workers on one machine: each its own free port for health and metrics.
            cmd.env("VEZA_METRICS_LISTEN", "127.0.0.1:0");
            cmd.envs(self.worker_env.iter().map(|(k, v)| (k, v)));
        }
        cmd
    }

    /// Gives `email`'s account the admin role with `veza-api admin grant`, as an operator would.
    pub fn grant_admin(&self, email: &str) {
        let status = self
            .command("veza-api")
            .args(["admin", "grant", email])
            .status()
            .unwrap();
        assert!(status.success(), "veza-api admin grant {email} failed");
    }

    /// Where the API's output (its log) goes.
    pub fn api_log_path(&self) -> PathBuf {
        self.data_dir.path().join("api.log")
    }

    /// Everything the API logged so far.
    pub fn api_log(&self) -> String {
        std::fs::read_to_string(self.api_log_path()).unwrap_or_default()
    }

    /// The folder every process keeps its data in (local object storage included).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// Starts one more worker process; returns its index. Its log goes to
    /// [`Platform::worker_log_path`]; a failing test prints the tail of every log (see `Drop`).
    pub fn add_worker(&mut self) -> usize {
        self.add_worker_with(&[])
    }

    /// Starts one more worker process with `env` on top of every worker's environment (e.g.
    /// `VEZA_QUEUES`); returns its index. Its log goes to [`Platform::worker_log_path`].
    pub fn add_worker_with(&mut self, env: &[(&str, &str)]) -> usize {
        let index = self.workers.len();
        let log = std::fs::File::create(self.worker_log_path(index)).unwrap();
        let worker = self
            .command("veza-worker")
            .envs(env.iter().copied())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.push(worker);
        index
    }

    /// Where worker `index`'s output (its log) goes.
    pub fn worker_log_path(&self, index: usize) -> PathBuf {
        self.data_dir.path().join(format!("worker-{index}.log"))
    }

    /// The process id of worker `index` (e.g. to read its CPU time from `/proc`).
    pub fn worker_pid(&self, index: usize) -> u32 {
        self.workers[index].id()
    }

    /// The API's process id (e.g. to read its memory from `/proc`).
    pub fn api_pid(&self) -> u32 {
        self.api.id()
    }

    /// SIGKILLs worker `index` (no chance to clean up) and reaps it.
    pub fn kill_worker(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        worker.kill().unwrap();
        worker.wait().unwrap();
    }

    /// SIGTERMs worker `index` and waits up to `within` for it to exit; returns its status.
    pub async fn terminate_worker(&mut self, index: usize, within: Duration) -> std::process::ExitStatus {
        self.sigterm_worker(index);
        self.wait_worker_exit(index, within).await
    }

    /// Sends SIGTERM to worker `index` and returns at once (it drains, then exits).
    pub fn sigterm_worker(&self, index: usize) {
        signal_term(&self.workers[index]);
    }

    /// Waits up to `within` for worker `index` to exit; returns its status.
    pub async fn wait_worker_exit(&mut self, index: usize, within: Duration) -> std::process::ExitStatus {
        wait_exit(&mut self.workers[index], within).await
    }

    /// SIGTERMs the API and waits up to `within` for it to exit; returns its status.
    pub async fn terminate_api(&mut self, within: Duration) -> std::process::ExitStatus {
        signal_term(&self.api);
        wait_exit(&mut self.api, within).await
    }

    /// SIGKILLs the API (a crash: no drain) and starts it again on the same port and data,
    /// appending to its log; waits until it is ready.
    pub async fn restart_api(&mut self) {
        self.api.kill().unwrap();
        self.api.wait().unwrap();
        self.api = self.spawn_api();
        self.wait_ready().await;
    }

    /// Starts one more `veza-api` on the same database and data folder, on a port of its own
    /// (a second instance behind a load balancer); waits until it is ready and returns its
    /// index. Its log goes to [`Platform::more_api_log_path`].
    pub async fn add_api(&mut self) -> usize {
        let index = self.more_apis.len();
        let port = free_port();
        let log = std::fs::File::create(self.more_api_log_path(index)).unwrap();
        let child = self
            .command("veza-api")
            .env("VEZA_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.more_apis.push((child, port));
        wait_ready(&self.http, &self.more_api_url(index)).await;
        index
    }

    /// `http://127.0.0.1:PORT` of added API `index`.
    pub fn more_api_url(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.more_apis[index].1)
    }

    /// Where added API `index`'s output goes.
    pub fn more_api_log_path(&self, index: usize) -> PathBuf {
        self.data_dir.path().join(format!("api-{}.log", index + 1))
    }

    /// SIGTERMs added API `index` and waits up to `within` for it to exit; returns its status.
    pub async fn terminate_more_api(&mut self, index: usize, within: Duration) -> std::process::ExitStatus {
        signal_term(&self.more_apis[index].0);
        wait_exit(&mut self.more_apis[index].0, within).await
    }

    /// Starts `veza-api`. Its log goes to a file in the data folder (appended to across
    /// restarts), so tests can read what it logged.
    fn spawn_api(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.api_log_path())
            .unwrap();
        self.command("veza-api")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    async fn wait_ready(&self) {
        wait_ready(&self.http, &self.base_url).await;
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Registers `email` and logs in; returns the access token.
    pub async fn register_and_login(&self, email: &str) -> String {
        let credentials = json!({ "email": email, "password": "correct horse battery" });
        let resp = self
            .http
            .post(self.url("/v1/auth/register"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{}",
            resp.text().await.unwrap()
        );
        let resp = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers `email`, confirms the address with the link of the verification email the
    /// worker writes to the outbox (as its owner would), and logs in; returns the access token.
    /// Only a verified address gets notification emails (welcome, media ready or failed).
    pub async fn register_verified_and_login(&self, email: &str) -> String {
        let token = self.register_and_login(email).await;
        let mail = self.outbox_mail("Confirm your email address", email).await;
        self.verify_with_link(&mail).await;
        token
    }

    /// Checks that `media` (an item as `GET /v1/media/{id}` answers it) is ready with the
    /// default ladder (AAC-LC 160, Opus 64/128/192): fetches the HLS stream and has ffprobe read
    /// each rendition of the copy as 48 kHz stereo, `seconds` long.
    pub async fn check_default_ladder(&self, token: &str, media: &Value, seconds: f64) {
        assert_eq!(media["status"], "ready", "{media}");
        let playlist_url = media["playlist_url"].as_str().expect("a published playlist");
        let copy = tempfile::tempdir().unwrap();
        let renditions = self.fetch_hls(token, playlist_url, copy.path()).await;
        assert_eq!(
            renditions,
            [
                "aac-160k.m3u8",
                "opus-64k.m3u8",
                "opus-128k.m3u8",
                "opus-192k.m3u8"
            ]
        );
        for rendition in &renditions {
            let codec = if rendition.starts_with("aac") {
                "aac"
            } else {
                "opus"
            };
            crate::ffprobe::check_rendition(&copy.path().join(rendition), codec, seconds);
        }
    }

    /// Confirms an address with the verification link in `mail` (a raw message).
    pub async fn verify_with_link(&self, mail: &str) {
        let body = crate::servers::decoded_body(mail);
        let marker = "verify?token=";
        let start = body.find(marker).expect("a verification link") + marker.len();
        let link_token: String = body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        let resp = self
            .http
            .post(self.url("/v1/auth/verify-email"))
            .json(&json!({ "token": link_token }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
    }

    /// Waits up to 30 s for an email with `subject` to `to` in the outbox; returns it raw.
    pub async fn outbox_mail(&self, subject: &str, to: &str) -> String {
        let outbox = self.data_dir.path().join("outbox");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = std::fs::read_dir(&outbox).ok().and_then(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .find(|m| m.contains(&format!("Subject: {subject}")) && m.contains(&format!("To: {to}")))
            });
            if let Some(mail) = found {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no \"{subject}\" email to {to} in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// GET with a token; returns status and body bytes.
    pub async fn get(&self, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.bytes().await.unwrap().to_vec())
    }

    /// Downloads a published HLS stream through the API into `dir`: the master playlist at
    /// `master_url`, every media playlist it names, and every init and media segment those name,
    /// each asserted present (200) and non-empty. Returns the media playlists' file names.
    pub async fn fetch_hls(&self, token: &str, master_url: &str, dir: &std::path::Path) -> Vec<String> {
        let base = master_url.rsplit_once('/').map_or("", |(base, _)| base);
        let fetch = |name: String| async move {
            let (status, bytes) = self.get(token, &format!("{base}/{name}")).await;
            assert_eq!(status, StatusCode::OK, "{base}/{name}");
            assert!(!bytes.is_empty(), "{base}/{name} is empty");
            std::fs::write(dir.join(&name), &bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let master_name = master_url.rsplit('/').next().unwrap_or("index.m3u8").to_owned();
        let master = fetch(master_name).await;
        assert!(
            master.contains("#EXT-X-STREAM-INF:"),
            "not a master playlist: {master}"
        );
        let uris = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .map(str::to_owned)
                .collect()
        };
        // Variant URIs (a video variant may be listed once per audio group) and the audio
        // renditions of `EXT-X-MEDIA` groups, each once.
        let mut media_playlists: Vec<String> = Vec::new();
        let media_uris = master
            .lines()
            .filter(|line| line.starts_with("#EXT-X-MEDIA:"))
            .filter_map(|line| line.split("URI=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned);
        for uri in uris(&master).into_iter().chain(media_uris) {
            if !media_playlists.contains(&uri) {
                media_playlists.push(uri);
            }
        }
        assert!(!media_playlists.is_empty(), "no variants in {master}");
        for name in &media_playlists {
            let playlist = fetch(name.clone()).await;
            assert!(playlist.contains("#EXT-X-ENDLIST"), "{name}: {playlist}");
            let mut files = uris(&playlist);
            assert!(!files.is_empty(), "no segments in {name}: {playlist}");
            let init = playlist
                .lines()
                .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no EXT-X-MAP in {name}: {playlist}"));
            files.push(init.to_owned());
            for file in files {
                fetch(file).await;
            }
        }
        media_playlists
    }

    /// GET with a token, expecting 200 JSON.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.get(token, path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap()
    }

    /// Uploads `bytes` as a media item; returns the 202 body.
    pub async fn upload(&self, token: &str, bytes: Vec<u8>, filename: &str) -> Value {
        let resp = self
            .http
            .post(self.url(&format!("/v1/media?filename={filename}")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            // As a careful client uploads: with a key, so a retry could not make a second item.
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::ACCEPTED,
            "{}",
            resp.text().await.unwrap()
        );
        resp.json().await.unwrap()
    }

    /// Polls a job until it is `succeeded` or `failed` (120 s at most); returns the job.
    pub async fn wait_for_job(&self, token: &str, job_id: &str) -> Value {
        self.wait_for_state(token, job_id, &["succeeded", "failed"]).await
    }

    /// Polls a job until its state is one of `states` (120 s at most); returns the job.
    pub async fn wait_for_state(&self, token: &str, job_id: &str, states: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.get_json(token, &format!("/v1/jobs/{job_id}")).await;
            if states.iter().any(|s| job["state"] == *s) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} never reached {states:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls a media item until it leaves `processing` (120 s at most, across every job it
    /// takes: a probe that hands over to a transcode, say); returns the item.
    pub async fn wait_for_media(&self, token: &str, media_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let media = self.get_json(token, &format!("/v1/media/{media_id}")).await;
            if media["status"] != "processing" {
                return media;
            }
            assert!(
                Instant::now() < deadline,
                "media {media_id} never settled: {media}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM to the API and the first worker and waits (20 s at most) for both to
    /// exit; returns their exit statuses, API first.
    pub async fn terminate(&mut self) -> (std::process::ExitStatus, std::process::ExitStatus) {
        signal_term(&self.api);
        signal_term(&self.workers[0]);
        let api = wait_exit(&mut self.api, Duration::from_secs(20)).await;
        let worker = wait_exit(&mut self.workers[0], Duration::from_secs(20)).await;
        (api, worker)
    }

    /// Whether the first worker process is still running.
    pub fn worker_is_running(&mut self) -> bool {
        self.workers[0].try_wait().unwrap().is_none()
    }

    /// The job's row in apalis's queue: status, attempts, seconds until `run_at`, lock holder.
    pub async fn queue_row(&self, job_id: &str) -> (String, i32, f64, Option<String>) {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.database_url)
            .await
            .unwrap();
        // apalis spells the job's UUIDv7 as the ULID of the same 128 bits.
        let task_id = ulid::Ulid::from_bytes(*uuid::Uuid::parse_str(job_id).unwrap().as_bytes()).to_string();
        sqlx::query_as(
            "select status, attempts, extract(epoch from run_at - now())::float8, lock_by
               from apalis.jobs where id = $1",
        )
        .bind(task_id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }
}

fn signal_term(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "process still running {} s after SIGTERM",
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let more_apis = self.more_apis.iter_mut().map(|(child, _)| child);
        for child in std::iter::once(&mut self.api)
            .chain(more_apis)
            .chain(self.workers.iter_mut())
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The logs live in the data folder, which goes with the platform: show the end of each
        // when a test fails, where its own output is printed.
        if std::thread::panicking() {
            let logs = std::iter::once(self.api_log_path())
                .chain((0..self.more_apis.len()).map(|i| self.more_api_log_path(i)))
                .chain((0..self.workers.len()).map(|i| self.worker_log_path(i)));
            for path in logs {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("--- last lines of {} ---", path.display());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Waits up to 30 s for the API at `base` to answer `/readyz` with 200.
async fn wait_ready(http: &Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = http.get(format!("{base}/readyz")).send().await
            && resp.status() == StatusCode::OK
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "veza-api at {base} did not become ready in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
