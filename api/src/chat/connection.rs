//! One socket, one task: every frame to the client is written here, in order. The task waits on
//! the hub's pushes, the client's frames, the heartbeat, the token's expiry and the shutdown.
//!
//! Per subscribed room the task keeps `cursor`, the last event number the client was given:
//! a pushed event at or below it is dropped (a duplicate), the next one is sent, and one past a
//! gap first has the gap read from the database. So each event reaches the client once and in
//! order, however the notifications arrive.

use std::{collections::HashMap, io, sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use poem::web::websocket::{Message, WebSocketStream};
use tokio::{sync::mpsc, time::Instant};
use uuid::Uuid;

use super::{ChatHub, ConnHandle, Push, close, frames, store};
use crate::{
    auth::{AuthUser, TokenSubject, authenticate},
    error::ApiError,
    state::AppState,
};

/// The longest a write to the client may take before the client is taken for gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Events read per query when catching a client up.
const CATCH_UP_PAGE: i64 = 500;
/// A subscription further behind than this is told to reload the history over HTTP.
const CATCH_UP_MAX: i64 = 10_000;

/// Why the task stopped: the close frame to send, if any.
struct Closing(Option<u16>);

type Step = Result<(), Closing>;

/// Who the socket speaks for.
struct Identity {
    user: AuthUser,
    expires_at: u64,
}

/// Runs a connection to its end. `pre`: the identity of an `Authorization` header, checked
/// before the upgrade; without one the first frame must be `auth`.
pub async fn run(socket: WebSocketStream, state: AppState, pre: Option<(AuthUser, TokenSubject)>) {
    let hub = state.chat.clone();
    let limits = hub.limits.clone();
    let mut conn = Connection {
        socket,
        hub,
        state,
        cursors: HashMap::new(),
        handle: None,
        typed: HashMap::new(),
        bucket: TokenBucket::new(limits.chat_frames_per_second, limits.chat_frame_burst),
    };
    let closing = match conn.authenticate(pre).await {
        Ok((identity, reply_id)) => conn.serve(identity, reply_id).await,
        Err(closing) => closing,
    };
    if let Some(code) = closing.0 {
        conn.hub.metrics.closed(code);
        let message = Message::close_with(code, close::reason(code));
        let _ = tokio::time::timeout(WRITE_TIMEOUT, conn.socket.send(message)).await;
    }
    // Reads (and drops) what the client still sends until its close answers ours, for a
    // second at most: a socket closed with unread data in it is reset, and the reset can
    // discard the close frame and what preceded it before the client reads them.
    let drain = async {
        let _ = conn.socket.close().await;
        while let Some(Ok(_)) = conn.socket.next().await {}
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

struct Connection {
    socket: WebSocketStream,
    hub: Arc<ChatHub>,
    state: AppState,
    /// Subscribed rooms and the last event number sent in each.
    cursors: HashMap<Uuid, i64>,
    /// How the hub reaches this connection, once authenticated.
    handle: Option<ConnHandle>,
    /// When this connection last passed on "typing", per room.
    typed: HashMap<Uuid, Instant>,
    /// The frame rate limit.
    bucket: TokenBucket,
}

/// A token bucket: `rate` frames per second, bursts of `burst`; refusals in a row counted.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
    refused_in_a_row: u32,
}

impl TokenBucket {
    fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: Instant::now(),
            refused_in_a_row: 0,
        }
    }

    /// `Ok` to take a frame, else the milliseconds until one is allowed.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            Ok(())
        } else {
            self.refused_in_a_row += 1;
            Err(((1.0 - self.tokens) / self.rate * 1000.0).ceil() as u64)
        }
    }
}

fn close_code_for(err: &ApiError) -> u16 {
    match err.problem().code.as_str() {
        "token-expired" => close::TOKEN_EXPIRED,
        "token-revoked" => close::TOKEN_REVOKED,
        _ => close::TOKEN_INVALID,
    }
}

impl Connection {
    /// Writes a frame. A write the client does not take within [`WRITE_TIMEOUT`] ends the
    /// connection, and so does the hub's kill meanwhile (a slow consumer blocked mid-write).
    async fn send_text(&mut self, text: impl Into<String>) -> Step {
        let handle = self.handle.clone();
        let write = tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::Text(text.into())));
        let killed = async {
            match &handle {
                Some(handle) => handle.kill.cancelled().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            written = write => match written {
                Ok(Ok(())) => Ok(()),
                _ => Err(Closing(None)),
            },
            () = killed => Err(Closing(handle.map(|handle| handle.close_code()))),
        }
    }

    /// The identity of the header, or of the first frame, which must be `auth` and come within
    /// the auth timeout.
    async fn authenticate(
        &mut self,
        pre: Option<(AuthUser, TokenSubject)>,
    ) -> Result<(Identity, Option<String>), Closing> {
        if let Some((user, subject)) = pre {
            return Ok((
                Identity {
                    user,
                    expires_at: subject.expires_at,
                },
                None,
            ));
        }
        let wait = Duration::from_secs(self.hub.limits.chat_auth_timeout_seconds);
        let deadline = Instant::now() + wait;
        loop {
            let next = tokio::select! {
                () = self.hub.shutdown.cancelled() => return Err(Closing(Some(close::GOING_AWAY))),
                () = tokio::time::sleep_until(deadline) => return Err(Closing(Some(close::TOKEN_INVALID))),
                next = self.socket.next() => next,
            };
            let text = match self.incoming(next)? {
                Some(text) => text,
                None => continue,
            };
            match frames::ClientFrame::parse(&text) {
                Ok(frames::ClientFrame::Auth { id, token }) => {
                    return match authenticate(&self.state, &token).await {
                        Ok((user, subject)) => Ok((
                            Identity {
                                user,
                                expires_at: subject.expires_at,
                            },
                            id,
                        )),
                        Err(err) => Err(Closing(Some(close_code_for(&err)))),
                    };
                }
                Ok(other) => {
                    let reply = frames::error(
                        other.id(),
                        "not-authenticated",
                        "the first frame must be `auth` (or connect with an Authorization header)",
                    );
                    self.send_text(reply).await?;
                }
                Err(err) => {
                    let reply = frames::error(err.id.as_deref(), err.code, &err.message);
                    self.send_text(reply).await?;
                }
            }
        }
    }

    /// A frame from the client: its text, `None` for control frames, or the end.
    fn incoming(&mut self, next: Option<io::Result<Message>>) -> Result<Option<String>, Closing> {
        match next {
            None | Some(Ok(Message::Close(_))) => Err(Closing(None)),
            Some(Ok(Message::Text(text))) => Ok(Some(text)),
            Some(Ok(Message::Binary(_))) => Err(Closing(Some(close::UNSUPPORTED))),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
            // tungstenite refuses an oversize frame from its header, before buffering it; poem
            // passes the error on as text ("Space limit exceeded: Message too long: ...").
            Some(Err(err)) if err.to_string().starts_with("Space limit exceeded") => {
                Err(Closing(Some(close::TOO_BIG)))
            }
            Some(Err(_)) => Err(Closing(None)),
        }
    }

    async fn serve(&mut self, mut identity: Identity, reply_id: Option<String>) -> Closing {
        if self.hub.connections_of(identity.user.id) >= self.hub.limits.chat_max_connections_per_user {
            return Closing(Some(close::TOO_MANY_CONNECTIONS));
        }
        let (tx, mut rx) = mpsc::channel(self.hub.limits.chat_send_buffer);
        let handle = self
            .hub
            .new_connection(identity.user.id, identity.user.session_id, tx);
        self.handle = Some(handle.clone());
        self.hub.metrics.open.inc();
        let closing = self.serve_with(&handle, &mut rx, &mut identity, reply_id).await;
        self.hub.metrics.open.dec();
        self.hub.remove_connection(&handle, self.cursors.keys().copied());
        closing
    }

    async fn serve_with(
        &mut self,
        handle: &ConnHandle,
        rx: &mut mpsc::Receiver<Push>,
        identity: &mut Identity,
        reply_id: Option<String>,
    ) -> Closing {
        let ready = frames::ready(
            reply_id.as_deref(),
            identity.user.id,
            identity.user.session_id,
            identity.expires_at,
            handle.id,
            &self.hub.limits,
        );
        if let Err(closing) = self.send_text(ready).await {
            return closing;
        }
        let limits = &self.hub.limits;
        let idle_timeout = Duration::from_secs(limits.chat_idle_timeout_seconds);
        let mut pings = tokio::time::interval(Duration::from_secs(limits.chat_ping_interval_seconds));
        pings.tick().await;
        let mut heard = Instant::now();
        loop {
            let expiry = expiry_instant(identity.expires_at);
            let step = tokio::select! {
                biased;
                () = handle.kill.cancelled() => return Closing(Some(handle.close_code())),
                () = tokio::time::sleep_until(expiry) => Err(Closing(Some(close::TOKEN_EXPIRED))),
                Some(push) = rx.recv() => self.pushed(push, identity.user.id).await,
                next = self.socket.next() => {
                    heard = Instant::now();
                    match self.incoming(next) {
                        Ok(Some(text)) => self.frame(&text, identity).await,
                        Ok(None) => Ok(()),
                        Err(closing) => Err(closing),
                    }
                }
                _ = pings.tick() => {
                    if heard.elapsed() >= idle_timeout {
                        Err(Closing(Some(close::HEARTBEAT_TIMEOUT)))
                    } else {
                        match tokio::time::timeout(WRITE_TIMEOUT, self.socket.send(Message::Ping(Vec::new()))).await {
                            Ok(Ok(())) => Ok(()),
                            _ => Err(Closing(None)),
                        }
                    }
                }
            };
            if let Err(closing) = step {
                return closing;
            }
        }
    }

    /// An event from the hub: sent if it is the next one of its room, after the gap before it.
    async fn pushed(&mut self, push: Push, me: Uuid) -> Step {
        let (room, seq, frame, leaving) = match push {
            Push::Room {
                room,
                seq,
                frame,
                leaving,
            } => (room, seq, frame, leaving),
            Push::User(event) => return self.send_text(frames::job_event(&event)).await,
            Push::Ephemeral { room, frame } => {
                if self.cursors.contains_key(&room) {
                    self.send_text(frame.as_ref()).await?;
                }
                return Ok(());
            }
        };
        let Some(&cursor) = self.cursors.get(&room) else {
            return Ok(());
        };
        if seq <= cursor {
            return Ok(());
        }
        if seq > cursor + 1 {
            self.catch_up(room, cursor, seq - 1).await?;
        }
        self.send_text(frame.as_ref()).await?;
        self.cursors.insert(room, seq);
        // Removed from the room: this was the last of its events for this user.
        if leaving == Some(me) {
            self.leave(room);
        }
        Ok(())
    }

    fn leave(&mut self, room: Uuid) {
        if self.cursors.remove(&room).is_some()
            && let Some(handle) = &self.handle
        {
            self.hub.unsubscribe(room, handle.id);
        }
    }

    /// Sends the events of `room` after `after` up to `upto` from the database.
    async fn catch_up(&mut self, room: Uuid, mut after: i64, upto: i64) -> Step {
        while after < upto {
            let page = store::events_between(&self.hub.pool, room, after, upto, CATCH_UP_PAGE)
                .await
                .map_err(|err| {
                    tracing::warn!(error = %err, "chat: could not read events to catch up");
                    Closing(Some(close::INTERNAL))
                })?;
            let Some(last) = page.last().map(|e| e.seq) else {
                break;
            };
            for event in &page {
                self.send_text(frames::room_event(event)).await?;
            }
            after = last;
            self.cursors.insert(room, last);
        }
        self.cursors.insert(room, upto.max(after));
        Ok(())
    }

    async fn frame(&mut self, text: &str, identity: &mut Identity) -> Step {
        if let Err(retry_after_ms) = self.bucket.take() {
            if self.bucket.refused_in_a_row > RATE_LIMITED_CLOSE_AFTER {
                return Err(Closing(Some(close::RATE_LIMITED)));
            }
            let id = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_owned)));
            let reply = frames::rate_limited(id.as_deref(), "too many frames; slow down", retry_after_ms);
            return self.send_text(reply).await;
        }
        let frame = match frames::ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(err) => {
                return self
                    .send_text(frames::error(err.id.as_deref(), err.code, &err.message))
                    .await;
            }
        };
        match frame {
            frames::ClientFrame::Ping { id } => self.send_text(frames::pong(&id)).await,
            frames::ClientFrame::Auth { id, token } => self.reauthenticate(id, &token, identity).await,
            frames::ClientFrame::Subscribe { id, room, since } => {
                self.subscribe(&id, room, since, identity.user.id).await
            }
            frames::ClientFrame::Unsubscribe { id, room } => {
                self.leave(room);
                self.send_text(frames::ack(&id)).await
            }
            frames::ClientFrame::Edit {
                id,
                room,
                message_id,
                body,
            } => {
                if let Err(step) = self.check_body(&id, &body).await {
                    return step;
                }
                let change = store::Change::Edit(&body);
                self.change_message(&id, room, message_id, change, identity.user.id)
                    .await
            }
            frames::ClientFrame::Delete { id, room, message_id } => {
                self.change_message(&id, room, message_id, store::Change::Delete, identity.user.id)
                    .await
            }
            frames::ClientFrame::Receipt { id, room, seq, kind } => {
                let read = kind == frames::ReceiptKind::Read;
                match store::receipt(&self.hub.pool, room, identity.user.id, seq, read).await {
                    Ok(Some(_)) => self.send_text(frames::ack(&id)).await,
                    Ok(None) => {
                        self.send_text(frames::error(Some(&id), "room-not-found", ROOM_NOT_FOUND))
                            .await
                    }
                    Err(err) => self.internal(&id, &err).await,
                }
            }
            frames::ClientFrame::Typing { id, room } => self.typing(&id, room, identity.user.id).await,
            frames::ClientFrame::Send { id, room, body } => {
                self.send_message(&id, room, &body, identity.user.id).await
            }
        }
    }

    async fn reauthenticate(&mut self, id: Option<String>, token: &str, identity: &mut Identity) -> Step {
        match authenticate(&self.state, token).await {
            Ok((user, subject)) if user.id == identity.user.id => {
                identity.expires_at = subject.expires_at;
                let mut reply = serde_json::json!({ "type": "ack", "expires_at": subject.expires_at });
                if let Some(id) = id {
                    reply["id"] = serde_json::json!(id);
                }
                self.send_text(reply.to_string()).await
            }
            Ok(_) => {
                let reply = frames::error(id.as_deref(), "token-invalid", "the token is another account's");
                self.send_text(reply).await
            }
            Err(err) => Err(Closing(Some(close_code_for(&err)))),
        }
    }

    async fn subscribe(&mut self, id: &str, room: Uuid, since: Option<i64>, user: Uuid) -> Step {
        let found = match store::room_of_member(&self.hub.pool, room, user).await {
            Ok(found) => found,
            Err(err) => return self.internal(id, &err).await,
        };
        let Some(found) = found else {
            return self
                .send_text(frames::error(
                    Some(id),
                    "room-not-found",
                    "no such room, or you are not a member",
                ))
                .await;
        };
        let last_seq = found.last_seq;
        let since = since.unwrap_or(last_seq).clamp(0, last_seq);
        if last_seq - since > CATCH_UP_MAX {
            return self
                .send_text(frames::error(
                    Some(id),
                    "resync-required",
                    "too far behind: read the history over HTTP, then subscribe from its newest event",
                ))
                .await;
        }
        // Registered before reading, so nothing committed after the read can be missed: what
        // the hub pushes meanwhile waits in the buffer and is sent or dropped by the cursor.
        if let Some(handle) = &self.handle {
            self.hub.subscribe(room, handle);
        }
        self.cursors.insert(room, since);
        self.catch_up(room, since, last_seq).await?;
        self.send_text(frames::subscribed(id, room, last_seq)).await
    }

    /// `Err` (with the step to return) when a body is empty or too long; the error was sent.
    async fn check_body(&mut self, id: &str, body: &str) -> Result<(), Step> {
        if body.is_empty() || body.len() > MAX_BODY_BYTES {
            let message = format!("a message body is 1 to {MAX_BODY_BYTES} bytes");
            return Err(self
                .send_text(frames::error(Some(id), "body-too-long", &message))
                .await);
        }
        Ok(())
    }

    async fn change_message(
        &mut self,
        id: &str,
        room: Uuid,
        message: Uuid,
        change: store::Change<'_>,
        user: Uuid,
    ) -> Step {
        match store::change_message(&self.hub.pool, room, user, message, change).await {
            Ok(changed) => self.send_text(frames::changed(id, room, changed.seq)).await,
            Err(store::MessageError::NotFound) => {
                self.send_text(frames::error(
                    Some(id),
                    "message-not-found",
                    "no such message in this room",
                ))
                .await
            }
            Err(store::MessageError::NotAuthor) => {
                let message =
                    "only its author may edit a message; its author, the owner or a moderator may delete it";
                self.send_text(frames::error(Some(id), "not-author", message))
                    .await
            }
            Err(store::MessageError::Room(store::RoomError::Db(err))) => self.internal(id, &err).await,
            Err(store::MessageError::Room(_)) => {
                self.send_text(frames::error(Some(id), "room-not-found", ROOM_NOT_FOUND))
                    .await
            }
        }
    }

    /// Passes "typing" on to the room, at most once per room every [`TYPING_EVERY`].
    async fn typing(&mut self, id: &str, room: Uuid, user: Uuid) -> Step {
        let now = Instant::now();
        if self
            .typed
            .get(&room)
            .is_some_and(|last| now.duration_since(*last) < TYPING_EVERY)
        {
            return Ok(());
        }
        match store::role(&self.hub.pool, room, user).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return self
                    .send_text(frames::error(Some(id), "room-not-found", ROOM_NOT_FOUND))
                    .await;
            }
            Err(err) => return self.internal(id, &err).await,
        }
        self.typed.insert(room, now);
        let note = serde_json::json!({ "r": room, "t": "typing", "u": user });
        match store::announce_ephemeral(&self.hub.pool, &note).await {
            Ok(()) => Ok(()),
            Err(err) => self.internal(id, &err).await,
        }
    }

    async fn send_message(&mut self, id: &str, room: Uuid, body: &str, user: Uuid) -> Step {
        if let Err(step) = self.check_body(id, body).await {
            return step;
        }
        let per_second = self.hub.limits.chat_messages_per_second;
        match store::send(&self.hub.pool, room, user, id, body, per_second).await {
            Ok(sent) => {
                if sent.fresh {
                    self.hub
                        .hand_out_sent(&store::EventRow::created(room, user, &sent, body));
                }
                self.send_text(frames::sent(id, room, &sent)).await
            }
            Err(store::SendError::Room(store::RoomError::NotFound)) => {
                self.send_text(frames::error(
                    Some(id),
                    "room-not-found",
                    "no such room, or you are not a member",
                ))
                .await
            }
            Err(store::SendError::Room(store::RoomError::Muted(until))) => {
                let message = format!("you are muted in this room until {}", until.to_rfc3339());
                self.send_text(frames::error(Some(id), "muted", &message)).await
            }
            Err(store::SendError::RateLimited(retry_after_ms)) => {
                let message =
                    format!("you sent {per_second} messages this second, the most allowed; try again later");
                self.send_text(frames::rate_limited(Some(id), &message, retry_after_ms))
                    .await
            }
            Err(store::SendError::Room(store::RoomError::Forbidden | store::RoomError::NoSuchUser)) => {
                self.send_text(frames::error(Some(id), "forbidden", "not allowed"))
                    .await
            }
            Err(store::SendError::Room(store::RoomError::Db(err))) => self.internal(id, &err).await,
        }
    }

    async fn internal(&mut self, id: &str, err: &sqlx::Error) -> Step {
        tracing::error!(error = %err, "chat: database error");
        self.send_text(frames::error(
            Some(id),
            "internal",
            "something went wrong on our side; try again",
        ))
        .await
    }
}

/// The longest message body, in bytes (the column's check says the same).
const MAX_BODY_BYTES: usize = 4000;
/// Refused frames in a row after which a client that keeps sending is closed (4009).
const RATE_LIMITED_CLOSE_AFTER: u32 = 10;
/// How often one connection's "typing" in a room is passed on.
const TYPING_EVERY: Duration = Duration::from_secs(3);
const ROOM_NOT_FOUND: &str = "no such room, or you are not a member";

fn expiry_instant(expires_at: u64) -> Instant {
    let now = crate::auth::unix_now();
    Instant::now() + Duration::from_secs(expires_at.saturating_sub(now))
}
