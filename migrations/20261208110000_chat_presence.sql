-- Presence: which API instances hold live connections of which users. A user is online while a
-- row of theirs was seen recently: each instance refreshes its rows every 30 s, so the rows of
-- an instance that died stop counting after 90 s (docs/realtime.md).
create table chat_presence (
    instance_id uuid not null,
    user_id     uuid not null references users (id) on delete cascade,
    seen_at     timestamptz not null default now(),
    primary key (instance_id, user_id)
);
create index chat_presence_user on chat_presence (user_id, seen_at);
