-- Veza's domain tables. apalis keeps its own schema (`apalis`), created by the same migrate step.

create table users (
    id            uuid primary key,
    email         text not null unique,
    password_hash text not null,
    created_at    timestamptz not null default now()
);

create table media (
    id                   uuid primary key,
    owner_id             uuid not null references users (id) on delete cascade,
    kind                 text not null check (kind in ('audio', 'image')),
    status               text not null check (status in ('processing', 'ready', 'failed')),
    original_key         text not null,
    original_filename    text,
    content_type         text not null,
    size_bytes           bigint not null check (size_bytes > 0),
    sha256               text not null,
    -- The generation whose outputs are published; null until the first one is.
    playback_generation  text,
    thumbnail_generation text,
    error_code           text,
    error_message        text,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now()
);
create index media_owner_created on media (owner_id, created_at desc, id desc);

-- What the jobs produced. Rows of a generation become visible once the media row names it.
create table outputs (
    id               uuid primary key,
    media_id         uuid not null references media (id) on delete cascade,
    kind             text not null check (kind in ('hls-playlist', 'hls-init', 'hls-segment', 'thumbnail')),
    generation       text not null,
    name             text not null,
    object_key       text not null unique,
    content_type     text not null,
    size_bytes       bigint not null,
    width            integer,
    height           integer,
    duration_seconds double precision,
    created_at       timestamptz not null default now(),
    unique (media_id, generation, name)
);

-- Veza's record of every job it enqueued: who owns it and what it is for. The queue state itself
-- (status, attempts, run_at) lives in apalis.jobs under the same id.
create table jobs (
    id            uuid primary key,
    kind          text not null check (kind in ('email', 'thumbnail', 'transcode')),
    owner_id      uuid not null references users (id) on delete cascade,
    media_id      uuid references media (id) on delete cascade,
    error_code    text,
    error_message text,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);
create index jobs_media on jobs (media_id);
create index jobs_owner on jobs (owner_id);
