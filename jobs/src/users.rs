//! The users store: every query of the `users` table, in one place. The API's routes and account
//! flows and the email kind call these; none writes SQL against `users` itself.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What login checks.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    /// User id.
    pub id: Uuid,
    /// argon2 hash of the password.
    pub password_hash: String,
}

/// What a request's token is checked against: its account and its session.
#[derive(Debug, sqlx::FromRow)]
pub struct TokenSubject {
    /// The address (lower case).
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    /// Whether the address is verified.
    pub verified: bool,
    /// Whether the token's session is still open (not revoked).
    pub session_open: bool,
}

/// The account as `GET /v1/me` shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct Profile {
    /// The address.
    pub email: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Whether the address is verified.
    pub verified: bool,
    /// Whether notification emails are on.
    pub notifications: bool,
}

/// Creates an account; `None` when the address is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    password_hash: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "insert into users (id, email, password_hash) values ($1, $2, $3)
         on conflict (email) do nothing returning created_at",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .fetch_optional(conn)
    .await
}

/// The id of the account with `email`, if any.
pub async fn id_by_email(pool: &PgPool, email: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select id from users where email = $1 and deleted_at is null")
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// What login needs of the account with `email`, if any.
pub async fn credentials(pool: &PgPool, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("select id, password_hash from users where email = $1 and deleted_at is null")
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// The password hash of account `id`.
pub async fn password_hash(pool: &PgPool, id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// What a token of account `id` for session `session_id` is checked against; `None` when the
/// account is gone or the session is not the account's.
pub async fn token_subject(
    pool: &PgPool,
    id: Uuid,
    session_id: Uuid,
) -> Result<Option<TokenSubject>, sqlx::Error> {
    sqlx::query_as(
        "select u.email, u.role, u.email_verified_at is not null as verified,
                s.revoked_at is null as session_open
           from users u join sessions s on s.user_id = u.id
          where u.id = $1 and s.id = $2 and u.deleted_at is null",
    )
    .bind(id)
    .bind(session_id)
    .fetch_optional(pool)
    .await
}

/// Account `id` as its owner sees it; `None` when it is gone.
pub async fn profile(pool: &PgPool, id: Uuid) -> Result<Option<Profile>, sqlx::Error> {
    sqlx::query_as(
        "select email, created_at, email_verified_at is not null as verified,
                not notifications_opt_out as notifications
           from users where id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Sets the role (`user` or `admin`) of the account with `email`; its id, `None` when there is
/// no such account.
pub async fn set_role(conn: &mut PgConnection, email: &str, role: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("update users set role = $2 where email = $1 returning id")
        .bind(email)
        .bind(role)
        .fetch_optional(conn)
        .await
}

/// Marks account `id`'s address verified; its address when this verified it (`None` when it
/// was verified already).
pub async fn mark_verified(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "update users set email_verified_at = now()
          where id = $1 and email_verified_at is null returning email",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Stores a new password hash (the caller revokes the account's sessions in the same
/// transaction).
pub async fn set_password_hash(
    conn: &mut PgConnection,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set password_hash = $2 where id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns account `id`'s notification emails on or off.
pub async fn set_notifications(pool: &PgPool, id: Uuid, on: bool) -> Result<(), sqlx::Error> {
    sqlx::query("update users set notifications_opt_out = $2 where id = $1")
        .bind(id)
        .bind(!on)
        .execute(pool)
        .await?;
    Ok(())
}

/// What decides whether account `id` gets notification emails: `(opted out, address verified)`;
/// `None` when the account is gone.
pub async fn notification_state(pool: &PgPool, id: Uuid) -> Result<Option<(bool, bool)>, sqlx::Error> {
    sqlx::query_as(
        "select notifications_opt_out, email_verified_at is not null from users
          where id = $1 and deleted_at is null",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}
