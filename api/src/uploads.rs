//! The one way a file becomes a media item, shared by `POST /v1/media` (one request) and the
//! resumable uploads at `/v1/uploads` (tus): reserve quota space before a byte is read, sniff the
//! kind from the first bytes, stream the original into storage under a cap, then record the item
//! and enqueue its processing in one transaction ([`record`]) — or remove the original again.

use bytes::Bytes;
use futures::{Stream, StreamExt, stream::BoxStream};
use sqlx::PgConnection;
use uuid::Uuid;
use veza_jobs::{
    media::{self, MediaKind, NewMedia, SNIFF_LEN, Sniffed},
    queue::Priority,
    quota::{self, Reserve},
    registry::{self, Processing},
    storage::{Storage, StoredUpload, UploadError},
};

pub use crate::routes::media::UploadAccepted;
use crate::{error::ApiError, state::AppState};

/// Space held for an upload: freed when the upload ends any other way than recorded.
pub struct Reservation {
    guard: ReservationGuard,
    /// The most the upload may be.
    pub cap: Cap,
}

/// The most an upload may be.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    /// Bytes.
    pub bytes: u64,
    /// Whether it is what is left of the quota rather than the upload limit (which error to
    /// give an upload that grows past it).
    pub by_quota: bool,
}

impl Reservation {
    /// The reservation's id.
    pub fn id(&self) -> Uuid {
        self.guard.id
    }

    /// The upload's transaction freed the reservation (or it now belongs to a resumable upload).
    pub fn keep(mut self) {
        self.guard.recorded = true;
    }
}

/// Reserves space for an upload of `user` of `declared` bytes (unknown: all that is left) for
/// `ttl`; 413 `quota-exceeded` when it does not fit.
pub async fn reserve(
    state: &AppState,
    user: Uuid,
    declared: Option<u64>,
    ttl: std::time::Duration,
) -> Result<Reservation, ApiError> {
    match quota::reserve(
        &state.pool,
        user,
        state.quota,
        declared,
        state.max_upload_bytes,
        ttl,
    )
    .await?
    {
        Reserve::Granted {
            id,
            cap,
            capped_by_quota,
        } => Ok(Reservation {
            guard: ReservationGuard::new(&state.pool, id),
            cap: Cap {
                bytes: cap,
                by_quota: capped_by_quota,
            },
        }),
        Reserve::NoItemsLeft { limit } => Err(quota_exceeded(format!(
            "your account holds {limit} items, its quota"
        ))),
        Reserve::NoSpaceLeft { left } => Err(quota_exceeded(format!(
            "this upload does not fit in the {left} bytes left of your quota"
        ))),
        Reserve::NoAccount => Err(ApiError::unauthorized(
            "token-invalid",
            "the account no longer exists",
        )),
    }
}

/// An original in storage, not yet recorded.
pub struct StoredOriginal {
    /// The item it is to become.
    pub media_id: Uuid,
    /// Its storage key.
    pub key: String,
    /// Kind read from its bytes.
    pub kind: MediaKind,
    /// MIME type read from its bytes.
    pub content_type: &'static str,
    /// Size and hash.
    pub stored: StoredUpload,
}

/// Streams `body` into storage as the original of a new item: its kind sniffed from the first
/// bytes (415 for anything Veza does not process), at most `cap` bytes.
pub async fn store_original(
    state: &AppState,
    body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    cap: Cap,
) -> Result<StoredOriginal, ApiError> {
    let mut body = body;
    let head = read_head(&mut body).await?;
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
        .put_stream(&key, head, body, cap.bytes)
        .await
        .map_err(|err| match err {
            UploadError::TooLarge { .. } if cap.by_quota => quota_exceeded(format!(
                "the upload grew past the {} bytes left of your quota",
                cap.bytes
            )),
            UploadError::TooLarge { limit } => too_large(limit),
            UploadError::Body(err) => {
                ApiError::bad_request("upload-interrupted", format!("reading the upload failed: {err}"))
            }
            UploadError::Storage(err) => ApiError::unavailable("storage-unavailable", err),
        })?;
    Ok(StoredOriginal {
        media_id,
        key,
        kind,
        content_type,
        stored,
    })
}

/// Records `original` as an item of `owner` on the caller's transaction: frees its reservation
/// (checking the quota once more), inserts the media row and enqueues its processing.
pub async fn record(
    conn: &mut PgConnection,
    state: &AppState,
    owner: Uuid,
    original: &StoredOriginal,
    filename: Option<&str>,
    reservation: Uuid,
) -> Result<UploadAccepted, ApiError> {
    let size = original.stored.size_bytes;
    if !quota::record(conn, reservation, owner, state.quota, size).await? {
        return Err(quota_exceeded(
            "the upload no longer fits in your quota (its reservation had lapsed)".to_owned(),
        ));
    }
    media::insert(
        conn,
        &NewMedia {
            id: original.media_id,
            owner_id: owner,
            kind: original.kind,
            original_key: &original.key,
            original_filename: filename,
            content_type: original.content_type,
            size_bytes: size,
            sha256: &original.stored.sha256,
        },
    )
    .await?;
    let job_id = registry::enqueue_processing(
        conn,
        original.kind,
        Processing::Full,
        owner,
        original.media_id,
        Priority::Interactive,
    )
    .await?;
    Ok(UploadAccepted {
        media_id: original.media_id,
        kind: original.kind.as_str().to_owned(),
        content_type: original.content_type.to_owned(),
        size_bytes: size,
        sha256: original.stored.sha256.clone(),
        job_ids: vec![job_id],
    })
}

/// Removes an original whose item was not recorded (no row, no jobs: it must not linger).
pub async fn discard(state: &AppState, original: &StoredOriginal) {
    if let Err(err) = state.storage.delete(&original.key).await {
        tracing::warn!(media_id = %original.media_id, error = %err, "could not remove the original of a failed upload");
    }
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

/// 413 for an upload over `VEZA_MAX_UPLOAD_BYTES`.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::too_large("media-too-large", format!("uploads are limited to {limit} bytes"))
}

/// 413 for an upload over what is left of the quota.
pub fn quota_exceeded(detail: String) -> ApiError {
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
