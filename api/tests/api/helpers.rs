//! `spawn_app`: the real `Application` on a fresh database and storage folder.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use veza_api::{
    config::{ApiConfig, RequestLimits},
    startup::Application,
};
use veza_e2e::TestDatabase;
use veza_jobs::storage::StorageConfig;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";
/// What [`TestApp::publish_thumbnail`] stores.
pub const THUMBNAIL_BYTES: &[u8] = b"RIFF....WEBP";

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub http: Client,
    pub pool: PgPool,
    pub data: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut ApiConfig)) -> TestApp {
    let db = TestDatabase::create().await;
    spawn_app_on(&db.url, adjust).await
}

/// Another API instance on the database of `database_url` (its own storage folder).
pub async fn spawn_app_on(database_url: &str, adjust: impl FnOnce(&mut ApiConfig)) -> TestApp {
    let pool = veza_jobs::db::connect(database_url, 5).await.unwrap();
    veza_jobs::db::migrate(&pool).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = ApiConfig {
        database_url: database_url.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        storage: StorageConfig::Fs {
            root: data.path().join("objects"),
        },
        jwt_secret: Some(SECRET.to_owned()),
        jwt_previous_secrets: Vec::new(),
        dev_mode: false,
        token_ttl_seconds: 3600,
        refresh_ttl_seconds: 30 * 24 * 3600,
        max_upload_bytes: 8 * 1024 * 1024,
        playback_url_ttl_seconds: 3600,
        s3_presigned_redirects: true,
        quota: veza_jobs::quota::QuotaDefaults {
            bytes: 10 * 1024 * 1024 * 1024,
            items: 10_000,
        },
        db_max_connections: 5,
        admin_emails: Vec::new(),
        trusted_proxies: Default::default(),
        cors_origins: Vec::new(),
        metrics_token: None,
        register_limit: 100,
        register_window_seconds: 3600,
        reset_request_limit: 3,
        reset_request_window_seconds: 3600,
        limits: RequestLimits::default(),
        chat: Default::default(),
    };
    adjust(&mut config);
    let app = Application::build(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        database_url: database_url.to_owned(),
        http: Client::new(),
        pool,
        data,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn register(&self, email: &str) -> Response {
        self.http
            .post(self.url("/v1/auth/register"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Registers and logs in; returns the token.
    pub async fn user(&self, email: &str) -> String {
        assert_eq!(self.register(email).await.status(), StatusCode::CREATED);
        let body: Value = self.login(email, PASSWORD).await.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Verifies `email`'s address with a link token issued the way the email job issues it.
    pub async fn verify_address(&self, email: &str) {
        use veza_jobs::accounts::tokens::{self, TokenPurpose};
        let user_id: uuid::Uuid = sqlx::query_scalar("select id from users where email = $1")
            .bind(email.to_lowercase())
            .fetch_one(&self.pool)
            .await
            .unwrap();
        let link = tokens::issue(
            &self.pool,
            user_id,
            TokenPurpose::VerifyEmail,
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
        let resp = self
            .http
            .post(self.url("/v1/auth/verify-email"))
            .json(&json!({ "token": link }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }

    pub async fn upload(&self, token: &str, bytes: Vec<u8>) -> Response {
        self.http
            .post(self.url("/v1/media"))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Publishes a thumbnail generation `generation` of `media_id` as the thumbnail job would:
    /// the file in storage, its output row, the item ready and naming it. Returns the
    /// generation and the file's name.
    pub async fn publish_thumbnail(&self, media_id: uuid::Uuid, generation: &str) -> (String, String) {
        let name = "64.webp".to_owned();
        let key = veza_jobs::storage::Storage::output_key(media_id, "thumbnails", generation, &name);
        let path = self.data.path().join("objects").join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, THUMBNAIL_BYTES).unwrap();
        sqlx::query(
            "insert into outputs (id, media_id, kind, generation, name, object_key, content_type, size_bytes)
             values ($1, $2, 'thumbnail', $3, $4, $5, 'image/webp', 12)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(media_id)
        .bind(generation)
        .bind(&name)
        .bind(&key)
        .execute(&self.pool)
        .await
        .unwrap();
        sqlx::query("update media set status = 'ready', thumbnail_generation = $2 where id = $1")
            .bind(media_id)
            .bind(generation)
            .execute(&self.pool)
            .await
            .unwrap();
        (generation.to_owned(), name)
    }

    /// Files under the storage folder's `originals/`.
    pub fn stored_originals(&self) -> usize {
        std::fs::read_dir(self.data.path().join("objects/originals"))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }
}

/// Asserts a problem+json answer with `status` and `code`; returns the problem.
pub async fn assert_problem(resp: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}
