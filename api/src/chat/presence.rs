//! Presence: a user is online while any API instance holds a live connection of theirs (a
//! socket or an event stream). Each instance keeps a row per connected user in
//! `chat_presence`, refreshed every [`REFRESH`]; rows older than [`STALE`] (an instance that
//! died without cleaning up) do not count. A change is announced on `veza_user`, and each
//! instance passes it to its sockets subscribed to a room the user is a member of.

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{ChatHub, Push, frames};

/// How often an instance marks its rows as still true.
pub const REFRESH: Duration = Duration::from_secs(30);
/// How old a row may be and still count.
pub const STALE_SECONDS: f64 = 90.0;

async fn record(hub: &ChatHub, user: Uuid, on: bool) -> Result<(), sqlx::Error> {
    let mut tx = hub.pool.begin().await?;
    if on {
        sqlx::query(
            "insert into chat_presence (instance_id, user_id) values ($1, $2)
             on conflict (instance_id, user_id) do update set seen_at = now()",
        )
        .bind(hub.instance)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query("delete from chat_presence where instance_id = $1 and user_id = $2")
            .bind(hub.instance)
            .bind(user)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "select pg_notify($1, json_build_object('t', 'presence', 'u', $2::uuid, 'on',
                exists (select 1 from chat_presence
                         where user_id = $2 and seen_at > now() - make_interval(secs => $3)))::text)",
    )
    .bind(super::listener::USER_CHANNEL)
    .bind(user)
    .bind(STALE_SECONDS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Keeps `chat_presence` true for this instance until the hub shuts down, then removes its
/// rows and announces who went offline with it. Changes are handled one at a time, in order, each from the user's connections here
/// *now* (not from what the change said), so a quick connect-and-close cannot leave a row
/// behind; every [`REFRESH`] the rows of users still connected are refreshed and any others
/// removed.
pub async fn run(hub: Arc<ChatHub>, mut changes: mpsc::UnboundedReceiver<Uuid>) {
    let mut refresh = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            () = hub.shutdown.cancelled() => break,
            change = changes.recv() => {
                let Some(user) = change else { break };
                let here = hub.connections_of(user) > 0;
                if let Err(err) = record(&hub, user, here).await {
                    tracing::warn!(error = %err, "chat: could not record presence");
                }
            }
            _ = refresh.tick() => {
                // Only users connected here now: a row left behind by a failed write goes.
                let connected: Vec<Uuid> = hub
                    .users
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .keys()
                    .copied()
                    .collect();
                let refreshed = sqlx::query(
                    "with gone as (delete from chat_presence where instance_id = $1 and not (user_id = any($2)))
                     update chat_presence set seen_at = now() where instance_id = $1 and user_id = any($2)",
                )
                .bind(hub.instance)
                .bind(&connected)
                .execute(&hub.pool)
                .await;
                if let Err(err) = refreshed {
                    tracing::warn!(error = %err, "chat: could not refresh presence");
                }
            }
        }
    }
    if let Err(err) = leave(&hub).await {
        tracing::warn!(error = %err, "chat: could not remove this instance's presence");
    }
}

/// Removes this instance's rows and announces offline every user it held who is connected to
/// no other instance, in one statement.
async fn leave(hub: &ChatHub) -> Result<(), sqlx::Error> {
    // The statement's snapshot does not see its own deletion, hence `instance_id <> $1`.
    sqlx::query(
        "with gone as (delete from chat_presence where instance_id = $1 returning user_id)
         select pg_notify($2, json_build_object('t', 'presence', 'u', g.user_id, 'on', false)::text)
           from gone g
          where not exists (select 1 from chat_presence p
                             where p.user_id = g.user_id and p.instance_id <> $1
                               and p.seen_at > now() - make_interval(secs => $3))",
    )
    .bind(hub.instance)
    .bind(super::listener::USER_CHANNEL)
    .bind(STALE_SECONDS)
    .execute(&hub.pool)
    .await?;
    Ok(())
}

/// Passes a presence change to this instance's sockets subscribed to a room `user` is in
/// (once per socket).
pub async fn announce_locally(hub: &ChatHub, user: Uuid, online: bool) -> Result<(), sqlx::Error> {
    let rooms: Vec<Uuid> = sqlx::query_scalar("select room_id from chat_members where user_id = $1")
        .bind(user)
        .fetch_all(&hub.pool)
        .await?;
    let frame: Arc<str> = frames::presence(user, online).into();
    let mut told = HashSet::new();
    let subscribed = hub
        .rooms
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for room in rooms {
        for conn in subscribed
            .get(&room)
            .into_iter()
            .flat_map(|subs| subs.conns.values())
        {
            if told.insert(conn.id) {
                conn.push(Push::Ephemeral {
                    room,
                    frame: frame.clone(),
                });
            }
        }
    }
    Ok(())
}
