//! A WebSocket client of the chat socket (`/v1/ws`) for the tests: JSON frames in and out, the
//! close code at the end. Every frame sent and received can be recorded, for the check against
//! `openapi/asyncapi.yaml`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

/// How long a test waits for a frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

/// One client socket.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every JSON frame, as `{"dir": "in"|"out", "frame": ...}`.
    pub log: Vec<Value>,
}

/// How the socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The close code (1006 when the connection dropped without a close frame).
    pub code: u16,
    /// The reason.
    pub reason: String,
}

impl Socket {
    /// Connects to `base` (`http://host:port`), with `token` as a bearer header when given.
    pub async fn connect(base: &str, token: Option<&str>) -> Result<Self, String> {
        Self::connect_with(base, token, &[]).await
    }

    /// Connects with extra headers (e.g. `Origin`).
    pub async fn connect_with(
        base: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Self, String> {
        let url = format!("{}/v1/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
            request.headers_mut().insert("authorization", value);
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().map_err(
                |e: tokio_tungstenite::tungstenite::http::header::InvalidHeaderName| e.to_string(),
            )?;
            request.headers_mut().insert(name, value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(resp) => {
                    format!("HTTP {}", resp.status().as_u16())
                }
                other => other.to_string(),
            })?;
        Ok(Self { ws, log: Vec::new() })
    }

    /// Connects with a receive buffer of `bytes` (a client whose kernel holds little of what it
    /// does not read, so a server's writes to it block soon).
    pub async fn connect_small_buffer(base: &str, token: &str, bytes: u32) -> Result<Self, String> {
        let addr: std::net::SocketAddr = base
            .trim_start_matches("http://")
            .parse()
            .map_err(|e: std::net::AddrParseError| e.to_string())?;
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket.set_recv_buffer_size(bytes).map_err(|e| e.to_string())?;
        let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
        let url = format!("ws://{addr}/v1/ws");
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        request.headers_mut().insert("authorization", value);
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { ws, log: Vec::new() })
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.log.push(serde_json::json!({ "dir": "out", "frame": frame }));
        self.send_raw(frame.to_string()).await;
    }

    /// Sends text as it is.
    pub async fn send_raw(&mut self, text: String) {
        if let Err(err) = self.ws.send(Message::text(text)).await {
            panic!("sending a frame failed: {err}");
        }
    }

    /// The next JSON frame (control frames skipped); panics after [`FRAME_WAIT`] or at a close.
    pub async fn recv(&mut self) -> Value {
        match self.next(FRAME_WAIT).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("no frame within {FRAME_WAIT:?}"),
            Err(closed) => panic!("the socket closed: {closed:?}"),
        }
    }

    /// The next JSON frame within `wait`: `Ok(None)` if none came, `Err` if the socket closed.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Value>, Closed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(message) => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.to_string()));
                    self.log.push(serde_json::json!({ "dir": "in", "frame": frame }));
                    return Ok(Some(frame));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map_or(
                        Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Closed {
                            code: u16::from(f.code),
                            reason: f.reason.to_string(),
                        },
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Err(Closed {
                        code: 1006,
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// Reads until the socket closes (within `wait`), returning how; frames on the way are
    /// returned too.
    pub async fn closed(&mut self, wait: Duration) -> (Closed, Vec<Value>) {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => panic!(
                    "the socket did not close within {wait:?}; got {} frames, the last {:?}",
                    frames.len(),
                    frames.last().map(|f| (&f["type"], &f["seq"]))
                ),
                Err(closed) => return (closed, frames),
            }
        }
    }

    /// Waits for the frame of `type`, skipping others (returned too).
    pub async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut skipped = Vec::new();
        loop {
            let frame = self.recv().await;
            if frame["type"] == kind {
                return (frame, skipped);
            }
            skipped.push(frame);
        }
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Checks `openapi/asyncapi.yaml` with `@asyncapi/parser` (valid, no warnings) and every frame
/// the sockets sent and received against the message its `type` names; panics otherwise.
/// Returns how many frames were checked.
pub async fn check_frames(sockets: &[&Socket]) -> u64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("asyncapi");
    crate::node::npm_ci(&dir);
    let frames = tempfile::NamedTempFile::new().unwrap();
    let lines: Vec<String> = sockets
        .iter()
        .flat_map(|socket| socket.log.iter().map(Value::to_string))
        .collect();
    std::fs::write(frames.path(), lines.join("\n")).unwrap();
    let spec = dir.join("../../openapi/asyncapi.yaml");
    let report = crate::node::report(
        "node",
        &dir,
        &[
            "check.mjs",
            spec.to_str().unwrap(),
            frames.path().to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(report["invalid"], serde_json::json!([]), "{report}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    report["checked"].as_u64().unwrap()
}
