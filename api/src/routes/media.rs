//! Uploads and their results: `POST /v1/media`, `GET /v1/media`, `GET /v1/media/{id}` and
//! reprocessing (the output files themselves are streamed by [`super::outputs`]).

use std::collections::HashMap;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use poem::{Body, Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
};
use uuid::Uuid;
use veza_jobs::{
    audit::{self, Action, Event},
    media::{self, MediaKind, NewMedia, SNIFF_LEN, Sniffed},
    purge::{self, Deletion},
    queue::Priority,
    quota::{self, Reserve},
    registry::{self, Processing},
    reprocess::{self, Reprocess},
    storage::{Storage, UploadError},
    video,
};

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    error::ApiError,
    media_view::{MediaItem, MediaPage, media_item},
    middleware::client::Client,
    state::AppState,
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
    /// Stored; processing is queued.
    #[oai(status = 202)]
    Accepted(Json<UploadAccepted>),
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
    #[oai(path = "/media", method = "post", operation_id = "uploadMedia")]
    async fn upload(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        /// Original file name, for display only.
        filename: Query<Option<String>>,
        body: Binary<Body>,
    ) -> Result<UploadResponse, ApiError> {
        let limit = state.max_upload_bytes;
        let declared = req.header("content-length").and_then(|v| v.parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limit
        {
            return Err(too_large(limit));
        }
        let filename = validate_filename(filename.0)?;
        // Space first, before a byte of the body is read: two parallel uploads cannot both take
        // the last of the quota.
        let (reservation, cap, capped_by_quota) =
            match quota::reserve(&state.pool, auth.0.id, state.quota, declared, limit).await? {
                Reserve::Granted {
                    id,
                    cap,
                    capped_by_quota,
                } => (ReservationGuard::new(&state.pool, id), cap, capped_by_quota),
                Reserve::NoItemsLeft { limit } => {
                    return Err(quota_exceeded(format!(
                        "your account holds {limit} items, its quota"
                    )));
                }
                Reserve::NoSpaceLeft { left } => {
                    return Err(quota_exceeded(format!(
                        "this upload does not fit in the {left} bytes left of your quota"
                    )));
                }
                Reserve::NoAccount => {
                    return Err(ApiError::unauthorized(
                        "token-invalid",
                        "the account no longer exists",
                    ));
                }
            };
        let mut stream = body.0.into_bytes_stream().boxed();
        let head = read_head(&mut stream).await?;
        let (kind, content_type) = match media::sniff(&head) {
            Sniffed::Supported { kind, content_type } => (kind, content_type),
            Sniffed::Unsupported { content_type } => {
                return Err(ApiError::unsupported(
                    "unsupported-media-type",
                    format!("{content_type} is not a kind of media Veza processes (audio or images)"),
                ));
            }
            Sniffed::Unknown => {
                return Err(ApiError::unsupported(
                    "unknown-media-type",
                    "the file is not a recognised audio or image format",
                ));
            }
        };

        let media_id = Uuid::now_v7();
        let key = Storage::original_key(media_id);
        let stored = state
            .storage
            .put_stream(&key, head, stream, cap)
            .await
            .map_err(|err| match err {
                UploadError::TooLarge { .. } if capped_by_quota => {
                    quota_exceeded(format!("the upload grew past the {cap} bytes left of your quota"))
                }
                UploadError::TooLarge { limit } => too_large(limit),
                UploadError::Body(err) => {
                    ApiError::bad_request("upload-interrupted", format!("reading the upload failed: {err}"))
                }
                UploadError::Storage(err) => ApiError::unavailable("storage-unavailable", err),
            })?;

        let new_media = NewMedia {
            id: media_id,
            owner_id: auth.0.id,
            kind,
            original_key: &key,
            original_filename: filename.as_deref(),
            content_type,
            size_bytes: stored.size_bytes,
            sha256: &stored.sha256,
        };
        match record_upload(&state, &new_media, reservation.id).await {
            Ok(job_ids) => {
                reservation.recorded();
                tracing::info!(%media_id, kind = kind.as_str(), size = stored.size_bytes, "upload accepted");
                Ok(UploadResponse::Accepted(Json(UploadAccepted {
                    media_id,
                    kind: kind.as_str().to_owned(),
                    content_type: content_type.to_owned(),
                    size_bytes: stored.size_bytes,
                    sha256: stored.sha256,
                    job_ids,
                })))
            }
            Err(err) => {
                // No row, no jobs: the stored original must not linger either.
                if let Err(cleanup) = state.storage.delete(&key).await {
                    tracing::warn!(%media_id, error = %cleanup, "could not remove the original of a failed upload");
                }
                Err(err)
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

/// Frees the upload's reservation, inserts the media row and enqueues its jobs, all or nothing.
async fn record_upload(
    state: &AppState,
    new_media: &NewMedia<'_>,
    reservation: Uuid,
) -> Result<Vec<Uuid>, ApiError> {
    let mut tx = state.pool.begin().await?;
    if !quota::record(
        &mut tx,
        reservation,
        new_media.owner_id,
        state.quota,
        new_media.size_bytes,
    )
    .await?
    {
        return Err(quota_exceeded(
            "the upload no longer fits in your quota (its reservation had lapsed)".to_owned(),
        ));
    }
    media::insert(&mut tx, new_media).await?;
    let job_id = registry::enqueue_processing(
        &mut tx,
        new_media.kind,
        Processing::Full,
        new_media.owner_id,
        new_media.id,
        Priority::Interactive,
    )
    .await?;
    tx.commit().await?;
    Ok(vec![job_id])
}

/// Reads the first [`SNIFF_LEN`] bytes (or all of a shorter body).
async fn read_head<S>(stream: &mut S) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    let mut head = Vec::new();
    while head.len() < SNIFF_LEN {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(err)) => {
                return Err(ApiError::bad_request(
                    "upload-interrupted",
                    format!("reading the upload failed: {err}"),
                ));
            }
            None => break,
        }
    }
    if head.is_empty() {
        return Err(ApiError::bad_request("empty-upload", "the upload is empty"));
    }
    Ok(Bytes::from(head))
}

fn validate_filename(filename: Option<String>) -> Result<Option<String>, ApiError> {
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

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large("media-too-large", format!("uploads are limited to {limit} bytes"))
}

fn quota_exceeded(detail: String) -> ApiError {
    ApiError::too_large("quota-exceeded", detail)
}

/// Frees an upload's reservation when the upload ends any other way than recorded: an error, or
/// the client going away (the request's future is dropped mid-body, so this is a `Drop`).
struct ReservationGuard {
    pool: sqlx::PgPool,
    id: Uuid,
    recorded: bool,
}

impl ReservationGuard {
    fn new(pool: &sqlx::PgPool, id: Uuid) -> Self {
        Self {
            pool: pool.clone(),
            id,
            recorded: false,
        }
    }

    /// The upload's transaction freed the reservation.
    fn recorded(mut self) {
        self.recorded = true;
    }
}

impl Drop for ReservationGuard {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        let (pool, id) = (self.pool.clone(), self.id);
        // Dropped inside a request, so on the runtime; without one (shutdown) the reservation
        // lapses by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = quota::release(&pool, id).await {
                    tracing::warn!(reservation = %id, error = %err, "could not free an upload reservation");
                }
            });
        }
    }
}

fn media_not_found() -> ApiError {
    ApiError::not_found("media-not-found", "no such media item")
}

/// The API view of `rows`, with three queries however many rows there are.
async fn media_items(state: &AppState, rows: Vec<media::Media>) -> Result<Vec<MediaItem>, ApiError> {
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
    let expires = (now + state.playback_url_ttl.as_secs()) / 60 * 60 + 60;
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
