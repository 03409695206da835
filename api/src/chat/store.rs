//! Every chat query. A room's events are numbered by its counter (`chat_rooms.last_seq`), bumped
//! under the room row's lock in the transaction that writes the event, so a room's events commit
//! in number order with no gaps; each such transaction ends with a `veza_chat` notification that
//! carries the room and the number, never a body (migrations/20261208100000_chat.sql).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use veza_jobs::audit::{self, Action, Event};

/// The channel room events are announced on.
pub const ROOM_CHANNEL: &str = "veza_chat";

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Created the room; may do anything in it.
    Owner,
    /// May add, kick and mute members and delete others' messages.
    Moderator,
    /// May read and send.
    Member,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Moderator => "moderator",
            Self::Member => "member",
        }
    }

    fn parse(role: &str) -> Self {
        match role {
            "owner" => Self::Owner,
            "moderator" => Self::Moderator,
            _ => Self::Member,
        }
    }

    /// Whether the role may manage members.
    pub fn manages(self) -> bool {
        matches!(self, Self::Owner | Self::Moderator)
    }
}

/// A room as its members see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Room {
    /// Id.
    pub id: Uuid,
    /// `group` or `direct`.
    pub kind: String,
    /// Name (group rooms).
    pub name: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The number of its latest event.
    pub last_seq: i64,
}

/// One event of a room's log, with the current state of its message (if any).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    /// Room.
    pub room_id: Uuid,
    /// Its number in the room.
    pub seq: i64,
    /// What happened (`message.created`, `member.joined`, ...).
    pub kind: String,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
    /// The message it is about.
    pub message_id: Option<Uuid>,
    /// The message's current body (none once deleted).
    pub body: Option<String>,
    /// When the message was last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether the message was deleted.
    pub deleted: Option<bool>,
    /// The member (member events) or the media item (media events).
    pub subject_id: Option<Uuid>,
}

impl EventRow {
    /// The `message.created` event of a message just stored (as the database reads it back
    /// until the message changes).
    pub fn created(room: Uuid, sender: Uuid, sent: &Sent, body: &str) -> Self {
        Self {
            room_id: room,
            seq: sent.seq,
            kind: "message.created".into(),
            actor_id: Some(sender),
            at: sent.at,
            message_id: Some(sent.message_id),
            body: Some(body.to_owned()),
            edited_at: None,
            deleted: Some(false),
            subject_id: None,
        }
    }
}

/// A message stored (or found stored under the same client id).
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// The message's id.
    pub message_id: Uuid,
    /// Its event's number.
    pub seq: i64,
    /// When it was stored.
    pub at: DateTime<Utc>,
    /// Stored by this call (not found stored under the same client id).
    pub fresh: bool,
}

/// Why a write to a room was refused.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// No such room, or the user is not in it (existence is not revealed to outsiders).
    #[error("no such room")]
    NotFound,
    /// The user is muted in this room until then.
    #[error("muted until {0}")]
    Muted(DateTime<Utc>),
    /// The user's role does not allow it.
    #[error("the member's role does not allow this")]
    Forbidden,
    /// The account to add does not exist.
    #[error("no such account")]
    NoSuchUser,
    /// Postgres.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not a member, muted, or the database.
    #[error(transparent)]
    Room(#[from] RoomError),
    /// The sender sent its messages of this second already; it may send again in this many
    /// milliseconds.
    #[error("too many messages; retry in {0} ms")]
    RateLimited(u64),
}

impl From<sqlx::Error> for SendError {
    fn from(err: sqlx::Error) -> Self {
        Self::Room(RoomError::Db(err))
    }
}

/// Takes the next number of `room`'s counter, locking the room row until the transaction ends.
/// `None`: no such room.
async fn next_seq(conn: &mut PgConnection, room: Uuid) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("update chat_rooms set last_seq = last_seq + 1 where id = $1 returning last_seq")
        .bind(room)
        .fetch_optional(conn)
        .await
}

/// Announces event `seq` of `room` to every API instance (delivered at commit).
async fn announce(conn: &mut PgConnection, room: Uuid, seq: i64) -> Result<(), sqlx::Error> {
    let payload = serde_json::json!({ "r": room, "s": seq }).to_string();
    sqlx::query("select pg_notify($1, $2)")
        .bind(ROOM_CHANNEL)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_event(
    conn: &mut PgConnection,
    room: Uuid,
    seq: i64,
    kind: &str,
    actor: Uuid,
    message: Option<Uuid>,
    subject: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into chat_events (room_id, seq, kind, actor_id, message_id, subject_id)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(room)
    .bind(seq)
    .bind(kind)
    .bind(actor)
    .bind(message)
    .bind(subject)
    .execute(&mut *conn)
    .await?;
    announce(conn, room, seq).await
}

/// Creates a group room with `owner` as its owner (event 1: the owner joined).
pub async fn create_room(pool: &PgPool, owner: Uuid, name: &str, public: bool) -> Result<Room, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let room: Room = sqlx::query_as(
        "insert into chat_rooms (id, kind, name, visibility, created_by, last_seq)
         values ($1, 'group', $2, $3, $4, 1)
         returning id, kind, name, visibility, created_at, last_seq",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(if public { "public" } else { "private" })
    .bind(owner)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("insert into chat_members (room_id, user_id, role) values ($1, $2, 'owner')")
        .bind(room.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    insert_event(&mut tx, room.id, 1, "member.joined", owner, None, Some(owner)).await?;
    let event = Event::new(Action::RoomCreated)
        .by(owner)
        .with(serde_json::json!({ "room_id": room.id }));
    audit::record(&mut *tx, &event).await?;
    tx.commit().await?;
    Ok(room)
}

/// The role of `user` in `room`; `None` when not a member (or no such room).
pub async fn role(pool: &PgPool, room: Uuid, user: Uuid) -> Result<Option<Role>, sqlx::Error> {
    role_in(&mut *pool.acquire().await?, room, user).await
}

/// The room, if `user` is a member of it.
pub async fn room_of_member(pool: &PgPool, room: Uuid, user: Uuid) -> Result<Option<Room>, sqlx::Error> {
    sqlx::query_as(
        "select r.id, r.kind, r.name, r.visibility, r.created_at, r.last_seq
           from chat_rooms r join chat_members m on m.room_id = r.id
          where r.id = $1 and m.user_id = $2",
    )
    .bind(room)
    .bind(user)
    .fetch_optional(pool)
    .await
}

/// A member of a room, as the other members see it.
#[derive(Debug, sqlx::FromRow)]
pub struct MemberRow {
    /// The account.
    pub user_id: Uuid,
    /// `owner`, `moderator` or `member`.
    pub role: String,
    /// Muted until then.
    pub muted_until: Option<DateTime<Utc>>,
    /// The last event the member's clients reported delivered, and read.
    pub last_delivered_seq: i64,
    pub last_read_seq: i64,
    /// When it joined.
    pub joined_at: DateTime<Utc>,
    /// Connected to any instance now (presence).
    pub online: bool,
}

/// The members of `room`, oldest first, if `viewer` is one of them (`None` otherwise, so the
/// room's existence is not revealed).
pub async fn members(pool: &PgPool, room: Uuid, viewer: Uuid) -> Result<Option<Vec<MemberRow>>, sqlx::Error> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "select m.user_id, m.role, m.muted_until, m.last_delivered_seq, m.last_read_seq, m.joined_at,
                exists (select 1 from chat_presence p
                         where p.user_id = m.user_id
                           and p.seen_at > now() - make_interval(secs => $3)) as online
           from chat_members m
          where m.room_id = $1
            and exists (select 1 from chat_members v where v.room_id = $1 and v.user_id = $2)
          order by m.joined_at, m.user_id",
    )
    .bind(room)
    .bind(viewer)
    .bind(super::presence::STALE_SECONDS)
    .fetch_all(pool)
    .await?;
    // The viewer is among them when it is a member at all.
    Ok((!rows.is_empty()).then_some(rows))
}

/// Adds `user` to `room` as a member: by themself when the room is public (`actor == user`),
/// or by an owner or moderator. Joining twice changes nothing. Answers the room.
pub async fn add_member(pool: &PgPool, room: Uuid, actor: Uuid, user: Uuid) -> Result<Room, RoomError> {
    let mut tx = pool.begin().await?;
    let Some(seq) = next_seq(&mut tx, room).await? else {
        return Err(RoomError::NotFound);
    };
    let (visibility, kind): (String, String) =
        sqlx::query_as("select visibility, kind from chat_rooms where id = $1")
            .bind(room)
            .fetch_one(&mut *tx)
            .await?;
    let actor_role = role_in(&mut tx, room, actor).await?;
    let allowed = match (actor_role, actor == user) {
        (Some(role), false) => role.manages() && kind == "group",
        (Some(_), true) => true,
        (None, true) => visibility == "public" && kind == "group",
        (None, false) => return Err(RoomError::NotFound),
    };
    if !allowed {
        return Err(if actor_role.is_some() {
            RoomError::Forbidden
        } else {
            RoomError::NotFound
        });
    }
    let inserted = sqlx::query(
        "insert into chat_members (room_id, user_id, role)
         select $1, id, 'member' from users where id = $2
         on conflict do nothing",
    )
    .bind(room)
    .bind(user)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let exists: bool = sqlx::query_scalar("select exists (select 1 from users where id = $1)")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
        // Already a member: nothing happened, and the counter goes back with the rollback.
        tx.rollback().await?;
        if !exists {
            return Err(RoomError::NoSuchUser);
        }
    } else {
        insert_event(&mut tx, room, seq, "member.joined", actor, None, Some(user)).await?;
        tx.commit().await?;
    }
    room_of_member(pool, room, user).await?.ok_or(RoomError::NotFound)
}

/// Stores a message from `sender` in `room` (a member, not muted, within its `per_second`
/// messages this second, counted across every instance) and announces it. A message already
/// stored under the same `client_msg_id` by the same sender is answered again instead. One
/// statement (`chat_send`, migrations/20261209100000_chat_send_rate.sql).
pub async fn send(
    pool: &PgPool,
    room: Uuid,
    sender: Uuid,
    client_msg_id: &str,
    body: &str,
    per_second: u32,
) -> Result<Sent, SendError> {
    type Outcome = (
        String,
        Option<Uuid>,
        Option<i64>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<i64>,
    );
    let (outcome, message_id, seq, at, muted_until, retry_after_ms): Outcome = sqlx::query_as(
        "select outcome, message_id, seq, at, muted_until, retry_after_ms
           from chat_send($1, $2, $3, $4, $5, $6)",
    )
    .bind(room)
    .bind(sender)
    .bind(client_msg_id)
    .bind(body)
    .bind(Uuid::now_v7())
    .bind(i32::try_from(per_second).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await?;
    match (outcome.as_str(), message_id, seq, at, muted_until, retry_after_ms) {
        ("sent" | "resent", Some(message_id), Some(seq), Some(at), _, _) => Ok(Sent {
            message_id,
            seq,
            at,
            fresh: outcome == "sent",
        }),
        ("not-member", ..) => Err(RoomError::NotFound.into()),
        ("muted", _, _, _, Some(until), _) => Err(RoomError::Muted(until).into()),
        ("rate-limited", _, _, _, _, Some(ms)) => {
            Err(SendError::RateLimited(u64::try_from(ms.max(1)).unwrap_or(1)))
        }
        _ => Err(SendError::from(sqlx::Error::Protocol(format!(
            "chat_send answered {outcome:?} without its values"
        )))),
    }
}

/// Events of `room` numbered above `after` and at most `upto`, in order, `limit` at most.
pub async fn events_between(
    pool: &PgPool,
    room: Uuid,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "select e.room_id, e.seq, e.kind, e.actor_id, e.at, e.message_id, m.body, m.edited_at,
                (m.deleted_at is not null) as deleted, e.subject_id
           from chat_events e left join chat_messages m on m.id = e.message_id
          where e.room_id = $1 and e.seq > $2 and e.seq <= $3
          order by e.seq
          limit $4",
    )
    .bind(room)
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The events of several rooms' ranges `(room, after, upto]` in one query, each room's in order.
/// Each range is an index scan of `chat_events`' key (the `offset 0` keeps the planner from
/// flattening the lateral subquery into a hash join over the whole table, which it chose from
/// a few thousand rows on: `just bench-chat` measured fan-out in seconds with it).
pub async fn events_in_ranges(
    pool: &PgPool,
    ranges: &[(Uuid, i64, i64)],
) -> Result<Vec<EventRow>, sqlx::Error> {
    let rooms: Vec<Uuid> = ranges.iter().map(|r| r.0).collect();
    let after: Vec<i64> = ranges.iter().map(|r| r.1).collect();
    let upto: Vec<i64> = ranges.iter().map(|r| r.2).collect();
    sqlx::query_as(
        "select e.room_id, e.seq, e.kind, e.actor_id, e.at, e.message_id, m.body, m.edited_at,
                (m.deleted_at is not null) as deleted, e.subject_id
           from unnest($1::uuid[], $2::int8[], $3::int8[]) w(room_id, after, upto)
           cross join lateral (select * from chat_events e
                                where e.room_id = w.room_id and e.seq > w.after and e.seq <= w.upto
                                offset 0) e
           left join chat_messages m on m.id = e.message_id
          order by e.room_id, e.seq",
    )
    .bind(rooms)
    .bind(after)
    .bind(upto)
    .fetch_all(pool)
    .await
}

/// The latest event number of each of `rooms` (rooms that no longer exist are left out).
pub async fn last_seqs(pool: &PgPool, rooms: &[Uuid]) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as("select id, last_seq from chat_rooms where id = any($1)")
        .bind(rooms)
        .fetch_all(pool)
        .await
}

/// A message of a room's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HistoryMessage {
    /// Id.
    pub id: Uuid,
    /// Its number in the room.
    pub seq: i64,
    /// Who sent it (none once the account is deleted).
    pub sender_id: Option<Uuid>,
    /// Body (none once deleted).
    pub body: Option<String>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// Messages of `room` newest first, numbered below `before` when given.
pub async fn history(
    pool: &PgPool,
    room: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<HistoryMessage>, sqlx::Error> {
    sqlx::query_as(
        "select id, seq, sender_id, body, created_at, edited_at, deleted_at is not null as deleted
           from chat_messages
          where room_id = $1 and ($2::int8 is null or seq < $2)
          order by seq desc
          limit $3",
    )
    .bind(room)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct MemberRoom {
    #[sqlx(flatten)]
    room: Room,
    role: String,
}

/// The rooms `user` is a member of, newest first.
pub async fn rooms_of(pool: &PgPool, user: Uuid) -> Result<Vec<(Room, Role)>, sqlx::Error> {
    let rows: Vec<MemberRoom> = sqlx::query_as(
        "select r.id, r.kind, r.name, r.visibility, r.created_at, r.last_seq, m.role
           from chat_rooms r join chat_members m on m.room_id = r.id
          where m.user_id = $1
          order by r.id desc",
    )
    .bind(user)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.room, Role::parse(&row.role)))
        .collect())
}

/// A change to a message: an edit with its new body, or a deletion.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// New text (the author only).
    Edit(&'a str),
    /// Removal of the text (the author, or an owner or moderator of the room).
    Delete,
}

/// What a message change did.
#[derive(Debug, Clone, Copy)]
pub struct Changed {
    /// The change's event number.
    pub seq: i64,
    /// The message's author, when the change was someone else's (a moderator's deletion).
    pub removed_for: Option<Uuid>,
}

/// Edits or deletes message `message` of `room` as `user`, announcing the change. Deleting a
/// deleted message changes nothing and answers its deletion's number.
pub async fn change_message(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
    message: Uuid,
    change: Change<'_>,
) -> Result<Changed, MessageError> {
    let mut tx = pool.begin().await?;
    let Some(seq) = next_seq(&mut tx, room).await? else {
        return Err(MessageError::Room(RoomError::NotFound));
    };
    let Some(role) = role_in(&mut tx, room, user).await? else {
        return Err(MessageError::Room(RoomError::NotFound));
    };
    let found: Option<(Option<Uuid>, bool)> = sqlx::query_as(
        "select sender_id, deleted_at is not null from chat_messages where id = $1 and room_id = $2",
    )
    .bind(message)
    .bind(room)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((author, deleted)) = found else {
        return Err(MessageError::NotFound);
    };
    let own = author == Some(user);
    match change {
        Change::Edit(_) if !own => return Err(MessageError::NotAuthor),
        Change::Delete if !own && !role.manages() => return Err(MessageError::NotAuthor),
        _ if deleted => return Err(MessageError::NotFound),
        _ => {}
    }
    let kind = match change {
        Change::Edit(body) => {
            sqlx::query("update chat_messages set body = $2, edited_at = now() where id = $1")
                .bind(message)
                .bind(body)
                .execute(&mut *tx)
                .await?;
            "message.edited"
        }
        Change::Delete => {
            sqlx::query("update chat_messages set body = null, deleted_at = now() where id = $1")
                .bind(message)
                .execute(&mut *tx)
                .await?;
            "message.deleted"
        }
    };
    insert_event(&mut tx, room, seq, kind, user, Some(message), author).await?;
    let removed_for = (!own).then_some(author).flatten();
    if let Some(author) = removed_for {
        audit::record(
            &mut *tx,
            &Event::new(Action::RoomMessageRemoved)
                .by(user)
                .about(author)
                .with(serde_json::json!({ "room_id": room, "message_id": message })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Changed { seq, removed_for })
}

/// Why a message change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The room is not there for this user.
    #[error(transparent)]
    Room(#[from] RoomError),
    /// No such message in the room (or already deleted).
    #[error("no such message")]
    NotFound,
    /// Not the author's (nor a moderator's deletion).
    #[error("not the author")]
    NotAuthor,
}

impl From<sqlx::Error> for MessageError {
    fn from(err: sqlx::Error) -> Self {
        Self::Room(RoomError::Db(err))
    }
}

/// Announces something ephemeral to a room's subscribers (typing, a receipt): a notification
/// only, nothing stored in the log.
pub async fn announce_ephemeral(pool: &PgPool, payload: &serde_json::Value) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(ROOM_CHANNEL)
        .bind(payload.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Raises `user`'s delivered (and, for `read`, read) mark in `room` to `seq` (never lowers it,
/// never past the room's last event) and announces the marks. `None`: not a member.
pub async fn receipt(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
    seq: i64,
    read: bool,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let marks: Option<(i64, i64)> = sqlx::query_as(
        "update chat_members m
            set last_delivered_seq = greatest(m.last_delivered_seq, least($3, r.last_seq)),
                last_read_seq = case when $4 then greatest(m.last_read_seq, least($3, r.last_seq))
                                     else m.last_read_seq end
           from chat_rooms r
          where r.id = m.room_id and m.room_id = $1 and m.user_id = $2
          returning m.last_delivered_seq, m.last_read_seq",
    )
    .bind(room)
    .bind(user)
    .bind(seq)
    .bind(read)
    .fetch_optional(pool)
    .await?;
    if let Some((delivered, read)) = marks {
        let note = serde_json::json!({ "r": room, "t": "receipt", "u": user, "d": delivered, "rd": read });
        announce_ephemeral(pool, &note).await?;
    }
    Ok(marks)
}

/// A change to a member: a role, or a mute (`Some(None)` lifts it).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberChange {
    /// The new role (owners only; `owner` cannot be given).
    pub role: Option<Role>,
    /// Muted until then, or unmuted.
    pub muted_until: Option<Option<DateTime<Utc>>>,
}

/// The role of `user` in `room`, on `conn` (inside a transaction holding the room's lock, or not).
async fn role_in(conn: &mut PgConnection, room: Uuid, user: Uuid) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> =
        sqlx::query_scalar("select role from chat_members where room_id = $1 and user_id = $2")
            .bind(room)
            .bind(user)
            .fetch_optional(conn)
            .await?;
    Ok(role.as_deref().map(Role::parse))
}

/// Whether `actor` may act on `target` in a room: owners on anyone else, moderators on members.
fn outranks(actor: Role, target: Role) -> bool {
    match actor {
        Role::Owner => target != Role::Owner,
        Role::Moderator => target == Role::Member,
        Role::Member => false,
    }
}

/// Removes `user` from `room`: leaving when `actor == user`, else a kick by an owner or a
/// moderator (audited). Their sockets stop receiving the room's events.
pub async fn remove_member(
    pool: &PgPool,
    room: Uuid,
    actor: Uuid,
    user: Uuid,
    client: Option<String>,
) -> Result<(), RoomError> {
    let mut tx = pool.begin().await?;
    let Some(seq) = next_seq(&mut tx, room).await? else {
        return Err(RoomError::NotFound);
    };
    let Some(actor_role) = role_in(&mut tx, room, actor).await? else {
        return Err(RoomError::NotFound);
    };
    let Some(target_role) = role_in(&mut tx, room, user).await? else {
        return Err(RoomError::NoSuchUser);
    };
    let kick = actor != user;
    if kick && !outranks(actor_role, target_role) {
        return Err(RoomError::Forbidden);
    }
    sqlx::query("delete from chat_members where room_id = $1 and user_id = $2")
        .bind(room)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    let kind = if kick { "member.kicked" } else { "member.left" };
    insert_event(&mut tx, room, seq, kind, actor, None, Some(user)).await?;
    if kick {
        let mut event = Event::new(Action::RoomMemberKicked)
            .by(actor)
            .about(user)
            .with(serde_json::json!({ "room_id": room }));
        if let Some(client) = client {
            event = event.from_client(client);
        }
        audit::record(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Changes `user`'s role or mute in `room` as `actor` (audited).
pub async fn change_member(
    pool: &PgPool,
    room: Uuid,
    actor: Uuid,
    user: Uuid,
    change: MemberChange,
    client: Option<String>,
) -> Result<(), RoomError> {
    let mut tx = pool.begin().await?;
    let Some(mut seq) = next_seq(&mut tx, room).await? else {
        return Err(RoomError::NotFound);
    };
    let Some(actor_role) = role_in(&mut tx, room, actor).await? else {
        return Err(RoomError::NotFound);
    };
    let Some(target_role) = role_in(&mut tx, room, user).await? else {
        return Err(RoomError::NoSuchUser);
    };
    if actor == user || !outranks(actor_role, target_role) {
        return Err(RoomError::Forbidden);
    }
    let mut events = Vec::new();
    if let Some(role) = change.role {
        if actor_role != Role::Owner || role == Role::Owner {
            return Err(RoomError::Forbidden);
        }
        sqlx::query("update chat_members set role = $3 where room_id = $1 and user_id = $2")
            .bind(room)
            .bind(user)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        events.push((
            "member.role",
            Action::RoomRoleChanged,
            serde_json::json!({ "room_id": room, "role": role.as_str() }),
        ));
    }
    if let Some(until) = change.muted_until {
        sqlx::query("update chat_members set muted_until = $3 where room_id = $1 and user_id = $2")
            .bind(room)
            .bind(user)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        events.push((
            "member.muted",
            Action::RoomMemberMuted,
            serde_json::json!({ "room_id": room, "muted_until": until }),
        ));
    }
    if events.is_empty() {
        return Ok(());
    }
    for (n, (kind, action, detail)) in events.into_iter().enumerate() {
        if n > 0 {
            seq = next_seq(&mut tx, room).await?.ok_or(RoomError::NotFound)?;
        }
        insert_event(&mut tx, room, seq, kind, actor, None, Some(user)).await?;
        let mut event = Event::new(action).by(actor).about(user).with(detail);
        if let Some(client) = &client {
            event = event.from_client(client.clone());
        }
        audit::record(&mut *tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The audit events of `room`, newest first (its owners read them).
pub async fn room_audit(pool: &PgPool, room: Uuid, limit: i64) -> Result<Vec<audit::Row>, sqlx::Error> {
    sqlx::query_as(
        "select id, at, action, actor_id, subject_id, client, detail
           from audit_events
          where action like 'room-%' and detail ->> 'room_id' = $1::text
          order by id desc
          limit $2",
    )
    .bind(room)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The direct room of `a` and `b`, created (both members) on first use.
pub async fn direct_room(pool: &PgPool, a: Uuid, b: Uuid) -> Result<Room, RoomError> {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let key = format!("{lo}:{hi}");
    let mut tx = pool.begin().await?;
    let exists: bool = sqlx::query_scalar("select exists (select 1 from users where id = $1)")
        .bind(b)
        .fetch_one(&mut *tx)
        .await?;
    if !exists || a == b {
        return Err(RoomError::NoSuchUser);
    }
    let created: Option<Uuid> = sqlx::query_scalar(
        "insert into chat_rooms (id, kind, visibility, direct_key, created_by, last_seq)
         values ($1, 'direct', 'private', $2, $3, 2)
         on conflict (direct_key) do nothing
         returning id",
    )
    .bind(Uuid::now_v7())
    .bind(&key)
    .bind(a)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(room) = created {
        for (n, user) in [lo, hi].into_iter().enumerate() {
            sqlx::query("insert into chat_members (room_id, user_id, role) values ($1, $2, 'member')")
                .bind(room)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, room, n as i64 + 1, "member.joined", a, None, Some(user)).await?;
        }
    }
    tx.commit().await?;
    sqlx::query_as(
        "select id, kind, name, visibility, created_at, last_seq from chat_rooms where direct_key = $1",
    )
    .bind(&key)
    .fetch_optional(pool)
    .await?
    .ok_or(RoomError::NotFound)
}

/// Shares `user`'s media item `media` in `room` (a member); sharing it again changes nothing.
/// Answers the number of its `media.shared` event.
pub async fn share_media(pool: &PgPool, room: Uuid, user: Uuid, media: Uuid) -> Result<i64, MessageError> {
    let mut tx = pool.begin().await?;
    let Some(seq) = next_seq(&mut tx, room).await? else {
        return Err(MessageError::Room(RoomError::NotFound));
    };
    if role_in(&mut tx, room, user).await?.is_none() {
        return Err(MessageError::Room(RoomError::NotFound));
    }
    let owned: bool = sqlx::query_scalar(
        "select exists (select 1 from media where id = $1 and owner_id = $2 and deleted_at is null)",
    )
    .bind(media)
    .bind(user)
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(MessageError::NotFound);
    }
    let inserted = sqlx::query(
        "insert into chat_shared_media (room_id, media_id, shared_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(room)
    .bind(media)
    .bind(user)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        let shared: Option<i64> = sqlx::query_scalar(
            "select max(seq) from chat_events where room_id = $1 and kind = 'media.shared' and subject_id = $2",
        )
        .bind(room)
        .bind(media)
        .fetch_one(pool)
        .await?;
        return Ok(shared.unwrap_or(0));
    }
    insert_event(&mut tx, room, seq, "media.shared", user, None, Some(media)).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Stops sharing `media` in `room`: its sharer, or the room's owner or a moderator.
pub async fn unshare_media(pool: &PgPool, room: Uuid, user: Uuid, media: Uuid) -> Result<(), MessageError> {
    let mut tx = pool.begin().await?;
    let Some(seq) = next_seq(&mut tx, room).await? else {
        return Err(MessageError::Room(RoomError::NotFound));
    };
    let Some(role) = role_in(&mut tx, room, user).await? else {
        return Err(MessageError::Room(RoomError::NotFound));
    };
    let sharer: Option<Uuid> =
        sqlx::query_scalar("select shared_by from chat_shared_media where room_id = $1 and media_id = $2")
            .bind(room)
            .bind(media)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(sharer) = sharer else {
        return Err(MessageError::NotFound);
    };
    if sharer != user && !role.manages() {
        return Err(MessageError::NotAuthor);
    }
    sqlx::query("delete from chat_shared_media where room_id = $1 and media_id = $2")
        .bind(room)
        .bind(media)
        .execute(&mut *tx)
        .await?;
    insert_event(&mut tx, room, seq, "media.unshared", user, None, Some(media)).await?;
    tx.commit().await?;
    Ok(())
}

/// The owner of media item `media` when it is shared in `room`, `user` is a member of the room
/// and the item is not deleted.
pub async fn shared_media_owner(
    pool: &PgPool,
    room: Uuid,
    user: Uuid,
    media: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select m.owner_id
           from chat_shared_media s
           join media m on m.id = s.media_id and m.deleted_at is null
           join chat_members c on c.room_id = s.room_id and c.user_id = $3
          where s.room_id = $1 and s.media_id = $2",
    )
    .bind(room)
    .bind(media)
    .bind(user)
    .fetch_optional(pool)
    .await
}
