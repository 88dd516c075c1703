// The upstream the proxies forward to: one process, one listening socket, IPC for stats.
//
// A connection whose first byte is a pattern byte (0..250) is an echo: every byte is written
// back, with backpressure, and the client's FIN is answered with ours once the echo is
// flushed (half-close echo). A first byte of 251..255 selects a mode (pattern.mjs: MODE).
import net from 'node:net';
import { HEADER_LENGTH, MODE, writePattern } from './pattern.mjs';

let active = 0;
let accepted = 0;
let bytesIn = 0;
let bytesOut = 0;
const errors = {};

function echo(socket, first) {
  const onData = (chunk) => {
    bytesIn += chunk.length;
    bytesOut += chunk.length;
    if (!socket.write(chunk)) {
      socket.pause();
      socket.once('drain', () => socket.resume());
    }
  };
  socket.on('data', onData);
  socket.on('end', () => socket.end());
  if (first) onData(first);
}

function discard(socket, onEnd) {
  socket.on('data', (chunk) => (bytesIn += chunk.length));
  socket.on('end', onEnd);
}

function onConnection(socket) {
  active++;
  accepted++;
  socket.on('error', (err) => (errors[err.code ?? err.name] = (errors[err.code ?? err.name] ?? 0) + 1));
  socket.on('close', () => active--);
  let head = null;
  const onFirst = (chunk) => {
    if (head === null && chunk[0] < 251) {
      socket.off('data', onFirst);
      socket.off('end', onEarlyEnd);
      echo(socket, chunk);
      return;
    }
    head = head === null ? chunk : Buffer.concat([head, chunk]);
    if (head.length < HEADER_LENGTH) return;
    socket.off('data', onFirst);
    socket.off('end', onEarlyEnd);
    const mode = head[0];
    const count = head.readUInt32BE(1);
    bytesIn += head.length;
    const send = (n, after) => writePattern(socket, n, after);
    const sent = () => (bytesOut += count);
    switch (mode) {
      case MODE.STREAM_AFTER_FIN:
        discard(socket, () => send(count, () => (sent(), socket.end())));
        return;
      case MODE.SERVER_CLOSES:
        discard(socket, () => {});
        send(count, () => (sent(), socket.end()));
        return;
      case MODE.SERVER_RESETS:
        socket.resetAndDestroy();
        return;
      default:
        socket.destroy();
    }
  };
  // A client that sends nothing and ends: answer the FIN.
  const onEarlyEnd = () => socket.end();
  socket.on('data', onFirst);
  socket.on('end', onEarlyEnd);
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
server.maxConnections = 1e6;
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  process.send({ type: 'ready', port: server.address().port });
});

process.on('message', (msg) => {
  if (msg.type === 'stats') process.send({ type: 'stats', id: msg.id, active, accepted, bytesIn, bytesOut, errors });
  else if (msg.type === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
