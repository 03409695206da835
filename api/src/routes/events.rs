//! `GET /v1/events`: the caller's live job events as Server-Sent Events, for clients that cannot
//! hold a WebSocket. The same events, in the same shape, as the socket's `job.event` frames and
//! the webhooks (plus `job.progress`): one schema for the three.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, stream::BoxStream};
use poem::web::{Data, sse::Event as SseEvent};
use poem_openapi::{Object, OpenApi, payload::EventStream, types::ParseFromJSON};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::ApiTags;
use crate::{
    auth::BearerAuth,
    chat::{ChatHub, ConnHandle, Push},
    state::AppState,
};

/// Live event operations.
pub struct EventsApi;

/// A failure as events show it.
#[derive(Debug, Clone, Object)]
pub struct LiveEventError {
    /// The stable code.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// What an event is about.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LiveEventData {
    /// The media item.
    pub media_id: Uuid,
    /// Its kind (`audio`, `image`, `video`).
    pub media_kind: String,
    /// Its status now.
    pub media_status: String,
    /// The job.
    pub job_id: Uuid,
    /// Its kind (queue).
    pub job_kind: String,
    /// The failure, for `*.failed`.
    pub error: Option<LiveEventError>,
    /// What the job is doing, for `job.progress`.
    pub stage: Option<String>,
    /// How far along it is, for `job.progress`.
    pub progress_percent: Option<i16>,
}

/// A job event: `job.progress`, `job.succeeded`, `job.failed`, `media.ready` or
/// `media.failed`. The webhooks deliver the same body (all but `job.progress`).
#[derive(Debug, Clone, Object)]
pub struct LiveEvent {
    /// The event type.
    #[oai(rename = "type")]
    pub event_type: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What it is about.
    pub data: LiveEventData,
}

/// Unregisters an event stream from the hub when the client goes away.
struct Registration {
    hub: std::sync::Arc<ChatHub>,
    handle: ConnHandle,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove_connection(&self.handle, []);
    }
}

/// The stream of one client: job events until it goes away, its session is revoked or the
/// server shuts down.
fn live_events(
    hub: std::sync::Arc<ChatHub>,
    user: Uuid,
    session: Uuid,
) -> impl Stream<Item = LiveEvent> + Send {
    let (tx, rx) = mpsc::channel(hub.limits().chat_send_buffer);
    let handle = hub.new_connection(user, session, tx);
    let ended = handle.ended();
    let registration = Registration { hub, handle };
    futures::stream::unfold(
        (rx, ended, registration),
        |(mut rx, ended, registration)| async move {
            loop {
                let push = tokio::select! {
                    () = ended.cancelled() => return None,
                    push = rx.recv() => push?,
                };
                let Push::User(body) = push else { continue };
                let value = serde_json::from_str::<serde_json::Value>(&body).ok();
                match LiveEvent::parse_from_json(value) {
                    Ok(event) => return Some((event, (rx, ended, registration))),
                    Err(err) => {
                        tracing::error!(error = ?err, "events: a job event does not match its schema")
                    }
                }
            }
        },
    )
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Jobs")]
impl EventsApi {
    /// Your jobs' progress and outcomes as they happen (Server-Sent Events; each event's name is
    /// its type). Comments keep the connection alive every 15 s.
    #[oai(path = "/events", method = "get", operation_id = "streamEvents")]
    async fn stream(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> EventStream<BoxStream<'static, LiveEvent>> {
        let events = live_events(state.chat.clone(), auth.0.id, auth.0.session_id).boxed();
        EventStream::new(events)
            .keep_alive(Duration::from_secs(15))
            .to_event(|event| {
                let kind = event.event_type.clone();
                SseEvent::message(poem_openapi::types::ToJSON::to_json_string(&event)).event_type(kind)
            })
    }
}
