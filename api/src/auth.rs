//! Access tokens (HS256 JWTs): issuing and checking, signing keys by `kid`; the bearer security
//! scheme and who is admin.
//!
//! Every token names its signing key in the header (`kid`, a fingerprint of the secret) and its
//! session (`sid`). Rotation: the new secret becomes `VEZA_JWT_SECRET` and the old one moves to
//! `VEZA_JWT_PREVIOUS_SECRETS`, where it still verifies the tokens it signed until it is removed
//! (after one access-token lifetime, nothing valid carries it any more).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

const ISSUER: &str = "veza";

/// Signing and verifying keys for access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    signing_kid: String,
    encoding: EncodingKey,
    /// The current key and the previous ones, by `kid`.
    verifying: HashMap<String, DecodingKey>,
    ttl_seconds: u64,
}

/// What an access token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// The session the token belongs to; revoking it ends the token.
    sid: Uuid,
    iss: String,
    iat: u64,
    exp: u64,
}

/// An issued access token.
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubject {
    /// The account.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// When the token expires (seconds since the Unix epoch).
    pub expires_at: u64,
}

/// The `kid` of a secret: the first 8 bytes of its SHA-256 under a label, in hex. It names the
/// key without revealing it, and the same secret gets the same id on every API instance.
pub fn key_id(secret: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(b"veza-jwt-kid\0");
    digest.update(secret);
    hex::encode(&digest.finalize()[..8])
}

impl TokenKeys {
    /// Keys from the configured secret (signs and verifies) and previous secrets (verify only).
    pub fn new(secret: &[u8], previous: &[Vec<u8>], ttl_seconds: u64) -> Self {
        let mut verifying: HashMap<String, DecodingKey> = previous
            .iter()
            .map(|old| (key_id(old), DecodingKey::from_secret(old)))
            .collect();
        let signing_kid = key_id(secret);
        verifying.insert(signing_kid.clone(), DecodingKey::from_secret(secret));
        Self {
            signing_kid,
            encoding: EncodingKey::from_secret(secret),
            verifying,
            ttl_seconds,
        }
    }

    /// A random secret, for development mode only (`VEZA_DEV_MODE`): tokens and playback URLs
    /// die with the process and differ between API instances.
    pub fn development_secret() -> Vec<u8> {
        tracing::warn!(
            "development mode and no VEZA_JWT_SECRET: using a random key. Tokens will not survive \
             a restart nor work across API instances."
        );
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        key.to_vec()
    }

    /// Issues a token for `user_id` in session `session_id`, signed with the current key.
    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> Result<IssuedToken, ApiError> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.ttl_seconds,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// Checks the key (by `kid`: the current one or a previous one), the algorithm (HS256 only:
    /// `none` and any other are refused), the signature, issuer and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<TokenSubject, ApiError> {
        let invalid = || ApiError::unauthorized("token-invalid", "the access token is not valid");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or_else(invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| TokenSubject {
                user_id: data.claims.sub,
                session_id: data.claims.sid,
                expires_at: data.claims.exp,
            })
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => ApiError::unauthorized(
                    "token-expired",
                    "the access token has expired; refresh it or log in again",
                ),
                _ => invalid(),
            })
    }
}

/// Seconds since the Unix epoch (0 on a clock before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sets the role (`user` or `admin`) of the account with `email`, in the audit log too; false
/// when there is none.
pub async fn set_role(pool: &sqlx::PgPool, email: &str, role: &str) -> Result<bool, sqlx::Error> {
    use veza_jobs::audit::{self, Action, Event};
    let email = email.trim().to_lowercase();
    let mut tx = pool.begin().await?;
    let Some(id) = veza_jobs::users::set_role(&mut tx, &email, role).await? else {
        return Ok(false);
    };
    let action = if role == "admin" {
        Action::AdminGranted
    } else {
        Action::AdminRevoked
    };
    audit::record(
        &mut *tx,
        &Event::new(action)
            .about(id)
            .with(serde_json::json!({ "via": "command line" })),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
    /// The session of the token.
    pub session_id: Uuid,
    /// Whether the account has the admin role: in the database, or by `VEZA_ADMIN_EMAILS` for
    /// a verified address (whoever registers a listed address first must not become admin).
    pub is_admin: bool,
}

impl AuthUser {
    /// Succeeds for admins only.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "admin-required",
                "this operation needs the admin role",
            ))
        }
    }
}

/// Bearer JWT from `POST /v1/auth/login` or `POST /v1/auth/refresh`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AuthUser);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AuthUser> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from(ApiError::internal("AppState missing from request data")))?;
    Ok(authenticate(state, &bearer.token).await?.0)
}

/// Checks an access token: its signature and expiry, then that its account and session still
/// exist and the session was not revoked. Also answers when the token expires.
pub async fn authenticate(state: &AppState, token: &str) -> Result<(AuthUser, TokenSubject), ApiError> {
    let subject = state.keys.verify(token)?;
    // A token of a deleted account is no longer valid, nor one whose session was revoked
    // (logout, revocation, refresh-token reuse, a password change or reset).
    let account = veza_jobs::users::token_subject(&state.pool, subject.user_id, subject.session_id)
        .await
        .map_err(ApiError::from)?;
    let Some(veza_jobs::users::TokenSubject {
        email,
        role,
        verified,
        session_open,
    }) = account
    else {
        return Err(ApiError::unauthorized(
            "token-invalid",
            "the account or session of this token no longer exists",
        ));
    };
    if !session_open {
        return Err(ApiError::unauthorized(
            "token-revoked",
            "this session was signed out (logout, revocation or a password change); log in again",
        ));
    }
    let is_admin = role == "admin" || (verified && state.admin_emails.contains(&email));
    let user = AuthUser {
        id: subject.user_id,
        session_id: subject.session_id,
        is_admin,
    };
    Ok((user, subject))
}
