-- Accounts and email: verified addresses, session revocation, single-use account tokens,
-- notification opt-out, the registration rate limit, and the email delivery log.

-- `token_version` is carried in every access token and compared on every authenticated request:
-- a password change or reset bumps it, which revokes every session issued before.
alter table users
    add column email_verified_at    timestamptz,
    add column token_version        integer not null default 0,
    add column notifications_opt_out boolean not null default false;

-- Email verification and password reset tokens. Only the SHA-256 of a token is stored (tokens
-- are 256 random bits, so a fast hash is enough); the token itself exists only in the email.
create table account_tokens (
    token_hash text primary key,
    user_id    uuid not null references users (id) on delete cascade,
    purpose    text not null check (purpose in ('verify-email', 'reset-password')),
    expires_at timestamptz not null,
    used_at    timestamptz,
    created_at timestamptz not null default now()
);
create index account_tokens_user on account_tokens (user_id, purpose);

-- Rate-limited requests: registrations per client address (`register`), password reset requests
-- per account (`password-reset`). Rows older than the window are deleted as the subject returns.
create table request_attempts (
    action       text not null,
    subject      text not null,
    attempted_at timestamptz not null default now()
);
create index request_attempts_subject on request_attempts (action, subject, attempted_at);

-- The delivery log, one row per email job, written right after the SMTP server accepted the
-- message (or once the job decided not to send it). A re-run of a job with a row sends nothing.
create table email_deliveries (
    job_id       uuid primary key,
    recipient    text not null,
    template     text not null,
    category     text not null check (category in ('security', 'notification')),
    outcome      text not null check (outcome in ('sent', 'rejected', 'rate-limited', 'opted-out')),
    smtp_reply   text,
    created_at   timestamptz not null default now()
);
create index email_deliveries_recipient on email_deliveries (recipient, created_at) where outcome = 'sent';

-- Media outcome emails already enqueued: at most one "ready" and one "failed" per item, so a job
-- settled twice (a re-run after a crash) or a reprocess (a repair after a pipeline upgrade) does
-- not mail again.
create table media_notices (
    media_id   uuid not null references media (id) on delete cascade,
    outcome    text not null check (outcome in ('ready', 'failed')),
    job_id     uuid not null,
    created_at timestamptz not null default now(),
    primary key (media_id, outcome)
);

-- The key that signs one-click unsubscribe links. Both binaries read it here, so links signed by
-- a worker verify in the API with no shared configuration. Rotating it
-- (`update email_link_key set key = …`) invalidates every link sent so far. gen_random_uuid() draws
-- from the server's strong random source: two of them give 244 random bits.
create table email_link_key (
    id  boolean primary key default true check (id),
    key bytea not null
);
insert into email_link_key (key)
values (decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
