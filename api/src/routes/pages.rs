//! The paths email links point to (under `VEZA_PUBLIC_URL`), answered with minimal HTML pages
//! until a web front end exists:
//! - `GET /verify?token=…` shows a button; `POST /verify` (form) verifies the address;
//! - `GET /reset?token=…` shows a new-password form; `POST /reset` (form) sets it;
//! - `GET /unsubscribe?token=…` shows a button; `POST /unsubscribe?token=…` unsubscribes (the
//!   RFC 8058 one-click request mail clients send, body `List-Unsubscribe=One-Click`).
//!
//! GET never changes anything: mail scanners fetch links, and a fetched link must not use up a
//! token or unsubscribe anyone.

use poem::{http::StatusCode, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Query,
    payload::{Form, Html, Json},
};

use super::ApiTags;
use crate::{
    accounts,
    error::{ApiError, Problem, internal_problem},
    state::AppState,
};

/// Pages for email links.
pub struct PagesApi;

/// A page. A link without its token is answered with the 400 page too, not with the API's
/// problem+json, so that every 400 of these routes is the HTML the spec declares.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "link_refused")]
pub enum Page {
    /// Done, or a form to do it.
    #[oai(status = 200)]
    Ok(Html<String>),
    /// The link is not valid (used, expired or unknown) or the form is incomplete.
    #[oai(status = 400)]
    BadRequest(Html<String>),
}

/// The answer to a page's form. Its own type rather than `Result<Page, ApiError>`: both have a
/// 400, and merging them wrote the key "400" twice into the spec (strict parsers and SDK
/// generators refuse such a document). A request the framework refuses (a missing field or
/// token, a body that is not a form) gets a page too, through [`form_refused`].
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "form_refused")]
pub enum FormPage {
    /// Done.
    #[oai(status = 200)]
    Ok(Html<String>),
    /// The link is not valid (used, expired or unknown), or the form lacks a field.
    #[oai(status = 400)]
    BadRequest(Html<String>),
    /// The body is over `VEZA_MAX_REQUEST_BODY_BYTES` (answered before the page is reached).
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The form was not sent as `application/x-www-form-urlencoded`.
    #[oai(status = 415)]
    UnsupportedMediaType(Html<String>),
    /// Our fault; the detail says no more than that.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (the database) is unavailable, or the API is too busy to hash a password
    /// now (then `Retry-After` says when to try again).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(
        Json<Problem>,
        /// Seconds to wait before trying again, when known.
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

/// The verification form.
#[derive(Debug, Object, serde::Deserialize)]
pub struct VerifyForm {
    /// The link's token.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub token: String,
}

/// The reset form (its lengths are checked by the reset itself: a form is not validated as JSON is).
#[derive(Debug, Object, serde::Deserialize)]
pub struct ResetForm {
    /// The link's token.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub token: String,
    /// The new password, 8 to 1024 characters.
    #[oai(validator(min_length = 8, max_length = 1024))]
    pub new_password: String,
}

#[OpenApi(tag = "ApiTags::Pages")]
impl PagesApi {
    /// The verification link: a page with a button that confirms the address.
    #[oai(path = "/verify", method = "get", operation_id = "verifyPage")]
    async fn verify_page(&self, token: Query<String>) -> Page {
        Page::Ok(page(
            "Confirm your email address",
            &format!(
                "<form method=\"post\" action=\"verify\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <button type=\"submit\">Confirm my address</button></form>",
                escape(&token)
            ),
        ))
    }

    /// Confirms the address (the verification page's form).
    #[oai(path = "/verify", method = "post", operation_id = "verifyPageSubmit")]
    async fn verify_submit(&self, state: Data<&AppState>, form: Form<VerifyForm>) -> FormPage {
        outcome(
            accounts::verify_email(&state.pool, &form.0.token).await,
            "Your email address is verified",
        )
    }

    /// The reset link: a page with a new-password form.
    #[oai(path = "/reset", method = "get", operation_id = "resetPage")]
    async fn reset_page(&self, token: Query<String>) -> Page {
        Page::Ok(page(
            "Choose a new password",
            &format!(
                "<form method=\"post\" action=\"reset\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
                 <label>New password <input type=\"password\" name=\"new_password\" minlength=\"8\" required></label> \
                 <button type=\"submit\">Set password</button></form>",
                escape(&token)
            ),
        ))
    }

    /// Sets the new password (the reset page's form).
    #[oai(path = "/reset", method = "post", operation_id = "resetPageSubmit")]
    async fn reset_submit(&self, state: Data<&AppState>, form: Form<ResetForm>) -> FormPage {
        let form = form.0;
        outcome(
            accounts::reset_password(&state.pool, &state.passwords, &form.token, form.new_password).await,
            "Your password is changed; log in with it",
        )
    }

    /// The unsubscribe link: a page with a button (opening the link changes nothing).
    #[oai(path = "/unsubscribe", method = "get", operation_id = "unsubscribePage")]
    async fn unsubscribe_page(&self, token: Query<String>) -> Page {
        Page::Ok(page(
            "Unsubscribe from notification emails",
            &format!(
                "<form method=\"post\" action=\"unsubscribe?token={}\">\
                 <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                 <button type=\"submit\">Unsubscribe</button></form>",
                escape(&token)
            ),
        ))
    }

    /// One-click unsubscribe (RFC 8058): mail clients POST `List-Unsubscribe=One-Click` here.
    /// Notification emails stop; security emails (verification, password reset) do not.
    #[oai(path = "/unsubscribe", method = "post", operation_id = "unsubscribe")]
    async fn unsubscribe(&self, state: Data<&AppState>, token: Query<String>) -> FormPage {
        outcome(
            accounts::unsubscribe(&state.pool, &token).await,
            "You will get no more notification emails",
        )
    }
}

/// A link problem (any 4xx) becomes a 400 page; the database being down or a fault of ours
/// stays a problem+json.
fn outcome<T>(result: Result<T, ApiError>, done: &str) -> FormPage {
    let link_problem = |problem: Json<Problem>| {
        FormPage::BadRequest(page(
            "This link does not work",
            &format!("<p>{}</p>", escape(&problem.0.detail)),
        ))
    };
    match result {
        Ok(_) => FormPage::Ok(page(done, "")),
        Err(ApiError::Unavailable(problem, retry_after)) => FormPage::Unavailable(problem, retry_after),
        Err(ApiError::Internal(problem)) => FormPage::Internal(problem),
        Err(
            ApiError::BadRequest(problem)
            | ApiError::Unauthorized(problem)
            | ApiError::Forbidden(problem)
            | ApiError::NotFound(problem)
            | ApiError::Conflict(problem)
            | ApiError::PayloadTooLarge(problem)
            | ApiError::UnsupportedMediaType(problem)
            | ApiError::Unprocessable(problem)
            | ApiError::TooManyRequests(problem, _),
        ) => link_problem(problem),
    }
}

/// A link the framework refused (its token is missing): the 400 page.
fn link_refused(err: poem::Error) -> Page {
    Page::BadRequest(page(
        "This link does not work",
        &format!("<p>{}</p>", escape(&err.to_string())),
    ))
}

/// A form the framework refused, as a page: 415 for a body that is not a form, 400 for a
/// missing or malformed field. A failure of ours (e.g. missing request data) stays a 500.
fn form_refused(err: poem::Error) -> FormPage {
    let status = err.status();
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        FormPage::UnsupportedMediaType(page(
            "This form was not sent as a form",
            "<p>Send it as <code>application/x-www-form-urlencoded</code>.</p>",
        ))
    } else if status.is_server_error() {
        FormPage::Internal(internal_problem(err))
    } else {
        FormPage::BadRequest(page(
            "This form is incomplete",
            &format!("<p>{}</p>", escape(&err.to_string())),
        ))
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} — Veza</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    ))
}

/// Escapes text for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
