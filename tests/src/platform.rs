//! The real binaries, started the way an operator starts them: `veza-api migrate`, then the API
//! and a worker, each on its own database and storage folder, driven over HTTP.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::{TestDatabase, servers::free_port};

/// A running API and worker, killed when dropped.
pub struct Platform {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The data folder (storage, outbox, scratch).
    pub data_dir: tempfile::TempDir,
    /// The database.
    pub database_url: String,
    /// HTTP client.
    pub http: Client,
    api: Child,
    worker: Child,
}

/// Where cargo put the workspace's binaries: next to the test executable's `deps/` folder.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --bins`; `just test` does)",
        path.display()
    );
    path
}

impl Platform {
    /// Migrates a fresh database, starts `veza-api` and one `veza-worker`, waits for `/readyz`.
    pub async fn start() -> Self {
        let database_url = TestDatabase::create().await.url;
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let env = |cmd: &mut Command| {
            cmd.env("DATABASE_URL", &database_url)
                .env("VEZA_DATA_DIR", data_dir.path())
                .env("VEZA_LISTEN", format!("127.0.0.1:{port}"))
                .env("VEZA_JWT_SECRET", "test-secret-test-secret-test-secret!")
                .env("RUST_LOG", "info,sqlx=warn")
                .stdin(Stdio::null());
        };
        let mut migrate = Command::new(binary("veza-api"));
        env(&mut migrate);
        let status = migrate.arg("migrate").status().unwrap();
        assert!(status.success(), "veza-api migrate failed");

        let mut api = Command::new(binary("veza-api"));
        env(&mut api);
        let api = api.spawn().unwrap();
        let mut worker = Command::new(binary("veza-worker"));
        env(&mut worker);
        let worker = worker.spawn().unwrap();

        let platform = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            data_dir,
            database_url,
            http: Client::new(),
            api,
            worker,
        };
        platform.wait_ready().await;
        platform
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = self.http.get(format!("{}/readyz", self.base_url)).send().await
                && resp.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "veza-api did not become ready in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    /// Polls a job until it is `succeeded` or `failed` (60 s at most); returns the job.
    pub async fn wait_for_job(&self, token: &str, job_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.get_json(token, &format!("/v1/jobs/{job_id}")).await;
            if matches!(job["state"].as_str(), Some("succeeded" | "failed")) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {job_id} did not finish in 60 s: {job}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends SIGTERM to the API and the worker and waits (20 s at most) for both to exit;
    /// returns their exit statuses, API first.
    pub async fn terminate(&mut self) -> (std::process::ExitStatus, std::process::ExitStatus) {
        for child in [&self.api, &self.worker] {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let (Some(api), Some(worker)) = (self.api.try_wait().unwrap(), self.worker.try_wait().unwrap())
            {
                return (api, worker);
            }
            assert!(
                Instant::now() < deadline,
                "API or worker still running 20 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the worker process is still running.
    pub fn worker_is_running(&mut self) -> bool {
        self.worker.try_wait().unwrap().is_none()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for child in [&mut self.api, &mut self.worker] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
