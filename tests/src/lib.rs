//! The test harness shared by Veza's integration and end-to-end tests: a fresh database per
//! test, generated media, the real `veza-api` / `veza-worker` binaries on random ports, and the
//! real servers they talk to (S3, SMTP).
//!
//! Everything here may panic: it is test code, and a failed set-up should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod cutter;
pub mod ffprobe;
pub mod fixtures;
pub mod node;
pub mod platform;
pub mod servers;
pub mod socket;

use sqlx::{Connection, PgConnection};

/// A database of its own for one test, created on the server that `DATABASE_URL` names
/// (`just test` sets it). Left behind on purpose; `just test` drops `veza_test_*` at start.
pub struct TestDatabase {
    /// URL of the new database.
    pub url: String,
}

impl TestDatabase {
    /// Creates `veza_test_<uuid>` on the server `DATABASE_URL` names.
    pub async fn create() -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must name a Postgres server (run the tests with `just test`)");
        Self::create_on(&admin_url).await
    }

    /// Creates `veza_test_<uuid>` on the server of `admin_url` (a database there to connect to).
    pub async fn create_on(admin_url: &str) -> Self {
        let name = format!("veza_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connecting to the admin database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        Self {
            url: with_database(admin_url, &name),
        }
    }
}

/// Replaces the database of a Postgres URL, keeping its query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
    }
}
