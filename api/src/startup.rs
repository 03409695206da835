//! Building and running the API: the pool, the store and the keys are created once here.

use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpListener},
};
use poem_openapi::OpenApiService;
use veza_jobs::storage::Storage;

use crate::{
    auth::TokenKeys,
    config::ApiConfig,
    error::problem_for_poem_error,
    metrics::ApiMetrics,
    middleware,
    playback::PlaybackKeys,
    routes::{self, Api},
    state::AppState,
};

/// The OpenAPI service description; needs no state, so `veza-api openapi` runs without a database.
pub fn api_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(routes::api(), "Veza", env!("CARGO_PKG_VERSION"))
        .description("Durable media processing: upload audio and images, get HLS streams and thumbnails.")
}

/// The generated OpenAPI document, as checked in under `openapi/openapi.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}

/// A bound, ready-to-run API.
pub struct Application {
    port: u16,
    acceptor: poem::listener::TcpAcceptor,
    state: AppState,
    trusted_proxies: middleware::client::TrustedProxies,
    cors_origins: Vec<String>,
}

/// Errors of building the application.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Postgres.
    #[error(transparent)]
    Db(#[from] veza_jobs::db::DbError),
    /// Storage.
    #[error("opening object storage: {0}")]
    Storage(#[from] veza_jobs::storage::StorageError),
    /// Hashing the dummy password failed.
    #[error("argon2 is not working")]
    Hash,
    /// Binding the port.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// Address.
        addr: std::net::SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// CORS for browsers on the configured origins (`*`: any). Bearer tokens, not cookies, carry
/// the identity, so no credentials mode is needed; preflights are answered here and cached for
/// an hour.
fn cors(origins: &[String]) -> poem::middleware::Cors {
    let cors = poem::middleware::Cors::new()
        .allow_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            // tus (resumable uploads)
            "tus-resumable",
            "upload-length",
            "upload-offset",
            "upload-metadata",
        ])
        .expose_headers([
            "location",
            "retry-after",
            "content-disposition",
            "idempotent-replayed",
            "tus-resumable",
            "tus-version",
            "tus-extension",
            "tus-max-size",
            "upload-offset",
            "upload-length",
            "upload-expires",
            "upload-metadata",
            "veza-media-id",
            "veza-job-id",
        ])
        .max_age(3600);
    if origins.iter().any(|origin| origin == "*") {
        cors
    } else {
        cors.allow_origins(origins.iter().map(String::as_str))
    }
}

impl Application {
    /// Connects, opens storage, makes keys and binds the port (port 0 picks a free one).
    pub async fn build(config: ApiConfig) -> Result<Self, BuildError> {
        let pool = veza_jobs::db::connect(&config.database_url, config.db_max_connections).await?;
        let metrics = std::sync::Arc::new(ApiMetrics::default());
        let storage = Storage::open(&config.storage)?.with_traffic(metrics.storage.clone());
        let secret = match &config.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            // Configuration allows no secret only in development mode.
            None => TokenKeys::development_secret(),
        };
        let previous: Vec<Vec<u8>> = config
            .jwt_previous_secrets
            .iter()
            .map(|old| old.as_bytes().to_vec())
            .collect();
        let keys = TokenKeys::new(&secret, &previous, config.token_ttl_seconds);
        let playback = PlaybackKeys::new(&secret, &previous);
        let acceptor = TcpListener::bind(config.listen)
            .into_acceptor()
            .await
            .map_err(|source| BuildError::Bind {
                addr: config.listen,
                source,
            })?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
            .unwrap_or(config.listen.port());
        let passwords = crate::passwords::Passwords::new(
            config.limits.password_hash_concurrency,
            std::time::Duration::from_millis(config.limits.password_hash_wait_ms),
        )
        .await
        .map_err(|_| BuildError::Hash)?;
        let chat = crate::chat::ChatHub::new(pool.clone(), config.chat.clone(), metrics.chat.clone());
        let state = AppState {
            pool,
            storage,
            keys,
            refresh_ttl: std::time::Duration::from_secs(config.refresh_ttl_seconds),
            max_upload_bytes: config.max_upload_bytes,
            quota: config.quota,
            playback,
            playback_url_ttl: std::time::Duration::from_secs(config.playback_url_ttl_seconds),
            presigned_redirects: config.s3_presigned_redirects,
            admin_emails: config.admin_emails.clone(),
            register_limit: (
                config.register_limit,
                std::time::Duration::from_secs(config.register_window_seconds),
            ),
            reset_request_limit: (
                config.reset_request_limit,
                std::time::Duration::from_secs(config.reset_request_window_seconds),
            ),
            metrics,
            metrics_token: veza_jobs::metrics::ScrapeToken::new(config.metrics_token.as_deref()),
            passwords,
            limits: config.limits.clone(),
            cors_origins: config.cors_origins.clone(),
            chat,
        };
        tokio::spawn(crate::chat::listener::run(
            state.chat.clone(),
            config.database_url.clone(),
        ));
        Ok(Self {
            port,
            acceptor,
            state,
            trusted_proxies: config.trusted_proxies,
            cors_origins: config.cors_origins,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to 30 s).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let service = api_service().server(format!("http://127.0.0.1:{}", self.port));
        let docs = service.swagger_ui();
        let spec = service.spec_endpoint();
        let metrics = self.state.metrics.clone();
        let body_limit = self.state.limits.max_request_body_bytes;
        let trusted_proxies = std::sync::Arc::new(self.trusted_proxies);
        let chat = self.state.chat.clone();
        let app = Route::new()
            .nest("/", service)
            .nest("/docs", docs)
            .at("/openapi.json", spec)
            .at("/metrics", crate::metrics::metrics)
            .at("/v1/ws", poem::get(crate::chat::upgrade::socket))
            .around(move |endpoint, req| {
                let metrics = metrics.clone();
                async move { metrics.time(&endpoint, req).await }
            })
            .around(move |endpoint, req| {
                middleware::client::identify_client(endpoint, req, trusted_proxies.clone())
            })
            .around(move |endpoint, req| middleware::body_limit::bound_body(endpoint, req, body_limit))
            .around(crate::routes::resumable::add_tus_resumable)
            .data(self.state)
            .catch_all_error(problem_for_poem_error)
            // Outside the problem conversion, so that a browser can read errors too.
            .with_if(!self.cors_origins.is_empty(), cors(&self.cors_origins))
            // Outside the problem conversion, so that every answer (errors too) gets them.
            .around(middleware::headers::add_security_headers)
            .around(middleware::request_log::log_request);
        // Upgraded sockets are not HTTP connections poem waits for: at the signal each gets
        // a going-away close (1001), and the hub waits for them after the requests.
        let hub = chat.clone();
        let shutdown = async move {
            shutdown.await;
            hub.begin_shutdown();
        };
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(std::time::Duration::from_secs(30)))
            .await;
        chat.shut_down(std::time::Duration::from_secs(5)).await;
        served
    }
}
