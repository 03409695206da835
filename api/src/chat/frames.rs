//! The socket's frames: JSON text objects with a `type`, catalogued in `openapi/asyncapi.yaml`.
//! Client frames carry an `id` of the client's choosing (1 to 64 characters), echoed in the
//! answer; for `message.send` it is also the idempotency key. A frame that is not JSON, has an
//! unknown type or lacks a field gets an `error` frame with a stable code and the socket stays
//! open.

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::store::EventRow;

/// A frame from a client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientFrame {
    /// Authenticates the connection (when no `Authorization` header did), or extends it with a
    /// fresh token before the current one expires.
    #[serde(rename = "auth")]
    Auth {
        /// Echoed in `ready`.
        id: Option<String>,
        /// An access token.
        token: String,
    },
    /// Starts receiving a room's events; with `since`, first everything after that number.
    #[serde(rename = "subscribe")]
    Subscribe {
        /// Echoed.
        id: String,
        /// The room.
        room: Uuid,
        /// The last event number the client has; absent: from now on.
        since: Option<i64>,
    },
    /// Stops receiving a room's events.
    #[serde(rename = "unsubscribe")]
    Unsubscribe {
        /// Echoed.
        id: String,
        /// The room.
        room: Uuid,
    },
    /// Sends a message to a room.
    #[serde(rename = "message.send")]
    Send {
        /// Echoed; sending the same id again acknowledges the stored message again.
        id: String,
        /// The room.
        room: Uuid,
        /// The text.
        body: String,
    },
    /// Changes the text of one's own message.
    #[serde(rename = "message.edit")]
    Edit {
        /// Echoed.
        id: String,
        /// The room.
        room: Uuid,
        /// The message.
        message_id: Uuid,
        /// The new text.
        body: String,
    },
    /// Deletes one's own message (or anyone's, as the room's owner or a moderator).
    #[serde(rename = "message.delete")]
    Delete {
        /// Echoed.
        id: String,
        /// The room.
        room: Uuid,
        /// The message.
        message_id: Uuid,
    },
    /// Everything up to event `seq` of a room reached this client (`delivered`) or its reader
    /// (`read`).
    #[serde(rename = "receipt")]
    Receipt {
        /// Echoed.
        id: String,
        /// The room.
        room: Uuid,
        /// The event number.
        seq: i64,
        /// `delivered` or `read`.
        kind: ReceiptKind,
    },
    /// The user is typing in a room (never stored; at most one per room every few seconds is
    /// passed on).
    #[serde(rename = "typing")]
    Typing {
        /// Echoed in errors only.
        id: String,
        /// The room.
        room: Uuid,
    },
    /// An application-level ping (browsers cannot send ping frames).
    #[serde(rename = "ping")]
    Ping {
        /// Echoed in `pong`.
        id: String,
    },
}

/// A receipt's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptKind {
    /// Reached a client.
    Delivered,
    /// Seen by the reader.
    Read,
}

/// The client frame types this server knows.
const KNOWN_TYPES: [&str; 9] = [
    "auth",
    "subscribe",
    "unsubscribe",
    "message.send",
    "message.edit",
    "message.delete",
    "receipt",
    "typing",
    "ping",
];

/// A frame that could not be read: what the `error` frame says.
#[derive(Debug)]
pub struct FrameError {
    /// The frame's `id`, when it had a readable one.
    pub id: Option<String>,
    /// Stable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl ClientFrame {
    /// Reads a text frame.
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let value: Value = serde_json::from_str(text).map_err(|err| FrameError {
            id: None,
            code: "bad-json",
            message: format!("the frame is not JSON: {err}"),
        })?;
        let id = value.get("id").and_then(Value::as_str).map(str::to_owned);
        let invalid = |message: String| FrameError {
            id: id.clone(),
            code: "invalid-frame",
            message,
        };
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return Err(invalid("a frame is a JSON object with a string `type`".into()));
        };
        if !KNOWN_TYPES.contains(&kind) {
            return Err(FrameError {
                id: id.clone(),
                code: "unknown-type",
                message: format!("unknown frame type `{kind}`"),
            });
        }
        let frame: Self = serde_json::from_value(value.clone()).map_err(|err| invalid(err.to_string()))?;
        if let Some(id) = frame.id()
            && !(1..=64).contains(&id.chars().count())
        {
            return Err(invalid("`id` must be 1 to 64 characters".into()));
        }
        Ok(frame)
    }

    /// The client's id of the frame.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Auth { id, .. } => id.as_deref(),
            Self::Subscribe { id, .. }
            | Self::Unsubscribe { id, .. }
            | Self::Send { id, .. }
            | Self::Edit { id, .. }
            | Self::Delete { id, .. }
            | Self::Receipt { id, .. }
            | Self::Typing { id, .. }
            | Self::Ping { id } => Some(id),
        }
    }
}

/// `error`: a frame was refused; the socket stays open.
pub fn error(id: Option<&str>, code: &str, message: &str) -> String {
    error_frame(id, code, message).to_string()
}

fn error_frame(id: Option<&str>, code: &str, message: &str) -> serde_json::Value {
    let mut frame = json!({ "type": "error", "code": code, "message": message });
    if let Some(id) = id {
        frame["id"] = json!(id);
    }
    frame
}

/// A `rate-limited` error: `retry_after_ms` is when the client may try again.
pub fn rate_limited(id: Option<&str>, message: &str, retry_after_ms: u64) -> String {
    let mut frame = error_frame(id, "rate-limited", message);
    frame["retry_after_ms"] = json!(retry_after_ms);
    frame.to_string()
}

/// `ready`: the connection is authenticated.
pub fn ready(
    id: Option<&str>,
    user_id: Uuid,
    session_id: Uuid,
    expires_at: u64,
    connection_id: u64,
    limits: &super::ChatLimits,
) -> String {
    let mut frame = json!({
        "type": "ready",
        "user_id": user_id,
        "session_id": session_id,
        "expires_at": expires_at,
        "connection_id": connection_id,
        "limits": {
            "max_frame_bytes": limits.chat_max_frame_bytes,
            "frames_per_second": limits.chat_frames_per_second,
            "frame_burst": limits.chat_frame_burst,
            "messages_per_second": limits.chat_messages_per_second,
        },
    });
    if let Some(id) = id {
        frame["id"] = json!(id);
    }
    frame.to_string()
}

/// `ack` of a stored message.
pub fn sent(id: &str, room: Uuid, sent: &super::store::Sent) -> String {
    json!({
        "type": "ack",
        "id": id,
        "room": room,
        "seq": sent.seq,
        "message_id": sent.message_id,
        "at": sent.at,
    })
    .to_string()
}

/// `ack` of a frame that needs no more than that.
pub fn ack(id: &str) -> String {
    json!({ "type": "ack", "id": id }).to_string()
}

/// `subscribed`: the catch-up is complete; live events follow.
pub fn subscribed(id: &str, room: Uuid, last_seq: i64) -> String {
    json!({ "type": "subscribed", "id": id, "room": room, "last_seq": last_seq }).to_string()
}

/// `ack` of a message's edit or deletion.
pub fn changed(id: &str, room: Uuid, seq: i64) -> String {
    json!({ "type": "ack", "id": id, "room": room, "seq": seq }).to_string()
}

/// `receipt`: a member's delivered and read marks in a room.
pub fn receipt(room: Uuid, user: Uuid, delivered_seq: i64, read_seq: i64) -> String {
    json!({
        "type": "receipt",
        "room": room,
        "user_id": user,
        "delivered_seq": delivered_seq,
        "read_seq": read_seq,
    })
    .to_string()
}

/// `typing`: a member is typing in a room.
pub fn typing(room: Uuid, user: Uuid) -> String {
    json!({ "type": "typing", "room": room, "user_id": user }).to_string()
}

/// `job.event`: a job of the user reported progress or settled; `event` (JSON) is the body
/// webhooks deliver (plus `job.progress`), as the event streams send it.
pub fn job_event(event: &str) -> String {
    format!(r#"{{"type":"job.event","event":{event}}}"#)
}

/// `presence`: a member of one of the client's rooms came online or went offline.
pub fn presence(user: Uuid, online: bool) -> String {
    json!({ "type": "presence", "user_id": user, "online": online }).to_string()
}

/// `pong`.
pub fn pong(id: &str) -> String {
    json!({ "type": "pong", "id": id }).to_string()
}

/// `room.event`: one event of a room's log, with its message's current state.
pub fn room_event(event: &EventRow) -> String {
    let mut frame = json!({
        "type": "room.event",
        "room": event.room_id,
        "seq": event.seq,
        "kind": event.kind,
        "actor": event.actor_id,
        "at": event.at,
    });
    if let Some(message_id) = event.message_id {
        frame["message"] = json!({
            "id": message_id,
            "body": event.body,
            "edited_at": event.edited_at,
            "deleted": event.deleted.unwrap_or(false),
        });
    }
    if let Some(subject) = event.subject_id {
        let key = if event.kind.starts_with("media.") {
            "media"
        } else {
            "member"
        };
        let id_key = if key == "media" { "media_id" } else { "user_id" };
        frame[key] = json!({ id_key: subject });
    }
    frame.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        match ClientFrame::parse(text) {
            Ok(frame) => panic!("{text} was read as {frame:?}"),
            Err(err) => err.code,
        }
    }

    #[test]
    fn bad_frames_get_their_stable_codes_and_keep_the_id() {
        assert_eq!(code("{not json"), "bad-json");
        assert_eq!(code("[1, 2]"), "invalid-frame");
        assert_eq!(code(r#"{"type": "dance", "id": "a"}"#), "unknown-type");
        assert_eq!(
            code(r#"{"type": "message.send", "id": "a", "room": "x", "body": "hi"}"#),
            "invalid-frame"
        );
        assert_eq!(code(r#"{"type": "ping"}"#), "invalid-frame");
        assert_eq!(code(r#"{"type": "ping", "id": ""}"#), "invalid-frame");
        assert_eq!(
            code(r#"{"type": "ping", "id": "a", "extra": 1}"#),
            "invalid-frame"
        );
        let err = ClientFrame::parse(r#"{"type": "dance", "id": "k1"}"#).err();
        assert_eq!(err.and_then(|e| e.id).as_deref(), Some("k1"));
    }

    #[test]
    fn good_frames_are_read() {
        let room = Uuid::now_v7();
        let text = format!(r#"{{"type": "message.send", "id": "m1", "room": "{room}", "body": "hi"}}"#);
        match ClientFrame::parse(&text) {
            Ok(ClientFrame::Send { id, room: r, body }) => {
                assert_eq!((id.as_str(), r, body.as_str()), ("m1", room, "hi"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ClientFrame::parse(r#"{"type": "auth", "token": "t"}"#),
            Ok(ClientFrame::Auth { id: None, .. })
        ));
    }
}
