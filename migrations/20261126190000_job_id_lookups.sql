-- Joining Veza's job rows to apalis's without computing an id for every row.
--
-- `veza_task_id` spelled a job id the apalis way with generate_series + string_agg, about 17 µs
-- a call here; a join computed it for every job row retained, so the queue statistics (every
-- /metrics scrape) and the operator's job list grew with the retention. The same result from a
-- plpgsql loop takes about 6 µs, and the statements that scan many rows now go the other way:
-- `veza_job_id` decodes an apalis id into Veza's uuid, so they look Veza's rows up by primary
-- key, and only for the apalis rows that pass their cheap filters.
create or replace function veza_task_id(job uuid) returns text
language plpgsql immutable strict parallel safe as $$
declare
    bits constant bit(130) := B'00' || ('x' || replace(job::text, '-', ''))::bit(128);
    spelled text := '';
begin
    for i in 0..25 loop
        spelled := spelled || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ',
                                     substring(bits from i * 5 + 1 for 5)::integer + 1, 1);
    end loop;
    return spelled;
end
$$;

-- The inverse: a ULID (26 Crockford base32 characters, upper case as apalis writes them) to the
-- uuid with the same 128 bits; null for text that is not one.
create function veza_job_id(task text) returns uuid
language plpgsql immutable strict parallel safe as $$
declare
    bits bit(130) := B'0'::bit(130);
    digit integer;
begin
    if length(task) <> 26 then
        return null;
    end if;
    for i in 1..26 loop
        digit := strpos('0123456789ABCDEFGHJKMNPQRSTVWXYZ', substr(task, i, 1)) - 1;
        if digit < 0 or (i = 1 and digit > 7) then
            return null;
        end if;
        bits := overlay(bits placing digit::bit(5) from (i - 1) * 5 + 1);
    end loop;
    return (lpad(to_hex(substring(bits from 3 for 64)::bigint), 16, '0')
            || lpad(to_hex(substring(bits from 67 for 64)::bigint), 16, '0'))::uuid;
end
$$;

-- The apalis statuses a job in `state` (an answer of veza_job_state) can have, so that a
-- listing by state filters apalis's rows cheaply before computing the exact state. Keep it in
-- step with veza_job_state.
create function veza_job_statuses(state text) returns text[]
language sql immutable parallel safe as $$
    select case state
        when 'queued' then array['Pending', 'Queued']
        when 'running' then array['Running']
        when 'retrying' then array['Failed']
        when 'succeeded' then array['Done']
        when 'failed' then array['Failed', 'Killed']
        when 'cancelled' then array['Killed']
    end
$$;

-- The few jobs whose owners asked to cancel them (the statistics tell cancelled from failed).
create index jobs_cancel_requested on jobs (id) where cancel_requested_at is not null;
