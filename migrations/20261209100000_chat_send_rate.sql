-- The per-user `message.send` limit, shared by every API instance: one row per user holding the
-- second (Unix time, the database's clock) and how many messages were sent in it. A send bumps
-- it in its own transaction, so a refused or rolled-back send does not count.
create table chat_send_rate (
    user_id uuid primary key references users (id) on delete cascade,
    second bigint not null,
    sent integer not null
);

-- A message's send as one statement, one round trip (it was nine, and at 1,000 messages a
-- second those round trips kept Postgres busier than the API). `outcome`: 'sent' or 'resent'
-- (the same frame id stored before: its message), 'not-member' (or no such room), 'muted'
-- (until `muted_until`), 'rate-limited' (the sender's `per_second` spent this second: retry in
-- `retry_after_ms`). Nothing is written unless it is 'sent'. The channel is the API's
-- `ROOM_CHANNEL`, the payload what its listener reads: `{"r": room, "s": seq}`.
create function chat_send(
    p_room uuid, p_sender uuid, p_client_msg_id text, p_body text, p_message_id uuid,
    p_per_second integer,
    out outcome text, out message_id uuid, out seq bigint, out at timestamptz,
    out muted_until timestamptz, out retry_after_ms bigint)
language plpgsql as $$
declare
    v_second bigint := floor(extract(epoch from now()))::bigint;
begin
    -- The room's lock first: the duplicate check, the membership check and the insert see
    -- one state, and a kick or a resend of the same frame waits for this statement. (Lock
    -- order: a room, then the sender's rate row; nothing takes them the other way round.)
    perform 1 from chat_rooms r where r.id = p_room for update;
    if not found then
        outcome := 'not-member';
        return;
    end if;
    select m.id, m.seq, m.created_at into message_id, seq, at
      from chat_messages m
     where m.room_id = p_room and m.sender_id = p_sender and m.client_msg_id = p_client_msg_id;
    if found then
        outcome := 'resent';
        return;
    end if;
    select cm.muted_until into muted_until
      from chat_members cm where cm.room_id = p_room and cm.user_id = p_sender;
    if not found then
        outcome := 'not-member';
        return;
    end if;
    if muted_until > now() then
        outcome := 'muted';
        return;
    end if;
    muted_until := null;
    -- Counted only when allowed, so a refusal writes nothing.
    insert into chat_send_rate as r (user_id, second, sent) values (p_sender, v_second, 1)
    on conflict (user_id) do update
       set sent = case when r.second = excluded.second then r.sent + 1 else 1 end,
           second = excluded.second
     where r.second <> excluded.second or r.sent < p_per_second;
    if not found then
        outcome := 'rate-limited';
        retry_after_ms := greatest(1, ceil((v_second + 1 - extract(epoch from now())) * 1000))::bigint;
        return;
    end if;
    update chat_rooms r set last_seq = r.last_seq + 1 where r.id = p_room returning r.last_seq into seq;
    insert into chat_messages (id, room_id, seq, sender_id, client_msg_id, body)
    values (p_message_id, p_room, seq, p_sender, p_client_msg_id, p_body)
    returning created_at into at;
    message_id := p_message_id;
    insert into chat_events (room_id, seq, kind, actor_id, message_id)
    values (p_room, seq, 'message.created', p_sender, p_message_id);
    perform pg_notify('veza_chat', json_build_object('r', p_room, 's', seq)::text);
    outcome := 'sent';
end
$$;
