-- Canary jobs: a job that does nothing, for checking that the fleet picks work up end to end
-- and for measuring the queue itself. The kind lists only widen.
alter table jobs drop constraint jobs_kind_check;
alter table jobs add constraint jobs_kind_check
    check (kind in ('email', 'thumbnail', 'transcode', 'canary'));
alter table queue_pauses drop constraint queue_pauses_queue_check;
alter table queue_pauses add constraint queue_pauses_queue_check
    check (queue in ('email', 'thumbnail', 'transcode', 'canary'));
