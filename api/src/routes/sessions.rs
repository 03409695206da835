//! `GET /v1/me/sessions`, `DELETE /v1/me/sessions/{id}`: the owner's view of their sessions
//! (one per login), and revoking one from another (a lost phone).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;
use veza_jobs::{
    accounts::sessions::{self, RevokeReason},
    audit::{self, Action, Event},
};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, middleware::client::Client, state::AppState};

/// Session operations.
pub struct SessionsApi;

/// An open session.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Session {
    /// Session id.
    pub id: Uuid,
    /// When it was opened (the login).
    pub created_at: DateTime<Utc>,
    /// Its last login or refresh.
    pub refreshed_at: DateTime<Utc>,
    /// When it lapses unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// The `User-Agent` of the client that logged in.
    pub user_agent: Option<String>,
    /// The address of the client that logged in.
    pub client: Option<String>,
    /// Whether this is the session of the request's token.
    pub current: bool,
}

/// The open sessions of an account.
#[derive(Debug, Object)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<Session>,
}

/// Answer of a revocation.
#[derive(Debug, ApiResponse)]
pub enum Revoked {
    /// The session is revoked (or was already): its access and refresh tokens no longer work.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl SessionsApi {
    /// Your open sessions, newest first.
    #[oai(path = "/me/sessions", method = "get", operation_id = "listSessions")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<SessionList>, ApiError> {
        let rows = sessions::list_open(&state.pool, auth.0.id).await?;
        let sessions = rows
            .into_iter()
            .map(|row| Session {
                current: row.id == auth.0.session_id,
                id: row.id,
                created_at: row.created_at,
                refreshed_at: row.refreshed_at,
                expires_at: row.expires_at,
                user_agent: row.user_agent,
                client: row.client,
            })
            .collect();
        Ok(Json(SessionList { sessions }))
    }

    /// Revoke one of your sessions (this one included). Idempotent; another account's session
    /// is 404, as an unknown one.
    #[oai(path = "/me/sessions/:id", method = "delete", operation_id = "revokeSession")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        if !sessions::revoke(&state.pool, auth.0.id, id.0, RevokeReason::Revoked).await? {
            return Err(ApiError::not_found(
                "session-not-found",
                "you have no session with this id",
            ));
        }
        let event = Event::new(Action::SessionRevoked)
            .by(auth.0.id)
            .about(auth.0.id)
            .from_client(client.address())
            .with(serde_json::json!({ "session_id": id.0 }));
        audit::record(&state.pool, &event).await?;
        tracing::info!(user_id = %auth.0.id, session_id = %id.0, "session revoked");
        Ok(Revoked::Done)
    }
}
