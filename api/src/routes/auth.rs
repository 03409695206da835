//! `POST /v1/auth/register`, `POST /v1/auth/login`, `POST /v1/auth/refresh`,
//! `POST /v1/auth/logout`, `GET /v1/me`, `POST /v1/me/password`.

use chrono::{DateTime, Utc};
use poem::{http::HeaderMap, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;
use veza_jobs::{
    accounts::sessions::{self, ClientInfo, Refresh, RevokeReason},
    audit::{self, Action, Event},
    email::{self, EmailJob},
};

use super::{ApiTags, account_data};
use crate::{accounts, auth::BearerAuth, error::ApiError, middleware::client::Client, state::AppState};
use veza_jobs::{quota, users};

/// Account operations.
pub struct AuthApi;

/// A new account.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    /// Email address; compared case-insensitively.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// Password, 8 to 1024 characters.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub password: String,
}

/// Credentials.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// Email address.
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// Password.
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

/// An account.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// Email address (lower case).
    pub email: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Whether the address was verified (a verification or reset link reached it).
    pub email_verified: bool,
    /// Whether notification emails are on (security emails always are).
    pub notifications: bool,
    /// What the account stores and may store (on `GET /v1/me`).
    pub usage: Option<StorageUsage>,
}

/// What an account stores against its quota: the originals of its items (outputs are Veza's).
#[derive(Debug, Object)]
pub struct StorageUsage {
    /// Bytes of originals stored.
    pub bytes_used: u64,
    /// The most it may store; an upload past it is 413 `quota-exceeded`.
    pub bytes_limit: u64,
    /// Items stored.
    pub items_used: u64,
    /// The most items it may hold.
    pub items_limit: u64,
}

/// A created account and its verification email job. The welcome email follows once the
/// address is verified: until then the address gets nothing but the verification link.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Registered {
    /// The account.
    pub user: User,
    /// The job that sends the address verification link.
    pub verification_email_job_id: Uuid,
}

/// A password change.
#[derive(Debug, Object)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[oai(validator(max_length = 1024))]
    pub current_password: String,
    /// The new password, 8 to 1024 characters.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

/// The tokens of a session: a short-lived access token and the refresh token that gets the
/// next one.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessToken {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchanged once at `POST /v1/auth/refresh` for a new access token and the next refresh
    /// token. Keep it secret: presenting a used one again revokes the whole session.
    pub refresh_token: String,
    /// Seconds until the session lapses unless refreshed.
    pub refresh_expires_in: u64,
    /// The session (listed at `GET /v1/me/sessions`).
    pub session_id: Uuid,
}

/// A refresh token to exchange.
#[derive(Debug, Object)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
}

/// Answer of logout.
#[derive(Debug, ApiResponse)]
pub enum LoggedOut {
    /// The session is revoked: its access and refresh tokens no longer work.
    #[oai(status = 204)]
    Done,
}

/// Answer of register.
#[derive(Debug, ApiResponse)]
pub enum RegisterResponse {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Registered>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account. Enqueues the verification email in the same transaction (the welcome
    /// email follows verification). A taken address is 409; attempts per client address are
    /// limited (429 with `Retry-After`).
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        body: Json<RegisterRequest>,
    ) -> Result<RegisterResponse, ApiError> {
        let email = accounts::normalize_email(&body.email)?;
        accounts::count_registration_attempt(&state, &client.limit_key())
            .await?
            .or_too_many(
                "register-rate-limited",
                "too many registration attempts from this address; try again later",
            )?;
        let password_hash = state.passwords.hash(body.0.password).await?;
        let id = Uuid::now_v7();
        let mut tx = state.pool.begin().await?;
        let created_at = users::insert(&mut tx, id, &email, &password_hash).await?;
        let Some(created_at) = created_at else {
            return Err(ApiError::conflict(
                "email-taken",
                "an account with this email already exists",
            ));
        };
        let verify = EmailJob::VerifyEmail {
            user_id: id,
            to: email.clone(),
        };
        let verification_email_job_id = email::enqueue(&mut tx, id, &verify)
            .await
            .map_err(ApiError::from)?;
        tx.commit().await?;
        tracing::info!(user_id = %id, "account created");
        Ok(RegisterResponse::Created(Json(Registered {
            user: User {
                id,
                email,
                created_at,
                email_verified: false,
                notifications: true,
                usage: None,
            },
            verification_email_job_id,
        })))
    }

    /// Exchange email and password for a new session: an access token and a refresh token. Attempts are limited per client
    /// address and per account (429 with `Retry-After`), checked before the password is.
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        headers: &HeaderMap,
        body: Json<LoginRequest>,
    ) -> Result<Json<AccessToken>, ApiError> {
        let email = body.email.trim().to_lowercase();
        accounts::count_login_attempt(&state, &client.limit_key(), &email).await?;
        let row = users::credentials(&state.pool, &email).await?;
        // An unknown address still costs one hash check, so timing does not reveal accounts.
        let (id, hash) = match row {
            Some(account) => (Some(account.id), Some(account.password_hash)),
            None => (None, None),
        };
        let matches = state.passwords.verify(body.0.password, hash).await?;
        match id {
            Some(id) if matches => {
                accounts::forget_login_failures(&state.pool, &email).await?;
                let mut tx = state.pool.begin().await?;
                let opened =
                    sessions::open(&mut tx, id, state.refresh_ttl, &client_info(&client, headers)).await?;
                let event = Event::new(Action::Login)
                    .by(id)
                    .about(id)
                    .from_client(client.address())
                    .with(serde_json::json!({ "session_id": opened.session_id }));
                audit::record(&mut *tx, &event).await?;
                tx.commit().await?;
                session_tokens(&state, &opened)
            }
            _ => {
                let mut event = Event::new(Action::LoginFailed)
                    .from_client(client.address())
                    .with(serde_json::json!({ "address": email }));
                event.subject_id = id;
                audit::record(&state.pool, &event).await?;
                Err(ApiError::unauthorized(
                    "invalid-credentials",
                    "email or password is wrong",
                ))
            }
        }
    }

    /// The account of the token.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<User>, ApiError> {
        let profile = users::profile(&state.pool, auth.0.id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("token-invalid", "the account no longer exists"))?;
        let usage = quota::usage(&state.pool, auth.0.id, state.quota)
            .await?
            .map(|usage| StorageUsage {
                bytes_used: usage.bytes_used,
                bytes_limit: usage.bytes_limit,
                items_used: usage.items_used,
                items_limit: usage.items_limit,
            });
        Ok(Json(User {
            id: auth.0.id,
            email: profile.email,
            created_at: profile.created_at,
            email_verified: profile.verified,
            notifications: profile.notifications,
            usage,
        }))
    }

    /// Delete the account for good, with its password. Its sessions end at once, its media
    /// leave every route, a last email confirms it, and a purge job removes every file and row
    /// (it finishes after a crash). The address can register again once the purge is done.
    #[oai(path = "/me", method = "delete", operation_id = "deleteAccount")]
    async fn delete_account(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        auth: BearerAuth,
        body: Json<account_data::DeleteAccountRequest>,
    ) -> Result<account_data::AccountDeleted, ApiError> {
        account_data::delete_account(&state, &client, &auth, body.0).await
    }

    /// Change the password. Every session of the account ends, this one included, and every
    /// outstanding reset link dies; the answer is a new session for this client.
    #[oai(path = "/me/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        headers: &HeaderMap,
        auth: BearerAuth,
        body: Json<ChangePasswordRequest>,
    ) -> Result<Json<AccessToken>, ApiError> {
        let hash = users::password_hash(&state.pool, auth.0.id).await?;
        let body = body.0;
        if !state.passwords.verify(body.current_password, Some(hash)).await? {
            return Err(ApiError::bad_request(
                "invalid-credentials",
                "the current password is wrong",
            ));
        }
        let new_hash = state.passwords.hash(body.new_password).await?;
        let mut tx = state.pool.begin().await?;
        accounts::set_password(&mut tx, auth.0.id, &new_hash).await?;
        let opened = sessions::open(
            &mut tx,
            auth.0.id,
            state.refresh_ttl,
            &client_info(&client, headers),
        )
        .await?;
        let event = Event::new(Action::PasswordChanged)
            .by(auth.0.id)
            .about(auth.0.id)
            .from_client(client.address());
        audit::record(&mut *tx, &event).await?;
        tx.commit().await?;
        tracing::info!(user_id = %auth.0.id, "password changed: every session revoked");
        session_tokens(&state, &opened)
    }

    /// Exchange a refresh token for a new access token and the next refresh token (each refresh
    /// token works once). A used one presented again revokes its whole session: 401
    /// `refresh-token-reused`.
    #[oai(path = "/auth/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<AccessToken>, ApiError> {
        match sessions::refresh(&state.pool, &body.refresh_token, state.refresh_ttl).await? {
            Refresh::Rotated(opened) => session_tokens(&state, &opened),
            Refresh::Unknown => Err(ApiError::unauthorized(
                "refresh-token-invalid",
                "the refresh token is not valid; log in again",
            )),
            Refresh::Ended => Err(ApiError::unauthorized(
                "session-ended",
                "the session of this refresh token was signed out or has lapsed; log in again",
            )),
            Refresh::Reused { session_id, user_id } => {
                tracing::warn!(%user_id, %session_id, "a used refresh token was presented again: session revoked");
                let event = Event::new(Action::RefreshTokenReused)
                    .about(user_id)
                    .from_client(client.address())
                    .with(serde_json::json!({ "session_id": session_id }));
                audit::record(&state.pool, &event).await?;
                Err(ApiError::unauthorized(
                    "refresh-token-reused",
                    "this refresh token was used before, so it may have been copied: its session is now \
                     signed out; log in again",
                ))
            }
        }
    }

    /// End the session of the token: its access and refresh tokens stop working.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        client: Data<&Client>,
        auth: BearerAuth,
    ) -> Result<LoggedOut, ApiError> {
        sessions::revoke(&state.pool, auth.0.id, auth.0.session_id, RevokeReason::Logout).await?;
        let event = Event::new(Action::Logout)
            .by(auth.0.id)
            .about(auth.0.id)
            .from_client(client.address())
            .with(serde_json::json!({ "session_id": auth.0.session_id }));
        audit::record(&state.pool, &event).await?;
        tracing::info!(user_id = %auth.0.id, session_id = %auth.0.session_id, "logged out");
        Ok(LoggedOut::Done)
    }
}

/// The tokens of a session just opened or refreshed.
fn session_tokens(state: &AppState, opened: &sessions::Opened) -> Result<Json<AccessToken>, ApiError> {
    let issued = state.keys.issue(opened.user_id, opened.session_id)?;
    Ok(Json(AccessToken {
        access_token: issued.token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
        refresh_token: opened.refresh_token.clone(),
        refresh_expires_in: state.refresh_ttl.as_secs(),
        session_id: opened.session_id,
    }))
}

/// Who is opening a session, for its owner's list.
fn client_info(client: &Client, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        user_agent: headers
            .get(poem::http::header::USER_AGENT)
            .and_then(|ua| ua.to_str().ok())
            .map(str::to_owned),
        client: client.address(),
    }
}
