-- The per-user `message.send` limit, shared by every API instance: one row per user holding the
-- second (Unix time, the database's clock) and how many messages were sent in it. A send bumps
-- it in its own transaction, so a refused or rolled-back send does not count.
create table chat_send_rate (
    user_id uuid primary key references users (id) on delete cascade,
    second bigint not null,
    sent integer not null
);
