//! Account flows over JSON: verify the address, reset a forgotten password, resend the
//! verification link, and the notification email preference.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;
use veza_jobs::email::{self, EmailJob};

use super::ApiTags;
use crate::{accounts, auth::BearerAuth, error::ApiError, state::AppState};
use veza_jobs::users;

/// Account flows.
pub struct AccountApi;

/// A token from an email link.
#[derive(Debug, Object)]
pub struct TokenRequest {
    /// The `token` parameter of the link.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub token: String,
}

/// A password reset request.
#[derive(Debug, Object)]
pub struct ResetRequest {
    /// The account's email address.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
}

/// A new password chosen through a reset link.
#[derive(Debug, Object)]
pub struct ResetConfirm {
    /// The `token` parameter of the reset link.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub token: String,
    /// The new password, 8 to 1024 characters.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

/// What was done.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Done {
    /// For people.
    pub detail: String,
}

/// An enqueued email.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EmailQueued {
    /// The email job.
    pub job_id: Uuid,
}

/// The email preferences of an account.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EmailPreferences {
    /// Notification emails (welcome, media ready / failed). Security emails (verification,
    /// password reset) cannot be turned off.
    pub notifications: bool,
}

/// Answer of a reset request: the same whether or not the address has an account.
#[derive(Debug, ApiResponse)]
pub enum ResetRequested {
    /// Accepted; a link is on its way if the address has an account.
    #[oai(status = 202)]
    Accepted(Json<Done>),
}

/// Answer of a resend.
#[derive(Debug, ApiResponse)]
pub enum VerificationQueued {
    /// The verification email is queued.
    #[oai(status = 202)]
    Accepted(Json<EmailQueued>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Auth")]
impl AccountApi {
    /// Verify the account's address with the token of a verification link (single use).
    #[oai(path = "/auth/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        body: Json<TokenRequest>,
    ) -> Result<Json<Done>, ApiError> {
        accounts::verify_email(&state.pool, &body.token).await?;
        Ok(Json(Done {
            detail: "your email address is verified".into(),
        }))
    }

    /// Ask for a password reset link. The answer is the same whether or not an account has
    /// this address, so it tells nobody which addresses have accounts.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        body: Json<ResetRequest>,
    ) -> Result<ResetRequested, ApiError> {
        let address = accounts::normalize_email(&body.email)?;
        let user = users::id_by_email(&state.pool, &address).await?;
        // Over the account's limit the answer stays the same; nothing is sent.
        let user = match user {
            Some(user_id) if accounts::count_reset_request(&state, user_id).await? => Some(user_id),
            _ => None,
        };
        if let Some(user_id) = user {
            let mut tx = state.pool.begin().await?;
            let job = EmailJob::PasswordReset { user_id, to: address };
            email::enqueue(&mut tx, user_id, &job).await?;
            tx.commit().await?;
        }
        Ok(ResetRequested::Accepted(Json(Done {
            detail: "if an account has this address, a reset link is on its way".into(),
        })))
    }

    /// Choose a new password with the token of a reset link (single use). Every session of the
    /// account ends, and every other reset link dies.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset"
    )]
    async fn confirm_reset(
        &self,
        state: Data<&AppState>,
        body: Json<ResetConfirm>,
    ) -> Result<Json<Done>, ApiError> {
        let body = body.0;
        accounts::reset_password(&state.pool, &state.passwords, &body.token, body.new_password).await?;
        Ok(Json(Done {
            detail: "your password is changed; log in with it".into(),
        }))
    }

    /// Send the verification link again.
    #[oai(
        path = "/me/verification-email",
        method = "post",
        operation_id = "resendVerificationEmail"
    )]
    async fn resend_verification(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<VerificationQueued, ApiError> {
        let profile = users::profile(&state.pool, auth.0.id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("token-invalid", "the account no longer exists"))?;
        let address = profile.email;
        if profile.verified {
            return Err(ApiError::conflict(
                "email-already-verified",
                "this address is verified already",
            ));
        }
        accounts::count_verification_resend(&state, auth.0.id).await?;
        let mut tx = state.pool.begin().await?;
        let job = EmailJob::VerifyEmail {
            user_id: auth.0.id,
            to: address,
        };
        let job_id = email::enqueue(&mut tx, auth.0.id, &job).await?;
        tx.commit().await?;
        Ok(VerificationQueued::Accepted(Json(EmailQueued { job_id })))
    }

    /// The account's email preferences.
    #[oai(
        path = "/me/email-preferences",
        method = "get",
        operation_id = "getEmailPreferences"
    )]
    async fn preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<EmailPreferences>, ApiError> {
        let notifications = users::profile(&state.pool, auth.0.id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("token-invalid", "the account no longer exists"))?
            .notifications;
        Ok(Json(EmailPreferences { notifications }))
    }

    /// Turn notification emails on or off.
    #[oai(
        path = "/me/email-preferences",
        method = "put",
        operation_id = "setEmailPreferences"
    )]
    async fn set_preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<EmailPreferences>,
    ) -> Result<Json<EmailPreferences>, ApiError> {
        users::set_notifications(&state.pool, auth.0.id, body.notifications).await?;
        Ok(Json(EmailPreferences {
            notifications: body.notifications,
        }))
    }
}
