-- Quotas: what one account may store (originals' bytes and items). Null means the configured
-- default (`VEZA_QUOTA_BYTES`, `VEZA_QUOTA_ITEMS`).
alter table users add column quota_bytes bigint check (quota_bytes >= 0);
alter table users add column quota_items integer check (quota_items >= 0);

-- Space an upload in flight holds: taken with the user row locked before the body is read, so
-- two parallel uploads cannot both fit in the same space; released when the upload is recorded
-- or fails. An API killed midway leaves its reservation until `expires_at`.
create table upload_reservations (
    id         uuid primary key,
    user_id    uuid not null references users (id) on delete cascade,
    bytes      bigint not null check (bytes >= 0),
    expires_at timestamptz not null
);
create index upload_reservations_user on upload_reservations (user_id, expires_at);

-- Deletion: a deleted item or account disappears from every route in the request's transaction;
-- a purge job then removes its objects and rows, and finishes after a crash (it is a job).
alter table media add column deleted_at timestamptz;
-- The purge job of a deleted item: a repeated DELETE answers with it.
alter table media add column purge_job_id uuid;
alter table users add column deleted_at timestamptz;
create index media_deleted on media (owner_id) where deleted_at is not null;
