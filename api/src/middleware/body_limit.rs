//! Every request body is bounded before anything parses it.
//!
//! poem-openapi's `Json` and `Form` read a whole body into memory before validating it, so
//! without a bound one unauthenticated multi-gigabyte `POST /v1/auth/login` exhausts memory.
//! Bodies are read here up to `VEZA_MAX_REQUEST_BODY_BYTES` (chunked ones too: the declared
//! length is checked first, then the bytes as they arrive) and handed on in memory. The upload
//! routes stream their bodies to storage under their own limit (`VEZA_MAX_UPLOAD_BYTES`) and are
//! left alone.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, error::ReadBodyError, http::Method};

use crate::error::ApiError;

/// The routes whose body is (part of) a media file, streamed under the upload limit instead:
/// `POST /v1/media` and a resumable upload's `PATCH /v1/uploads/{id}`.
fn is_upload(req: &Request) -> bool {
    let path = req.uri().path().trim_end_matches('/');
    (req.method() == Method::POST && path == "/v1/media")
        || (req.method() == Method::PATCH && path.starts_with("/v1/uploads/"))
}

/// Reads the body of `req` up to `limit` bytes, then calls `endpoint`; 413 past the limit.
pub async fn bound_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut req: Request,
    limit: u64,
) -> poem::Result<Response> {
    if is_upload(&req) {
        return endpoint.call(req).await.map(IntoResponse::into_response);
    }
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Ok(too_large(limit));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    match req.take_body().into_bytes_limit(cap).await {
        Ok(bytes) => req.set_body(bytes),
        Err(ReadBodyError::PayloadTooLarge) => return Ok(too_large(limit)),
        Err(err) => {
            return Ok(ApiError::bad_request(
                "body-unreadable",
                format!("the request body could not be read: {err}"),
            )
            .into_response());
        }
    }
    endpoint.call(req).await.map(IntoResponse::into_response)
}

fn too_large(limit: u64) -> Response {
    ApiError::too_large(
        "request-too-large",
        format!(
            "request bodies are limited to {limit} bytes (VEZA_MAX_REQUEST_BODY_BYTES); \
             media files go to POST /v1/media"
        ),
    )
    .into_response()
}
