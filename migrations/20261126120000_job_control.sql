-- Job control: cancellation requests, and the apalis spelling of a job id for joins.

-- A cancel asked for by the job's owner. A waiting job is cancelled at once; a running one
-- stops at its next checkpoint once its worker sees this.
alter table jobs add column cancel_requested_at timestamptz;

-- apalis-postgres keeps task ids as ULID text; Veza's job ids are UUIDv7 with the same 128 bits.
-- This spells a job id the apalis way (Crockford base32 of the 128 bits, 26 characters), so Veza's
-- rows join apalis's without a stored copy of the id.
create function veza_task_id(job uuid) returns text
language sql immutable strict parallel safe as $$
    select string_agg(
               substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ',
                      substring(bits from i * 5 + 1 for 5)::integer + 1, 1),
               '' order by i)
      from (select B'00' || ('x' || replace(job::text, '-', ''))::bit(128) as bits) as b,
           generate_series(0, 25) as i
$$;
