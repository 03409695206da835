//! `Idempotency-Key` for uploads: a client that lost the answer to an upload sends it again with
//! the same key and gets the same answer, not a second item. Every query of
//! `upload_idempotency_keys` is here.
//!
//! A key is recorded in the upload's own transaction, beside the item it made, so there is no
//! "in progress" state to go stale when an API dies mid-upload: until the transaction commits the
//! key names nothing. Two requests racing with one key both store their bytes; the second one's
//! insert conflicts, it rolls back, and it answers from the first one's record. What makes two
//! requests the same is the body (its SHA-256 and size) and the file name; the same key with
//! anything else is refused. Keys are kept [`KEY_TTL`]; after that a key is new again.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a key is remembered.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest key accepted (as the IETF draft and Stripe: 255).
pub const MAX_KEY_LEN: usize = 255;

/// Whether `key` is a usable key: 1–255 visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// What identifies an upload's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// SHA-256 of the body (hex).
    pub sha256: String,
    /// Size of the body.
    pub size_bytes: u64,
    /// The `filename` parameter.
    pub filename: Option<String>,
}

/// An upload recorded under a key.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request it answered.
    pub fingerprint: Fingerprint,
    /// Its answer, replayed as it was.
    pub response: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct Row {
    sha256: String,
    size_bytes: i64,
    filename: Option<String>,
    response: serde_json::Value,
}

/// The upload `user` recorded under `key` within [`KEY_TTL`], if any.
pub async fn find(pool: &PgPool, user: Uuid, key: &str) -> Result<Option<Recorded>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "select sha256, size_bytes, filename, response from upload_idempotency_keys
          where user_id = $1 and key = $2 and created_at > now() - make_interval(secs => $3)",
    )
    .bind(user)
    .bind(key)
    .bind(KEY_TTL.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| Recorded {
        fingerprint: Fingerprint {
            sha256: row.sha256,
            size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
            filename: row.filename,
        },
        response: row.response,
    }))
}

/// Records `key` for the upload that made `media_id`, on the upload's transaction. `Ok(false)`
/// when another request recorded the key first: the caller rolls back and answers from
/// [`find`]. An expired record of the same key is replaced.
pub async fn record(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    media_id: Uuid,
    fingerprint: &Fingerprint,
    response: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "delete from upload_idempotency_keys
          where user_id = $1 and key = $2 and created_at <= now() - make_interval(secs => $3)",
    )
    .bind(user)
    .bind(key)
    .bind(KEY_TTL.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    let inserted = sqlx::query(
        "insert into upload_idempotency_keys
           (user_id, key, media_id, sha256, size_bytes, filename, response)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (user_id, key) do nothing",
    )
    .bind(user)
    .bind(key)
    .bind(media_id)
    .bind(&fingerprint.sha256)
    .bind(i64::try_from(fingerprint.size_bytes).unwrap_or(i64::MAX))
    .bind(fingerprint.filename.as_deref())
    .bind(response)
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Forgets the keys older than [`KEY_TTL`] (the worker's prune); returns how many.
pub async fn prune(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    sqlx::query("delete from upload_idempotency_keys where created_at <= now() - make_interval(secs => $1)")
        .bind(KEY_TTL.as_secs_f64())
        .execute(conn)
        .await
        .map(|done| done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("8e03978e-40d5-43e8-bc93-6894a57f9324"));
        assert!(valid_key("a"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("tab\there"));
        assert!(!valid_key("clé"));
    }
}
