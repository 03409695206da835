//! Security headers on every answer.
//!
//! - Everything: `X-Content-Type-Options: nosniff`, so a browser never reads a served file as
//!   something other than its declared type.
//! - Everything but the API explorer under `/docs` (which needs its own scripts and styles): a
//!   `Content-Security-Policy` that allows nothing to run or load and no framing; stored outputs
//!   are additionally `sandbox`ed, so even an HTML or SVG file opened directly has no origin.
//! - The HTML pages email links open (`/verify`, `/reset`, `/unsubscribe`): no framing
//!   (clickjacking a one-click form), no caching and no `Referer` (their URL holds a token).

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, header},
};

/// Nothing may load or run; forms may post back to us (the email link pages).
const API_POLICY: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Stored files: the same, in a sandbox (no scripts, no origin).
const OUTPUT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Calls `endpoint` and adds the headers that fit the path.
pub async fn add_security_headers<E: Endpoint>(endpoint: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = match endpoint.call(req).await {
        Ok(output) => output.into_response(),
        Err(err) => err.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path == "/docs" || path.starts_with("/docs/") {
        return Ok(response);
    }
    let policy = if path.contains("/outputs/") {
        OUTPUT_POLICY
    } else {
        API_POLICY
    };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    if is_link_page(&path) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    Ok(response)
}

fn is_link_page(path: &str) -> bool {
    matches!(path, "/verify" | "/reset" | "/unsubscribe")
}
