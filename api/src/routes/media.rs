//! Uploads and their results: `POST /v1/media`, `GET /v1/media`, `GET /v1/media/{id}` and
//! reprocessing (the output files themselves are streamed by [`super::outputs`]).

use std::collections::HashMap;

use futures::StreamExt;
use poem::{Body, Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Binary, Json},
    types::{ParseFromJSON, ToJSON},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use veza_jobs::{
    audit::{self, Action, Event},
    idempotency::{self, Fingerprint},
    media::{self, MediaKind},
    purge::{self, Deletion},
    queue::Priority,
    quota,
    reprocess::{self, Reprocess},
    video,
};

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    error::ApiError,
    media_view::{MediaItem, MediaPage, media_item},
    middleware::client::Client,
    state::AppState,
    uploads,
};

/// Media operations.
pub struct MediaApi;

/// An accepted upload.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UploadAccepted {
    /// The new media item.
    pub media_id: Uuid,
    /// `audio` or `image`, detected from the bytes.
    pub kind: String,
    /// MIME type detected from the bytes.
    pub content_type: String,
    /// Size of the original.
    pub size_bytes: u64,
    /// SHA-256 of the original (hex).
    pub sha256: String,
    /// The jobs enqueued for it; poll `GET /v1/jobs/{id}`.
    pub job_ids: Vec<Uuid>,
}

/// Answer of an upload.
#[derive(Debug, ApiResponse)]
pub enum UploadResponse {
    /// Stored; processing is queued. With an `Idempotency-Key` already used for the same body
    /// and file name, the first upload's answer again (`Idempotent-Replayed: true`).
    #[oai(status = 202)]
    Accepted(
        Json<UploadAccepted>,
        /// `true` when this answer is a replay of an earlier upload with the same key.
        #[oai(header = "Idempotent-Replayed")]
        Option<bool>,
    ),
}

/// A reprocess that was queued.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Reprocessing {
    /// The media item.
    pub media_id: Uuid,
    /// The new jobs; poll `GET /v1/jobs/{id}`.
    pub job_ids: Vec<Uuid>,
}

/// Answer of a reprocess request.
#[derive(Debug, ApiResponse)]
pub enum ReprocessResponse {
    /// Queued.
    #[oai(status = 202)]
    Accepted(Json<Reprocessing>),
}

/// A deletion under way.
#[derive(Debug, Object)]
pub struct DeletionAccepted {
    /// The deleted item.
    pub media_id: Uuid,
    /// The purge job; poll `GET /v1/jobs/{id}` (it succeeds once nothing of the item is left).
    pub job_id: Uuid,
}

/// Answer of a deletion.
#[derive(Debug, ApiResponse)]
pub enum DeleteResponse {
    /// The item is gone from every route; its files and rows are being removed. A repeated
    /// request gets the same answer until the purge is done, then 404.
    #[oai(status = 202)]
    Accepted(Json<DeletionAccepted>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Media")]
impl MediaApi {
    /// Upload audio or an image as the raw request body (any `Content-Type`; the kind is read
    /// from the bytes). Stores the original and enqueues its processing in one transaction.
    ///
    /// With an `Idempotency-Key`, sending the same upload again (same body, same file name)
    /// within 24 hours answers as the first time and makes no second item; the same key with
    /// another body or file name is 422 `idempotency-key-reused`.
    #[oai(path = "/media", method = "post", operation_id = "uploadMedia")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        /// Original file name, for display only.
        filename: Query<Option<String>>,
        /// A key of your choosing (1–255 visible ASCII characters, e.g. a UUID) that makes a
        /// retried upload safe: kept 24 hours per account.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: Binary<Body>,
    ) -> Result<UploadResponse, ApiError> {
        let limit = state.max_upload_bytes;
        let declared = req.header("content-length").and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limit
        {
            return Err(uploads::too_large(limit));
        }
        let filename = validate_filename(filename.0)?;
        // A header that is not text reaches the parameter as absent: refuse it rather than
        // upload without the protection the client asked for.
        let sent_a_key = req.headers().contains_key("idempotency-key");
        let key = idempotency_key.0;
        if key
            .as_deref()
            .map_or(sent_a_key, |key| !idempotency::valid_key(key))
        {
            return Err(ApiError::bad_request(
                "invalid-idempotency-key",
                "Idempotency-Key must be 1–255 visible ASCII characters",
            ));
        }
        if let Some(key) = &key
            && let Some(recorded) = idempotency::find(&state.pool, auth.0.id, key).await?
        {
            // A retry: read the body only to compare it, store nothing, reserve nothing.
            let size = recorded.fingerprint.size_bytes;
            if declared.is_some_and(|declared| declared != size) {
                return Err(key_reused());
            }
            let (sha256, size_bytes) = hash_body(body.0, size.saturating_add(1)).await?;
            let fingerprint = Fingerprint {
                sha256,
                size_bytes,
                filename,
            };
            return replay(recorded, &fingerprint);
        }
        // Space first, before a byte of the body is read: two parallel uploads cannot both take
        // the last of the quota.
        let reservation = uploads::reserve(&state, auth.0.id, declared, quota::RESERVATION_TTL).await?;
        let original =
            uploads::store_original(&state, body.0.into_bytes_stream().boxed(), reservation.cap).await?;
        let fingerprint = Fingerprint {
            sha256: original.stored.sha256.clone(),
            size_bytes: original.stored.size_bytes,
            filename: filename.clone(),
        };
        let outcome = record_upload(
            &state,
            auth.0.id,
            &original,
            filename.as_deref(),
            reservation.id(),
            key.as_deref().map(|key| (key, &fingerprint)),
        )
        .await;
        if let Ok(Recording::Recorded(_)) = &outcome {
            reservation.keep();
        } else {
            uploads::discard(&state, &original).await;
        }
        match outcome? {
            Recording::Recorded(accepted) => {
                tracing::info!(media_id = %original.media_id, kind = original.kind.as_str(), size = original.stored.size_bytes, "upload accepted");
                Ok(UploadResponse::Accepted(Json(accepted), None))
            }
            Recording::KeyTaken => {
                // A request with the same key won the race: answer as it did, or refuse.
                let key = key.as_deref().unwrap_or_default();
                match idempotency::find(&state.pool, auth.0.id, key).await? {
                    Some(recorded) => replay(recorded, &fingerprint),
                    None => Err(ApiError::conflict(
                        "idempotency-key-in-use",
                        "another upload with this Idempotency-Key was being recorded; retry",
                    )),
                }
            }
        }
    }

    /// List your media, newest first.
    #[oai(path = "/media", method = "get", operation_id = "listMedia")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// Return items older than this id (from `next_before`).
        before: Query<Option<Uuid>>,
    ) -> Result<Json<MediaPage>, ApiError> {
        let limit = limit.0.unwrap_or(50);
        let rows = media::list(&state.pool, auth.0.id, before.0, i64::from(limit)).await?;
        let next_before = if rows.len() == limit as usize {
            rows.last().map(|m| m.id)
        } else {
            None
        };
        let items = media_items(&state, rows).await?;
        Ok(Json(MediaPage { items, next_before }))
    }

    /// One media item with its status, jobs and published outputs.
    #[oai(path = "/media/:id", method = "get", operation_id = "getMedia")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<MediaItem>, ApiError> {
        let row = media::find(&state.pool, id.0, auth.0.id)
            .await?
            .ok_or_else(media_not_found)?;
        let item = media_items(&state, vec![row])
            .await?
            .pop()
            .ok_or_else(media_not_found)?;
        Ok(Json(item))
    }

    /// Delete an item for good: it leaves every route at once, its jobs stop, and a purge job
    /// removes every file of every generation, then its rows (it finishes after a crash).
    #[oai(path = "/media/:id", method = "delete", operation_id = "deleteMedia")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: Data<&Client>,
        id: Path<Uuid>,
    ) -> Result<DeleteResponse, ApiError> {
        let mut tx = state.pool.begin().await?;
        let job_id = match purge::delete_media(&mut tx, id.0, auth.0.id).await? {
            Deletion::AlreadyPurging(job_id) => {
                return Ok(DeleteResponse::Accepted(Json(DeletionAccepted {
                    media_id: id.0,
                    job_id,
                })));
            }
            Deletion::Started(job_id) => job_id,
            Deletion::NotFound => return Err(media_not_found()),
        };
        let event = Event::new(Action::MediaDeleted)
            .by(auth.0.id)
            .about(auth.0.id)
            .from_client(client.address())
            .with(serde_json::json!({ "media_id": id.0, "job_id": job_id }));
        audit::record(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(DeleteResponse::Accepted(Json(DeletionAccepted {
            media_id: id.0,
            job_id,
        })))
    }

    /// Process an item again (a new job and a new generation; the published one stays visible
    /// until the new one replaces it). While a job of the item is still to run or running, the
    /// answer is 409 with that job's id.
    #[oai(
        path = "/media/:id/reprocess",
        method = "post",
        operation_id = "reprocessMedia"
    )]
    async fn reprocess(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<ReprocessResponse, ApiError> {
        let mut tx = state.pool.begin().await?;
        let job_id = match reprocess::reprocess(&mut tx, id.0, Some(auth.0.id), Priority::Normal)
            .await
            .map_err(ApiError::from)?
        {
            Reprocess::Queued(job_id) => job_id,
            Reprocess::NotFound => return Err(media_not_found()),
            Reprocess::AlreadyActive(active) => {
                return Err(ApiError::conflict_with_job(
                    "processing-in-progress",
                    "this item is already being processed; poll that job or cancel it first",
                    active,
                ));
            }
        };
        tx.commit().await?;
        Ok(ReprocessResponse::Accepted(Json(Reprocessing {
            media_id: id.0,
            job_ids: vec![job_id],
        })))
    }
}

/// How recording an upload ended.
enum Recording {
    /// The item and its jobs exist; the answer.
    Recorded(UploadAccepted),
    /// Nothing was recorded: another upload took its idempotency key first.
    KeyTaken,
}

/// Records the upload and its idempotency key in one transaction, all or nothing.
async fn record_upload(
    state: &AppState,
    owner: Uuid,
    original: &uploads::StoredOriginal,
    filename: Option<&str>,
    reservation: Uuid,
    idempotency: Option<(&str, &Fingerprint)>,
) -> Result<Recording, ApiError> {
    let mut tx = state.pool.begin().await?;
    let accepted = uploads::record(&mut tx, state, owner, original, filename, reservation).await?;
    if let Some((key, fingerprint)) = idempotency {
        let response = accepted.to_json().unwrap_or_default();
        if !idempotency::record(&mut tx, owner, key, original.media_id, fingerprint, &response).await? {
            tx.rollback().await?;
            return Ok(Recording::KeyTaken);
        }
    }
    tx.commit().await?;
    Ok(Recording::Recorded(accepted))
}

/// The answer to a retried upload: the recorded one if `fingerprint` is the same request.
fn replay(recorded: idempotency::Recorded, fingerprint: &Fingerprint) -> Result<UploadResponse, ApiError> {
    if recorded.fingerprint != *fingerprint {
        return Err(key_reused());
    }
    let accepted = UploadAccepted::parse_from_json(Some(recorded.response)).map_err(|err| {
        ApiError::internal(format!(
            "a recorded upload answer is unreadable: {}",
            err.message()
        ))
    })?;
    Ok(UploadResponse::Accepted(Json(accepted), Some(true)))
}

fn key_reused() -> ApiError {
    ApiError::unprocessable(
        "idempotency-key-reused",
        "this Idempotency-Key was used for another upload (a different body or file name) in the last 24 hours",
    )
}

/// SHA-256 (hex) and size of a body, reading at most `limit` bytes (a longer body is cut there:
/// enough to know it differs).
async fn hash_body(body: Body, limit: u64) -> Result<(String, u64), ApiError> {
    let mut stream = body.into_bytes_stream();
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    while size < limit {
        match stream.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
            Some(Err(err)) => {
                return Err(ApiError::bad_request(
                    "upload-interrupted",
                    format!("reading the upload failed: {err}"),
                ));
            }
            None => break,
        }
    }
    Ok((hex::encode(hasher.finalize()), size))
}

pub(crate) fn validate_filename(filename: Option<String>) -> Result<Option<String>, ApiError> {
    match filename {
        Some(name) if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) => {
            Err(ApiError::bad_request(
                "invalid-filename",
                "filename must be 1–255 characters without control characters",
            ))
        }
        other => Ok(other),
    }
}

fn media_not_found() -> ApiError {
    ApiError::not_found("media-not-found", "no such media item")
}

/// The API view of `rows`, with three queries however many rows there are.
async fn media_items(state: &AppState, rows: Vec<media::Media>) -> Result<Vec<MediaItem>, ApiError> {
    media_items_signed_for(state, rows, state.playback_url_ttl).await
}

/// The items of `rows` with playback URLs signed for `ttl` (rounded up to the minute).
pub(crate) async fn media_items_signed_for(
    state: &AppState,
    rows: Vec<media::Media>,
    ttl: std::time::Duration,
) -> Result<Vec<MediaItem>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut outputs = media::published_outputs(&state.pool, &ids).await?;
    let mut job_ids = media::job_ids(&state.pool, &ids).await?;
    let encoding: Vec<Uuid> = rows
        .iter()
        .filter(|row| row.status == "processing" && row.kind == MediaKind::Video.as_str())
        .map(|row| row.id)
        .collect();
    let mut progress = if encoding.is_empty() {
        HashMap::new()
    } else {
        let mut conn = state.pool.acquire().await?;
        video::frames_percent(&mut conn, &encoding).await?
    };
    // One expiry for the whole answer, rounded to the minute, so a page lists stable URLs.
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let expires = (now + ttl.as_secs()) / 60 * 60 + 60;
    let sign = |media_id: Uuid, generation: &str| state.playback.folder(media_id, generation, expires);
    Ok(rows
        .into_iter()
        .map(|row| {
            let (outputs, job_ids) = (
                outputs.remove(&row.id).unwrap_or_default(),
                job_ids.remove(&row.id).unwrap_or_default(),
            );
            let progress = progress.remove(&row.id);
            media_item(row, &outputs, job_ids, progress, &sign)
        })
        .collect())
}
