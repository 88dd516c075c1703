// A WebSocket gateway: an HTTP server whose `upgrade` sockets are handed to the supervisor.
// The gateway checks the route, forwards the upgrade request to the backend, and from then
// on the supervisor owns both sockets: frames flow both ways, idle gaps survive the socket
// timeout, and the WebSocket close handshake ends the connection with a FIN each way.
//
// Run: node --import tsx examples/websocket-gateway.ts
// It starts a minimal WebSocket echo backend (RFC 6455 handshake and frames, no library),
// the gateway and a client; prints what happened; exits 0 when every check holds.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Supervisor, type CloseInfo } from '../src/index.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const acceptKey = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

/** One WebSocket frame (FIN set, payload under 64 KiB); clients must mask, servers must not. */
function frame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const length = payload.length < 126 ? Buffer.from([payload.length]) : Buffer.from([126, payload.length >> 8, payload.length & 0xff]);
  const head = Buffer.concat([Buffer.from([0x80 | opcode]), length]);
  if (!mask) return Buffer.concat([head, payload]);
  head[1]! |= 0x80;
  const key = randomBytes(4);
  return Buffer.concat([head, key, payload.map((b, i) => b ^ key[i % 4]!)]);
}

/** Splits whole frames off the front of `buf`; returns them and the rest. */
function frames(buf: Buffer): { frames: { opcode: number; payload: Buffer }[]; rest: Buffer } {
  const out: { opcode: number; payload: Buffer }[] = [];
  for (;;) {
    if (buf.length < 2) break;
    const masked = (buf[1]! & 0x80) !== 0;
    let length = buf[1]! & 0x7f;
    let p = 2;
    if (length === 126) {
      if (buf.length < 4) break;
      length = buf.readUInt16BE(2);
      p = 4;
    }
    const key = masked ? buf.subarray(p, p + 4) : null;
    if (masked) p += 4;
    if (buf.length < p + length) break;
    const payload = Buffer.from(buf.subarray(p, p + length));
    if (key) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
    out.push({ opcode: buf[0]! & 0x0f, payload });
    buf = buf.subarray(p + length);
  }
  return { frames: out, rest: buf };
}

/** The backend: answers the handshake, echoes text frames in upper case, answers a close frame and ends. */
function echoBackend(): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    let open = false;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const key = /^sec-websocket-key: *(.+)$/im.exec(buf.subarray(0, end).toString())?.[1]?.trim();
        if (key === undefined) return void socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
        open = true;
        buf = buf.subarray(end + 4);
      }
      const parsed = frames(buf);
      buf = parsed.rest;
      for (const f of parsed.frames) {
        if (f.opcode === 0x1) socket.write(frame(0x1, Buffer.from(f.payload.toString().toUpperCase()), false));
        else if (f.opcode === 0x8) socket.end(frame(0x8, f.payload, false)); // close handshake, then FIN
      }
    });
  });
}

/** The gateway: HTTP in front, upgrade sockets on `/ws/` handed to the supervisor. */
function gateway(supervisor: Supervisor, backendPort: number): http.Server {
  const server = http.createServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('upgrade required\n'));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (!req.url?.startsWith('/ws/') || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    supervisor.forward(socket, () => {
      const upstream = net.connect({ port: backendPort, host: '127.0.0.1', allowHalfOpen: true });
      // Replay the upgrade request as received, plus who it came from; then any early frames.
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      lines.push(`X-Forwarded-For: ${socket.remoteAddress}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      return upstream;
    });
  });
  return server;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal WebSocket client: handshake, text messages with idle gaps, close handshake. */
async function client(port: number, path: string, messages: string[], gapMs: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise((resolve) => socket.once('connect', resolve));
  const key = randomBytes(16).toString('base64');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf: Buffer = Buffer.alloc(0);
  let status = '';
  let accepted = false;
  const replies: string[] = [];
  let closeFrame = false;
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (status === '') {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const headers = buf.subarray(0, end).toString();
      status = headers.split('\r\n')[0]!;
      accepted = new RegExp(`^sec-websocket-accept: *${acceptKey(key).replace(/[+/]/g, '\\$&')}\\s*$`, 'im').test(headers);
      buf = buf.subarray(end + 4);
    }
    const parsed = frames(buf);
    buf = parsed.rest;
    for (const f of parsed.frames) {
      if (f.opcode === 0x1) replies.push(f.payload.toString());
      if (f.opcode === 0x8) closeFrame = true;
    }
  });
  socket.on('end', () => (ended = true));
  while (status === '' && !socket.destroyed) await sleep(5);
  if (!status.includes(' 101 ')) {
    socket.destroy();
    return { status, accepted, replies, closeFrame, ended };
  }
  for (const [i, message] of messages.entries()) {
    if (i > 0) await sleep(gapMs);
    socket.write(frame(0x1, Buffer.from(message), true));
    while (replies.length <= i) await sleep(5);
  }
  socket.write(frame(0x8, Buffer.from([0x03, 0xe8]), true)); // close, 1000 normal
  await new Promise((resolve) => socket.once('close', resolve));
  return { status, accepted, replies, closeFrame, ended };
}

async function main(): Promise<number> {
  const backend = echoBackend();
  const backendPort = await new Promise<number>((r) => backend.listen(0, '127.0.0.1', () => r((backend.address() as net.AddressInfo).port)));
  const supervisor = new Supervisor({ socketTimeout: 250, timeoutBehavior: 'reset' });
  const closed: CloseInfo[] = [];
  supervisor.on('close', (info) => closed.push(info));
  let socketTimeouts = 0;
  supervisor.events$.subscribe((r) => {
    if (r.kind === 'event' && r.event.type.startsWith('xstate.after.socketTimeout.')) socketTimeouts++;
  });
  const server = gateway(supervisor, backendPort);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  console.log(`backend :${backendPort}, gateway :${port} (socketTimeout 250 ms, reset)`);

  const chat = await client(port, '/ws/chat', ['hello', 'still there?', 'bye'], 600);
  console.log(`/ws/chat -> ${chat.status}; accept key ${chat.accepted ? 'valid' : 'INVALID'}; replies: ${chat.replies.join(' | ')}; close frame ${chat.closeFrame ? 'answered' : 'missing'}, FIN ${chat.ended ? 'received' : 'missing'}`);
  const other = await client(port, '/elsewhere', [], 0);
  console.log(`/elsewhere -> ${other.status}`);

  while (supervisor.stats.active > 0) await sleep(5);
  for (const info of closed) {
    console.log(`#${info.id} ${info.client} ${info.code} client=${info.reasons.client} server=${info.reasons.server} c2s=${info.bytes.clientToServer} s2c=${info.bytes.serverToClient}; survived ${socketTimeouts} socket timeouts`);
  }
  const checks: [string, boolean][] = [
    ['the handshake went through the gateway (101, valid accept key)', chat.status.startsWith('HTTP/1.1 101') && chat.accepted],
    ['every message was echoed across idle gaps longer than the socket timeout', chat.replies.join('|') === 'HELLO|STILL THERE?|BYE' && socketTimeouts > 0],
    ['the close handshake ended with a FIN to the client', chat.closeFrame && chat.ended],
    ['an unknown path is refused by the gateway itself', other.status.startsWith('HTTP/1.1 404') && closed.length === 1],
    ['the supervisor saw one connection, closed by the backend after the close frame', closed.length === 1 && closed[0]!.reasons.server === 'fin' && closed[0]!.reasons.client === 'peer_fin'],
  ];
  server.close();
  backend.close();
  for (const [what, ok] of checks) console.log(`check: ${what}: ${ok ? 'ok' : 'FAILED'}`);
  return checks.every(([, ok]) => ok) ? 0 : 1;
}

main().then((code) => process.exit(code));
