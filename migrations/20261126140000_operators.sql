-- Operators: an admin role (granted from the command line or by configuration, never through
-- the API), paused queues, and one definition of a job's state for every query that needs it.

alter table users add column role text not null default 'user' check (role in ('user', 'admin'));

-- A paused queue: workers stop claiming its jobs until the row is deleted.
create table queue_pauses (
    queue     text primary key check (queue in ('email', 'thumbnail', 'transcode')),
    paused_at timestamptz not null default now(),
    paused_by uuid references users (id) on delete set null
);

-- A job's state as clients see it, from its apalis row and Veza's cancel request.
create function veza_job_state(status text, attempts integer, max_attempts integer, cancel_requested_at timestamptz)
returns text language sql immutable parallel safe as $$
    select case
        when status = 'Killed' and cancel_requested_at is not null then 'cancelled'
        when status = 'Running' then 'running'
        when status = 'Done' then 'succeeded'
        when status = 'Failed' and attempts < max_attempts then 'retrying'
        when status in ('Failed', 'Killed') then 'failed'
        else 'queued'
    end
$$;
