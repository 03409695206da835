//! The chat socket with real WebSocket clients against in-process API instances on one
//! database: delivery across instances, catch-up after a reconnect, idempotent sends,
//! membership, bad frames, the per-user limits and the token close codes. The limits that
//! close a socket (1009, 4008, 4009, 4010) are tested on the real binary, in `tests/chat.rs`.

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
    // (Presence frames about Bob may come first.)
    let (event, _) = a.until("room.event").await;
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

/// A member's socket on `app`, subscribed to `room` from now on.
async fn member_socket(app: &TestApp, token: &str, room: &str) -> Socket {
    let mut socket = Socket::connect(&app.base, Some(token)).await.unwrap();
    assert_eq!(socket.recv().await["type"], "ready");
    socket
        .send(json!({ "type": "subscribe", "id": "s", "room": room }))
        .await;
    socket.until("subscribed").await;
    socket
}

#[tokio::test]
async fn direct_messages_edits_deletions_receipts_and_typing_reach_the_other_side() {
    let app = spawn_app_with(|_| {}).await;
    let ann = app.user("ann@example.com").await;
    let ben = app.user("ben@example.com").await;
    let ben_id = user_id(&app, "ben@example.com").await;
    let ann_id = user_id(&app, "ann@example.com").await;
    let open = |token: String, other: Uuid| {
        let app = &app;
        async move {
            let resp = app
                .http
                .put(app.url(&format!("/v1/direct/{other}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.unwrap()
        }
    };
    // Either side opens the same room.
    let room = open(ann.clone(), ben_id).await;
    assert_eq!(open(ben.clone(), ann_id).await["id"], room["id"]);
    assert_eq!(room["kind"], "direct");
    let room_id = room["id"].as_str().unwrap().to_owned();
    let mut a = member_socket(&app, &ann, &room_id).await;
    let mut b = member_socket(&app, &ben, &room_id).await;

    a.send(json!({ "type": "message.send", "id": "hi", "room": room_id, "body": "hi ben" }))
        .await;
    let (ack, _) = a.until("ack").await;
    let (got, _) = b.until("room.event").await;
    assert_eq!(got["message"]["body"], "hi ben");
    let message_id = ack["message_id"].as_str().unwrap().to_owned();

    // Receipts: Ben's delivered and read marks reach Ann.
    b.send(json!({ "type": "receipt", "id": "r1", "room": room_id, "seq": ack["seq"], "kind": "read" }))
        .await;
    let (receipt, _) = a.until("receipt").await;
    assert_eq!(receipt["user_id"], json!(ben_id));
    assert_eq!(
        (receipt["delivered_seq"].clone(), receipt["read_seq"].clone()),
        (ack["seq"].clone(), ack["seq"].clone())
    );

    // Typing reaches Ann and is never stored; a second one within 3 s is not passed on.
    b.send(json!({ "type": "typing", "id": "t1", "room": room_id }))
        .await;
    let (typing, _) = a.until("typing").await;
    assert_eq!(typing["user_id"], json!(ben_id));
    b.send(json!({ "type": "typing", "id": "t2", "room": room_id }))
        .await;

    // Edit and delete: only the author; both reach the other side with the current text.
    b.send(json!({ "type": "message.edit", "id": "e0", "room": room_id, "message_id": message_id, "body": "hijacked" }))
        .await;
    let (refused, _) = b.until("error").await;
    assert_eq!(refused["code"], "not-author");
    a.send(json!({ "type": "message.edit", "id": "e1", "room": room_id, "message_id": message_id, "body": "hi, Ben" }))
        .await;
    let (edited, skipped) = b.until("room.event").await;
    assert!(
        skipped.iter().all(|f| f["type"] != "typing"),
        "a second typing passed: {skipped:?}"
    );
    assert_eq!(
        (edited["kind"].as_str(), edited["message"]["body"].as_str()),
        (Some("message.edited"), Some("hi, Ben"))
    );
    assert!(edited["message"]["edited_at"].is_string());
    a.send(json!({ "type": "message.delete", "id": "d1", "room": room_id, "message_id": message_id }))
        .await;
    let (deleted, _) = b.until("room.event").await;
    assert_eq!(deleted["kind"], "message.deleted");
    assert_eq!(deleted["message"]["deleted"], true);
    assert!(deleted["message"]["body"].is_null());
    // A reconnect replays the log with the current state: the text is gone everywhere.
    let (_c, caught) = subscribed(&app, &ben, &room_id, Some(0)).await;
    let bodies: Vec<&Value> = caught["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("message").map(|m| &m["body"]))
        .collect();
    assert!(bodies.iter().all(|b| b.is_null()), "{caught}");
    assert_eq!(
        app.count("select count(*) from chat_messages where body is not null")
            .await,
        0
    ); // Every frame both sides sent and received is what openapi/asyncapi.yaml says.
    let checked = veza_e2e::socket::check_frames(&[&a, &b, &_c]).await;
    assert!(checked > 20, "{checked} frames");
}

#[tokio::test]
async fn moderators_kick_mute_and_remove_messages_and_the_owner_reads_it_in_the_audit_log() {
    let app = spawn_app_with(|config| config.admin_emails = vec!["ops@example.com".into()]).await;
    let owner = app.user("boss@example.com").await;
    let modr = app.user("mod@example.com").await;
    let troll = app.user("troll@example.com").await;
    let (mod_id, troll_id) = (
        user_id(&app, "mod@example.com").await,
        user_id(&app, "troll@example.com").await,
    );
    let room = create_room(&app, &owner, "club", "private").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    for user in [mod_id, troll_id] {
        assert_eq!(
            add_member(&app, &owner, &room_id, user).await.status(),
            StatusCode::OK
        );
    }
    let patch = |token: &str, user: Uuid, body: Value| {
        app.http
            .patch(app.url(&format!("/v1/rooms/{room_id}/members/{user}")))
            .bearer_auth(token.to_owned())
            .json(&body)
            .send()
    };
    // Only the owner gives roles; a member cannot mute.
    assert_eq!(
        patch(&troll, mod_id, json!({ "muted_until": "2100-01-01T00:00:00Z" }))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(&owner, mod_id, json!({ "role": "moderator" }))
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    let mut t = member_socket(&app, &troll, &room_id).await;
    let mut m = member_socket(&app, &modr, &room_id).await;
    t.send(json!({ "type": "message.send", "id": "spam", "room": room_id, "body": "spam" }))
        .await;
    let (spam, _) = t.until("ack").await;
    // The moderator removes it (audited), then mutes the troll: sends are refused.
    m.send(json!({ "type": "message.delete", "id": "d", "room": room_id, "message_id": spam["message_id"] }))
        .await;
    let (removed, _) = m.until("ack").await;
    assert!(removed["seq"].as_i64().unwrap() > spam["seq"].as_i64().unwrap());
    let muted = patch(&modr, troll_id, json!({ "muted_until": "2100-01-01T00:00:00Z" }))
        .await
        .unwrap();
    assert_eq!(muted.status(), StatusCode::NO_CONTENT);
    t.send(json!({ "type": "message.send", "id": "more", "room": room_id, "body": "more spam" }))
        .await;
    let (refused, _) = t.until("error").await;
    assert_eq!(refused["code"], "muted");
    // Any member reads the members: roles, the mute, who is online (the troll and the
    // moderator have sockets open; the owner has none).
    let members: Value = app
        .get(&troll, &format!("/v1/rooms/{room_id}/members"))
        .await
        .json()
        .await
        .unwrap();
    let owner_id = user_id(&app, "boss@example.com").await;
    let listed: Vec<(Value, Value, Value, Value)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].clone(),
                m["role"].clone(),
                m["online"].clone(),
                m["muted_until"].clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (json!(owner_id), json!("owner"), json!(false), Value::Null),
            (json!(mod_id), json!("moderator"), json!(true), Value::Null),
            (
                json!(troll_id),
                json!("member"),
                json!(true),
                json!("2100-01-01T00:00:00+00:00")
            ),
        ]
    );
    // A moderator cannot kick the owner; the troll is kicked: their socket gets the kick as the
    // room's last event and nothing after it, and they can no longer read the history.
    let kick = |token: &str, user: Uuid| {
        app.http
            .delete(app.url(&format!("/v1/rooms/{room_id}/members/{user}")))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(
        kick(&modr, owner_id).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        kick(&modr, troll_id).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let kicked = loop {
        let (event, _) = t.until("room.event").await;
        if event["kind"] == "member.kicked" {
            break event;
        }
    };
    assert_eq!(kicked["member"]["user_id"], json!(troll_id));
    m.send(json!({ "type": "message.send", "id": "after", "room": room_id, "body": "peace" }))
        .await;
    m.until("ack").await;
    assert_eq!(
        t.next(Duration::from_secs(1)).await,
        Ok(None),
        "a kicked member still receives"
    );
    for path in ["messages", "members"] {
        let read = app.get(&troll, &format!("/v1/rooms/{room_id}/{path}")).await;
        assert_eq!(read.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // The owner reads the room's audit log; the moderator may not.
    let audit: Value = app
        .get(&owner, &format!("/v1/rooms/{room_id}/audit"))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "room-member-kicked",
            "room-member-muted",
            "room-message-removed",
            "room-role-changed",
            "room-created"
        ]
    );
    assert_eq!(audit["items"][0]["subject_id"], json!(troll_id));
    assert_eq!(audit["items"][0]["actor_id"], json!(mod_id));
    assert_eq!(
        app.get(&modr, &format!("/v1/rooms/{room_id}/audit"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // An admin reads the same events in the account audit log, with the room in the detail.
    let ops = app.user("ops@example.com").await;
    app.verify_address("ops@example.com").await;
    let all: Value = app
        .get(&ops, "/v1/admin/audit?action=room-member-kicked")
        .await
        .json()
        .await
        .unwrap();
    let kicked = &all["items"][0];
    assert_eq!(
        (kicked["subject_id"].clone(), kicked["actor_id"].clone()),
        (json!(troll_id), json!(mod_id)),
        "{all}"
    );
    assert!(kicked.to_string().contains(&room_id), "{kicked}");
    veza_e2e::socket::check_frames(&[&t, &m]).await;
}

#[tokio::test]
async fn a_users_messages_per_second_are_limited_across_all_its_sockets_on_every_instance() {
    let db = TestDatabase::create().await;
    let limits = |config: &mut veza_api::config::ApiConfig| {
        config.chat.chat_messages_per_second = 3;
        config.chat.chat_frames_per_second = 10_000;
    };
    let one = spawn_app_on(&db.url, limits).await;
    let two = spawn_app_on(&db.url, limits).await;
    let token = one.user("chatty@example.com").await;
    let room = create_room(&one, &token, "busy", "private").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let mut sockets = [
        member_socket(&one, &token, &room_id).await,
        member_socket(&two, &token, &room_id).await,
    ];
    // Sent as fast as answered, in turn on the two instances: more than 3 in most seconds.
    let mut acked_at = Vec::new();
    let mut refused = Vec::new();
    for n in 0..30 {
        let socket = &mut sockets[n % 2];
        let id = format!("m{n}");
        socket
            .send(json!({ "type": "message.send", "id": id, "room": room_id, "body": "hi" }))
            .await;
        let reply = loop {
            let frame = socket.recv().await;
            if frame["id"] == json!(id) {
                break frame;
            }
        };
        match reply["type"].as_str() {
            Some("ack") => acked_at.push(
                reply["at"]
                    .as_str()
                    .unwrap()
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .unwrap(),
            ),
            _ => refused.push(reply),
        }
    }
    // The limit counts per second of the database's clock, the one `at` is stamped with.
    let mut per_second = std::collections::BTreeMap::<i64, usize>::new();
    for at in &acked_at {
        *per_second.entry(at.timestamp()).or_default() += 1;
    }
    assert!(per_second.values().all(|&n| n <= 3), "{per_second:?}");
    assert!(!refused.is_empty(), "nothing refused in {per_second:?}");
    for reply in &refused {
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], "rate-limited", "{reply}");
        let wait = reply["retry_after_ms"].as_u64().unwrap();
        assert!((1..=1000).contains(&wait), "{reply}");
    }
    // A refused message is not stored; the stored ones are the acknowledged ones.
    let stored: i64 = sqlx::query_scalar("select count(*) from chat_messages where room_id = $1::uuid")
        .bind(&room_id)
        .fetch_one(&one.pool)
        .await
        .unwrap();
    assert_eq!(stored, acked_at.len() as i64);
    // After the wait, the user may send again.
    let wait = refused.last().unwrap()["retry_after_ms"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(wait)).await;
    sockets[0]
        .send(json!({ "type": "message.send", "id": "later", "room": room_id, "body": "hi" }))
        .await;
    let (ack, _) = sockets[0].until("ack").await;
    assert_eq!(ack["id"], "later");
    let frames: Vec<&Socket> = sockets.iter().collect();
    assert!(veza_e2e::socket::check_frames(&frames).await > 0);
}

#[tokio::test]
async fn a_media_item_shared_in_a_room_plays_for_its_members_only_until_it_is_unshared() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.user("sharer@example.com").await;
    let member = app.user("viewer@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let room = create_room(&app, &owner, "screening", "private").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let member_id = user_id(&app, "viewer@example.com").await;
    add_member(&app, &owner, &room_id, member_id).await;
    let upload: Value = app
        .upload(&owner, veza_e2e::fixtures::png(8, 8))
        .await
        .json()
        .await
        .unwrap();
    let media_id: Uuid = upload["media_id"].as_str().unwrap().parse().unwrap();
    app.publish_thumbnail(media_id, "g1").await;
    let mut watching = member_socket(&app, &member, &room_id).await;

    // Only its owner can share it.
    let share = |token: &str| {
        app.http
            .post(app.url(&format!("/v1/rooms/{room_id}/media")))
            .bearer_auth(token.to_owned())
            .json(&json!({ "media_id": media_id }))
            .send()
    };
    assert_eq!(share(&member).await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(share(&owner).await.unwrap().status(), StatusCode::OK);
    let (shared, _) = watching.until("room.event").await;
    assert_eq!(
        (shared["kind"].as_str(), shared["media"]["media_id"].as_str()),
        (Some("media.shared"), Some(media_id.to_string().as_str()))
    );

    // A member gets the item with signed URLs that play; an outsider gets nothing.
    let path = format!("/v1/rooms/{room_id}/media/{media_id}");
    let item: Value = app.get(&member, &path).await.json().await.unwrap();
    assert_eq!(item["id"], json!(media_id));
    let thumbnail = item["outputs"][0]["signed_url"]
        .as_str()
        .expect("a signed thumbnail URL");
    let played = app.http.get(app.url(thumbnail)).send().await.unwrap();
    assert_eq!(played.status(), StatusCode::OK);
    assert_eq!(
        played.bytes().await.unwrap().as_ref(),
        crate::helpers::THUMBNAIL_BYTES
    );
    assert_eq!(app.get(&outsider, &path).await.status(), StatusCode::NOT_FOUND);
    // The member may not unshare what the owner shared; the owner may.
    let unshare = |token: &str| {
        app.http
            .delete(app.url(&path))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(unshare(&member).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(unshare(&owner).await.unwrap().status(), StatusCode::NO_CONTENT);
    let (unshared, _) = watching.until("room.event").await;
    assert_eq!(unshared["kind"], "media.unshared");
    assert_eq!(app.get(&member, &path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_see_each_other_come_online_and_go_offline_across_instances() {
    let db = TestDatabase::create().await;
    let one = spawn_app_on(&db.url, |_| {}).await;
    let two = spawn_app_on(&db.url, |_| {}).await;
    let ann = one.user("present@example.com").await;
    let bob = one.user("arriving@example.com").await;
    let room = create_room(&one, &ann, "hall", "private").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let bob_id = user_id(&one, "arriving@example.com").await;
    add_member(&one, &ann, &room_id, bob_id).await;
    let mut watching = member_socket(&one, &ann, &room_id).await;

    // Bob connects on the other instance: Ann hears he is online; he leaves: offline.
    let mut bob_socket = Socket::connect(&two.base, Some(&bob)).await.unwrap();
    assert_eq!(bob_socket.recv().await["type"], "ready");
    // (Ann's own coming online is announced to her too.)
    let online = loop {
        let (frame, _) = watching.until("presence").await;
        if frame["user_id"] == json!(bob_id) {
            break frame;
        }
    };
    assert_eq!(online["online"], json!(true));
    // A second socket of his, opened and closed, may repeat "online" (presence is a state, not
    // a count); only his last socket closing makes him offline.
    let second = Socket::connect(&one.base, Some(&bob)).await.unwrap();
    second.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Some(frame)) = watching.next(Duration::from_millis(300)).await {
        assert_ne!(
            frame["online"],
            json!(false),
            "offline while still connected elsewhere"
        );
    }
    bob_socket.close().await;
    let last = loop {
        let (next, _) = watching.until("presence").await;
        if next["user_id"] == json!(bob_id) && next["online"] == json!(false) {
            break next;
        }
    };
    assert_eq!(
        (last["user_id"].clone(), last["online"].clone()),
        (json!(bob_id), json!(false))
    );
    assert_eq!(
        one.count("select count(*) from chat_presence where user_id in (select id from users where email = 'arriving@example.com')")
            .await,
        0
    );
    veza_e2e::socket::check_frames(&[&watching]).await;
}

#[tokio::test]
async fn a_user_over_the_socket_limit_is_closed_with_4013() {
    let app = spawn_app_with(|config| config.chat.chat_max_connections_per_user = 2).await;
    let token = app.user("many@example.com").await;
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut s = Socket::connect(&app.base, Some(&token)).await.unwrap();
        assert_eq!(s.recv().await["type"], "ready");
        kept.push(s);
    }
    let mut third = Socket::connect(&app.base, Some(&token)).await.unwrap();
    let (closed, _) = third.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 4013,
            reason: "too-many-connections".into()
        }
    );
    // One closes: there is room again.
    kept.pop().unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Socket::connect(&app.base, Some(&token)).await.unwrap();
    assert_eq!(again.recv().await["type"], "ready");
}
