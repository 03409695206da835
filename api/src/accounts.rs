//! Account flows shared by the JSON operations and the minimal pages: verify an address, reset
//! a password, change it, unsubscribe from notifications, and the per-client registration limit.

use sqlx::PgPool;
use uuid::Uuid;
use veza_jobs::email::{
    links::LinkKey,
    tokens::{self, TokenCheck, TokenPurpose},
};

use crate::{auth, error::ApiError, startup::AppState};

/// The problem for a token that was not accepted.
fn token_problem(check: TokenCheck) -> ApiError {
    match check {
        TokenCheck::Used => {
            ApiError::bad_request("token-used", "this link was used already; ask for a new one")
        }
        TokenCheck::Expired => {
            ApiError::bad_request("token-expired", "this link has expired; ask for a new one")
        }
        TokenCheck::Unknown | TokenCheck::Accepted(_) => {
            ApiError::bad_request("token-invalid", "this link is not valid")
        }
    }
}

/// Uses up a verification token and marks its account's address verified.
pub async fn verify_email(pool: &PgPool, token: &str) -> Result<Uuid, ApiError> {
    let mut tx = pool.begin().await?;
    let user_id = match tokens::consume(&mut tx, token, TokenPurpose::VerifyEmail).await? {
        TokenCheck::Accepted(user_id) => user_id,
        other => return Err(token_problem(other)),
    };
    sqlx::query("update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%user_id, "email address verified");
    Ok(user_id)
}

/// Uses up a reset token and sets the new password. Every session of the account ends (its
/// token version moves on), and every other outstanding reset link dies. The address counts as
/// verified: the link reached it.
pub async fn reset_password(pool: &PgPool, token: &str, new_password: String) -> Result<Uuid, ApiError> {
    if !(8..=1024).contains(&new_password.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid-password",
            "the new password must be 8 to 1024 characters",
        ));
    }
    // Hashed before the transaction, so the token's row is not locked during argon2.
    let password_hash = auth::hash_password(new_password).await?;
    let mut tx = pool.begin().await?;
    let user_id = match tokens::consume(&mut tx, token, TokenPurpose::ResetPassword).await? {
        TokenCheck::Accepted(user_id) => user_id,
        other => return Err(token_problem(other)),
    };
    set_password(&mut tx, user_id, &password_hash).await?;
    sqlx::query("update users set email_verified_at = coalesce(email_verified_at, now()) where id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%user_id, "password reset: every session revoked");
    Ok(user_id)
}

/// Stores a new password hash, revokes every session (token version + 1) and every outstanding
/// reset link. Returns the new token version.
pub async fn set_password(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> Result<i32, ApiError> {
    let version: i32 = sqlx::query_scalar(
        "update users set password_hash = $2, token_version = token_version + 1
          where id = $1 returning token_version",
    )
    .bind(user_id)
    .bind(password_hash)
    .fetch_one(&mut *conn)
    .await?;
    tokens::revoke_all(conn, user_id, TokenPurpose::ResetPassword).await?;
    Ok(version)
}

/// Honours a one-click unsubscribe token: the account gets no more notification emails
/// (security emails still go out).
pub async fn unsubscribe(pool: &PgPool, token: &str) -> Result<Uuid, ApiError> {
    let key = LinkKey::load(pool).await?;
    let Some(user_id) = key.verify_unsubscribe_token(token) else {
        return Err(ApiError::bad_request(
            "token-invalid",
            "this unsubscribe link is not valid",
        ));
    };
    sqlx::query("update users set notifications_opt_out = true where id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
    tracing::info!(%user_id, "unsubscribed from notification emails");
    Ok(user_id)
}

/// Counts a registration attempt of `client`; false (refuse it: 429) when the client made
/// `VEZA_REGISTER_LIMIT` attempts within the window already. Every attempt counts, successful or
/// not, so "this address is taken" answers cannot be used to sweep addresses.
pub async fn count_registration_attempt(state: &AppState, client: &str) -> Result<bool, ApiError> {
    let (limit, window) = state.register_limit;
    let allowed = count_attempt(&state.pool, "register", client, limit, window).await?;
    if !allowed {
        tracing::warn!(client, "registration rate limit reached");
    }
    Ok(allowed)
}

/// Counts a password reset request for `user_id`; false when the account had
/// `VEZA_RESET_REQUEST_LIMIT` requests within the window already. The caller then answers as
/// usual but sends nothing, so nobody can flood an address with reset emails.
pub async fn count_reset_request(state: &AppState, user_id: Uuid) -> Result<bool, ApiError> {
    let (limit, window) = state.reset_request_limit;
    let allowed = count_attempt(&state.pool, "password-reset", &user_id.to_string(), limit, window).await?;
    if !allowed {
        tracing::warn!(%user_id, "password reset request limit reached: no email sent");
    }
    Ok(allowed)
}

/// Records an attempt of `action` by `subject` unless `limit` attempts were made within
/// `window` already; returns whether it was allowed.
async fn count_attempt(
    pool: &PgPool,
    action: &str,
    subject: &str,
    limit: u32,
    window: std::time::Duration,
) -> Result<bool, ApiError> {
    let mut tx = pool.begin().await?;
    // Serialises one subject's attempts, so parallel requests cannot all pass the count.
    sqlx::query("select pg_advisory_xact_lock(hashtext($1 || ':' || $2))")
        .bind(action)
        .bind(subject)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "delete from request_attempts
          where action = $1 and subject = $2 and attempted_at <= now() - make_interval(secs => $3)",
    )
    .bind(action)
    .bind(subject)
    .bind(window.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    let recent: i64 =
        sqlx::query_scalar("select count(*) from request_attempts where action = $1 and subject = $2")
            .bind(action)
            .bind(subject)
            .fetch_one(&mut *tx)
            .await?;
    let allowed = recent < i64::from(limit);
    if allowed {
        sqlx::query("insert into request_attempts (action, subject) values ($1, $2)")
            .bind(action)
            .bind(subject)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(allowed)
}
