//! Every error a client sees is `application/problem+json` (RFC 9457) with a stable `code`.
//! Handlers return [`ApiError`]; framework errors (malformed JSON, missing token, unknown route)
//! are converted once by [`problem_for_poem_error`]. Internal causes go to the log only.

use poem::{Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json, types::ToJSON};

/// The problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank`-style: the code is the real key).
    #[oai(rename = "type")]
    pub problem_type: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable machine-readable code, e.g. `media-not-found`.
    pub code: String,
    /// The job the problem is about, when there is one (e.g. the reprocess already queued).
    pub job_id: Option<uuid::Uuid>,
}

/// An error answer of the API.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or invalid.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, expired or invalid credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Authenticated, but not allowed (admin routes).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource (or not yours).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The resource already exists.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The upload or request body is over its size limit.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The upload is not a kind of media Veza processes.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed, but not acceptable with what came before (an `Idempotency-Key` used for
    /// another request).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many attempts (logins, registrations, verification emails); `Retry-After` says
    /// in how many seconds the next one is accepted.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds until the next attempt is accepted.
        #[oai(header = "Retry-After")]
        u64,
    ),
    /// Our fault; the detail says no more than that.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (database, storage) is unavailable, or the API is too busy to hash a
    /// password now (then `Retry-After` says when to try again).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before trying again, when known.
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

/// A problem document (for operations with an answer of their own, e.g. register's 429).
pub(crate) fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Json<Problem> {
    Json(Problem {
        problem_type: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.to_owned(),
        job_id: None,
    })
}

/// The 500 problem document; logs the cause, tells the client only that it was our fault.
pub(crate) fn internal_problem(cause: impl std::fmt::Display) -> Json<Problem> {
    tracing::error!(error = %cause, "internal error");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal-error",
        "something went wrong on our side; it has been logged",
    )
}

impl ApiError {
    /// The problem document it answers with.
    pub fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::Unauthorized(p)
            | Self::Forbidden(p)
            | Self::NotFound(p)
            | Self::Conflict(p)
            | Self::PayloadTooLarge(p)
            | Self::UnsupportedMediaType(p)
            | Self::Unprocessable(p)
            | Self::TooManyRequests(p, _)
            | Self::Internal(p)
            | Self::Unavailable(p, _) => &p.0,
        }
    }

    /// 400.
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest(problem(StatusCode::BAD_REQUEST, code, detail))
    }
    /// 401.
    pub fn unauthorized(code: &str, detail: impl Into<String>) -> Self {
        Self::Unauthorized(problem(StatusCode::UNAUTHORIZED, code, detail))
    }
    /// 403.
    pub fn forbidden(code: &str, detail: impl Into<String>) -> Self {
        Self::Forbidden(problem(StatusCode::FORBIDDEN, code, detail))
    }
    /// 404.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::NotFound(problem(StatusCode::NOT_FOUND, code, detail))
    }
    /// 409.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::Conflict(problem(StatusCode::CONFLICT, code, detail))
    }
    /// 409 naming the job that is in the way.
    pub fn conflict_with_job(code: &str, detail: impl Into<String>, job_id: uuid::Uuid) -> Self {
        let mut body = problem(StatusCode::CONFLICT, code, detail);
        body.0.job_id = Some(job_id);
        Self::Conflict(body)
    }
    /// 413.
    pub fn too_large(code: &str, detail: impl Into<String>) -> Self {
        Self::PayloadTooLarge(problem(StatusCode::PAYLOAD_TOO_LARGE, code, detail))
    }
    /// 422.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::Unprocessable(problem(StatusCode::UNPROCESSABLE_ENTITY, code, detail))
    }
    /// 415.
    pub fn unsupported(code: &str, detail: impl Into<String>) -> Self {
        Self::UnsupportedMediaType(problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, code, detail))
    }
    /// 429 with the seconds until the next attempt is accepted.
    pub fn too_many(code: &str, detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::TooManyRequests(
            problem(StatusCode::TOO_MANY_REQUESTS, code, detail),
            retry_after_seconds.max(1),
        )
    }
    /// 503 because the API itself is saturated: try again in `retry_after_seconds`.
    pub fn busy(code: &str, detail: impl Into<String>, retry_after_seconds: u64) -> Self {
        Self::Unavailable(
            problem(StatusCode::SERVICE_UNAVAILABLE, code, detail),
            Some(retry_after_seconds),
        )
    }
    /// 500: logs the cause, tells the client only that it was our fault.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(internal_problem(cause))
    }
    /// 503: logs the cause.
    pub fn unavailable(code: &str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, code, "dependency unavailable");
        Self::Unavailable(
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "a service Veza depends on is unavailable; try again shortly",
            ),
            None,
        )
    }
}

impl From<veza_jobs::queue::EnqueueError> for ApiError {
    fn from(err: veza_jobs::queue::EnqueueError) -> Self {
        match err {
            veza_jobs::queue::EnqueueError::Database(db) => db.into(),
            other => Self::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if veza_jobs::db::is_unavailable(&err) {
            Self::unavailable("database-unavailable", err)
        } else {
            Self::internal(err)
        }
    }
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Turns any error that reached the top of the service into problem+json. Errors that already
/// are problems (our [`ApiError`]) pass through unchanged.
pub async fn problem_for_poem_error(err: poem::Error) -> Response {
    let status = err.status();
    let detail = err.to_string();
    let response = err.into_response();
    let is_problem = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::BAD_REQUEST => ("bad-request", detail),
        StatusCode::UNAUTHORIZED => ("unauthorized", "a valid bearer token is required".to_owned()),
        StatusCode::FORBIDDEN => ("forbidden", detail),
        StatusCode::NOT_FOUND => ("not-found", "no such resource".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", detail),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", detail),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", detail),
        s if s.is_client_error() => ("bad-request", detail),
        _ => {
            tracing::error!(error = %detail, %status, "unhandled error");
            (
                "internal-error",
                "something went wrong on our side; it has been logged".to_owned(),
            )
        }
    };
    let body = problem(status, code, detail);
    Response::builder()
        .status(status)
        .content_type(PROBLEM_JSON)
        .body(serde_json::to_vec(&body.0.to_json()).unwrap_or_default())
}
