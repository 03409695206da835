//! The chat socket with real WebSocket clients against in-process API instances on one
//! database: delivery across instances, catch-up after a reconnect, idempotent sends,
//! membership, bad frames and the close codes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use veza_e2e::{
    TestDatabase,
    socket::{Closed, Socket},
};

use crate::helpers::{TestApp, spawn_app_on, spawn_app_with};

async fn user_id(app: &TestApp, email: &str) -> Uuid {
    sqlx::query_scalar("select id from users where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn create_room(app: &TestApp, token: &str, name: &str, visibility: &str) -> Value {
    let resp = app
        .http
        .post(app.url("/v1/rooms"))
        .bearer_auth(token)
        .json(&json!({ "name": name, "visibility": visibility }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().await.unwrap()
}

async fn add_member(app: &TestApp, token: &str, room: &str, user: Uuid) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/rooms/{room}/members")))
        .bearer_auth(token)
        .json(&json!({ "user_id": user }))
        .send()
        .await
        .unwrap()
}

/// A socket authenticated by its first frame (as a browser would), subscribed to `room`.
async fn subscribed(app: &TestApp, token: &str, room: &str, since: Option<i64>) -> (Socket, Value) {
    let mut socket = Socket::connect(&app.base, None).await.unwrap();
    socket
        .send(json!({ "type": "auth", "id": "a1", "token": token }))
        .await;
    let ready = socket.recv().await;
    assert_eq!(ready["type"], "ready", "{ready}");
    let mut frame = json!({ "type": "subscribe", "id": "s1", "room": room });
    if let Some(since) = since {
        frame["since"] = json!(since);
    }
    socket.send(frame).await;
    let (done, events) = socket.until("subscribed").await;
    (socket, json!({ "subscribed": done, "events": events }))
}

#[tokio::test]
async fn a_message_sent_on_one_instance_reaches_a_member_on_another_and_a_reconnect_gets_exactly_what_it_missed()
 {
    let db = TestDatabase::create().await;
    let one = spawn_app_on(&db.url, |_| {}).await;
    let two = spawn_app_on(&db.url, |_| {}).await;
    let alice = one.user("alice@example.com").await;
    let bob = two.user("bob@example.com").await;
    let room = create_room(&one, &alice, "music", "private").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let bob_id = user_id(&one, "bob@example.com").await;
    assert_eq!(
        add_member(&one, &alice, &room_id, bob_id).await.status(),
        StatusCode::OK
    );

    // Alice on instance one (header auth), Bob on instance two (frame auth).
    let mut a = Socket::connect(&one.base, Some(&alice)).await.unwrap();
    assert_eq!(a.recv().await["type"], "ready");
    a.send(json!({ "type": "subscribe", "id": "s", "room": room_id }))
        .await;
    let (sub, _) = a.until("subscribed").await;
    let start = sub["last_seq"].as_i64().unwrap();
    assert_eq!(start, 2, "created, then Bob joined: {sub}");
    let (mut b, _) = subscribed(&two, &bob, &room_id, None).await;

    b.send(json!({ "type": "message.send", "id": "m1", "room": room_id, "body": "hello" }))
        .await;
    let (ack, _) = b.until("ack").await;
    assert_eq!(ack["id"], "m1");
    assert_eq!(ack["seq"], start + 1);
    let event = a.recv().await;
    assert_eq!(event["type"], "room.event", "{event}");
    assert_eq!(event["seq"], start + 1);
    assert_eq!(event["kind"], "message.created");
    assert_eq!(event["message"]["body"], "hello");
    assert_eq!(event["message"]["id"], ack["message_id"]);
    assert_eq!(event["actor"], json!(bob_id));
    // The sender's own subscription gets it too (its other devices rely on the same path).
    let (own, _) = b.until("room.event").await;
    assert_eq!(own["seq"], start + 1);

    // The same frame again (a client retrying after a lost ack): the same message, not a new one.
    b.send(json!({ "type": "message.send", "id": "m1", "room": room_id, "body": "hello" }))
        .await;
    let (again, _) = b.until("ack").await;
    assert_eq!(
        (again["message_id"].clone(), again["seq"].clone()),
        (ack["message_id"].clone(), ack["seq"].clone())
    );

    // Alice goes away; Bob sends three; Alice comes back from where she was.
    a.close().await;
    for n in 2..=4 {
        b.send(json!({ "type": "message.send", "id": format!("m{n}"), "room": room_id, "body": format!("msg {n}") }))
            .await;
        b.until("ack").await;
    }
    let (_a, caught) = subscribed(&one, &alice, &room_id, Some(start + 1)).await;
    let events = caught["events"].as_array().unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![start + 2, start + 3, start + 4], "{caught}");
    let bodies: Vec<&str> = events
        .iter()
        .map(|e| e["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["msg 2", "msg 3", "msg 4"]);
    assert_eq!(caught["subscribed"]["last_seq"], start + 4);

    // The history over HTTP has the four messages, newest first, in pages.
    let page: Value = one
        .get(&alice, &format!("/v1/rooms/{room_id}/messages?limit=3"))
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![start + 4, start + 3, start + 2]);
    let older: Value = one
        .get(
            &alice,
            &format!(
                "/v1/rooms/{room_id}/messages?limit=3&before={}",
                page["next_before"]
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(older["items"][0]["body"], "hello");
    assert_eq!(older["items"].as_array().unwrap().len(), 1);
    assert!(older.get("next_before").is_none(), "{older}");
}

#[tokio::test]
async fn a_non_member_can_neither_subscribe_send_nor_read_and_learns_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.user("owner@example.com").await;
    let stranger = app.user("stranger@example.com").await;
    let private = create_room(&app, &owner, "secret", "private").await;
    let room_id = private["id"].as_str().unwrap();
    let mut s = Socket::connect(&app.base, Some(&stranger)).await.unwrap();
    s.recv().await;
    s.send(json!({ "type": "subscribe", "id": "s", "room": room_id }))
        .await;
    let refused = s.recv().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("room-not-found"))
    );
    // A room that does not exist reads the same.
    s.send(json!({ "type": "message.send", "id": "m", "room": Uuid::now_v7(), "body": "x" }))
        .await;
    let missing = s.recv().await;
    s.send(json!({ "type": "message.send", "id": "m", "room": room_id, "body": "x" }))
        .await;
    let refused = s.recv().await;
    assert_eq!(refused["code"], "room-not-found");
    assert_eq!(missing["code"], refused["code"]);
    let history = app.get(&stranger, &format!("/v1/rooms/{room_id}/messages")).await;
    assert_eq!(history.status(), StatusCode::NOT_FOUND);
    // Joining a private room oneself is refused the same way; a public one is open.
    let me = user_id(&app, "stranger@example.com").await;
    assert_eq!(
        add_member(&app, &stranger, room_id, me).await.status(),
        StatusCode::NOT_FOUND
    );
    let public = create_room(&app, &owner, "lobby", "public").await;
    let joined = add_member(&app, &stranger, public["id"].as_str().unwrap(), me).await;
    assert_eq!(joined.status(), StatusCode::OK);
    let joined: Value = joined.json().await.unwrap();
    assert_eq!(
        (joined["role"].as_str(), joined["last_seq"].as_i64()),
        (Some("member"), Some(2))
    );
    // A member may not add others; nothing was stored for the refused sends.
    app.user("third@example.com").await;
    let third = user_id(&app, "third@example.com").await;
    let added = add_member(&app, &stranger, public["id"].as_str().unwrap(), third).await;
    assert_eq!(added.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("select count(*) from chat_messages").await, 0);
}

#[tokio::test]
async fn bad_frames_get_error_frames_with_stable_codes_and_the_socket_stays_open() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.user("frames@example.com").await;
    let mut s = Socket::connect(&app.base, Some(&token)).await.unwrap();
    assert_eq!(s.recv().await["type"], "ready");
    s.send_raw("{not json".into()).await;
    assert_eq!(s.recv().await["code"], "bad-json");
    s.send(json!({ "type": "dance", "id": "d1" })).await;
    let unknown = s.recv().await;
    assert_eq!(
        (unknown["code"].as_str(), unknown["id"].as_str()),
        (Some("unknown-type"), Some("d1"))
    );
    s.send(json!({ "type": "message.send", "id": "x1", "room": "not-a-uuid", "body": "hi" }))
        .await;
    assert_eq!(s.recv().await["code"], "invalid-frame");
    s.send(json!({ "type": "message.send", "id": "x2", "room": Uuid::now_v7(), "body": "x".repeat(4001) }))
        .await;
    assert_eq!(s.recv().await["code"], "body-too-long");
    s.send(json!({ "type": "ping", "id": "p1" })).await;
    let pong = s.recv().await;
    assert_eq!(
        (pong["type"].as_str(), pong["id"].as_str()),
        (Some("pong"), Some("p1"))
    );
}

#[tokio::test]
async fn an_oversize_frame_closes_the_socket_with_1009() {
    let app = spawn_app_with(|config| config.chat.chat_max_frame_bytes = 1024).await;
    let token = app.user("big@example.com").await;
    let mut s = Socket::connect(&app.base, Some(&token)).await.unwrap();
    s.recv().await;
    s.send(json!({ "type": "ping", "id": "x".repeat(2000) })).await;
    let (closed, _) = s.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 1009,
            reason: "frame-too-large".into()
        }
    );
}

#[tokio::test]
async fn a_socket_without_a_valid_token_is_refused_or_closed_with_its_code() {
    let app = spawn_app_with(|config| config.chat.chat_auth_timeout_seconds = 1).await;
    let token = app.user("auth@example.com").await;
    // A bad header: 401 before any upgrade.
    let refused = Socket::connect(&app.base, Some("not-a-token")).await.err();
    assert_eq!(refused.as_deref(), Some("HTTP 401"));
    // No header and no `auth` frame in time: 4001. Another frame first is refused, not served.
    let mut silent = Socket::connect(&app.base, None).await.unwrap();
    silent.send(json!({ "type": "ping", "id": "p" })).await;
    assert_eq!(silent.recv().await["code"], "not-authenticated");
    let (closed, _) = silent.closed(Duration::from_secs(10)).await;
    assert_eq!(closed.code, 4001);
    // A bad token in the frame: 4001.
    let mut bad = Socket::connect(&app.base, None).await.unwrap();
    bad.send(json!({ "type": "auth", "token": "nope" })).await;
    assert_eq!(bad.closed(Duration::from_secs(10)).await.0.code, 4001);
    // The session signed out while connected: 4003, on its sockets only.
    let other = app.user("other@example.com").await;
    let mut mine = Socket::connect(&app.base, Some(&token)).await.unwrap();
    mine.recv().await;
    let mut theirs = Socket::connect(&app.base, Some(&other)).await.unwrap();
    theirs.recv().await;
    let logout = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success());
    let (closed, _) = mine.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 4003,
            reason: "token-revoked".into()
        }
    );
    theirs.send(json!({ "type": "ping", "id": "still" })).await;
    assert_eq!(theirs.recv().await["type"], "pong");
}

#[tokio::test]
async fn a_socket_closes_with_4002_when_its_token_expires() {
    let app = spawn_app_with(|config| config.token_ttl_seconds = 2).await;
    let token = app.user("expiry@example.com").await;
    let mut s = Socket::connect(&app.base, Some(&token)).await.unwrap();
    let ready = s.recv().await;
    assert!(ready["expires_at"].as_u64().unwrap() > 0);
    let (closed, _) = s.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 4002,
            reason: "token-expired".into()
        }
    );
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_with_4010() {
    let app = spawn_app_with(|config| {
        config.chat.chat_ping_interval_seconds = 1;
        config.chat.chat_idle_timeout_seconds = 2;
    })
    .await;
    let token = app.user("idle@example.com").await;
    let mut alive = Socket::connect(&app.base, Some(&token)).await.unwrap();
    let mut dead = Socket::connect(&app.base, Some(&token)).await.unwrap();
    // The dead one is never read (its library would answer the pings); the live one is.
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let _ = alive.next(Duration::from_millis(200)).await.unwrap();
    }
    let (closed, _) = dead.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 4010,
            reason: "heartbeat-timeout".into()
        }
    );
    alive.send(json!({ "type": "ping", "id": "p" })).await;
    assert_eq!(alive.recv().await["type"], "pong");
}
