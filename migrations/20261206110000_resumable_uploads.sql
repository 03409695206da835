-- Resumable uploads (tus 1.0 at /v1/uploads). The state lives here, not in an API's memory, so
-- an upload continues after an API restart and on another API instance. Each PATCH is stored as
-- its own object (`uploads/{id}/…`) and becomes a part once it is whole; the last one joins the
-- parts into the original and records the item in the same transaction as any other upload.
create table resumable_uploads (
    id             uuid primary key,
    user_id        uuid not null references users (id) on delete cascade,
    length         bigint not null check (length > 0),
    -- Bytes received in whole parts: the tus `Upload-Offset`.
    received       bigint not null default 0 check (received >= 0 and received <= length),
    -- `Upload-Metadata` as sent, echoed on HEAD; the file name decoded from it.
    metadata       text,
    filename       text,
    -- The quota space held for it (`upload_reservations`), released when it ends.
    reservation_id uuid not null,
    -- The item it became, once complete.
    media_id       uuid references media (id) on delete set null,
    job_id         uuid,
    completed_at   timestamptz,
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null
);
create index resumable_uploads_expires on resumable_uploads (expires_at);

create table resumable_upload_parts (
    upload_id  uuid not null references resumable_uploads (id) on delete cascade,
    start_at   bigint not null check (start_at >= 0),
    size       bigint not null check (size > 0),
    object_key text not null,
    primary key (upload_id, start_at)
);
