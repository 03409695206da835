//! The audit log: security events in one table (`audit_events`), written where they happen and
//! read by admins through one route. Every query of the table is here.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// What happened. The stored `action` is the kebab-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A successful login (a session opened).
    Login,
    /// A login with a wrong password or an unknown address.
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
    /// The admin role granted (`veza-api admin grant`).
    AdminGranted,
    /// The admin role taken away.
    AdminRevoked,
    /// A queue paused by an admin.
    QueuePaused,
    /// A queue resumed by an admin.
    QueueResumed,
    /// A dead job queued again by an admin.
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

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login-failed",
            Self::PasswordChanged => "password-changed",
            Self::PasswordReset => "password-reset",
            Self::Logout => "logout",
            Self::SessionRevoked => "session-revoked",
            Self::RefreshTokenReused => "refresh-token-reused",
            Self::AdminGranted => "admin-granted",
            Self::AdminRevoked => "admin-revoked",
            Self::QueuePaused => "queue-paused",
            Self::QueueResumed => "queue-resumed",
            Self::JobRetried => "job-retried",
            Self::MediaDeleted => "media-deleted",
            Self::AccountDeleted => "account-deleted",
            Self::RoomCreated => "room-created",
            Self::RoomMemberKicked => "room-member-kicked",
            Self::RoomMemberMuted => "room-member-muted",
            Self::RoomRoleChanged => "room-role-changed",
            Self::RoomMessageRemoved => "room-message-removed",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened.
    pub action: Action,
    /// Who acted (`None`: anonymous, or an operator on the command line).
    pub actor_id: Option<Uuid>,
    /// The account concerned.
    pub subject_id: Option<Uuid>,
    /// The client's address.
    pub client: Option<String>,
    /// Whatever else identifies the event (a session id, a queue, a job id).
    pub detail: serde_json::Value,
}

impl Event {
    /// An event with no actor, subject, client or detail yet.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            actor_id: None,
            subject_id: None,
            client: None,
            detail: serde_json::json!({}),
        }
    }

    /// Who acted.
    pub fn by(mut self, actor_id: Uuid) -> Self {
        self.actor_id = Some(actor_id);
        self
    }

    /// The account concerned.
    pub fn about(mut self, subject_id: Uuid) -> Self {
        self.subject_id = Some(subject_id);
        self
    }

    /// The client's address.
    pub fn from_client(mut self, client: impl Into<String>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// What else identifies it.
    pub fn with(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A recorded event.
#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    /// Event id (UUIDv7, in time order).
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// What (the stored name).
    pub action: String,
    /// Who acted.
    pub actor_id: Option<Uuid>,
    /// The account concerned.
    pub subject_id: Option<Uuid>,
    /// The client's address.
    pub client: Option<String>,
    /// The rest.
    pub detail: serde_json::Value,
}

/// Records `event` on `conn` (in the transaction of the change it describes, where there is one).
pub async fn record(conn: impl PgExecutor<'_>, event: &Event) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_events (id, action, actor_id, subject_id, client, detail)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(event.action.as_str())
    .bind(event.actor_id)
    .bind(event.subject_id)
    .bind(&event.client)
    .bind(&event.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// Events newest first, older than `before` when given, of one action and about one account
/// when given.
pub async fn list(
    pool: &PgPool,
    action: Option<Action>,
    subject_id: Option<Uuid>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(
        "select id, at, action, actor_id, subject_id, client, detail
           from audit_events
          where ($1::text is null or action = $1)
            and ($2::uuid is null or subject_id = $2)
            and ($3::uuid is null or id < $3)
          order by id desc
          limit $4",
    )
    .bind(action.map(Action::as_str))
    .bind(subject_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}
