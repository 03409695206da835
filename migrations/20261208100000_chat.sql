-- Chat: rooms (groups and direct conversations), their members, messages, and the per-room
-- event log a connection resumes from (docs/realtime.md).
--
-- Order: every event of a room takes the next number of the room's counter (`last_seq`), bumped
-- under the room row's lock, so a room's writers commit in number order and a rollback leaves
-- no gap. A reader that has seen event n committed has seen every event before it: "everything
-- after n" is exact, across any number of API instances. (A sequence or a UUIDv7 is taken at
-- insert, not at commit, and could let a later number commit first.)
create table chat_rooms (
    id          uuid primary key,   -- UUIDv7
    kind        text not null check (kind in ('group', 'direct')),
    name        text check (char_length(name) between 1 and 100),
    -- Public rooms can be joined by anyone signed in; private ones only by being added.
    visibility  text not null default 'private' check (visibility in ('public', 'private')),
    -- Direct rooms: the two members' ids, lower first, joined by ':' (one room per pair).
    direct_key  text unique,
    created_by  uuid references users (id) on delete set null,
    created_at  timestamptz not null default now(),
    last_seq    bigint not null default 0,
    check ((kind = 'direct') = (direct_key is not null))
);

create table chat_members (
    room_id            uuid not null references chat_rooms (id) on delete cascade,
    user_id            uuid not null references users (id) on delete cascade,
    role               text not null check (role in ('owner', 'moderator', 'member')),
    muted_until        timestamptz,
    -- Receipts: the highest event each member's clients reported delivered and read; only
    -- ever raised.
    last_delivered_seq bigint not null default 0,
    last_read_seq      bigint not null default 0,
    joined_at          timestamptz not null default now(),
    primary key (room_id, user_id)
);
create index chat_members_user on chat_members (user_id);

create table chat_messages (
    id            uuid primary key,   -- UUIDv7
    room_id       uuid not null references chat_rooms (id) on delete cascade,
    -- The number of its `message.created` event: history order.
    seq           bigint not null,
    sender_id     uuid references users (id) on delete set null,
    -- The sender's id for the frame: a frame sent again is acknowledged, not stored twice.
    client_msg_id text not null check (char_length(client_msg_id) between 1 and 64),
    body          text check (octet_length(body) <= 4000),   -- null once deleted
    created_at    timestamptz not null default now(),
    edited_at     timestamptz,
    deleted_at    timestamptz,
    unique (room_id, seq),
    unique (room_id, sender_id, client_msg_id)
);

-- The log a connection resumes from. Catch-up joins the message and shows its current body, so
-- deleted text is never replayed; `detail` never holds a body.
create table chat_events (
    room_id    uuid not null references chat_rooms (id) on delete cascade,
    seq        bigint not null,
    kind       text not null check (kind in ('message.created', 'message.edited', 'message.deleted',
                   'member.joined', 'member.left', 'member.kicked', 'member.muted', 'member.role',
                   'media.shared', 'media.unshared')),
    actor_id   uuid,
    message_id uuid references chat_messages (id) on delete cascade,
    -- Member events: the member; media events: the item.
    subject_id uuid,
    detail     jsonb not null default '{}',
    at         timestamptz not null default now(),
    primary key (room_id, seq)
);

-- A media item shared in a room: its members may play it until it is unshared (the row goes)
-- or the item is deleted.
create table chat_shared_media (
    room_id   uuid not null references chat_rooms (id) on delete cascade,
    media_id  uuid not null references media (id) on delete cascade,
    shared_by uuid not null references users (id) on delete cascade,
    shared_at timestamptz not null default now(),
    primary key (room_id, media_id)
);

-- Every way a session ends (logout, revocation, refresh-token reuse, a password change) closes
-- its sockets on every API instance.
create function chat_session_revoked() returns trigger language plpgsql as $$
begin
    perform pg_notify('veza_user', json_build_object('t', 'revoked', 's', new.id, 'u', new.user_id)::text);
    return null;
end
$$;
create trigger sessions_revoked_notify after update of revoked_at on sessions for each row
    when (old.revoked_at is null and new.revoked_at is not null)
    execute function chat_session_revoked();
