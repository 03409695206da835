//! The real binaries: a worker's job progress reaches its owner's socket and event stream the
//! moment it is recorded, and a SIGTERM closes every socket with 1001.
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
