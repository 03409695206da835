//! Account tokens: email verification and password reset. A token is 256 random bits, sent only
//! in the email; the database keeps its SHA-256 (a fast hash is enough for a value nobody can
//! guess), its purpose, its expiry and when it was used. Each token works once.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Proves the account holder reads the address.
    VerifyEmail,
    /// Lets the account holder choose a new password.
    ResetPassword,
}

impl TokenPurpose {
    /// The `account_tokens.purpose` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::ResetPassword => "reset-password",
        }
    }
}

/// Why a token was not accepted, or whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid: it is now used up. The account it belongs to.
    Accepted(Uuid),
    /// No such token (or one for another purpose).
    Unknown,
    /// Used before (or revoked by a later reset or password change).
    Used,
    /// Past its expiry.
    Expired,
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new secret token: 256 random bits, URL-safe base64 (also the refresh tokens of sessions).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Creates a token for `user_id`, stores its hash and returns the token itself.
pub async fn issue(
    pool: &PgPool,
    user_id: Uuid,
    purpose: TokenPurpose,
    valid_for: Duration,
) -> Result<String, sqlx::Error> {
    let token = generate();
    sqlx::query(
        "insert into account_tokens (token_hash, user_id, purpose, expires_at)
         values ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(hash(&token))
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(valid_for.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(token)
}

/// Uses up `token` on `conn` (call it in the transaction that acts on it, so a failed action
/// leaves the token unused). At most one caller gets `Accepted` for a token.
pub async fn consume(
    conn: &mut PgConnection,
    token: &str,
    purpose: TokenPurpose,
) -> Result<TokenCheck, sqlx::Error> {
    // The row lock makes two concurrent uses of one token take turns: the second sees it used.
    let row: Option<(Uuid, bool, bool)> = sqlx::query_as(
        "select user_id, used_at is not null, expires_at <= now()
           from account_tokens where token_hash = $1 and purpose = $2 for update",
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((user_id, used, expired)) = row else {
        return Ok(TokenCheck::Unknown);
    };
    if used {
        return Ok(TokenCheck::Used);
    }
    if expired {
        return Ok(TokenCheck::Expired);
    }
    sqlx::query("update account_tokens set used_at = now() where token_hash = $1")
        .bind(hash(token))
        .execute(&mut *conn)
        .await?;
    Ok(TokenCheck::Accepted(user_id))
}

/// What [`consume`] would say of `token` now, without using it up (nor locking it): lets a
/// caller refuse a bad token before doing expensive work such as hashing a new password.
pub async fn peek(
    pool: &sqlx::PgPool,
    token: &str,
    purpose: TokenPurpose,
) -> Result<TokenCheck, sqlx::Error> {
    let row: Option<(Uuid, bool, bool)> = sqlx::query_as(
        "select user_id, used_at is not null, expires_at <= now()
           from account_tokens where token_hash = $1 and purpose = $2",
    )
    .bind(hash(token))
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => TokenCheck::Unknown,
        Some((_, true, _)) => TokenCheck::Used,
        Some((_, _, true)) => TokenCheck::Expired,
        Some((user_id, false, false)) => TokenCheck::Accepted(user_id),
    })
}

/// Marks every outstanding token of `user_id` for `purpose` used (a reset or a password change
/// kills the other reset links).
pub async fn revoke_all(
    conn: &mut PgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update account_tokens set used_at = now()
          where user_id = $1 and purpose = $2 and used_at is null",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_hash_is_the_hex_sha256_of_the_token() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
