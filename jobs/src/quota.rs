//! Quotas: how many bytes of originals and how many items one account may store. Every query of
//! `upload_reservations` is here.
//!
//! An upload reserves its space before its body is read, with the account's row locked, so two
//! parallel uploads cannot both take the last of it: the declared `Content-Length` when there is
//! one, else everything left (up to the upload limit). The upload is then capped at what it
//! reserved. Recording the upload frees the reservation and checks the quota once more under the
//! same lock, so an expired reservation (an API killed midway) can never let an account exceed
//! its quota. Deleted items stop counting at once.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How long a reservation holds space when its upload never ends (the API died): longer than
/// any upload takes, short enough that the space comes back the same day.
pub const RESERVATION_TTL: Duration = Duration::from_secs(2 * 3600);

/// The quota of accounts without one of their own (`VEZA_QUOTA_BYTES`, `VEZA_QUOTA_ITEMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaDefaults {
    /// Bytes of originals.
    pub bytes: u64,
    /// Media items.
    pub items: u64,
}

/// What an account stores and may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of the originals of its items (deleted ones excluded).
    pub bytes_used: u64,
    /// Its quota in bytes.
    pub bytes_limit: u64,
    /// Its items.
    pub items_used: u64,
    /// Its quota in items.
    pub items_limit: u64,
    /// Bytes held by its uploads in flight.
    pub bytes_reserved: u64,
    /// Its uploads in flight.
    pub items_reserved: u64,
}

impl Usage {
    /// Bytes still free, reservations taken into account.
    pub fn bytes_left(&self) -> u64 {
        self.bytes_limit
            .saturating_sub(self.bytes_used)
            .saturating_sub(self.bytes_reserved)
    }

    /// Items still free, reservations taken into account.
    pub fn items_left(&self) -> u64 {
        self.items_limit
            .saturating_sub(self.items_used)
            .saturating_sub(self.items_reserved)
    }
}

#[derive(sqlx::FromRow)]
struct UsageRow {
    bytes_used: i64,
    items_used: i64,
    bytes_reserved: i64,
    items_reserved: i64,
    quota_bytes: Option<i64>,
    quota_items: Option<i32>,
}

/// `select <usage of $1> ... <rest>`: one statement for the read and the locked read.
macro_rules! select_usage {
    ($rest:literal) => {
        concat!(
            "select coalesce((select sum(size_bytes) from media
                               where owner_id = u.id and deleted_at is null), 0)::bigint as bytes_used,
                    (select count(*) from media where owner_id = u.id and deleted_at is null) as items_used,
                    coalesce((select sum(bytes) from upload_reservations
                               where user_id = u.id and expires_at > now()), 0)::bigint as bytes_reserved,
                    (select count(*) from upload_reservations
                      where user_id = u.id and expires_at > now()) as items_reserved,
                    u.quota_bytes, u.quota_items
               from users u where u.id = $1 ",
            $rest
        )
    };
}

fn to_usage(row: UsageRow, defaults: QuotaDefaults) -> Usage {
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Usage {
        bytes_used: unsigned(row.bytes_used),
        bytes_limit: row.quota_bytes.map_or(defaults.bytes, unsigned),
        items_used: unsigned(row.items_used),
        items_limit: row.quota_items.map_or(defaults.items, |v| unsigned(i64::from(v))),
        bytes_reserved: unsigned(row.bytes_reserved),
        items_reserved: unsigned(row.items_reserved),
    }
}

/// Account `user`'s usage; `None` when the account is gone.
pub async fn usage(pool: &PgPool, user: Uuid, defaults: QuotaDefaults) -> Result<Option<Usage>, sqlx::Error> {
    let row: Option<UsageRow> = sqlx::query_as(select_usage!(""))
        .bind(user)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|row| to_usage(row, defaults)))
}

/// Account `user`'s usage with its row locked until `conn`'s transaction ends.
async fn usage_locked(
    conn: &mut PgConnection,
    user: Uuid,
    defaults: QuotaDefaults,
) -> Result<Option<Usage>, sqlx::Error> {
    // The lock first, in a statement of its own: a statement that waits for a row lock still
    // reads its subqueries from the snapshot it started with (READ COMMITTED), so one locking
    // read would miss a reservation committed by the transaction it waited for — two parallel
    // uploads could then both take the last space. The read after the lock sees it.
    let locked: Option<Uuid> = sqlx::query_scalar("select id from users where id = $1 for update")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let row: Option<UsageRow> = sqlx::query_as(select_usage!(""))
        .bind(user)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|row| to_usage(row, defaults)))
}

/// What [`reserve`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// Space is held: the upload may be up to `cap` bytes.
    Granted {
        /// The reservation, freed by [`record`] or [`release`].
        id: Uuid,
        /// The most the upload may be.
        cap: u64,
        /// Whether the cap is the quota's rather than the upload limit's (which error to give
        /// an upload that grows past it).
        capped_by_quota: bool,
    },
    /// The account holds as many items as it may.
    NoItemsLeft {
        /// Its quota in items.
        limit: u64,
    },
    /// The upload does not fit in what is left.
    NoSpaceLeft {
        /// Bytes left.
        left: u64,
    },
    /// The account is gone.
    NoAccount,
}

/// Reserves space for one upload of `user` for `ttl` ([`RESERVATION_TTL`] for one request):
/// `declared` bytes when the client said, else all that is left, never more than `upload_limit`.
pub async fn reserve(
    pool: &PgPool,
    user: Uuid,
    defaults: QuotaDefaults,
    declared: Option<u64>,
    upload_limit: u64,
    ttl: Duration,
) -> Result<Reserve, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(usage) = usage_locked(&mut tx, user, defaults).await? else {
        return Ok(Reserve::NoAccount);
    };
    if usage.items_left() == 0 {
        return Ok(Reserve::NoItemsLeft {
            limit: usage.items_limit,
        });
    }
    let left = usage.bytes_left();
    let (cap, capped_by_quota) = match declared {
        Some(bytes) if bytes > left => return Ok(Reserve::NoSpaceLeft { left }),
        Some(bytes) => (bytes.min(upload_limit), false),
        None if left == 0 => return Ok(Reserve::NoSpaceLeft { left }),
        None => (left.min(upload_limit), left < upload_limit),
    };
    let id = Uuid::now_v7();
    sqlx::query(
        "insert into upload_reservations (id, user_id, bytes, expires_at)
         values ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(id)
    .bind(user)
    .bind(i64::try_from(cap).unwrap_or(i64::MAX))
    .bind(ttl.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reserve::Granted {
        id,
        cap,
        capped_by_quota,
    })
}

/// Frees reservation `id` on the caller's transaction as its upload is recorded, with the
/// account locked, and checks that `size` bytes more still fit: `Ok(false)` when they do not (the
/// reservation had expired and the space went to other uploads), so the caller rolls back.
pub async fn record(
    conn: &mut PgConnection,
    id: Uuid,
    user: Uuid,
    defaults: QuotaDefaults,
    size: u64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("delete from upload_reservations where id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let Some(usage) = usage_locked(conn, user, defaults).await? else {
        return Ok(false);
    };
    Ok(usage.items_left() > 0 && size <= usage.bytes_left())
}

/// Frees reservation `id` of an upload that failed.
pub async fn release(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from upload_reservations where id = $1 or expires_at < now() - interval '1 day'")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_what_is_left() {
        let usage = Usage {
            bytes_used: 60,
            bytes_limit: 100,
            items_used: 2,
            items_limit: 3,
            bytes_reserved: 30,
            items_reserved: 1,
        };
        assert_eq!(usage.bytes_left(), 10);
        assert_eq!(usage.items_left(), 0);
        let over = Usage {
            bytes_used: 120,
            ..usage
        };
        assert_eq!(
            over.bytes_left(),
            0,
            "a lowered quota leaves nothing, not an underflow"
        );
    }
}
