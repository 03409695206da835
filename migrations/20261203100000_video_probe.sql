-- Video: a media kind, and what the probe reads from the headers before any frame is decoded.
alter table media drop constraint media_kind_check;
alter table media add constraint media_kind_check check (kind in ('audio', 'image', 'video'));
-- The job registry in the code is the one list of job kinds and queues (the API and the worker
-- accept no other name): these copies made every new kind a migration, so they go.
alter table jobs drop constraint jobs_kind_check;
alter table queue_pauses drop constraint queue_pauses_queue_check;

create table video_details (
    media_id              uuid primary key references media (id) on delete cascade,
    container             text not null,
    codec                 text not null,
    -- Stored frame size, and the size shown once the display rotation is applied.
    coded_width           integer not null,
    coded_height          integer not null,
    rotation_degrees      integer not null check (rotation_degrees in (0, 90, 180, 270)),
    display_width         integer not null,
    display_height        integer not null,
    frame_rate_num        integer,
    frame_rate_den        integer,
    variable_frame_rate   boolean not null,
    duration_seconds      double precision not null,
    frame_count           bigint,
    pixel_format          text,
    bit_depth             integer,
    color_range           text not null,
    color_primaries       text,
    transfer              text,
    matrix                text,
    hdr                   text check (hdr in ('pq', 'hlg')),
    audio_codec           text,
    audio_channels        integer,
    audio_sample_rate     integer,
    probed_at             timestamptz not null default now()
);
