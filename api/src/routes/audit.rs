//! `GET /v1/admin/audit`: the audit log of security events, for admins.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};
use uuid::Uuid;
use veza_jobs::audit::{self, Action};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, state::AppState};

/// Audit log operations.
pub struct AuditApi;

/// What happened (the names are those stored: `Action::as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "kebab-case", remote = "veza_jobs::audit::Action")]
pub enum AuditAction {
    /// A successful login (a session opened).
    Login,
    /// A wrong password or an unknown address.
    LoginFailed,
    /// A password changed by its owner.
    PasswordChanged,
    /// A password set through a reset link.
    PasswordReset,
    /// A session ended by logout.
    Logout,
    /// A session revoked by its owner.
    SessionRevoked,
    /// A used refresh token presented again: its session revoked.
    RefreshTokenReused,
    /// The admin role granted on the command line.
    AdminGranted,
    /// The admin role taken away on the command line.
    AdminRevoked,
    /// A queue paused.
    QueuePaused,
    /// A queue resumed.
    QueueResumed,
    /// A dead job queued again.
    JobRetried,
    /// A media item deleted by its owner.
    MediaDeleted,
    /// An account deleted by its owner.
    AccountDeleted,
    /// A chat room created.
    RoomCreated,
    /// A member removed from a chat room by its owner or a moderator.
    RoomMemberKicked,
    /// A member muted in a chat room.
    RoomMemberMuted,
    /// A member's role in a chat room changed.
    RoomRoleChanged,
    /// A message removed by a moderator (not its author).
    RoomMessageRemoved,
}

/// A recorded security event.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditEvent {
    /// Event id (time-ordered).
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened (one of the `action` filter's values).
    pub action: String,
    /// Who acted; absent for anonymous requests and the command line.
    pub actor_id: Option<Uuid>,
    /// The account concerned.
    pub subject_id: Option<Uuid>,
    /// The client's address.
    pub client: Option<String>,
    /// What else identifies the event (a session, a queue, a job, the address tried).
    pub detail: serde_json::Value,
}

impl From<audit::Row> for AuditEvent {
    fn from(row: audit::Row) -> Self {
        Self {
            id: row.id,
            at: row.at,
            action: row.action,
            actor_id: row.actor_id,
            subject_id: row.subject_id,
            client: row.client,
            detail: row.detail,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AuditPage {
    /// Events, newest first.
    pub items: Vec<AuditEvent>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<Uuid>,
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AuditApi {
    /// The audit log, newest first: logins and their failures, password changes and resets,
    /// session revocations, refresh-token reuse, admin grants, queue pauses, job retries.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Only events of this kind.
        action: Query<Option<AuditAction>>,
        /// Only events about this account.
        user_id: Query<Option<Uuid>>,
        /// Events older than this id (from `next_before`).
        before: Query<Option<Uuid>>,
        /// Page size, 1–500 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        auth.0.require_admin()?;
        let limit = limit.0.unwrap_or(100);
        let rows = audit::list(
            &state.pool,
            action.0.map(Action::from),
            user_id.0,
            before.0,
            i64::from(limit),
        )
        .await?;
        let next_before = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        let items = rows.into_iter().map(AuditEvent::from).collect();
        Ok(Json(AuditPage { items, next_before }))
    }
}
