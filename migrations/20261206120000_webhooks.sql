-- Webhooks: endpoints users register, and every event delivered to them (the delivery log).
-- A delivery is sent by a job of the `webhook` queue; its id is the Standard Webhooks
-- `webhook-id`, the same on every retry and redelivery, so receivers can drop duplicates.
create table webhook_endpoints (
    id                   uuid primary key,
    user_id              uuid not null references users (id) on delete cascade,
    url                  text not null,
    events               text[] not null,
    -- `whsec_…`: signs every delivery; shown once, at creation.
    secret               text not null,
    -- Deliveries that died in a row; at the limit the endpoint is disabled.
    consecutive_failures integer not null default 0,
    disabled_at          timestamptz,
    disabled_reason      text,
    created_at           timestamptz not null default now()
);
create index webhook_endpoints_user on webhook_endpoints (user_id, created_at);

create table webhook_deliveries (
    id           uuid primary key,
    endpoint_id  uuid not null references webhook_endpoints (id) on delete cascade,
    -- The item the event is about: a deleted item's purge takes its deliveries with it.
    media_id     uuid references media (id) on delete cascade,
    event_type   text not null,
    -- The exact bytes signed and sent.
    body         text not null,
    status       text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts     integer not null default 0,
    last_status  integer,
    last_error   text,
    created_at   timestamptz not null default now(),
    delivered_at timestamptz
);
create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, created_at desc);
create index webhook_deliveries_media on webhook_deliveries (media_id);
