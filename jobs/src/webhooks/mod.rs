//! Webhooks: users register endpoints (`/v1/webhooks`) and media and job events are delivered
//! to them as signed JSON (Standard Webhooks, [`signing`]), one job of the `webhook` queue per
//! delivery, retried with backoff. Every query of `webhook_endpoints` and `webhook_deliveries`
//! is here.
//!
//! - Events: `media.ready`, `media.failed` (the item's outcome), `job.succeeded`, `job.failed`
//!   (each processing job's), enqueued when a media job settles ([`notify_media_outcome`]).
//! - At least once: a delivery is sent until the endpoint answers 2xx or its attempts run out; a
//!   crash between sending and recording sends it again, and a redelivery sends it again on
//!   request. Every send of one delivery carries the same `webhook-id`: receivers drop
//!   duplicates by it. Order is not guaranteed (retries overtake); `timestamp` orders events.
//! - An endpoint whose deliveries die [`DISABLE_AFTER`] times in a row is disabled; enabling it
//!   again is the owner's call. A delivery to a disabled or deleted endpoint is not sent.
//! - Requests go only to public addresses unless configuration allows private ones, with a
//!   timeout and no redirects ([`address`]).

pub mod address;
pub mod signing;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    context::{JobContext, JobRun},
    error::{ErrorCode, JobError},
    kind::Kind,
    queue::{self, EnqueueError, JobOwner, Priority},
    retry::RetryPolicy,
};

/// The queue name.
pub const QUEUE: &str = "webhook";

/// The events an endpoint may subscribe to.
pub const EVENTS: [&str; 4] = ["media.ready", "media.failed", "job.succeeded", "job.failed"];

/// Deliveries that die in a row before their endpoint is disabled.
pub const DISABLE_AFTER: i32 = 5;

/// The webhook kind's settings (`VEZA_WEBHOOKS_ALLOW_PRIVATE`, `VEZA_WEBHOOK_TIMEOUT_SECONDS`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether endpoints on private, loopback and link-local addresses are called.
    pub allow_private: bool,
    /// How long one request may take, connection included.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The webhook kind: one delivery of one event to one endpoint.
pub struct WebhookKind;

/// The payload of a delivery job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookJob {
    /// The delivery (its row holds the endpoint and the body).
    pub delivery_id: Uuid,
}

impl Kind for WebhookKind {
    const QUEUE: &'static str = QUEUE;
    /// Eight attempts over about two hours (10 s doubling, capped at an hour).
    const RETRY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_secs(10),
        cap: Duration::from_secs(3600),
    };
    const TIMEOUT: Duration = Duration::from_secs(60);
    const CONCURRENCY: usize = 16;
    const ABOUT: &'static str =
        "delivers media and job events to users' webhook endpoints, signed, with retries";
    type Payload = WebhookJob;

    async fn handle(ctx: &JobContext, _run: &JobRun, job: WebhookJob) -> Result<(), JobError> {
        deliver(ctx, job.delivery_id).await
    }
}

#[derive(sqlx::FromRow)]
struct Pending {
    endpoint_id: Uuid,
    url: String,
    secret: String,
    disabled: bool,
    body: String,
    attempts: i32,
}

/// Sends delivery `id` once and records how it went.
async fn deliver(ctx: &JobContext, id: Uuid) -> Result<(), JobError> {
    let pool = &ctx.pool;
    // Counting the attempt first: a crash mid-send still counts it.
    let pending: Option<Pending> = sqlx::query_as(
        "update webhook_deliveries d set attempts = d.attempts + 1
           from webhook_endpoints e
          where d.id = $1 and e.id = d.endpoint_id and d.status = 'pending'
         returning d.endpoint_id, e.url, e.secret, e.disabled_at is not null as disabled, d.body, d.attempts",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    // Delivered already, or its endpoint deleted: nothing to send.
    let Some(pending) = pending else {
        return Ok(());
    };
    if pending.disabled {
        record(pool, id, "failed", None, Some("the endpoint is disabled")).await?;
        return Err(JobError::new(ErrorCode::WebhookEndpointDisabled));
    }
    let settings = ctx.settings.get::<WebhookSettings>();
    let outcome = send(&settings, id, &pending).await;
    match outcome {
        Ok(status) => {
            sqlx::query(
                "update webhook_deliveries set status = 'delivered', last_status = $2, last_error = null,
                        delivered_at = now() where id = $1",
            )
            .bind(id)
            .bind(i32::from(status))
            .execute(pool)
            .await?;
            sqlx::query("update webhook_endpoints set consecutive_failures = 0 where id = $1")
                .bind(pending.endpoint_id)
                .execute(pool)
                .await?;
            Ok(())
        }
        Err(Failure::Refused(reason)) => {
            record(pool, id, "failed", None, Some(&reason)).await?;
            endpoint_failed(pool, pending.endpoint_id).await?;
            Err(JobError::with_message(ErrorCode::WebhookAddressForbidden, reason))
        }
        Err(Failure::Failed { status, reason }) => {
            let last =
                usize::try_from(pending.attempts).unwrap_or(usize::MAX) >= WebhookKind::RETRY.max_attempts;
            let state = if last { "failed" } else { "pending" };
            record(pool, id, state, status, Some(&reason)).await?;
            if last {
                endpoint_failed(pool, pending.endpoint_id).await?;
            }
            Err(JobError::with_message(ErrorCode::WebhookFailed, reason))
        }
    }
}

/// How a send failed.
enum Failure {
    /// The URL may not be called.
    Refused(String),
    /// Worth another attempt: no answer (connection refused, timeout, TLS, a name that did
    /// not resolve) or an answer other than 2xx (`status`).
    Failed { status: Option<i32>, reason: String },
}

/// POSTs the delivery's body, signed, to the endpoint's checked addresses; the status on 2xx.
async fn send(settings: &WebhookSettings, id: Uuid, pending: &Pending) -> Result<u16, Failure> {
    let url = address::parse_url(&pending.url).map_err(|err| Failure::Refused(err.to_string()))?;
    let (host, addresses) = address::resolve(&url, settings.allow_private)
        .await
        .map_err(|refused| match refused {
            address::Refused::Unresolved { .. } => Failure::Failed {
                status: None,
                reason: refused.to_string(),
            },
            other => Failure::Refused(other.to_string()),
        })?;
    // The client connects to the addresses checked above and no others: it does not resolve.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.timeout)
        .resolve_to_addrs(&host, &addresses)
        .user_agent("Veza-Webhooks/1")
        .build()
        .map_err(|err| Failure::Failed {
            status: None,
            reason: format!("HTTP client: {err}"),
        })?;
    let message_id = id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signing::sign(&pending.secret, &message_id, timestamp, &pending.body)
        .ok_or_else(|| Failure::Refused("the endpoint's secret is unusable".to_owned()))?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(pending.body.clone())
        .send()
        .await
        .map_err(|err| Failure::Failed {
            status: None,
            reason: format!("no answer: {err}"),
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(Failure::Failed {
            status: Some(i32::from(status.as_u16())),
            reason: format!("the endpoint answered {status}"),
        })
    }
}

async fn record(
    pool: &PgPool,
    id: Uuid,
    status: &str,
    last_status: Option<i32>,
    last_error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("update webhook_deliveries set status = $2, last_status = $3, last_error = $4 where id = $1")
        .bind(id)
        .bind(status)
        .bind(last_status)
        .bind(last_error)
        .execute(pool)
        .await
        .map(drop)
}

/// A delivery died: count it against its endpoint, disabling it at [`DISABLE_AFTER`].
async fn endpoint_failed(pool: &PgPool, endpoint: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_endpoints set consecutive_failures = consecutive_failures + 1,
                disabled_at = case when consecutive_failures + 1 >= $2 and disabled_at is null then now() else disabled_at end,
                disabled_reason = case when consecutive_failures + 1 >= $2 and disabled_at is null
                                       then 'deliveries failed ' || $2 || ' times in a row' else disabled_reason end
          where id = $1",
    )
    .bind(endpoint)
    .bind(DISABLE_AFTER)
    .execute(pool)
    .await
    .map(drop)
}

/// How a media job settled, for its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Succeeded,
    /// It is dead (failed for good).
    Failed,
}

/// One event as delivered: the body every endpoint gets (and the shape other channels reuse).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// `media.ready`, `media.failed`, `job.succeeded` or `job.failed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (RFC 3339).
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// What it is about.
    pub data: EventData,
}

/// What an event is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventData {
    /// The media item.
    pub media_id: Uuid,
    /// Its kind (`audio`, `image`, `video`).
    pub media_kind: String,
    /// Its status now.
    pub media_status: String,
    /// The job that settled.
    pub job_id: Uuid,
    /// Its kind (queue).
    pub job_kind: String,
    /// The failure, for `*.failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// What the job is doing, for `job.progress` (live events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// How far along it is, for `job.progress` (live events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<i16>,
}

/// A failure as events show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventError {
    /// The stable code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

#[derive(sqlx::FromRow)]
struct Settled {
    owner_id: Uuid,
    media_kind: String,
    media_status: String,
    error_code: Option<String>,
    error_message: Option<String>,
    job_kind: String,
}

/// Enqueues the deliveries of the events of job `job_id` settling on `media_id` to the owner's
/// enabled endpoints that subscribe to them, in one transaction; returns how many. The item's
/// event comes once it is `ready` or `failed`; the job's for every processing job.
pub async fn notify_media_outcome(
    pool: &PgPool,
    job_id: Uuid,
    media_id: Uuid,
    outcome: Outcome,
) -> Result<usize, EnqueueError> {
    let mut tx = pool.begin().await?;
    let settled: Option<Settled> = sqlx::query_as(
        "select m.owner_id, m.kind as media_kind, m.status as media_status, m.error_code, m.error_message,
                j.kind as job_kind
           from media m join jobs j on j.id = $2
          where m.id = $1 and m.deleted_at is null",
    )
    .bind(media_id)
    .bind(job_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(settled) = settled else {
        return Ok(0);
    };
    let mut events = vec![match outcome {
        Outcome::Succeeded => "job.succeeded",
        Outcome::Failed => "job.failed",
    }];
    match settled.media_status.as_str() {
        "ready" => events.push("media.ready"),
        "failed" => events.push("media.failed"),
        _ => {}
    }
    let error = match (&settled.error_code, &settled.error_message) {
        (Some(code), Some(message)) if outcome == Outcome::Failed || settled.media_status == "failed" => {
            Some(EventError {
                code: code.clone(),
                message: message.clone(),
            })
        }
        _ => None,
    };
    let mut sent = 0;
    for event_type in events {
        let event = Event {
            event_type: event_type.to_owned(),
            timestamp: chrono::Utc::now(),
            data: EventData {
                media_id,
                media_kind: settled.media_kind.clone(),
                media_status: settled.media_status.clone(),
                job_id,
                job_kind: settled.job_kind.clone(),
                error: error.clone(),
                stage: None,
                progress_percent: None,
            },
        };
        sent += enqueue_event(&mut tx, settled.owner_id, &event).await?;
        crate::live::announce(&mut *tx, job_id, event_type).await?;
    }
    tx.commit().await?;
    Ok(sent)
}

/// [`notify_media_outcome`] for the worker's settle step: never fails the job, logs instead.
pub async fn notify_media_outcome_logged(ctx: &JobContext, job_id: Uuid, media_id: Uuid, outcome: Outcome) {
    match notify_media_outcome(&ctx.pool, job_id, media_id, outcome).await {
        Ok(0) => {}
        Ok(sent) => tracing::info!(%job_id, %media_id, deliveries = sent, "webhook deliveries enqueued"),
        Err(err) => tracing::error!(%job_id, %media_id, error = %err, "could not enqueue webhook deliveries"),
    }
}

/// Records a delivery of `event` to each of `owner`'s enabled endpoints subscribed to it and
/// enqueues its job, on the caller's transaction; returns how many.
pub async fn enqueue_event(
    conn: &mut PgConnection,
    owner: Uuid,
    event: &Event,
) -> Result<usize, EnqueueError> {
    let body = serde_json::to_string(event).unwrap_or_default();
    let deliveries: Vec<Uuid> = sqlx::query_scalar(
        "insert into webhook_deliveries (id, endpoint_id, media_id, event_type, body)
         select gen_random_uuid(), e.id, $4, $2, $3 from webhook_endpoints e
          where e.user_id = $1 and e.disabled_at is null and $2 = any(e.events)
         returning id",
    )
    .bind(owner)
    .bind(&event.event_type)
    .bind(&body)
    .bind(event.data.media_id)
    .fetch_all(&mut *conn)
    .await?;
    let jobs: Vec<WebhookJob> = deliveries
        .iter()
        .map(|&delivery_id| WebhookJob { delivery_id })
        .collect();
    let owner = JobOwner {
        user_id: owner,
        media_id: None,
    };
    queue::enqueue_many::<WebhookKind>(conn, owner, &jobs, Priority::Normal).await?;
    Ok(deliveries.len())
}

/// Sends delivery `delivery` of endpoint `endpoint` (of `owner`) again, as a new job with the
/// same `webhook-id`; its job id, or `None` when there is no such delivery.
pub async fn redeliver(
    conn: &mut PgConnection,
    owner: Uuid,
    endpoint: Uuid,
    delivery: Uuid,
) -> Result<Option<Uuid>, EnqueueError> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "update webhook_deliveries d set status = 'pending', attempts = 0, delivered_at = null
           from webhook_endpoints e
          where d.id = $3 and d.endpoint_id = $2 and e.id = d.endpoint_id and e.user_id = $1
         returning d.id",
    )
    .bind(owner)
    .bind(endpoint)
    .bind(delivery)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(delivery_id) = found else {
        return Ok(None);
    };
    let owner = JobOwner {
        user_id: owner,
        media_id: None,
    };
    let job =
        queue::enqueue::<WebhookKind>(conn, owner, &WebhookJob { delivery_id }, Priority::Normal).await?;
    Ok(Some(job))
}

/// An endpoint as its owner sees it (the secret only at creation).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    /// Id.
    pub id: Uuid,
    /// Where events go.
    pub url: String,
    /// The events it gets.
    pub events: Vec<String>,
    /// Deliveries that died in a row.
    pub consecutive_failures: i32,
    /// When it was disabled.
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why.
    pub disabled_reason: Option<String>,
    /// When it was registered.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Registers an endpoint of `owner` with a fresh secret; returns it and the secret.
pub async fn create_endpoint(
    pool: &PgPool,
    owner: Uuid,
    url: &str,
    events: &[String],
) -> Result<(Endpoint, String), sqlx::Error> {
    let secret = signing::new_secret();
    let endpoint = sqlx::query_as(
        "insert into webhook_endpoints (id, user_id, url, events, secret) values ($1, $2, $3, $4, $5)
         returning id, url, events, consecutive_failures, disabled_at, disabled_reason, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(owner)
    .bind(url)
    .bind(events)
    .bind(&secret)
    .fetch_one(pool)
    .await?;
    Ok((endpoint, secret))
}

/// The endpoints of `owner`, oldest first.
pub async fn endpoints(pool: &PgPool, owner: Uuid) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(
        "select id, url, events, consecutive_failures, disabled_at, disabled_reason, created_at
           from webhook_endpoints where user_id = $1 order by created_at, id",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
}

/// How many endpoints `owner` has.
pub async fn endpoint_count(pool: &PgPool, owner: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from webhook_endpoints where user_id = $1")
        .bind(owner)
        .fetch_one(pool)
        .await
}

/// Deletes endpoint `id` of `owner` with its delivery log; whether it existed.
pub async fn delete_endpoint(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from webhook_endpoints where id = $1 and user_id = $2")
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Enables endpoint `id` of `owner` again, its failure count reset.
pub async fn enable_endpoint(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(
        "update webhook_endpoints set disabled_at = null, disabled_reason = null, consecutive_failures = 0
          where id = $1 and user_id = $2
         returning id, url, events, consecutive_failures, disabled_at, disabled_reason, created_at",
    )
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// Id, the `webhook-id` header.
    pub id: Uuid,
    /// The event.
    pub event_type: String,
    /// The body sent.
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// The endpoint's last answer.
    pub last_status: Option<i32>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was delivered.
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The latest `limit` deliveries of endpoint `id` of `owner`, newest first; `None` when there is
/// no such endpoint.
pub async fn deliveries(
    pool: &PgPool,
    owner: Uuid,
    id: Uuid,
    limit: i64,
) -> Result<Option<Vec<Delivery>>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from webhook_endpoints where id = $1 and user_id = $2)")
            .bind(id)
            .bind(owner)
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_as(
        "select id, event_type, body, status, attempts, last_status, last_error, created_at, delivered_at
           from webhook_deliveries where endpoint_id = $1 order by created_at desc, id desc limit $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map(Some)
}
