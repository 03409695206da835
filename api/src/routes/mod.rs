//! The API operations, one file per area. `api()` is the whole description; it holds no state
//! (handlers reach the pool and store through request data), so the spec can be generated offline.

pub mod account;
pub mod account_data;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod events;
pub mod health;
pub mod jobs;
pub mod media;
pub mod outputs;
pub mod pages;
pub mod resumable;
pub mod rooms;
pub mod sessions;
pub mod webhooks;

use poem_openapi::Tags;

/// Groups of operations in the spec.
#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and tokens.
    Auth,
    /// Uploads, their status and outputs.
    Media,
    /// Job status.
    Jobs,
    /// Liveness and readiness.
    Health,
    /// Webhook endpoints and their deliveries.
    Webhooks,
    /// Chat rooms and their history (live messages go over the socket at `/v1/ws`).
    Chat,
    /// Operators: queues, jobs and workers (admin role).
    Admin,
    /// Minimal pages that email links open (until a web front end exists).
    Pages,
}

/// Every operation of the API.
pub type Api = (
    auth::AuthApi,
    sessions::SessionsApi,
    account::AccountApi,
    account_data::AccountDataApi,
    media::MediaApi,
    resumable::ResumableApi,
    outputs::OutputsApi,
    jobs::JobsApi,
    events::EventsApi,
    webhooks::WebhooksApi,
    rooms::RoomsApi,
    admin::AdminApi,
    audit::AuditApi,
    health::HealthApi,
    pages::PagesApi,
);

/// Builds the API description.
pub fn api() -> Api {
    (
        auth::AuthApi,
        sessions::SessionsApi,
        account::AccountApi,
        account_data::AccountDataApi,
        media::MediaApi,
        resumable::ResumableApi,
        outputs::OutputsApi,
        jobs::JobsApi,
        events::EventsApi,
        webhooks::WebhooksApi,
        rooms::RoomsApi,
        admin::AdminApi,
        audit::AuditApi,
        health::HealthApi,
        pages::PagesApi,
    )
}
