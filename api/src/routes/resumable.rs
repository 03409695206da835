//! Resumable uploads with the tus 1.0 protocol (<https://tus.io/protocols/resumable-upload>):
//! core, `creation`, `termination` and `expiration`, at `/v1/uploads`. Any tus client works
//! (tus-js-client, tuspy, Uppy, TUSKit) with the bearer token as a header.
//!
//! The upload's state is in Postgres ([`veza_jobs::resumable`]) and each PATCH is stored as an
//! object of its own before it counts, so an upload continues after an API restart, on another
//! API instance, and a PATCH cut off midway is simply sent again from the last offset. The PATCH
//! that brings the last byte joins the parts into the original and records the item through the
//! same path as `POST /v1/media` ([`crate::uploads`]); its answer names the item
//! (`Veza-Media-Id`, `Veza-Job-Id`). `Tus-Resumable: 1.0.0` is added to every answer under
//! `/v1/uploads` by [`add_tus_resumable`].

use base64::Engine;
use futures::{StreamExt, TryStreamExt, stream};
use poem::{Body, Endpoint, IntoResponse, Request, Response, web::Data};
use poem_openapi::{ApiResponse, OpenApi, param::Header, param::Path, payload::Binary};
use uuid::Uuid;
use veza_jobs::{
    resumable::{self, NewUpload, Upload},
    storage::UploadError,
};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, routes::media::validate_filename, state::AppState, uploads};

/// The protocol version served.
pub const TUS_VERSION: &str = "1.0.0";
/// The tus extensions served.
const TUS_EXTENSIONS: &str = "creation,termination,expiration";
/// The content type of a PATCH body.
const PATCH_CONTENT_TYPE: &str = "application/offset+octet-stream";

/// Resumable upload operations.
pub struct ResumableApi;

/// Answer of the discovery request.
#[derive(Debug, ApiResponse)]
pub enum TusOptions {
    /// What this server supports.
    #[oai(status = 204)]
    Supported(
        /// The versions served (`1.0.0`).
        #[oai(header = "Tus-Version")]
        String,
        /// The extensions served.
        #[oai(header = "Tus-Extension")]
        String,
        /// The largest upload accepted, in bytes.
        #[oai(header = "Tus-Max-Size")]
        u64,
    ),
}

/// Answer of a creation.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// Created: send the bytes with PATCH to `Location`.
    #[oai(status = 201)]
    Created(
        /// The upload's URL.
        #[oai(header = "Location")]
        String,
        /// When the upload expires if unfinished (RFC 9110 date).
        #[oai(header = "Upload-Expires")]
        String,
    ),
    /// The request's `Tus-Resumable` is missing or not a version served.
    #[oai(status = 412)]
    VersionUnsupported(
        /// The versions served.
        #[oai(header = "Tus-Version")]
        String,
    ),
}

/// Answer of an offset request.
#[derive(Debug, ApiResponse)]
pub enum Status {
    /// Where the upload stands.
    #[oai(status = 200)]
    Status(
        /// Bytes received so far: the offset of the next PATCH.
        #[oai(header = "Upload-Offset")]
        u64,
        /// The upload's total size.
        #[oai(header = "Upload-Length")]
        u64,
        /// When the upload expires if unfinished.
        #[oai(header = "Upload-Expires")]
        String,
        /// Always `no-store`.
        #[oai(header = "Cache-Control")]
        String,
        /// The `Upload-Metadata` sent at creation.
        #[oai(header = "Upload-Metadata")]
        Option<String>,
        /// The media item the upload became, once complete.
        #[oai(header = "Veza-Media-Id")]
        Option<String>,
    ),
    /// The request's `Tus-Resumable` is missing or not a version served.
    #[oai(status = 412)]
    VersionUnsupported(
        /// The versions served.
        #[oai(header = "Tus-Version")]
        String,
    ),
}

/// Answer of a PATCH.
#[derive(Debug, ApiResponse)]
pub enum Appended {
    /// The bytes are stored; with the last one, the item exists and its processing is queued.
    #[oai(status = 204)]
    Appended(
        /// The new offset.
        #[oai(header = "Upload-Offset")]
        u64,
        /// When the upload expires if unfinished.
        #[oai(header = "Upload-Expires")]
        String,
        /// The media item, once the upload is complete.
        #[oai(header = "Veza-Media-Id")]
        Option<String>,
        /// Its processing job, once the upload is complete.
        #[oai(header = "Veza-Job-Id")]
        Option<String>,
    ),
    /// The request's `Tus-Resumable` is missing or not a version served.
    #[oai(status = 412)]
    VersionUnsupported(
        /// The versions served.
        #[oai(header = "Tus-Version")]
        String,
    ),
}

/// Answer of a termination.
#[derive(Debug, ApiResponse)]
pub enum Terminated {
    /// The upload and its bytes are gone.
    #[oai(status = 204)]
    Terminated,
    /// The request's `Tus-Resumable` is missing or not a version served.
    #[oai(status = 412)]
    VersionUnsupported(
        /// The versions served.
        #[oai(header = "Tus-Version")]
        String,
    ),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Media")]
impl ResumableApi {
    /// tus discovery: the protocol versions, extensions and maximum size served.
    #[oai(path = "/uploads", method = "options", operation_id = "uploadOptions")]
    async fn options(&self, state: Data<&AppState>) -> TusOptions {
        TusOptions::Supported(
            TUS_VERSION.to_owned(),
            TUS_EXTENSIONS.to_owned(),
            state.max_upload_bytes,
        )
    }

    /// Create a resumable upload (tus `creation`): its size is required (deferred lengths are
    /// not served) and quota space for it is reserved until it ends or expires (24 h).
    /// `Upload-Metadata` may carry `filename` (or `name`), base64 as tus encodes it.
    #[oai(path = "/uploads", method = "post", operation_id = "createUpload")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Must be `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        tus_resumable: Header<Option<String>>,
        /// The upload's total size in bytes.
        #[oai(name = "Upload-Length")]
        upload_length: Header<Option<u64>>,
        /// `key base64value` pairs separated by commas.
        #[oai(name = "Upload-Metadata")]
        upload_metadata: Header<Option<String>>,
    ) -> Result<Created, ApiError> {
        if !version_served(&tus_resumable) {
            return Ok(Created::VersionUnsupported(TUS_VERSION.to_owned()));
        }
        let length = match upload_length.0 {
            Some(length) if length > 0 => length,
            _ => {
                return Err(ApiError::bad_request(
                    "upload-length-required",
                    "Upload-Length must give the upload's size in bytes (deferred lengths are not served)",
                ));
            }
        };
        if length > state.max_upload_bytes {
            return Err(uploads::too_large(state.max_upload_bytes));
        }
        let metadata = upload_metadata.0;
        let filename = validate_filename(filename_of(metadata.as_deref())?)?;
        let reservation = uploads::reserve(&state, auth.0.id, Some(length), resumable::UPLOAD_TTL).await?;
        let id = Uuid::now_v7();
        let expires = resumable::create(
            &state.pool,
            &NewUpload {
                id,
                user_id: auth.0.id,
                length,
                metadata: metadata.as_deref(),
                filename: filename.as_deref(),
                reservation_id: reservation.id(),
            },
        )
        .await?;
        // The reservation now belongs to the upload: freed when it completes, ends or expires.
        reservation.keep();
        tracing::info!(upload = %id, length, "resumable upload created");
        Ok(Created::Created(format!("/v1/uploads/{id}"), http_date(expires)))
    }

    /// Where a resumable upload stands (tus offset request): `Upload-Offset` is where the next
    /// PATCH starts.
    #[oai(path = "/uploads/:id", method = "head", operation_id = "uploadStatus")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// The upload.
        id: Path<Uuid>,
        /// Must be `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        tus_resumable: Header<Option<String>>,
    ) -> Result<Status, ApiError> {
        if !version_served(&tus_resumable) {
            return Ok(Status::VersionUnsupported(TUS_VERSION.to_owned()));
        }
        let upload = find(&state, auth.0.id, id.0).await?;
        Ok(Status::Status(
            bytes(upload.received),
            bytes(upload.length),
            http_date(upload.expires_at),
            "no-store".to_owned(),
            upload.metadata,
            upload.media_id.map(|id| id.to_string()),
        ))
    }

    /// Send bytes of a resumable upload from `Upload-Offset` (tus core PATCH), as
    /// `application/offset+octet-stream`. A PATCH cut off midway stores nothing: send it again
    /// from the offset a HEAD gives. The last byte makes the media item.
    #[oai(path = "/uploads/:id", method = "patch", operation_id = "appendUpload")]
    // poem-openapi takes each header of the protocol as an argument.
    #[allow(clippy::too_many_arguments)]
    async fn append(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        req: &Request,
        /// The upload.
        id: Path<Uuid>,
        /// Must be `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        tus_resumable: Header<Option<String>>,
        /// Where these bytes start: the upload's current offset.
        #[oai(name = "Upload-Offset")]
        upload_offset: Header<Option<u64>>,
        body: Binary<Body>,
    ) -> Result<Appended, ApiError> {
        if !version_served(&tus_resumable) {
            return Ok(Appended::VersionUnsupported(TUS_VERSION.to_owned()));
        }
        if req.content_type() != Some(PATCH_CONTENT_TYPE) {
            return Err(ApiError::unsupported(
                "wrong-content-type",
                format!("a PATCH body must be sent as {PATCH_CONTENT_TYPE}"),
            ));
        }
        let Some(offset) = upload_offset.0 else {
            return Err(ApiError::bad_request(
                "upload-offset-required",
                "Upload-Offset must say where these bytes start",
            ));
        };
        let upload = find(&state, auth.0.id, id.0).await?;
        let received = bytes(upload.received);
        if offset != received || upload.media_id.is_some() {
            return Err(ApiError::conflict(
                "upload-offset-mismatch",
                format!("the upload is at offset {received}: send from there (HEAD tells it)"),
            ));
        }
        let left = bytes(upload.length) - received;
        let mut body = body.0.into_bytes_stream().boxed();
        let first = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => return Err(interrupted(&err)),
            // Nothing sent: nothing changes.
            None => {
                return Ok(Appended::Appended(
                    received,
                    http_date(upload.expires_at),
                    None,
                    None,
                ));
            }
        };
        let key = resumable::part_key(upload.id, received);
        let stored = state
            .storage
            .put_stream(&key, first, body, left)
            .await
            .map_err(|err| match err {
                UploadError::TooLarge { .. } => ApiError::too_large(
                    "upload-length-exceeded",
                    format!("only {left} bytes of the upload are left to send"),
                ),
                UploadError::Body(err) => interrupted(&err),
                UploadError::Storage(err) => ApiError::unavailable("storage-unavailable", err),
            })?;
        let now_at = received + stored.size_bytes;
        if now_at < bytes(upload.length) {
            if !resumable::add_part(&state.pool, upload.id, received, stored.size_bytes, &key).await? {
                delete_objects(&state, std::slice::from_ref(&key)).await;
                return Err(ApiError::conflict(
                    "upload-offset-mismatch",
                    "another PATCH of this upload got there first: HEAD tells the offset",
                ));
            }
            return Ok(Appended::Appended(
                now_at,
                http_date(upload.expires_at),
                None,
                None,
            ));
        }
        let mut keys = resumable::part_keys(&state.pool, upload.id).await?;
        keys.push(key);
        let outcome = finish(&state, &upload, &keys).await;
        // Whatever happened, this PATCH's part goes: complete, the parts are in the original;
        // failed, the client sends the last bytes again.
        delete_objects(&state, &keys[keys.len() - 1..]).await;
        let accepted = match outcome {
            Ok(accepted) => accepted,
            Err(Finish::Refused(err)) => {
                // The bytes are no media Veza takes: the upload can never succeed, end it.
                if let Some(parts) = resumable::terminate(&state.pool, auth.0.id, upload.id).await? {
                    delete_objects(&state, &parts).await;
                }
                return Err(err);
            }
            Err(Finish::Failed(err)) => return Err(err),
        };
        delete_objects(&state, &keys[..keys.len() - 1]).await;
        tracing::info!(upload = %upload.id, media_id = %accepted.media_id, "resumable upload complete");
        Ok(Appended::Appended(
            now_at,
            http_date(upload.expires_at),
            Some(accepted.media_id.to_string()),
            accepted.job_ids.first().map(Uuid::to_string),
        ))
    }

    /// End a resumable upload and delete its bytes (tus `termination`).
    #[oai(path = "/uploads/:id", method = "delete", operation_id = "terminateUpload")]
    async fn terminate(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// The upload.
        id: Path<Uuid>,
        /// Must be `1.0.0`.
        #[oai(name = "Tus-Resumable")]
        tus_resumable: Header<Option<String>>,
    ) -> Result<Terminated, ApiError> {
        if !version_served(&tus_resumable) {
            return Ok(Terminated::VersionUnsupported(TUS_VERSION.to_owned()));
        }
        let Some(parts) = resumable::terminate(&state.pool, auth.0.id, id.0).await? else {
            return Err(not_found());
        };
        delete_objects(&state, &parts).await;
        Ok(Terminated::Terminated)
    }
}

/// How joining the parts failed.
enum Finish {
    /// The bytes are refused for good (not media Veza takes, over the quota).
    Refused(ApiError),
    /// Something to retry (storage, database, a concurrent PATCH).
    Failed(ApiError),
}

/// Joins the parts (`keys`, in order) into the original and records the item, marking the upload
/// complete in the same transaction.
async fn finish(
    state: &AppState,
    upload: &Upload,
    keys: &[String],
) -> Result<uploads::UploadAccepted, Finish> {
    let storage = state.storage.clone();
    let joined = stream::iter(keys.to_vec())
        .then(move |key| {
            let storage = storage.clone();
            async move {
                match storage.get_stream(&key).await {
                    Ok(Some((_, part))) => Ok(part.map_err(std::io::Error::other)),
                    Ok(None) => Err(std::io::Error::other(format!("part {key} is missing"))),
                    Err(err) => Err(std::io::Error::other(err)),
                }
            }
        })
        .try_flatten()
        .boxed();
    let cap = uploads::Cap {
        bytes: bytes(upload.length),
        // Space was reserved for the whole length at creation.
        by_quota: false,
    };
    let original = uploads::store_original(state, joined, cap)
        .await
        .map_err(|err| match err {
            ApiError::UnsupportedMediaType(_) => Finish::Refused(err),
            err => Finish::Failed(err),
        })?;
    let recorded = async {
        let mut tx = state.pool.begin().await?;
        let accepted = uploads::record(
            &mut tx,
            state,
            upload.user_id,
            &original,
            upload.filename.as_deref(),
            upload.reservation_id,
        )
        .await?;
        let job_id = accepted.job_ids.first().copied().unwrap_or(original.media_id);
        let received = bytes(upload.received);
        if !resumable::complete(&mut tx, upload.id, received, original.media_id, job_id).await? {
            return Err(ApiError::conflict(
                "upload-offset-mismatch",
                "another PATCH of this upload got there first: HEAD tells the offset",
            ));
        }
        tx.commit().await?;
        Ok(accepted)
    }
    .await;
    match recorded {
        Ok(accepted) => Ok(accepted),
        Err(err) => {
            uploads::discard(state, &original).await;
            Err(match err {
                ApiError::PayloadTooLarge(_) => Finish::Refused(err),
                err => Finish::Failed(err),
            })
        }
    }
}

/// Adds `Tus-Resumable: 1.0.0` to every answer under `/v1/uploads`, errors included.
pub async fn add_tus_resumable<E: Endpoint>(
    endpoint: std::sync::Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    let tus = req.uri().path().starts_with("/v1/uploads");
    let mut response = endpoint.call(req).await.map(IntoResponse::into_response)?;
    if tus {
        response
            .headers_mut()
            .insert("tus-resumable", poem::http::HeaderValue::from_static(TUS_VERSION));
    }
    Ok(response)
}

async fn find(state: &AppState, user: Uuid, id: Uuid) -> Result<Upload, ApiError> {
    resumable::find(&state.pool, user, id)
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::not_found("upload-not-found", "no such upload (or it expired)")
}

fn interrupted(err: &std::io::Error) -> ApiError {
    ApiError::bad_request("upload-interrupted", format!("reading the upload failed: {err}"))
}

fn version_served(header: &Header<Option<String>>) -> bool {
    header.0.as_deref() == Some(TUS_VERSION)
}

/// A size column, never negative (checked by the table).
fn bytes(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// RFC 9110's date format (`Upload-Expires`).
fn http_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The file name in `Upload-Metadata` (`filename`, else `name`), decoded; 400 when the header
/// is not tus metadata.
fn filename_of(metadata: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(metadata) = metadata else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::bad_request(
            "invalid-upload-metadata",
            "Upload-Metadata must be comma-separated `key base64value` pairs",
        )
    };
    let mut found: (Option<String>, Option<String>) = (None, None);
    for pair in metadata.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| malformed())?;
        let value = String::from_utf8(value).map_err(|_| malformed())?;
        match key {
            "filename" => found.0 = Some(value),
            "name" => found.1 = Some(value),
            _ => {}
        }
    }
    Ok(found.0.or(found.1))
}

async fn delete_objects(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Err(err) = state.storage.delete(key).await {
            tracing::warn!(key, error = %err, "could not delete an upload part; orphan cleanup will");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_comes_from_tus_metadata() {
        // "song.flac" and "audio/flac" in base64, as tus clients send them.
        let metadata = "filename c29uZy5mbGFj,filetype YXVkaW8vZmxhYw==";
        assert_eq!(
            filename_of(Some(metadata)).ok().flatten().as_deref(),
            Some("song.flac")
        );
        assert_eq!(
            filename_of(Some("name c29uZy5mbGFj,flag"))
                .ok()
                .flatten()
                .as_deref(),
            Some("song.flac")
        );
        assert_eq!(filename_of(None).ok().flatten(), None);
        assert!(filename_of(Some("filename !!!")).is_err());
    }
}
