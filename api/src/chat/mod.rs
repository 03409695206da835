//! Real-time chat over a WebSocket (`GET /v1/ws`): rooms, their messages and events, pushed to
//! every connection subscribed to them on any API instance (docs/realtime.md).
//!
//! - [`store`]: every chat query; a room's events are numbered gap-free under the room's lock.
//! - [`frames`]: the JSON frames, in and out.
//! - [`listener`]: one Postgres `LISTEN` per instance; notifications carry ids, the events are
//!   read back from the database once per instance and handed to the local connections. A
//!   message sent through this instance is handed out at once when it is its room's next
//!   ([`ChatHub::hand_out_sent`]); its notification then finds it handed out.
//! - [`connection`]: one task per socket: authentication, subscriptions with catch-up,
//!   sending, heartbeat, limits and the close codes.
//!
//! Persistence first: a message is committed before it is acknowledged or fanned out. Each
//! connection keeps, per room, the last event number it passed on, so whatever reaches it late,
//! twice or not at all through the notifications, it sends each event once and in order (a gap
//! is read from the database).

pub mod connection;
pub mod frames;
pub mod listener;
pub mod presence;
pub mod store;
pub mod upgrade;

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

/// What bounds the sockets. Each field's variable is its name in upper case with `VEZA_` in
/// front (e.g. `VEZA_CHAT_MAX_FRAME_BYTES`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ChatLimits {
    /// Largest frame a client may send (default 16 KiB); larger closes the socket with 1009.
    pub chat_max_frame_bytes: usize,
    /// Frames waiting to be written to one socket (default 256); a client that lets more pile
    /// up is closed with 4008 so that it never slows the others.
    pub chat_send_buffer: usize,
    /// How long a socket without an `Authorization` header has to send its `auth` frame
    /// (default 10 s); then 4001.
    pub chat_auth_timeout_seconds: u64,
    /// How often the server pings (default 25 s).
    pub chat_ping_interval_seconds: u64,
    /// Silence after which a client is taken for dead (default 60 s): 4010.
    pub chat_idle_timeout_seconds: u64,
    /// Frames per second one connection may send (default 20); more get `rate-limited` errors,
    /// and a client that keeps on is closed with 4009.
    pub chat_frames_per_second: u32,
    /// The burst above that rate (default 40 frames).
    pub chat_frame_burst: u32,
    /// Sockets one user may hold on one API instance (default 20); more are closed with 4013.
    pub chat_max_connections_per_user: usize,
    /// Messages one user may send per second, counted across every instance in Postgres
    /// (default 10); more get `rate-limited` errors with the wait until the next second.
    pub chat_messages_per_second: u32,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            chat_max_frame_bytes: 16 * 1024,
            chat_send_buffer: 256,
            chat_auth_timeout_seconds: 10,
            chat_ping_interval_seconds: 25,
            chat_idle_timeout_seconds: 60,
            chat_frames_per_second: 20,
            chat_frame_burst: 40,
            chat_max_connections_per_user: 20,
            chat_messages_per_second: 10,
        }
    }
}

impl ChatLimits {
    /// Adds a line to `problems` for each value that cannot work.
    pub fn validate(&self, problems: &mut Vec<String>) {
        let positive = [
            ("VEZA_CHAT_MAX_FRAME_BYTES", self.chat_max_frame_bytes as u64),
            ("VEZA_CHAT_SEND_BUFFER", self.chat_send_buffer as u64),
            ("VEZA_CHAT_AUTH_TIMEOUT_SECONDS", self.chat_auth_timeout_seconds),
            ("VEZA_CHAT_PING_INTERVAL_SECONDS", self.chat_ping_interval_seconds),
            ("VEZA_CHAT_IDLE_TIMEOUT_SECONDS", self.chat_idle_timeout_seconds),
            (
                "VEZA_CHAT_FRAMES_PER_SECOND",
                u64::from(self.chat_frames_per_second),
            ),
            ("VEZA_CHAT_FRAME_BURST", u64::from(self.chat_frame_burst)),
            (
                "VEZA_CHAT_MAX_CONNECTIONS_PER_USER",
                self.chat_max_connections_per_user as u64,
            ),
            (
                "VEZA_CHAT_MESSAGES_PER_SECOND",
                u64::from(self.chat_messages_per_second),
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                problems.push(format!("{name} must be positive"));
            }
        }
        if self.chat_idle_timeout_seconds <= self.chat_ping_interval_seconds {
            problems.push(
                "VEZA_CHAT_IDLE_TIMEOUT_SECONDS must be longer than VEZA_CHAT_PING_INTERVAL_SECONDS".into(),
            );
        }
    }
}

/// The sockets' metrics.
#[derive(Clone, Default)]
pub struct ChatMetrics {
    open: prometheus_client::metrics::gauge::Gauge,
    closes:
        prometheus_client::metrics::family::Family<CloseLabels, prometheus_client::metrics::counter::Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct CloseLabels {
    reason: &'static str,
}

impl ChatMetrics {
    /// Registers `veza_chat_connections` and `veza_chat_closes_total`.
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "veza_chat_connections",
            "Authenticated chat sockets open on this instance",
            metrics.open.clone(),
        );
        registry.register(
            "veza_chat_closes",
            "Chat sockets closed by the server, by close reason (slow-consumer, heartbeat-timeout, ...)",
            metrics.closes.clone(),
        );
        // Every reason from zero, so a rate over them works before the first close.
        for code in close::ALL {
            let _ = metrics.closes.get_or_create(&CloseLabels {
                reason: close::reason(code),
            });
        }
        metrics
    }

    fn closed(&self, code: u16) {
        self.closes
            .get_or_create(&CloseLabels {
                reason: close::reason(code),
            })
            .inc();
    }
}

/// What the hub hands a connection.
#[derive(Debug)]
pub enum Push {
    /// Event `seq` of `room`, already serialized (once per instance, shared by every recipient).
    Room {
        /// The room.
        room: Uuid,
        /// The event's number.
        seq: i64,
        /// The `room.event` frame.
        frame: Arc<str>,
        /// The member this event removes from the room (left or kicked): their sockets stop
        /// receiving it after this event.
        leaving: Option<Uuid>,
    },
    /// A job event of the user (its JSON body, as webhooks deliver it).
    User(Arc<str>),
    /// Something ephemeral about a room (typing, a receipt): passed on as it is, no number.
    Ephemeral {
        /// The room.
        room: Uuid,
        /// The frame.
        frame: Arc<str>,
    },
}

/// Close codes of the socket (documented in `openapi/asyncapi.yaml`).
pub mod close {
    /// The server is shutting down; reconnect elsewhere or later.
    pub const GOING_AWAY: u16 = 1001;
    /// A binary frame.
    pub const UNSUPPORTED: u16 = 1003;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// A bad token, or no `auth` frame in time.
    pub const TOKEN_INVALID: u16 = 4001;
    /// The token expired without a fresh `auth` frame.
    pub const TOKEN_EXPIRED: u16 = 4002;
    /// The session was signed out or the account deleted.
    pub const TOKEN_REVOKED: u16 = 4003;
    /// The client read too slowly: its send buffer filled.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The client kept sending over its rate limit.
    pub const RATE_LIMITED: u16 = 4009;
    /// Nothing heard from the client for the idle timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4010;
    /// The server could not go on (the database failed mid-catch-up).
    pub const INTERNAL: u16 = 1011;
    /// The user holds as many sockets on this instance as allowed.
    pub const TOO_MANY_CONNECTIONS: u16 = 4013;

    /// Every code the server sends.
    pub const ALL: [u16; 11] = [
        GOING_AWAY,
        UNSUPPORTED,
        TOO_BIG,
        TOKEN_INVALID,
        TOKEN_EXPIRED,
        TOKEN_REVOKED,
        SLOW_CONSUMER,
        RATE_LIMITED,
        HEARTBEAT_TIMEOUT,
        INTERNAL,
        TOO_MANY_CONNECTIONS,
    ];

    /// The reason sent with a code.
    pub fn reason(code: u16) -> &'static str {
        match code {
            GOING_AWAY => "server-shutting-down",
            UNSUPPORTED => "binary-frames-unsupported",
            TOO_BIG => "frame-too-large",
            TOKEN_INVALID => "token-invalid",
            TOKEN_EXPIRED => "token-expired",
            TOKEN_REVOKED => "token-revoked",
            SLOW_CONSUMER => "slow-consumer",
            RATE_LIMITED => "rate-limited",
            HEARTBEAT_TIMEOUT => "heartbeat-timeout",
            INTERNAL => "internal-error",
            TOO_MANY_CONNECTIONS => "too-many-connections",
            _ => "closed",
        }
    }
}

/// How the hub reaches one connection.
#[derive(Clone)]
pub struct ConnHandle {
    id: u64,
    user_id: Uuid,
    session_id: Uuid,
    tx: mpsc::Sender<Push>,
    kill: CancellationToken,
    /// The close code the connection sends when `kill` fires.
    close_code: Arc<AtomicU16>,
}

impl ConnHandle {
    /// Cancelled when the connection must end (its session revoked, a full buffer, shutdown).
    pub fn ended(&self) -> CancellationToken {
        self.kill.clone()
    }

    /// Closes the connection with `code` (the first code given wins).
    fn close_with(&self, code: u16) {
        let _ = self
            .close_code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.kill.cancel();
    }

    /// The code to close with now that `kill` fired: the one given, or 1001 when the hub shut
    /// down (a child token cancelled with no code).
    fn close_code(&self) -> u16 {
        match self.close_code.load(Ordering::SeqCst) {
            0 => close::GOING_AWAY,
            code => code,
        }
    }

    /// Queues `push` without waiting; a full buffer closes the connection as a slow consumer.
    fn push(&self, push: Push) {
        match self.tx.try_send(push) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.close_with(close::SLOW_CONSUMER),
            // The connection is ending.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The local subscribers of one room and the highest event number handed to them.
#[derive(Default)]
struct RoomSubs {
    /// `None` until the first event reaches this instance.
    handed: Option<i64>,
    conns: HashMap<u64, ConnHandle>,
}

/// The connections of this API instance, by room and by session, and their shutdown.
pub struct ChatHub {
    pool: PgPool,
    /// This API instance, in `chat_presence`.
    instance: Uuid,
    /// Users whose connections here came or went (see `presence`).
    presence_changes: mpsc::UnboundedSender<Uuid>,
    limits: ChatLimits,
    metrics: ChatMetrics,
    rooms: RwLock<HashMap<Uuid, RoomSubs>>,
    sessions: RwLock<HashMap<Uuid, HashMap<u64, ConnHandle>>>,
    users: RwLock<HashMap<Uuid, HashMap<u64, ConnHandle>>>,
    next_id: AtomicU64,
    /// Cancelled when the API shuts down: every connection sends 1001 and ends.
    shutdown: CancellationToken,
    /// The connection tasks (poem does not wait for upgraded sockets) and the presence task.
    tracker: TaskTracker,
}

impl ChatHub {
    /// A hub with no connections.
    /// Starts its presence task: call inside the runtime.
    pub fn new(pool: PgPool, limits: ChatLimits, metrics: ChatMetrics) -> Arc<Self> {
        let (presence_changes, changes) = mpsc::unbounded_channel();
        let hub = Arc::new(Self {
            pool,
            instance: Uuid::now_v7(),
            presence_changes,
            limits,
            metrics,
            rooms: RwLock::default(),
            sessions: RwLock::default(),
            users: RwLock::default(),
            next_id: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        });
        // Tracked with the connections, so the shutdown waits for its last write (this
        // instance's rows removed, its users announced offline).
        hub.tracker.spawn(presence::run(hub.clone(), changes));
        hub
    }

    /// The limits of the sockets.
    pub fn limits(&self) -> &ChatLimits {
        &self.limits
    }

    /// Runs `connection` as a tracked task, so shutdown can wait for it.
    pub fn track<F>(&self, connection: F) -> tokio_util::task::task_tracker::TrackedFuture<F>
    where
        F: std::future::Future<Output = ()>,
    {
        self.tracker.track_future(connection)
    }

    /// Tells every connection to close with 1001 (and the listener to stop).
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Tells every connection to close with 1001 and waits up to `grace` for them to end.
    pub async fn shut_down(&self, grace: Duration) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait()).await.is_err() {
            tracing::warn!(
                open = self.tracker.len(),
                "chat connections still open at the end of the shutdown grace"
            );
        }
    }

    /// Live connections of `user` on this instance.
    pub fn connections_of(&self, user: Uuid) -> usize {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&user)
            .map_or(0, HashMap::len)
    }

    /// Registers a connection (a socket or an event stream) of `user_id`'s session.
    pub fn new_connection(
        self: &Arc<Self>,
        user_id: Uuid,
        session_id: Uuid,
        tx: mpsc::Sender<Push>,
    ) -> ConnHandle {
        let handle = ConnHandle {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            user_id,
            session_id,
            tx,
            kill: self.shutdown.child_token(),
            close_code: Arc::new(AtomicU16::new(0)),
        };
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(session_id)
            .or_default()
            .insert(handle.id, handle.clone());
        let first = {
            let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
            let conns = users.entry(user_id).or_default();
            conns.insert(handle.id, handle.clone());
            conns.len() == 1
        };
        if first {
            let _ = self.presence_changes.send(user_id);
        }
        handle
    }

    /// Whether `user` has connections on this instance.
    fn has_user(&self, user: Uuid) -> bool {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&user)
    }

    /// Hands job event `frame` to every connection of `user` on this instance.
    fn hand_to_user(&self, user: Uuid, frame: &str) {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        let frame: Arc<str> = frame.into();
        for conn in users.get(&user).into_iter().flat_map(HashMap::values) {
            conn.push(Push::User(frame.clone()));
        }
    }

    /// Reads job event `event_type` of `job` and hands it to its owner's connections here.
    async fn job_event(&self, owner: Uuid, job: Uuid, event_type: &str) -> Result<(), sqlx::Error> {
        if !self.has_user(owner) {
            return Ok(());
        }
        if let Some((owner, event)) = veza_jobs::live::event(&self.pool, job, event_type).await? {
            match serde_json::to_string(&event) {
                Ok(body) => self.hand_to_user(owner, &body),
                Err(err) => tracing::error!(error = %err, "chat: could not serialize a job event"),
            }
        }
        Ok(())
    }

    fn subscribe(&self, room: Uuid, conn: &ConnHandle) {
        self.rooms
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(room)
            .or_default()
            .conns
            .insert(conn.id, conn.clone());
    }

    fn unsubscribe(&self, room: Uuid, conn_id: u64) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(subs) = rooms.get_mut(&room) {
            subs.conns.remove(&conn_id);
            if subs.conns.is_empty() {
                rooms.remove(&room);
            }
        }
    }

    /// Forgets a connection (it ended).
    pub fn remove_connection(&self, conn: &ConnHandle, rooms: impl IntoIterator<Item = Uuid>) {
        for room in rooms {
            self.unsubscribe(room, conn.id);
        }
        let mut last = false;
        for (index, key) in [(&self.sessions, conn.session_id), (&self.users, conn.user_id)] {
            let mut map = index.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(conns) = map.get_mut(&key) {
                conns.remove(&conn.id);
                if conns.is_empty() {
                    map.remove(&key);
                    last = key == conn.user_id;
                }
            }
        }
        // Gone from this instance.
        if last {
            let _ = self.presence_changes.send(conn.user_id);
        }
    }

    /// Closes every connection of `session` with `code` (a revoked session: 4003).
    fn close_session(&self, session: Uuid, code: u16) {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        for conn in sessions.get(&session).into_iter().flat_map(HashMap::values) {
            conn.close_with(code);
        }
    }

    /// The range of events to read for rooms announced up to the given numbers: from what was
    /// last handed to local connections (or just below the lowest announced), for rooms that
    /// have local subscribers.
    fn ranges_to_read(&self, announced: &HashMap<Uuid, (i64, i64)>) -> Vec<(Uuid, i64, i64)> {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        announced
            .iter()
            .filter_map(|(room, &(lowest, highest))| {
                let subs = rooms.get(room)?;
                let after = subs.handed.unwrap_or(lowest - 1);
                (highest > after).then_some((*room, after, highest))
            })
            .collect()
    }

    /// Hands `events` (in order per room) to the local connections subscribed to their rooms.
    fn hand_out(&self, events: &[store::EventRow]) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            let Some(subs) = rooms.get_mut(&event.room_id) else {
                continue;
            };
            if subs.handed.is_some_and(|handed| handed >= event.seq) {
                continue;
            }
            Self::hand_out_one(subs, event);
        }
    }

    fn hand_out_one(subs: &mut RoomSubs, event: &store::EventRow) {
        subs.handed = Some(event.seq);
        let frame: Arc<str> = frames::room_event(event).into();
        let leaving = matches!(event.kind.as_str(), "member.left" | "member.kicked")
            .then_some(event.subject_id)
            .flatten();
        for conn in subs.conns.values() {
            conn.push(Push::Room {
                room: event.room_id,
                seq: event.seq,
                frame: frame.clone(),
                leaving,
            });
        }
    }

    /// Hands out a message just stored through this instance, without waiting for its
    /// notification and a read: only when it is the next of its room here (the room's earlier
    /// events all handed out), so the order holds; otherwise the listener hands it out, as it
    /// does for other instances' messages. Its notification then finds it handed out already.
    pub fn hand_out_sent(&self, event: &store::EventRow) {
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(subs) = rooms.get_mut(&event.room_id)
            && subs.handed == Some(event.seq - 1)
        {
            Self::hand_out_one(subs, event);
        }
    }

    /// Hands an ephemeral frame about `room` to its local subscribers.
    fn hand_out_ephemeral(&self, room: Uuid, frame: &str) {
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        let Some(subs) = rooms.get(&room) else {
            return;
        };
        let frame: Arc<str> = frame.into();
        for conn in subs.conns.values() {
            conn.push(Push::Ephemeral {
                room,
                frame: frame.clone(),
            });
        }
    }

    /// Reads and hands out the events announced (room → lowest and highest number announced).
    async fn announced(&self, announced: &HashMap<Uuid, (i64, i64)>) -> Result<(), sqlx::Error> {
        let ranges = self.ranges_to_read(announced);
        if ranges.is_empty() {
            return Ok(());
        }
        let events = store::events_in_ranges(&self.pool, &ranges).await?;
        self.hand_out(&events);
        Ok(())
    }

    /// After the listener lost its connection (notifications in between are gone): reads every
    /// locally subscribed room's events past what was handed out.
    async fn resync(&self) -> Result<(), sqlx::Error> {
        let rooms: Vec<Uuid> = self
            .rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        if rooms.is_empty() {
            return Ok(());
        }
        let latest = store::last_seqs(&self.pool, &rooms).await?;
        let announced: HashMap<Uuid, (i64, i64)> = latest
            .into_iter()
            .map(|(room, last)| (room, (last, last)))
            .collect();
        self.announced(&announced).await
    }
}
