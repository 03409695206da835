-- `Idempotency-Key` on `POST /v1/media`: the first upload recorded under a key, per account, kept
-- 24 hours. Written in the upload's own transaction, so a key names an item only if the item
-- exists; a retry with the same body gets `response` again, a different body is refused.
create table upload_idempotency_keys (
    user_id    uuid not null references users (id) on delete cascade,
    key        text not null,
    media_id   uuid not null references media (id) on delete cascade,
    -- What makes two requests the same: the body's SHA-256 and size, and the file name.
    sha256     text not null,
    size_bytes bigint not null,
    filename   text,
    response   jsonb not null,
    created_at timestamptz not null default now(),
    primary key (user_id, key)
);
create index upload_idempotency_keys_created on upload_idempotency_keys (created_at);
