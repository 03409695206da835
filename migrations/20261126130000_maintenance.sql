-- Periodic maintenance (repair, prune, orphans), run by any worker, once per scheduled tick
-- across the whole fleet: the first worker to insert a tick's row runs it; the others see the
-- conflict and skip it.
create table maintenance_ticks (
    task        text not null,
    tick_at     timestamptz not null,
    claimed_by  text not null,
    started_at  timestamptz not null default now(),
    finished_at timestamptz,
    report      jsonb,
    error       text,
    primary key (task, tick_at)
);

-- Which pipeline version made the published outputs, so that repair can find outdated ones,
-- and when repair last looked at an item.
alter table media add column playback_pipeline_version integer;
alter table media add column thumbnail_pipeline_version integer;
alter table media add column repair_checked_at timestamptz;
