//! `bench-chat-load PLAN.json`: the load generator of `just bench-chat`, in a process of its own
//! so that its work is not counted to the server it drives. It opens one WebSocket per client of
//! the plan (bearer header), subscribes each to its room, and once every client is in, each
//! sends `message.send` frames at the plan's rate with a body that starts with its send time;
//! every `room.event` a client gets of another client's message gives one fan-out latency
//! (send → receive, one clock: this process's). With a rate of 0 the clients only hold their
//! sockets open (answering the server's pings) for the plan's seconds.
//!
//! It prints two JSON lines on stdout: `{"event":"connected",…}` once every client is in (so
//! the caller can read the server's memory then), and `{"event":"done",…}` with the counts and
//! the latency percentiles of the messages sent in the measured window (after the warm-up).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

#[derive(Debug, Deserialize)]
struct Plan {
    /// `ws://host:port/v1/ws`.
    url: String,
    clients: Vec<PlanClient>,
    /// Messages each client sends per second; 0: idle sockets.
    messages_per_second: f64,
    body_bytes: usize,
    warmup_seconds: f64,
    /// The measured window (or, idle, how long the sockets are held).
    seconds: f64,
    /// Sockets being opened at once.
    connect_concurrency: usize,
    /// This run's name, part of every frame id.
    run: String,
}

#[derive(Debug, Deserialize)]
struct PlanClient {
    token: String,
    room: Option<String>,
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    connected: bool,
    connect_error: Option<String>,
    sent: u64,
    acked: u64,
    /// Other clients' messages sent in the window and received, and their latencies (µs).
    delivered: u64,
    latencies: Vec<u32>,
    ack_latencies: Vec<u32>,
    errors: BTreeMap<String, u64>,
    /// The close code, when the server closed the socket before the end.
    closed: Option<u16>,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).expect("usage: bench-chat-load PLAN.json");
    let plan: Arc<Plan> = Arc::new(serde_json::from_slice(&std::fs::read(path)?)?);
    let origin = Instant::now();
    let (start_tx, start_rx) = watch::channel(None::<Instant>);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(plan.clients.len().max(1));
    let gate = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(plan.clients.len());
    for index in 0..plan.clients.len() {
        let (plan, gate, ready_tx, start_rx) =
            (plan.clone(), gate.clone(), ready_tx.clone(), start_rx.clone());
        tasks.push(tokio::spawn(async move {
            client(index, &plan, origin, &gate, ready_tx, start_rx).await
        }));
    }
    drop(ready_tx);
    let connecting = Instant::now();
    for _ in 0..plan.clients.len() {
        if ready_rx.recv().await.is_none() {
            break;
        }
    }
    let connect_seconds = connecting.elapsed().as_secs_f64();
    // Give the last sockets' first frames (presence, subscriptions) time to settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "{}",
        json!({ "event": "connected", "clients": plan.clients.len(), "connect_seconds": connect_seconds })
    );
    start_tx.send(Some(Instant::now()))?;

    let mut all = Seen::default();
    let mut connected = 0u64;
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut closes: BTreeMap<u16, u64> = BTreeMap::new();
    for task in tasks {
        let seen = task.await?;
        connected += u64::from(seen.connected);
        if let Some(err) = seen.connect_error {
            *connect_errors.entry(err).or_default() += 1;
        }
        if let Some(code) = seen.closed {
            *closes.entry(code).or_default() += 1;
        }
        all.sent += seen.sent;
        all.acked += seen.acked;
        all.delivered += seen.delivered;
        all.latencies.extend(seen.latencies);
        all.ack_latencies.extend(seen.ack_latencies);
        for (code, n) in seen.errors {
            *all.errors.entry(code).or_default() += n;
        }
    }
    println!(
        "{}",
        json!({
            "event": "done",
            "clients": plan.clients.len(),
            "connected": connected,
            "connect_seconds": connect_seconds,
            "connect_errors": connect_errors,
            "closed_early": closes,
            "sent": all.sent,
            "acked": all.acked,
            "delivered": all.delivered,
            "delivered_per_second": all.delivered as f64 / plan.seconds,
            "latency_ms": percentiles(&mut all.latencies),
            "ack_latency_ms": percentiles(&mut all.ack_latencies),
            "errors": all.errors,
        })
    );
    Ok(())
}

/// p50, p99 and the maximum, in milliseconds.
fn percentiles(micros: &mut [u32]) -> Value {
    if micros.is_empty() {
        return json!(null);
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        f64::from(micros[i]) / 1000.0
    };
    json!({ "p50": at(0.50), "p99": at(0.99), "max": at(1.0), "samples": micros.len() })
}

async fn client(
    index: usize,
    plan: &Plan,
    origin: Instant,
    gate: &Semaphore,
    ready_tx: tokio::sync::mpsc::Sender<()>,
    mut start_rx: watch::Receiver<Option<Instant>>,
) -> Seen {
    let mut seen = Seen::default();
    let permit = gate.acquire().await.expect("the semaphore is never closed");
    let socket = open(&plan.url, &plan.clients[index]).await;
    drop(permit);
    // Counted in, connected or not, so the run starts either way.
    let _ = ready_tx.send(()).await;
    let mut ws = match socket {
        Ok(ws) => ws,
        Err(err) => {
            seen.connect_error = Some(err);
            return seen;
        }
    };
    seen.connected = true;
    let start = loop {
        if let Some(start) = *start_rx.borrow_and_update() {
            break start;
        }
        if start_rx.changed().await.is_err() {
            return seen;
        }
    };
    let window_start = start + Duration::from_secs_f64(plan.warmup_seconds);
    let window_end = window_start + Duration::from_secs_f64(plan.seconds);
    // Senders stop at the window's end; everyone reads a little longer for what is in flight.
    let stop_at = window_end
        + if plan.messages_per_second > 0.0 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
    let micros = |at: Instant| u64::try_from(at.duration_since(origin).as_micros()).unwrap_or(u64::MAX);
    let in_window = |sent: u64| sent >= micros(window_start) && sent < micros(window_end);
    let sending = plan.messages_per_second > 0.0 && plan.clients[index].room.is_some();
    let period = if sending {
        Duration::from_secs_f64(1.0 / plan.messages_per_second)
    } else {
        Duration::from_secs(3600)
    };
    // Spread the clients' sends over the period, so they do not all send at once.
    let phase = period.mul_f64((index as f64 * 0.618_033_988_7).fract());
    let mut next_send = start + phase;
    let mut counter = 0u64;
    let mut sent_at: BTreeMap<String, u64> = BTreeMap::new();
    let me = format!("{index:06}");
    loop {
        let sending_now = sending && next_send < window_end;
        tokio::select! {
            () = tokio::time::sleep_until(next_send.into()), if sending_now => {
                let now = Instant::now();
                let t = micros(now);
                let head = format!("{t:016}|{me}|");
                let body = format!("{head}{}", "x".repeat(plan.body_bytes.saturating_sub(head.len())));
                counter += 1;
                // Unique across runs: a frame id the server has seen from this user in this
                // room is a resend, acknowledged without a new message.
                let id = format!("{}-{counter}", plan.run);
                let frame = json!({ "type": "message.send", "id": id, "room": plan.clients[index].room, "body": body });
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    seen.closed.get_or_insert(1006);
                    break;
                }
                if in_window(t) {
                    sent_at.insert(id, t);
                }
                seen.sent += 1;
                next_send += period;
            }
            message = ws.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        seen.closed = Some(frame.map_or(1005, |f| u16::from(f.code)));
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        seen.closed.get_or_insert(1006);
                        break;
                    }
                };
                let now = micros(Instant::now());
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                match frame["type"].as_str() {
                    Some("room.event") => {
                        let body = frame["message"]["body"].as_str().unwrap_or("");
                        let (Some(t), Some(from)) = (body.get(..16).and_then(|t| t.parse::<u64>().ok()), body.get(17..23)) else { continue };
                        if from != me && in_window(t) {
                            seen.delivered += 1;
                            seen.latencies.push(u32::try_from(now.saturating_sub(t)).unwrap_or(u32::MAX));
                        }
                    }
                    Some("ack") => {
                        seen.acked += 1;
                        if let Some(t) = frame["id"].as_str().and_then(|id| sent_at.remove(id)) {
                            seen.ack_latencies.push(u32::try_from(now.saturating_sub(t)).unwrap_or(u32::MAX));
                        }
                    }
                    Some("error") => {
                        let code = frame["code"].as_str().unwrap_or("?").to_owned();
                        *seen.errors.entry(code).or_default() += 1;
                    }
                    _ => {}
                }
            }
            () = tokio::time::sleep_until(stop_at.into()) => break,
        }
    }
    if seen.closed.is_none() {
        let _ = ws.close(None).await;
    }
    seen
}

/// Connects with the client's token as a bearer header, reads `ready`, and subscribes to the
/// client's room (reading up to `subscribed`).
async fn open(url: &str, plan: &PlanClient) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", plan.token)).map_err(|e| e.to_string())?;
    request.headers_mut().insert("authorization", bearer);
    let (mut ws, _) =
        tokio::time::timeout(Duration::from_secs(30), tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| "connect timed out".to_owned())?
            .map_err(|e| e.to_string())?;
    expect(&mut ws, "ready").await?;
    if let Some(room) = &plan.room {
        let subscribe = json!({ "type": "subscribe", "id": "s", "room": room });
        ws.send(Message::text(subscribe.to_string()))
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut ws, "subscribed").await?;
    }
    Ok(ws)
}

async fn expect(ws: &mut Socket, kind: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(format!("no {kind} in 30 s")),
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                if frame["type"] == kind {
                    return Ok(());
                }
                if frame["type"] == "error" {
                    return Err(format!("error {} before {kind}", frame["code"]));
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(format!(
                    "closed {:?} before {kind}",
                    frame.map(|f| u16::from(f.code))
                ));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(err))) => return Err(err.to_string()),
            Ok(None) => return Err(format!("ended before {kind}")),
        }
    }
}
