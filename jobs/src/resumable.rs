//! Resumable uploads (tus 1.0): every query of `resumable_uploads` and its parts.
//!
//! An upload is created with its length (and quota space reserved for it); each PATCH body is
//! stored as an object of its own and then recorded as a part, advancing the offset only if no
//! other PATCH got there first. The PATCH that brings the last byte does not record a part: it
//! joins the parts into the original and, in the transaction that records the item, marks the
//! upload complete ([`complete`]). So the offset a client reads never says "done" before the
//! item exists, and a crash midway leaves an upload the client simply resumes.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long an upload may take from its creation; after that it is gone (`Upload-Expires`).
pub const UPLOAD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Key prefix of the parts of every upload.
pub const PREFIX: &str = "uploads";

/// Key of a part of `upload` starting at `start` (unique: a retried PATCH never overwrites).
pub fn part_key(upload: Uuid, start: u64) -> String {
    format!("{PREFIX}/{upload}/{start:020}-{}", Uuid::now_v7())
}

/// The upload a part key belongs to (`uploads/{id}/…`).
pub fn upload_of_key(key: &str) -> Option<Uuid> {
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(id), Some(_)) => id.parse().ok(),
        _ => None,
    }
}

/// An upload as a client sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    /// Id (the last segment of its URL).
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Total bytes.
    pub length: i64,
    /// Bytes received in whole parts.
    pub received: i64,
    /// `Upload-Metadata` as sent.
    pub metadata: Option<String>,
    /// The file name from the metadata.
    pub filename: Option<String>,
    /// The quota reservation it holds.
    pub reservation_id: Uuid,
    /// The item it became.
    pub media_id: Option<Uuid>,
    /// The item's processing job.
    pub job_id: Option<Uuid>,
    /// When it expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What a new upload is.
pub struct NewUpload<'a> {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Total bytes.
    pub length: u64,
    /// `Upload-Metadata` as sent.
    pub metadata: Option<&'a str>,
    /// The file name from the metadata.
    pub filename: Option<&'a str>,
    /// The quota reservation made for it.
    pub reservation_id: Uuid,
}

/// Records a new upload; returns when it expires.
pub async fn create(
    pool: &PgPool,
    upload: &NewUpload<'_>,
) -> Result<chrono::DateTime<chrono::Utc>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into resumable_uploads (id, user_id, length, metadata, filename, reservation_id, expires_at)
         values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         returning expires_at",
    )
    .bind(upload.id)
    .bind(upload.user_id)
    .bind(i64::try_from(upload.length).unwrap_or(i64::MAX))
    .bind(upload.metadata)
    .bind(upload.filename)
    .bind(upload.reservation_id)
    .bind(UPLOAD_TTL.as_secs_f64())
    .fetch_one(pool)
    .await
}

/// Upload `id` of `user`, unless it expired.
pub async fn find(pool: &PgPool, user: Uuid, id: Uuid) -> Result<Option<Upload>, sqlx::Error> {
    sqlx::query_as(
        "select id, user_id, length, received, metadata, filename, reservation_id, media_id, job_id, expires_at
           from resumable_uploads where id = $1 and user_id = $2 and expires_at > now()",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(pool)
    .await
}

/// Records a stored part at `start`: `Ok(false)` when the upload moved on meanwhile (another
/// PATCH recorded this offset first) — the caller deletes its object and answers 409.
pub async fn add_part(
    pool: &PgPool,
    id: Uuid,
    start: u64,
    size: u64,
    key: &str,
) -> Result<bool, sqlx::Error> {
    let (start, size) = (
        i64::try_from(start).unwrap_or(i64::MAX),
        i64::try_from(size).unwrap_or(i64::MAX),
    );
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "update resumable_uploads set received = received + $3
          where id = $1 and received = $2 and received + $3 < length and media_id is null and expires_at > now()",
    )
    .bind(id)
    .bind(start)
    .bind(size)
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "insert into resumable_upload_parts (upload_id, start_at, size, object_key) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(start)
    .bind(size)
    .bind(key)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The object keys of the parts of `id`, in order.
pub async fn part_keys(pool: &PgPool, id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select object_key from resumable_upload_parts where upload_id = $1 order by start_at")
        .bind(id)
        .fetch_all(pool)
        .await
}

/// Marks upload `id` complete as item `media_id`, on the transaction that records the item:
/// `Ok(false)` when it had moved on from `received` meanwhile (the caller rolls back). Its parts'
/// rows go; their objects are the caller's to delete (or orphan cleanup's).
pub async fn complete(
    conn: &mut PgConnection,
    id: Uuid,
    received: u64,
    media_id: Uuid,
    job_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update resumable_uploads set received = length, media_id = $3, job_id = $4, completed_at = now()
          where id = $1 and received = $2 and media_id is null and expires_at > now()",
    )
    .bind(id)
    .bind(i64::try_from(received).unwrap_or(i64::MAX))
    .bind(media_id)
    .bind(job_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("delete from resumable_upload_parts where upload_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Ends upload `id` of `user` (tus termination): returns the object keys of its parts, to delete,
/// or `None` when there is no such upload. Its quota reservation is freed.
pub async fn terminate(pool: &PgPool, user: Uuid, id: Uuid) -> Result<Option<Vec<String>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let keys: Vec<String> = sqlx::query_scalar(
        "select object_key from resumable_upload_parts where upload_id = $1 order by start_at",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let reservation: Option<Uuid> = sqlx::query_scalar(
        "delete from resumable_uploads where id = $1 and user_id = $2 returning reservation_id",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(reservation) = reservation else {
        return Ok(None);
    };
    sqlx::query("delete from upload_reservations where id = $1")
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(keys))
}

/// Whether the parts of upload `id` may still be needed: the upload exists, is unexpired and
/// incomplete (orphan cleanup deletes the objects of any other).
pub async fn in_progress(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from resumable_uploads where id = $1 and media_id is null and expires_at > now())",
    )
    .bind(id)
    .fetch_one(pool)
    .await
}

/// Forgets uploads expired for a day (the worker's prune) and frees their reservations; returns
/// how many. Their objects are left to orphan cleanup.
pub async fn prune(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "delete from upload_reservations r using resumable_uploads u
          where r.id = u.reservation_id and u.expires_at < now() - interval '1 day'",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("delete from resumable_uploads where expires_at < now() - interval '1 day'")
        .execute(&mut *conn)
        .await
        .map(|done| done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_name_their_upload_and_sort_by_offset() {
        let id = Uuid::now_v7();
        let (early, late) = (part_key(id, 9), part_key(id, 10));
        assert_eq!(upload_of_key(&early), Some(id));
        assert!(early < late, "{early} sorts before {late}");
        assert_eq!(upload_of_key("uploads/not-a-uuid/x"), None);
        assert_eq!(upload_of_key("originals/x"), None);
        assert_eq!(upload_of_key(&format!("uploads/{id}")), None);
    }
}
