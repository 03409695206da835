//! The real binaries: a worker's job progress reaches its owner's socket and event stream the
//! moment it is recorded, and a SIGTERM closes every socket with 1001; two API processes on one
//! database carry a room's and a direct conversation's messages, receipts and typing between
//! them, a reconnect catches up exactly, and an instance that stops announces its users offline;
//! and the process enforces its limits: frame size (1009), frame rate (4009), heartbeat (4010)
//! and the send buffer of a slow reader (4008).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use veza_e2e::{
    fixtures,
    platform::Platform,
    socket::{Closed, Socket},
};

/// Reads Server-Sent Events from `resp` until `done` holds for one, returning their types and
/// data in order.
async fn read_events(resp: reqwest::Response, done: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(120), body.next())
            .await
            .expect("no event within 120 s")
            .expect("the stream ended")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let mut kind = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                }
            }
            if let (Some(kind), Some(data)) = (kind, data) {
                let finished = done(&kind);
                events.push((kind, data));
                if finished {
                    return events;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_workers_job_progress_reaches_the_owners_socket_and_event_stream_and_a_sigterm_closes_sockets_with_1001()
 {
    let mut platform = Platform::start().await;
    let token = platform.register_and_login("live@example.com").await;
    let other = platform.register_and_login("other@example.com").await;
    let mut mine = Socket::connect(&platform.base_url, Some(&token)).await.unwrap();
    assert_eq!(mine.recv().await["type"], "ready");
    let mut theirs = Socket::connect(&platform.base_url, Some(&other)).await.unwrap();
    assert_eq!(theirs.recv().await["type"], "ready");
    let stream = platform
        .http
        .get(platform.url("/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let sse = tokio::spawn(read_events(stream, |kind| kind == "media.ready"));

    let upload = platform
        .upload(&token, fixtures::wav(20.0, 48_000, 1), "live.wav")
        .await;
    let job_id = upload["job_ids"][0].as_str().unwrap().to_owned();
    let mut socket_events = Vec::new();
    loop {
        let (frame, _) = mine.until("job.event").await;
        let event = frame["event"].clone();
        let kind = event["type"].as_str().unwrap().to_owned();
        socket_events.push(event);
        if kind == "media.ready" {
            break;
        }
    }
    let transcode: Vec<&Value> = socket_events
        .iter()
        .filter(|e| e["data"]["job_id"] == json!(job_id))
        .collect();
    let progress: Vec<i64> = transcode
        .iter()
        .filter(|e| e["type"] == "job.progress")
        .filter_map(|e| e["data"]["progress_percent"].as_i64())
        .collect();
    assert!(!progress.is_empty(), "no progress: {socket_events:?}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&100));
    assert!(
        transcode.iter().any(|e| e["type"] == "job.succeeded"),
        "{socket_events:?}"
    );
    let ready = socket_events.last().unwrap();
    assert_eq!(ready["data"]["media_status"], "ready");
    assert_eq!(ready["data"]["media_id"], upload["media_id"]);
    // The event stream carried the same events, in the same order and shape.
    let sse_events = sse.await.unwrap();
    let sse_types: Vec<&str> = sse_events.iter().map(|(kind, _)| kind.as_str()).collect();
    let socket_types: Vec<&str> = socket_events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(sse_types, socket_types);
    for ((kind, data), event) in sse_events.iter().zip(&socket_events) {
        assert_eq!(data["type"], json!(kind));
        assert_eq!(data["data"], event["data"]);
    }
    // Another account heard nothing of it.
    assert_eq!(theirs.next(Duration::from_millis(500)).await, Ok(None));
    veza_e2e::socket::check_frames(&[&mine, &theirs]).await;

    // SIGTERM: every socket gets a going-away close, and the API exits cleanly.
    let (status, (closed_mine, _), (closed_theirs, _)) = tokio::join!(
        platform.terminate_api(Duration::from_secs(40)),
        mine.closed(Duration::from_secs(40)),
        theirs.closed(Duration::from_secs(40)),
    );
    let going_away = Closed {
        code: 1001,
        reason: "server-shutting-down".into(),
    };
    assert_eq!((closed_mine, closed_theirs), (going_away.clone(), going_away));
    assert!(status.success(), "veza-api exited with {status}");
}

/// A socket on `base` for `token`, past `ready`, subscribed to `room` (from `since`, or from
/// now); returns it with the frames before `subscribed` and `subscribed` itself.
async fn join(base: &str, token: &str, room: &str, since: Option<i64>) -> (Socket, Vec<Value>, Value) {
    let mut socket = Socket::connect(base, Some(token)).await.unwrap();
    assert_eq!(socket.recv().await["type"], "ready");
    let mut subscribe = json!({ "type": "subscribe", "id": format!("s-{room}"), "room": room });
    if let Some(since) = since {
        subscribe["since"] = json!(since);
    }
    socket.send(subscribe).await;
    let (subscribed, before) = socket.until("subscribed").await;
    (socket, before, subscribed)
}

/// Creates a private room through the API at `base`; returns its id.
async fn create_room(http: &reqwest::Client, base: &str, token: &str, name: &str) -> String {
    let room: Value = http
        .post(format!("{base}/v1/rooms"))
        .bearer_auth(token)
        .json(&json!({ "name": name, "visibility": "private" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    room["id"].as_str().unwrap().to_owned()
}

/// Adds `user` to `room` through the API at `base`, as `token`'s owner.
async fn add_member(http: &reqwest::Client, base: &str, token: &str, room: &str, user: &Value) {
    let added = http
        .post(format!("{base}/v1/rooms/{room}/members"))
        .bearer_auth(token)
        .json(&json!({ "user_id": user }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), reqwest::StatusCode::OK);
}

/// The next `room.event` of `room` carrying a message, skipping other frames.
async fn next_message(socket: &mut Socket, room: &str) -> Value {
    loop {
        let (frame, _) = socket.until("room.event").await;
        if frame["room"] == room && frame["kind"] == "message.created" {
            return frame;
        }
    }
}

#[tokio::test]
async fn two_api_processes_carry_rooms_direct_messages_receipts_typing_and_catch_up_and_one_that_stops_announces_its_users_offline()
 {
    let mut platform = Platform::start().await;
    let second = platform.add_api().await;
    let (one, two) = (platform.base_url.clone(), platform.more_api_url(second));
    let ann = platform.register_and_login("ann@example.com").await;
    let bob = platform.register_and_login("bob@example.com").await;
    let eve = platform.register_and_login("eve@example.com").await;
    let bob_id = platform.get_json(&bob, "/v1/me").await["id"].clone();
    let ann_id = platform.get_json(&ann, "/v1/me").await["id"].clone();

    // A room made through one instance, joined through the other.
    let room = create_room(&platform.http, &one, &ann, "across").await;
    add_member(&platform.http, &two, &ann, &room, &bob_id).await;
    let (mut a, _, _) = join(&one, &ann, &room, None).await;
    let (mut b, _, _) = join(&two, &bob, &room, None).await;

    // Bob on the second process writes; Ann on the first reads it; receipts and typing go back.
    b.send(json!({ "type": "message.send", "id": "m1", "room": room, "body": "hello from two" }))
        .await;
    let (ack, _) = b.until("ack").await;
    let got = next_message(&mut a, &room).await;
    assert_eq!(
        (
            got["seq"].clone(),
            got["message"]["body"].as_str(),
            got["actor"].clone()
        ),
        (ack["seq"].clone(), Some("hello from two"), bob_id.clone())
    );
    a.send(json!({ "type": "receipt", "id": "r1", "room": room, "seq": ack["seq"], "kind": "read" }))
        .await;
    let (receipt, _) = b.until("receipt").await;
    assert_eq!(
        (receipt["user_id"].clone(), receipt["read_seq"].clone()),
        (ann_id.clone(), ack["seq"].clone())
    );
    a.send(json!({ "type": "typing", "id": "t1", "room": room }))
        .await;
    let (typing, _) = b.until("typing").await;
    assert_eq!(typing["user_id"], ann_id);

    // A direct room, opened by each side on its own instance: the same room, both ways.
    let open = |base: String, token: String, other: Value| {
        let http = platform.http.clone();
        async move {
            let room: Value = http
                .put(format!("{base}/v1/direct/{}", other.as_str().unwrap()))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            room["id"].as_str().unwrap().to_owned()
        }
    };
    let direct = open(one.clone(), ann.clone(), bob_id.clone()).await;
    assert_eq!(open(two.clone(), bob.clone(), ann_id.clone()).await, direct);
    let (mut da, _, _) = join(&one, &ann, &direct, None).await;
    let (mut db, _, _) = join(&two, &bob, &direct, None).await;
    da.send(json!({ "type": "message.send", "id": "d1", "room": direct, "body": "just us" }))
        .await;
    assert_eq!(next_message(&mut db, &direct).await["message"]["body"], "just us");

    // Eve is in neither room: refused on both instances, and the history says nothing.
    for base in [&one, &two] {
        let mut e = Socket::connect(base, Some(&eve)).await.unwrap();
        e.recv().await;
        for (n, target) in [&room, &direct].into_iter().enumerate() {
            e.send(json!({ "type": "subscribe", "id": format!("s{n}"), "room": target }))
                .await;
            e.send(
                json!({ "type": "message.send", "id": format!("m{n}"), "room": target, "body": "let me in" }),
            )
            .await;
            for _ in 0..2 {
                let (refused, _) = e.until("error").await;
                assert_eq!(refused["code"], "room-not-found", "{refused}");
            }
            let (status, _) = platform.get(&eve, &format!("/v1/rooms/{target}/messages")).await;
            assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
        }
        e.close().await;
    }

    // Ann goes away; Bob writes three more on the second process; Ann comes back through the
    // first with the last seq she saw and gets exactly those three, in order.
    let seen = got["seq"].as_i64().unwrap();
    a.close().await;
    for n in 2..5 {
        b.send(json!({ "type": "message.send", "id": format!("m{n}"), "room": room, "body": format!("missed {n}") }))
            .await;
        b.until("ack").await;
    }
    let (mut a, caught_up, subscribed) = join(&one, &ann, &room, Some(seen)).await;
    let bodies: Vec<&str> = caught_up
        .iter()
        .filter(|f| f["type"] == "room.event")
        .map(|f| f["message"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["missed 2", "missed 3", "missed 4"]);
    let seqs: Vec<i64> = caught_up.iter().filter_map(|f| f["seq"].as_i64()).collect();
    assert_eq!(seqs, [seen + 1, seen + 2, seen + 3]);
    assert_eq!(subscribed["last_seq"], json!(seen + 3));

    // The second process stops: Bob's sockets close with 1001, and Ann, on the first, hears
    // that Bob (connected nowhere else) went offline.
    let status = platform.terminate_more_api(second, Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    for socket in [&mut b, &mut db] {
        let (closed, _) = socket.closed(Duration::from_secs(10)).await;
        assert_eq!(
            closed,
            Closed {
                code: 1001,
                reason: "server-shutting-down".into()
            }
        );
    }
    let offline = loop {
        let (frame, _) = a.until("presence").await;
        if frame["user_id"] == bob_id && frame["online"] == json!(false) {
            break frame;
        }
    };
    assert_eq!(offline["online"], json!(false));
    veza_e2e::socket::check_frames(&[&a, &b, &da, &db]).await;
}

/// The platform with `env` for every process (here the API's chat limits).
async fn platform_with(env: &[(&str, &str)]) -> Platform {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Platform::start_with_env(None, &env, &[]).await
}

/// The API's `/metrics` text.
async fn metrics(platform: &Platform) -> String {
    platform
        .http
        .get(platform.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_api_closes_an_oversize_frame_with_1009_a_flood_with_4009_and_a_client_deaf_to_pings_with_4010() {
    let platform = platform_with(&[
        ("VEZA_CHAT_MAX_FRAME_BYTES", "1024"),
        ("VEZA_CHAT_FRAMES_PER_SECOND", "2"),
        ("VEZA_CHAT_FRAME_BURST", "5"),
        ("VEZA_CHAT_PING_INTERVAL_SECONDS", "1"),
        ("VEZA_CHAT_IDLE_TIMEOUT_SECONDS", "2"),
    ])
    .await;
    let token = platform.register_and_login("limits@example.com").await;
    let base = &platform.base_url;

    let mut big = Socket::connect(base, Some(&token)).await.unwrap();
    big.recv().await;
    big.send(json!({ "type": "ping", "id": "x".repeat(2000) })).await;
    let (closed, _) = big.closed(Duration::from_secs(10)).await;
    assert_eq!(
        closed,
        Closed {
            code: 1009,
            reason: "frame-too-large".into()
        }
    );

    // A burst of 5, then 2 a second: 30 pings at once get 5 or 6 pongs, then 10 rate-limited
    // errors, then the close.
    let mut flood = Socket::connect(base, Some(&token)).await.unwrap();
    flood.recv().await;
    for n in 0..30 {
        flood.send(json!({ "type": "ping", "id": format!("p{n}") })).await;
    }
    let (closed, frames) = flood.closed(Duration::from_secs(10)).await;
    let pongs = frames.iter().filter(|f| f["type"] == "pong").count();
    let limited: Vec<&Value> = frames.iter().filter(|f| f["code"] == "rate-limited").collect();
    assert!(
        (5..=6).contains(&pongs),
        "{pongs} pongs, then {closed:?}: {frames:?}"
    );
    assert_eq!(limited.len(), 10, "{frames:?}");
    assert!(limited[0]["retry_after_ms"].as_u64().unwrap() > 0);
    assert_eq!(
        closed,
        Closed {
            code: 4009,
            reason: "rate-limited".into()
        }
    );

    // The deaf client is never read (its library would answer the pings); the live one is.
    let mut alive = Socket::connect(base, Some(&token)).await.unwrap();
    let mut deaf = Socket::connect(base, Some(&token)).await.unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let _ = alive.next(Duration::from_millis(200)).await.unwrap();
    }
    // The server gave up on it. A deaf client reads nothing, so whether it ever sees the 4010
    // close frame is beside the point: its library's late answer to the pings may find the
    // connection reset first.
    let text = metrics(&platform).await;
    assert!(
        text.contains(r#"veza_chat_closes_total{reason="heartbeat-timeout"} 1"#),
        "{text}"
    );
    let (closed, _) = deaf.closed(Duration::from_secs(10)).await;
    assert!([4010, 1006].contains(&closed.code), "{closed:?}");
    alive.send(json!({ "type": "ping", "id": "p" })).await;
    assert_eq!(alive.recv().await["type"], "pong");
    veza_e2e::socket::check_frames(&[&flood, &alive]).await;
}

#[tokio::test]
async fn the_api_closes_a_reader_that_falls_behind_with_4008_while_the_others_get_every_message() {
    let platform = platform_with(&[
        ("VEZA_CHAT_SEND_BUFFER", "8"),
        // The sender sends as fast as it is acknowledged.
        ("VEZA_CHAT_FRAMES_PER_SECOND", "10000"),
        ("VEZA_CHAT_MESSAGES_PER_SECOND", "10000"),
    ])
    .await;
    let owner = platform.register_and_login("sender@example.com").await;
    let fast_token = platform.register_and_login("fast@example.com").await;
    let slow_token = platform.register_and_login("slow@example.com").await;
    let room = create_room(&platform.http, &platform.base_url, &owner, "firehose").await;
    for token in [&fast_token, &slow_token] {
        let id = platform.get_json(token, "/v1/me").await["id"].clone();
        add_member(&platform.http, &platform.base_url, &owner, &room, &id).await;
    }
    let base = platform.base_url.clone();
    let (mut fast, _, _) = join(&base, &fast_token, &room, None).await;
    // The slow reader's kernel holds little, so the server's writes to it block soon.
    let mut slow = Socket::connect_small_buffer(&base, &slow_token, 4096)
        .await
        .unwrap();
    assert_eq!(slow.recv().await["type"], "ready");
    slow.send(json!({ "type": "subscribe", "id": "s", "room": room }))
        .await;
    slow.until("subscribed").await;
    let (mut sender, _, _) = join(&base, &owner, &room, None).await;
    // More than the kernel buffers on both sides of the slow socket hold (tcp_wmem tops out at
    // 4 MiB here).
    let body = "x".repeat(3900);
    let total = 1500;
    let reader = tokio::spawn(async move {
        let mut got = 0;
        while let Ok(Some(frame)) = fast.next(Duration::from_secs(5)).await {
            if frame["type"] == "room.event" && frame["kind"] == "message.created" {
                got += 1;
            }
        }
        got
    });
    // Sends until the server has dropped the slow reader (its metrics say so), so the slow
    // reader starts reading while the server still offers it the close frame.
    let mut sent = 0;
    while sent < total {
        sender
            .send(json!({ "type": "message.send", "id": format!("m{sent}"), "room": room, "body": body }))
            .await;
        sender.until("ack").await;
        sent += 1;
        if sent % 25 == 0
            && metrics(&platform)
                .await
                .contains(r#"veza_chat_closes_total{reason="slow-consumer"} 1"#)
        {
            break;
        }
    }
    assert!(sent < total, "the slow reader was never dropped");
    // The slow reader reads now, while the server still offers it the close frame (for 5 s).
    let slow_reading = tokio::spawn(async move { slow.closed(Duration::from_secs(10)).await });
    let fast_got = reader.await.unwrap();
    let (closed, frames) = slow_reading.await.unwrap();
    let slow_got = frames.iter().filter(|f| f["kind"] == "message.created").count();
    assert_eq!(
        closed,
        Closed {
            code: 4008,
            reason: "slow-consumer".into()
        },
        "after {slow_got} messages"
    );
    assert!(slow_got < sent, "the slow reader got all {slow_got}");
    // The others got every message.
    assert_eq!(fast_got, sent, "the fast reader missed messages");
}

#[tokio::test]
async fn a_page_of_an_origin_not_allowed_cannot_open_a_socket() {
    // With VEZA_CORS_ORIGINS, the pages of those origins (as for every route); without it, the
    // API's own pages. A client that is not a page (no `Origin`) always may: the token is its
    // check.
    let listed = platform_with(&[("VEZA_CORS_ORIGINS", "https://app.example")]).await;
    let unset = platform_with(&[]).await;
    let own = unset.base_url.clone();
    let tokens = [
        listed.register_and_login("origin@example.com").await,
        unset.register_and_login("origin@example.com").await,
    ];
    let cases = [
        (&listed, Some("https://evil.example"), false),
        (&listed, Some("https://app.example"), true),
        (&listed, None, true),
        (&unset, Some("https://app.example"), false),
        (&unset, Some(own.as_str()), true),
        (&unset, None, true),
    ];
    for (platform, origin, opens) in cases {
        let token = &tokens[usize::from(std::ptr::eq(platform, &unset))];
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        match Socket::connect_with(&platform.base_url, Some(token), &headers).await {
            Ok(mut socket) => {
                assert!(opens, "{origin:?} opened a socket");
                assert_eq!(socket.recv().await["type"], "ready", "{origin:?}");
            }
            Err(err) => {
                assert!(!opens, "{origin:?}: {err}");
                assert_eq!(err, "HTTP 403", "{origin:?}");
            }
        }
    }
}
