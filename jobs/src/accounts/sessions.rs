//! Sessions: one per login, kept alive by rotating refresh tokens. A refresh token is made like
//! an account token ([`super::tokens::generate`]: 256 random bits), handed out once and stored
//! as its SHA-256 ([`super::tokens::hash`]); exchanging it marks it used and hands out the next. A used token presented again was copied (the legitimate
//! client already holds its successor), so the whole session — the token family — is revoked,
//! and with it every access token that names the session.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::tokens::{generate, hash};

/// Why a session ended (`sessions.revoked_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// Its owner logged out with it.
    Logout,
    /// Its owner revoked it from another session.
    Revoked,
    /// A used refresh token of it was presented again.
    RefreshReuse,
    /// The account's password changed or was reset.
    PasswordChanged,
}

impl RevokeReason {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::RefreshReuse => "refresh-reuse",
            Self::PasswordChanged => "password-changed",
        }
    }
}

/// Who opened a session, as its owner will see it in the list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's `User-Agent`, cut to 200 characters.
    pub user_agent: Option<String>,
    /// The client's address.
    pub client: String,
}

/// A session just opened or refreshed.
#[derive(Debug)]
pub struct Opened {
    /// The session.
    pub session_id: Uuid,
    /// Its owner.
    pub user_id: Uuid,
    /// The refresh token to hand to the client (shown once, stored hashed).
    pub refresh_token: String,
}

/// What exchanging a refresh token gave.
#[derive(Debug)]
pub enum Refresh {
    /// Exchanged: the old token is used up, this is the next.
    Rotated(Opened),
    /// No such token.
    Unknown,
    /// The token was used before: its session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
        /// Its owner.
        user_id: Uuid,
    },
    /// The session was revoked or has lapsed.
    Ended,
}

/// An open session as its owner sees it.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    /// Session id.
    pub id: Uuid,
    /// When it was opened (login).
    pub created_at: DateTime<Utc>,
    /// Its last login or refresh.
    pub refreshed_at: DateTime<Utc>,
    /// When it lapses unless refreshed.
    pub expires_at: DateTime<Utc>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The client's address.
    pub client: Option<String>,
}

async fn insert_refresh_token(conn: &mut PgConnection, session_id: Uuid) -> Result<String, sqlx::Error> {
    let token = generate();
    sqlx::query("insert into refresh_tokens (token_hash, session_id) values ($1, $2)")
        .bind(hash(&token))
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(token)
}

/// Opens a session for `user_id` (a login), lapsing after `ttl` unless refreshed.
pub async fn open(
    conn: &mut PgConnection,
    user_id: Uuid,
    ttl: Duration,
    info: &ClientInfo,
) -> Result<Opened, sqlx::Error> {
    let session_id = Uuid::now_v7();
    let user_agent = info
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(200).collect::<String>());
    sqlx::query(
        "insert into sessions (id, user_id, expires_at, user_agent, client)
         values ($1, $2, now() + make_interval(secs => $3), $4, $5)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(ttl.as_secs_f64())
    .bind(user_agent)
    .bind(&info.client)
    .execute(&mut *conn)
    .await?;
    let refresh_token = insert_refresh_token(conn, session_id).await?;
    Ok(Opened {
        session_id,
        user_id,
        refresh_token,
    })
}

/// Exchanges `token` for the next refresh token of its session, extending the session by `ttl`.
pub async fn refresh(pool: &PgPool, token: &str, ttl: Duration) -> Result<Refresh, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Both rows locked: two exchanges of one token take turns, and the second sees it used
    // (and revokes the session, as for any reuse).
    let row: Option<(Uuid, Uuid, bool, bool)> = sqlx::query_as(
        "select s.id, s.user_id, t.used_at is not null,
                s.revoked_at is not null or s.expires_at <= now()
           from refresh_tokens t join sessions s on s.id = t.session_id
          where t.token_hash = $1
          for update",
    )
    .bind(hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((session_id, user_id, used, ended)) = row else {
        return Ok(Refresh::Unknown);
    };
    if used {
        revoke_session(&mut tx, session_id, RevokeReason::RefreshReuse).await?;
        tx.commit().await?;
        return Ok(if ended {
            Refresh::Ended
        } else {
            Refresh::Reused { session_id, user_id }
        });
    }
    if ended {
        return Ok(Refresh::Ended);
    }
    sqlx::query("update refresh_tokens set used_at = now() where token_hash = $1")
        .bind(hash(token))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update sessions set refreshed_at = now(), expires_at = now() + make_interval(secs => $2)
          where id = $1",
    )
    .bind(session_id)
    .bind(ttl.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    let refresh_token = insert_refresh_token(&mut tx, session_id).await?;
    tx.commit().await?;
    Ok(Refresh::Rotated(Opened {
        session_id,
        user_id,
        refresh_token,
    }))
}

async fn revoke_session(
    conn: &mut PgConnection,
    session_id: Uuid,
    reason: RevokeReason,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update sessions set revoked_at = now(), revoked_reason = $2
          where id = $1 and revoked_at is null",
    )
    .bind(session_id)
    .bind(reason.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes session `session_id` of `user_id`. False when the user has no such session (revoked
/// already counts as having it: revoking is idempotent).
pub async fn revoke(
    pool: &PgPool,
    user_id: Uuid,
    session_id: Uuid,
    reason: RevokeReason,
) -> Result<bool, sqlx::Error> {
    let owned: bool = sqlx::query_scalar(
        "with revoked as (
             update sessions set revoked_at = now(), revoked_reason = $3
              where id = $1 and user_id = $2 and revoked_at is null
         )
         select exists (select 1 from sessions where id = $1 and user_id = $2)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(reason.as_str())
    .fetch_one(pool)
    .await?;
    Ok(owned)
}

/// Revokes every open session of `user_id`; how many there were.
pub async fn revoke_all(
    conn: &mut PgConnection,
    user_id: Uuid,
    reason: RevokeReason,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "update sessions set revoked_at = now(), revoked_reason = $2
          where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .bind(reason.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The open (neither revoked nor lapsed) sessions of `user_id`, newest first.
pub async fn list_open(pool: &PgPool, user_id: Uuid) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, created_at, refreshed_at, expires_at, user_agent, client
           from sessions
          where user_id = $1 and revoked_at is null and expires_at > now()
          order by created_at desc",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
}
