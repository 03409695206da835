//! Webhook endpoints and their delivery log: `/v1/webhooks` (docs/clients.md, "Webhooks").

use poem::web::Data;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;
use veza_jobs::webhooks::{self, Delivery, Endpoint};

use super::ApiTags;
use crate::{auth::BearerAuth, error::ApiError, state::AppState};

/// Endpoints one account may register.
const MAX_ENDPOINTS: i64 = 20;

/// Webhook operations.
pub struct WebhooksApi;

/// An event an endpoint may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
pub enum WebhookEvent {
    /// A media item is ready: every output is published.
    #[oai(rename = "media.ready")]
    MediaReady,
    /// A media item failed for good.
    #[oai(rename = "media.failed")]
    MediaFailed,
    /// A processing job succeeded.
    #[oai(rename = "job.succeeded")]
    JobSucceeded,
    /// A processing job failed for good (or was cancelled).
    #[oai(rename = "job.failed")]
    JobFailed,
}

impl WebhookEvent {
    fn as_str(self) -> &'static str {
        match self {
            Self::MediaReady => webhooks::EVENTS[0],
            Self::MediaFailed => webhooks::EVENTS[1],
            Self::JobSucceeded => webhooks::EVENTS[2],
            Self::JobFailed => webhooks::EVENTS[3],
        }
    }
}

/// A new endpoint.
#[derive(Debug, Object)]
pub struct NewWebhook {
    /// Where events are POSTed: an `http` or `https` URL (public addresses only, unless the
    /// server allows private ones).
    #[oai(validator(max_length = 2048))]
    pub url: String,
    /// The events it receives.
    #[oai(validator(min_items = 1, max_items = 4, unique_items = true))]
    pub events: Vec<WebhookEvent>,
}

/// A registered endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Webhook {
    /// Id.
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// The events it receives (`media.ready`, `media.failed`, `job.succeeded`, `job.failed`).
    pub events: Vec<String>,
    /// Deliveries that failed for good in a row; at 5 the endpoint is disabled.
    pub consecutive_failures: i32,
    /// When it was disabled (nothing is sent to it until it is enabled again).
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why.
    pub disabled_reason: Option<String>,
    /// When it was registered.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug, Object)]
pub struct WebhookCreated {
    /// The endpoint.
    pub webhook: Webhook,
    /// The Standard Webhooks secret (`whsec_…`) that signs every delivery: keep it, it is not
    /// shown again.
    pub secret: String,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WebhookDelivery {
    /// Id: the `webhook-id` header of every send of it.
    pub id: Uuid,
    /// The event.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The endpoint's last HTTP status.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The JSON body sent.
    pub body: String,
    /// When the event happened.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the endpoint accepted it.
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A redelivery under way.
#[derive(Debug, Object)]
pub struct Redelivery {
    /// The delivery, sent again with the same `webhook-id`.
    pub delivery_id: Uuid,
    /// The job sending it.
    pub job_id: Uuid,
}

/// Answer of a registration.
#[derive(Debug, ApiResponse)]
pub enum WebhookCreatedResponse {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<WebhookCreated>),
}

/// Answer of a deletion.
#[derive(Debug, ApiResponse)]
pub enum WebhookDeleted {
    /// Gone, with its delivery log; nothing more is sent to it.
    #[oai(status = 204)]
    Deleted,
}

/// Answer of a redelivery.
#[derive(Debug, ApiResponse)]
pub enum RedeliveryResponse {
    /// Queued.
    #[oai(status = 202)]
    Accepted(Json<Redelivery>),
}

fn webhook_view(endpoint: Endpoint) -> Webhook {
    Webhook {
        id: endpoint.id,
        url: endpoint.url,
        events: endpoint.events,
        consecutive_failures: endpoint.consecutive_failures,
        disabled_at: endpoint.disabled_at,
        disabled_reason: endpoint.disabled_reason,
        created_at: endpoint.created_at,
    }
}

fn delivery_view(delivery: Delivery) -> WebhookDelivery {
    WebhookDelivery {
        id: delivery.id,
        event_type: delivery.event_type,
        status: delivery.status,
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        last_error: delivery.last_error,
        body: delivery.body,
        created_at: delivery.created_at,
        delivered_at: delivery.delivered_at,
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("webhook-not-found", "no such webhook endpoint")
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Register an endpoint for events; the answer holds its signing secret, once.
    #[oai(path = "/webhooks", method = "post", operation_id = "createWebhook")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<NewWebhook>,
    ) -> Result<WebhookCreatedResponse, ApiError> {
        let url = webhooks::address::parse_url(&body.url).map_err(|_| {
            ApiError::bad_request(
                "invalid-webhook-url",
                "url must be an http or https URL with a host and no credentials",
            )
        })?;
        if webhooks::endpoint_count(&state.pool, auth.0.id).await? >= MAX_ENDPOINTS {
            return Err(ApiError::conflict(
                "too-many-webhooks",
                format!("an account may register {MAX_ENDPOINTS} webhook endpoints"),
            ));
        }
        let events: Vec<String> = body
            .events
            .iter()
            .map(|event| event.as_str().to_owned())
            .collect();
        let (endpoint, secret) =
            webhooks::create_endpoint(&state.pool, auth.0.id, url.as_str(), &events).await?;
        Ok(WebhookCreatedResponse::Created(Json(WebhookCreated {
            webhook: webhook_view(endpoint),
            secret,
        })))
    }

    /// Your endpoints, oldest first.
    #[oai(path = "/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list(&self, state: Data<&AppState>, auth: BearerAuth) -> Result<Json<Vec<Webhook>>, ApiError> {
        let endpoints = webhooks::endpoints(&state.pool, auth.0.id).await?;
        Ok(Json(endpoints.into_iter().map(webhook_view).collect()))
    }

    /// Delete an endpoint and its delivery log.
    #[oai(path = "/webhooks/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<WebhookDeleted, ApiError> {
        if webhooks::delete_endpoint(&state.pool, auth.0.id, id.0).await? {
            Ok(WebhookDeleted::Deleted)
        } else {
            Err(not_found())
        }
    }

    /// Enable an endpoint again (after it was disabled for failing), its failure count reset.
    #[oai(
        path = "/webhooks/:id/enable",
        method = "post",
        operation_id = "enableWebhook"
    )]
    async fn enable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<Json<Webhook>, ApiError> {
        let endpoint = webhooks::enable_endpoint(&state.pool, auth.0.id, id.0)
            .await?
            .ok_or_else(not_found)?;
        Ok(Json(webhook_view(endpoint)))
    }

    /// An endpoint's latest deliveries, newest first.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// How many, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
    ) -> Result<Json<Vec<WebhookDelivery>>, ApiError> {
        let limit = i64::from(limit.0.unwrap_or(50));
        let deliveries = webhooks::deliveries(&state.pool, auth.0.id, id.0, limit)
            .await?
            .ok_or_else(not_found)?;
        Ok(Json(deliveries.into_iter().map(delivery_view).collect()))
    }

    /// Send a delivery again (same `webhook-id`, so a receiver that already has it can tell).
    #[oai(
        path = "/webhooks/:id/deliveries/:delivery_id/redeliver",
        method = "post",
        operation_id = "redeliverWebhook"
    )]
    async fn redeliver(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        delivery_id: Path<Uuid>,
    ) -> Result<RedeliveryResponse, ApiError> {
        let mut tx = state.pool.begin().await?;
        let job_id = webhooks::redeliver(&mut tx, auth.0.id, id.0, delivery_id.0)
            .await?
            .ok_or_else(|| ApiError::not_found("delivery-not-found", "no such delivery of this endpoint"))?;
        tx.commit().await?;
        Ok(RedeliveryResponse::Accepted(Json(Redelivery {
            delivery_id: delivery_id.0,
            job_id,
        })))
    }
}
