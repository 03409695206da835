//! Access tokens (HS256 JWTs): issuing and checking; the bearer security scheme and who is admin.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

const ISSUER: &str = "veza";

/// Signing and verifying keys for access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_seconds: u64,
}

/// What an access token says.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iss: String,
    iat: u64,
    exp: u64,
    /// The account's token version when the token was issued; a password change or reset bumps
    /// the stored one, and every older token stops working. (Absent in tokens issued before
    /// versions existed: they count as version 0.)
    #[serde(default)]
    ver: i32,
}

/// An issued access token.
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl TokenKeys {
    /// Keys from the configured secret, or a random development key (with a loud warning:
    /// tokens then die with the process and cannot be shared between API instances).
    pub fn new(secret: Option<&str>, ttl_seconds: u64) -> Self {
        let secret: Vec<u8> = match secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "VEZA_JWT_SECRET is not set: using a random development key. Tokens will not \
                     survive a restart nor work across API instances. Set VEZA_JWT_SECRET in production."
                );
                let mut key = [0u8; 32];
                rand::fill(&mut key);
                key.to_vec()
            }
        };
        Self {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            ttl_seconds,
        }
    }

    /// Issues a token for `user_id` at the account's current `token_version`.
    pub fn issue(&self, user_id: Uuid, token_version: i32) -> Result<IssuedToken, ApiError> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.ttl_seconds,
            ver: token_version,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(IssuedToken {
            token,
            expires_in: self.ttl_seconds,
        })
    }

    /// Checks signature, issuer and expiry (no leeway); returns the user id and token version.
    pub fn verify(&self, token: &str) -> Result<(Uuid, i32), ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| (data.claims.sub, data.claims.ver))
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("token-expired", "the access token has expired; log in again")
                }
                _ => ApiError::unauthorized("token-invalid", "the access token is not valid"),
            })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sets the role (`user` or `admin`) of the account with `email`; false when there is none.
pub async fn set_role(pool: &sqlx::PgPool, email: &str, role: &str) -> Result<bool, sqlx::Error> {
    veza_jobs::users::set_role(pool, &email.trim().to_lowercase(), role).await
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
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

/// Bearer JWT from `POST /v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AuthUser);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AuthUser> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from(ApiError::internal("AppState missing from request data")))?;
    let (id, version) = state.keys.verify(&bearer.token)?;
    // A token of a deleted account is no longer valid, nor one issued before the last password
    // change or reset (the account's token version moved past it).
    let account = veza_jobs::users::token_subject(&state.pool, id)
        .await
        .map_err(ApiError::from)?;
    let Some(veza_jobs::users::TokenSubject {
        email,
        role,
        token_version: current_version,
        verified,
    }) = account
    else {
        return Err(
            ApiError::unauthorized("token-invalid", "the account of this token no longer exists").into(),
        );
    };
    if version != current_version {
        return Err(ApiError::unauthorized(
            "token-revoked",
            "this session was signed out by a password change or reset; log in again",
        )
        .into());
    }
    let is_admin = role == "admin" || (verified && state.admin_emails.contains(&email));
    Ok(AuthUser { id, is_admin })
}
