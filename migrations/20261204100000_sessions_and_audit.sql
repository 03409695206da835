-- Sessions: one per login. Every access token names its session (`sid`), and a revoked session's
-- access tokens stop working on their next request. A session is kept alive by refresh tokens:
-- each is used once and replaced by the next; presenting a used one again means it was copied,
-- so the whole session (the token family) is revoked. `users.token_version` is no longer read:
-- a password change or reset revokes the account's sessions instead.
create table sessions (
    id             uuid primary key,
    user_id        uuid not null references users (id) on delete cascade,
    created_at     timestamptz not null default now(),
    -- Last login or refresh; the session lapses `VEZA_REFRESH_TTL_SECONDS` after it.
    refreshed_at   timestamptz not null default now(),
    expires_at     timestamptz not null,
    revoked_at     timestamptz,
    revoked_reason text check (revoked_reason in ('logout', 'revoked', 'refresh-reuse', 'password-changed')),
    -- What the owner sees in their list of sessions: the client that logged in.
    user_agent     text,
    client         text,
    check ((revoked_at is null) = (revoked_reason is null))
);
create index sessions_user on sessions (user_id, created_at);

-- Refresh tokens: 256 random bits, only their SHA-256 stored. `used_at` is set when the token
-- is exchanged for the next one.
create table refresh_tokens (
    token_hash text primary key,
    session_id uuid not null references sessions (id) on delete cascade,
    created_at timestamptz not null default now(),
    used_at    timestamptz
);
create index refresh_tokens_session on refresh_tokens (session_id);

-- The audit log of security events: logins and their failures, password changes and resets,
-- session revocations, refresh-token reuse, admin grants, queue pauses and job retries. Rows
-- name accounts by id without a foreign key: the trail outlives a deleted account.
create table audit_events (
    id         uuid primary key,   -- UUIDv7: in time order
    at         timestamptz not null default now(),
    action     text not null,
    -- Who acted (null: anonymous, or an operator on the command line).
    actor_id   uuid,
    -- The account the event is about.
    subject_id uuid,
    -- The client's address, when a request caused it.
    client     text,
    detail     jsonb not null default '{}'
);
create index audit_events_action on audit_events (action, id);
create index audit_events_subject on audit_events (subject_id, id);

-- The per-recipient mail limit counts by mailbox: lower case, `+tag` and `<…>` removed
-- (`deliveries::recipient_key`), so plus-addressing cannot multiply one inbox's allowance.
-- Rows from before have none and no longer count (at most one window's worth).
alter table email_deliveries add column recipient_key text;
create index email_deliveries_recipient_key on email_deliveries (recipient_key, created_at) where outcome = 'sent';
