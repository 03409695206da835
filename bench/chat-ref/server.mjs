// The reference of `just bench-chat`: a broadcast server on npm `ws` speaking the part of Veza's
// socket protocol the load uses (openapi/asyncapi.yaml: ready, subscribe/subscribed,
// message.send/ack, room.event, ping/pong), with the same frames. Everything is in memory:
// no database, no membership check, and the token is read but not verified (its `sub` names the
// user). It pings every 25 s like Veza, and drops a client silent for 60 s.
//
// Usage: node server.mjs PORT  (prints `listening PORT` once it accepts connections)
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const rooms = new Map(); // room id -> { seq, members: Set<WebSocket> }
let connectionId = 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port, path: '/v1/ws', maxPayload: 16 * 1024 });

function subject(authorization) {
  const token = (authorization ?? '').replace(/^Bearer /, '');
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub ?? null;
  } catch {
    return null;
  }
}

wss.on('connection', (ws, req) => {
  const user = subject(req.headers.authorization);
  if (!user) {
    ws.close(4001, 'token-invalid');
    return;
  }
  const joined = new Set();
  ws.lastHeard = Date.now();
  ws.on('pong', () => { ws.lastHeard = Date.now(); });
  ws.send(JSON.stringify({
    type: 'ready', user_id: user, session_id: randomUUID(), expires_at: 0,
    connection_id: ++connectionId,
    limits: { max_frame_bytes: 16 * 1024, frames_per_second: 20, frame_burst: 40, messages_per_second: 10 },
  }));
  ws.on('message', (data) => {
    ws.lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'bad-json', message: 'not JSON' }));
      return;
    }
    switch (frame.type) {
      case 'subscribe': {
        let room = rooms.get(frame.room);
        if (!room) rooms.set(frame.room, (room = { seq: 0, members: new Set() }));
        room.members.add(ws);
        joined.add(frame.room);
        ws.send(JSON.stringify({ type: 'subscribed', id: frame.id, room: frame.room, last_seq: room.seq }));
        break;
      }
      case 'message.send': {
        const room = rooms.get(frame.room);
        if (!room || !room.members.has(ws)) {
          ws.send(JSON.stringify({ type: 'error', id: frame.id, code: 'room-not-found', message: 'subscribe first' }));
          return;
        }
        const seq = ++room.seq;
        const at = new Date().toISOString();
        const messageId = randomUUID();
        ws.send(JSON.stringify({ type: 'ack', id: frame.id, room: frame.room, seq, message_id: messageId, at }));
        // One serialization per event, shared by every recipient, as Veza does.
        const event = JSON.stringify({
          type: 'room.event', room: frame.room, seq, kind: 'message.created', actor: user, at,
          message: { id: messageId, body: frame.body, edited_at: null, deleted: false },
        });
        for (const member of room.members) member.send(event);
        break;
      }
      case 'ping':
        ws.send(JSON.stringify({ type: 'pong', id: frame.id }));
        break;
      default:
        ws.send(JSON.stringify({ type: 'error', id: frame.id, code: 'unknown-type', message: 'unknown type' }));
    }
  });
  ws.on('close', () => {
    for (const id of joined) rooms.get(id)?.members.delete(ws);
  });
});

setInterval(() => {
  const now = Date.now();
  for (const ws of wss.clients) {
    if (now - ws.lastHeard > 60_000) ws.terminate();
    else ws.ping();
  }
}, 25_000);

wss.on('listening', () => console.log(`listening ${wss.address().port}`));
