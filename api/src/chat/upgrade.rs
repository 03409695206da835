//! `GET /v1/ws`: the WebSocket upgrade. A plain poem handler beside the OpenAPI operations (a
//! socket is described by `openapi/asyncapi.yaml`, not by the OpenAPI document).
//!
//! Before the upgrade: the origin (a browser page of another site must not open a socket with
//! its visitor's token) and, when the request carries one, the `Authorization` header — a bad
//! one is a 401 problem, as on every route. Without a header the first frame must be `auth`:
//! browsers cannot set headers on a socket, and a token in the URL would end up in logs.

use poem::{
    IntoResponse, Request, handler,
    http::header,
    web::{
        Data,
        websocket::{WebSocket, WebSocketConfig},
    },
};

use crate::{auth::authenticate, error::ApiError, state::AppState};

/// Upgrades to the chat socket.
#[handler]
pub async fn socket(
    req: &Request,
    ws: WebSocket,
    Data(state): Data<&AppState>,
) -> poem::Result<impl IntoResponse> {
    check_origin(req, &state.cors_origins)?;
    let pre = match bearer(req) {
        Some(token) => Some(authenticate(state, token).await?),
        None => None,
    };
    let max = state.chat.limits().chat_max_frame_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        // The default read buffer is 128 KiB, allocated up front for every socket.
        .read_buffer_size(4 * 1024)
        // Write each frame at once instead of batching up to 128 KiB.
        .write_buffer_size(0);
    let state = state.clone();
    let hub = state.chat.clone();
    Ok(ws
        .config(config)
        .on_upgrade(move |socket| hub.track(super::connection::run(socket, state, pre))))
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// A request without `Origin` is not from a browser page: allowed (the token is the check).
/// From a page: its origin must be one of `VEZA_CORS_ORIGINS` (or `*` there), or, when that is
/// unset, the API's own. (With the list set, the CORS layer has refused any other origin, the
/// API's own too, before this: as for every route, list it to allow it.)
fn check_origin(req: &Request, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let own = req
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, origin_host)| origin_host.eq_ignore_ascii_case(host))
        });
    if own || allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "origin-not-allowed",
            "this page's origin may not open a socket to this API (VEZA_CORS_ORIGINS)",
        ))
    }
}
