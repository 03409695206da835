//! The Postgres pool and the one migrate step that sets up both Veza's tables and apalis's.

use std::time::Duration;

use apalis_postgres::PostgresStorage;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Veza's own migrations (`migrations/` at the workspace root). apalis keeps its migrations in
/// the `apalis` schema with a separate history table, so the two never clash.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Errors of connecting and migrating.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be parsed.
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    Url(sqlx::Error),
    /// The server could not be reached.
    #[error("connecting to Postgres: {0}")]
    Connect(sqlx::Error),
    /// Veza's migrations failed.
    #[error("running Veza's migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// apalis's schema setup failed.
    #[error("setting up the apalis queue schema: {0}")]
    Queue(#[from] apalis_postgres::Error),
}

/// Opens a pool. Loopback URLs default to `sslmode=disable`: sqlx 0.9.0 otherwise negotiates TLS
/// and each new connection costs ~88 ms (measured on loopback; docs/queue.md).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let mut options: PgConnectOptions = url.parse().map_err(DbError::Url)?;
    let host = options.get_host().to_owned();
    let local = host == "localhost" || host == "127.0.0.1" || host == "::1" || host.starts_with('/');
    if local && !url.contains("sslmode") {
        options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// Like [`connect`], but keeps trying for `patience` while the server is unreachable (a worker
/// or API started while Postgres restarts waits for it instead of exiting).
pub async fn connect_patiently(
    url: &str,
    max_connections: u32,
    patience: Duration,
) -> Result<PgPool, DbError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match connect(url, max_connections).await {
            Err(DbError::Connect(err)) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %err, "Postgres is not reachable yet; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Whether an error means the database is unreachable or going away (worth a retry later),
/// rather than a fault in the statement.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        // Class 08: connection exceptions; 57P01–57P03: shutdown, crash, cannot connect now.
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Brings the database to the current schema: Veza's tables, then apalis's queue schema.
/// Safe to run any number of times, from any number of processes.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    PostgresStorage::setup(pool).await?;
    Ok(())
}
