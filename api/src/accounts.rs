//! Account flows shared by the JSON operations and the minimal pages: verify an address, reset
//! a password, change it, unsubscribe from notifications, and the attempt limits (registration
//! and login per client, login and verification resends per account, reset requests).

use sqlx::PgPool;
use uuid::Uuid;
use veza_jobs::{
    accounts::{
        links::LinkKey,
        sessions::{self, RevokeReason},
        tokens::{self, TokenCheck, TokenPurpose},
    },
    audit,
    email::{self, EmailJob},
};

use crate::{error::ApiError, passwords::Passwords, state::AppState};
use veza_jobs::users;

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
    mark_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(%user_id, "email address verified");
    Ok(user_id)
}

/// Marks the account's address verified. The first time, the welcome email is enqueued on the
/// same transaction: an unverified address gets no mail but its verification link, so a
/// registration with someone else's address cannot be used to mail them.
async fn mark_verified(conn: &mut sqlx::PgConnection, user_id: Uuid) -> Result<(), ApiError> {
    let newly_verified = users::mark_verified(conn, user_id).await?;
    if let Some(to) = newly_verified {
        email::enqueue(conn, user_id, &EmailJob::Welcome { user_id, to }).await?;
    }
    Ok(())
}

/// Uses up a reset token and sets the new password. Every session of the account ends, and
/// every other outstanding reset link dies. The address counts as
/// verified: the link reached it.
pub async fn reset_password(
    pool: &PgPool,
    passwords: &Passwords,
    token: &str,
    new_password: String,
) -> Result<Uuid, ApiError> {
    if !(8..=1024).contains(&new_password.chars().count()) {
        return Err(ApiError::bad_request(
            "invalid-password",
            "the new password must be 8 to 1024 characters",
        ));
    }
    // A token that cannot be used is refused before anything is hashed: an argon2 hash per
    // made-up token would turn this route into an amplifier.
    if let check @ (TokenCheck::Unknown | TokenCheck::Used | TokenCheck::Expired) =
        tokens::peek(pool, token, TokenPurpose::ResetPassword).await?
    {
        return Err(token_problem(check));
    }
    // Hashed before the transaction, so the token's row is not locked during argon2; the
    // transaction checks the token again (another request may have used it meanwhile).
    let password_hash = passwords.hash(new_password).await?;
    let mut tx = pool.begin().await?;
    let user_id = match tokens::consume(&mut tx, token, TokenPurpose::ResetPassword).await? {
        TokenCheck::Accepted(user_id) => user_id,
        other => return Err(token_problem(other)),
    };
    set_password(&mut tx, user_id, &password_hash).await?;
    mark_verified(&mut tx, user_id).await?;
    audit::record(
        &mut *tx,
        &audit::Event::new(audit::Action::PasswordReset).about(user_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, "password reset: every session revoked");
    Ok(user_id)
}

/// Stores a new password hash, revokes every session and every outstanding reset link.
pub async fn set_password(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> Result<(), ApiError> {
    users::set_password_hash(conn, user_id, password_hash).await?;
    sessions::revoke_all(conn, user_id, RevokeReason::PasswordChanged).await?;
    tokens::revoke_all(conn, user_id, TokenPurpose::ResetPassword).await?;
    Ok(())
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
    users::set_notifications(pool, user_id, false).await?;
    tracing::info!(%user_id, "unsubscribed from notification emails");
    Ok(user_id)
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted; go ahead.
    Allowed,
    /// Over the limit: the next attempt is accepted in this many seconds.
    Refused {
        /// Seconds until the oldest counted attempt leaves the window.
        retry_after_seconds: u64,
    },
}

impl Admission {
    /// `Ok` when allowed, else 429 with `code`, `detail` and `Retry-After`.
    pub fn or_too_many(self, code: &str, detail: &str) -> Result<(), ApiError> {
        match self {
            Self::Allowed => Ok(()),
            Self::Refused { retry_after_seconds } => {
                Err(ApiError::too_many(code, detail, retry_after_seconds))
            }
        }
    }
}

/// Counts a registration attempt of `client`; refused (429) when the client made
/// `VEZA_REGISTER_LIMIT` attempts within the window already. Every attempt counts, successful or
/// not, so "this address is taken" answers cannot be used to sweep addresses.
pub async fn count_registration_attempt(state: &AppState, client: &str) -> Result<Admission, ApiError> {
    let (limit, window) = state.register_limit;
    let admission = count_attempt(&state.pool, "register", client, limit, window).await?;
    if admission != Admission::Allowed {
        tracing::warn!(client, "registration rate limit reached");
    }
    Ok(admission)
}

/// Counts a login attempt, checked before any password is hashed: per client address (every
/// attempt) and per account address (attempts since the last successful login, see
/// [`forget_login_failures`]). The account limit keys on the address as typed after
/// normalisation, so unknown addresses are limited alike and the answer reveals nothing.
pub async fn count_login_attempt(state: &AppState, client: &str, email: &str) -> Result<(), ApiError> {
    let limits = &state.limits;
    let window = std::time::Duration::from_secs(limits.login_window_seconds);
    count_attempt(
        &state.pool,
        "login-client",
        client,
        limits.login_client_limit,
        window,
    )
    .await?
    .or_too_many(
        "login-rate-limited",
        "too many sign-in attempts from this address; try again later",
    )?;
    let account = count_attempt(
        &state.pool,
        "login-account",
        email,
        limits.login_account_limit,
        window,
    )
    .await?;
    if account != Admission::Allowed {
        tracing::warn!("login attempts for one account over the limit: refused before hashing");
    }
    account.or_too_many(
        "login-rate-limited",
        "too many sign-in attempts for this account; try again later",
    )
}

/// A successful login clears the account's counted attempts: the limit is on guessing.
pub async fn forget_login_failures(pool: &PgPool, email: &str) -> Result<(), ApiError> {
    sqlx::query("delete from request_attempts where action = 'login-account' and subject = $1")
        .bind(email)
        .execute(pool)
        .await?;
    Ok(())
}

/// Counts a request to send the verification email again; 429 past
/// `VEZA_VERIFICATION_RESEND_LIMIT` per window.
pub async fn count_verification_resend(state: &AppState, user_id: Uuid) -> Result<(), ApiError> {
    let limits = &state.limits;
    let window = std::time::Duration::from_secs(limits.verification_resend_window_seconds);
    count_attempt(
        &state.pool,
        "verification-resend",
        &user_id.to_string(),
        limits.verification_resend_limit,
        window,
    )
    .await?
    .or_too_many(
        "verification-resend-limited",
        "a verification email was sent recently; check your mailbox or try again later",
    )
}

/// Counts a password reset request for `user_id`; false when the account had
/// `VEZA_RESET_REQUEST_LIMIT` requests within the window already. The caller then answers as
/// usual but sends nothing, so nobody can flood an address with reset emails.
pub async fn count_reset_request(state: &AppState, user_id: Uuid) -> Result<bool, ApiError> {
    let (limit, window) = state.reset_request_limit;
    let allowed = count_attempt(&state.pool, "password-reset", &user_id.to_string(), limit, window).await?
        == Admission::Allowed;
    if !allowed {
        tracing::warn!(%user_id, "password reset request limit reached: no email sent");
    }
    Ok(allowed)
}

/// Records an attempt of `action` by `subject` unless `limit` attempts were made within
/// `window` already.
async fn count_attempt(
    pool: &PgPool,
    action: &str,
    subject: &str,
    limit: u32,
    window: std::time::Duration,
) -> Result<Admission, ApiError> {
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
    // How many attempts count now, and in how many seconds the oldest leaves the window.
    let (recent, frees_in): (i64, Option<f64>) = sqlx::query_as(
        "select count(*),
                extract(epoch from min(attempted_at) + make_interval(secs => $3) - now())::float8
           from request_attempts where action = $1 and subject = $2",
    )
    .bind(action)
    .bind(subject)
    .bind(window.as_secs_f64())
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
    Ok(if allowed {
        Admission::Allowed
    } else {
        Admission::Refused {
            // Whole seconds, rounded up, at least one.
            retry_after_seconds: frees_in.map_or(1, |s| s.ceil().max(1.0) as u64),
        }
    })
}

/// Trims and lower-cases an address and checks its shape (one `@`, a dotted domain, no spaces).
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(ApiError::bad_request(
            "invalid-email",
            "the email address is not valid",
        ))
    }
}
