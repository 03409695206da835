-- A video's encode across the fleet: the plan the probe made (generation = the probe job's id)
-- and one row per chunk. A chunk counts once: `done_at` is set only where it was null, and only
-- that update decrements `chunks_left`; the decrement to zero queues the finalize job.
create table video_encodes (
    media_id     uuid not null references media (id) on delete cascade,
    generation   text not null,
    plan         jsonb not null,
    chunks_total integer not null check (chunks_total > 0),
    chunks_left  integer not null check (chunks_left >= 0),
    created_at   timestamptz not null default now(),
    primary key (media_id, generation)
);

create table video_chunks (
    media_id      uuid not null,
    generation    text not null,
    chunk_index   integer not null,
    first_frame   bigint not null,
    frames        bigint not null,
    frames_done   bigint not null default 0,
    -- Per rung: the HLS CODECS value read from its encoder, and its segments' sizes.
    rungs         jsonb,
    -- Its poster candidate's score and the frames of its storyboard tiles.
    stills        jsonb,
    -- The worker whose attempt counted it (operators see how the fleet shared a video).
    encoded_by    text,
    done_at       timestamptz,
    primary key (media_id, generation, chunk_index),
    foreign key (media_id, generation) references video_encodes (media_id, generation) on delete cascade
);

-- A video's stills: each chunk's poster candidate and storyboard tiles, and the published poster,
-- storyboard sprite and its WebVTT index.
alter table outputs drop constraint outputs_kind_check;
alter table outputs add constraint outputs_kind_check
    check (kind in ('hls-playlist', 'hls-media-playlist', 'hls-init', 'hls-segment', 'thumbnail',
                    'waveform', 'cover-art', 'poster-candidate', 'storyboard-tiles', 'poster',
                    'storyboard', 'storyboard-index'));
