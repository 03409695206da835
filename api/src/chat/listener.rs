//! The instance's one `LISTEN` connection (its own, outside the pool). Room notifications carry
//! `{"r": room, "s": seq}` (a notification's payload stops at 8,000 bytes, so never a body);
//! what arrived while the last batch was handled is read back in one query. When the connection is lost, notifications
//! sent meanwhile are gone: once it is back, every subscribed room is read past what was handed
//! out, so nothing is missed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use serde::Deserialize;
use sqlx::postgres::{PgListener, PgNotification};
use uuid::Uuid;

use super::{ChatHub, close, frames, store::ROOM_CHANNEL};

/// Per-user notifications: a revoked session (from the `sessions` trigger), a job event.
pub use veza_jobs::live::USER_CHANNEL;

/// How long to wait before connecting again after the database refused.
const RETRY: Duration = Duration::from_secs(1);

/// A room notification: an event's number (`s`), or something ephemeral (`t`).
#[derive(Deserialize)]
struct RoomNote {
    r: Uuid,
    s: Option<i64>,
    t: Option<String>,
    u: Option<Uuid>,
    d: Option<i64>,
    rd: Option<i64>,
}

#[derive(Deserialize)]
struct UserNote {
    t: String,
    /// A revoked session.
    s: Option<Uuid>,
    /// The user.
    u: Option<Uuid>,
    /// A job and its event type.
    j: Option<Uuid>,
    e: Option<String>,
    /// Presence: online anywhere.
    on: Option<bool>,
}

/// What the reading task passes on.
enum Received {
    Note(PgNotification),
    /// Listening (again) after a connection that was lost or not yet made: what was announced
    /// meanwhile is gone, so every subscribed room is read past what was handed out.
    Listening,
}

/// Listens until the hub shuts down. One task reads notifications off the connection as they
/// come and queues them; this one handles whatever queued meanwhile as one batch (one query).
/// Reading and handling in one loop would leave the connection unread during each query, and
/// sqlx parses a notification only when asked for one: batches of one, a query per message,
/// and a fan-out that fell seconds behind at 1,000 messages a second (`just bench-chat`).
pub async fn run(hub: Arc<ChatHub>, database_url: String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(read(hub.clone(), database_url, tx));
    let mut batch = Vec::new();
    loop {
        let received = tokio::select! {
            () = hub.shutdown.cancelled() => return,
            received = rx.recv_many(&mut batch, MAX_BATCH) => received,
        };
        if received == 0 {
            return;
        }
        let mut resync = false;
        let mut notes = Vec::with_capacity(batch.len());
        for item in batch.drain(..) {
            match item {
                Received::Note(note) => notes.push(note),
                Received::Listening => resync = true,
            }
        }
        if resync && let Err(err) = hub.resync().await {
            tracing::warn!(error = %err, "chat: could not catch up after (re)connecting");
        }
        handle(&hub, &notes).await;
    }
}

/// Notifications handled together at most.
const MAX_BATCH: usize = 4096;

/// Reads notifications until the hub shuts down or the handler is gone, reconnecting when the
/// connection fails.
async fn read(hub: Arc<ChatHub>, database_url: String, tx: tokio::sync::mpsc::UnboundedSender<Received>) {
    let mut listener: Option<PgListener> = None;
    loop {
        let active = match listener.as_mut() {
            Some(active) => active,
            None => {
                let connected = tokio::select! {
                    () = hub.shutdown.cancelled() => return,
                    connected = connect(&database_url) => connected,
                };
                match connected {
                    Ok(fresh) => {
                        if tx.send(Received::Listening).is_err() {
                            return;
                        }
                        listener.insert(fresh)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "chat: cannot listen for notifications; retrying");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                }
            }
        };
        let received = tokio::select! {
            () = hub.shutdown.cancelled() => return,
            received = active.try_recv() => received,
        };
        let passed = match received {
            Ok(Some(note)) => tx.send(Received::Note(note)),
            // The connection dropped and was made again (listening again).
            Ok(None) => tx.send(Received::Listening),
            Err(err) => {
                tracing::warn!(error = %err, "chat: notification connection failed; reconnecting");
                listener = None;
                tokio::time::sleep(RETRY).await;
                Ok(())
            }
        };
        if passed.is_err() {
            return;
        }
    }
}

async fn connect(database_url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen_all([ROOM_CHANNEL, USER_CHANNEL]).await?;
    Ok(listener)
}

async fn handle(hub: &ChatHub, batch: &[PgNotification]) {
    // Room → the lowest and highest number announced in this batch.
    let mut announced: HashMap<Uuid, (i64, i64)> = HashMap::new();
    for note in batch {
        match note.channel() {
            ROOM_CHANNEL => {
                let Ok(note) = serde_json::from_str::<RoomNote>(note.payload()) else {
                    tracing::warn!(payload = note.payload(), "chat: unreadable room notification");
                    continue;
                };
                match (note.s, note.t.as_deref(), note.u) {
                    (Some(s), _, _) => {
                        let entry = announced.entry(note.r).or_insert((s, s));
                        entry.0 = entry.0.min(s);
                        entry.1 = entry.1.max(s);
                    }
                    (None, Some("typing"), Some(user)) => {
                        hub.hand_out_ephemeral(note.r, &frames::typing(note.r, user));
                    }
                    (None, Some("receipt"), Some(user)) => {
                        let frame = frames::receipt(note.r, user, note.d.unwrap_or(0), note.rd.unwrap_or(0));
                        hub.hand_out_ephemeral(note.r, &frame);
                    }
                    _ => {}
                }
            }
            USER_CHANNEL => match serde_json::from_str::<UserNote>(note.payload()) {
                Ok(UserNote {
                    t, s: Some(session), ..
                }) if t == "revoked" => {
                    hub.close_session(session, close::TOKEN_REVOKED);
                }
                Ok(UserNote {
                    t,
                    u: Some(user),
                    on: Some(online),
                    ..
                }) if t == "presence" => {
                    if let Err(err) = super::presence::announce_locally(hub, user, online).await {
                        tracing::warn!(error = %err, "chat: could not pass a presence change on");
                    }
                }
                Ok(UserNote {
                    t,
                    u: Some(user),
                    j: Some(job),
                    e: Some(event),
                    ..
                }) if t == "job" => {
                    if let Err(err) = hub.job_event(user, job, &event).await {
                        tracing::warn!(error = %err, "chat: could not read a job event");
                    }
                }
                Ok(_) => {}
                Err(_) => tracing::warn!(payload = note.payload(), "chat: unreadable user notification"),
            },
            _ => {}
        }
    }
    if let Err(err) = hub.announced(&announced).await {
        // The connections fill the gap from the database when the next event reaches them.
        tracing::warn!(error = %err, "chat: could not read announced events");
    }
}
