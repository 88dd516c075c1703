import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, type Connection } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { closeServer, echoServer, listen, payload, sha256 } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { assertReplayMatches, recordConnections } from './helpers/replay.js';

function selfSignedCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'pl-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function collect(socket: net.Socket): { data: () => Buffer; ended: Promise<unknown> } {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return { data: () => Buffer.concat(chunks), ended: once(socket, 'end') };
}

test('a TLS-terminated client socket (tls.TLSSocket) is proxied to a plain upstream with every byte', async () => {
  const { key, cert } = selfSignedCert();
  const upstream = echoServer();
  const upstreamPort = await listen(upstream);
  const supervisor = new Supervisor();
  const recorded = recordConnections(supervisor);
  const front = tls.createServer({ key, cert, allowHalfOpen: true }, (secure) => {
    supervisor.forward(secure, () => net.connect(upstreamPort, '127.0.0.1'));
  });
  const port = await listen(front as unknown as net.Server);
  const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await once(client, 'secureConnect');
  const data = payload(2 * 1024 * 1024);
  const got = collect(client);
  client.write(data);
  await until(() => got.data().length === data.length, 'echo over TLS');
  assert.is(sha256(got.data()), sha256(data));
  client.end();
  await until(() => supervisor.stats.active === 0, 'TLS connection disposed');
  const conn = recorded[0]!;
  assert.ok(conn.reasons.client !== null && conn.reasons.server !== null, 'both reasons recorded');
  assert.is(boundListenerCount(conn.client), 0);
  assertReplayMatches(supervisor, recorded);
  client.destroy();
  await closeServer(front as unknown as net.Server);
  await closeServer(upstream);
});

test('a socket handed over by an HTTP upgrade is proxied, head bytes first, and half-closes cleanly', async () => {
  // The upstream speaks a toy upgraded protocol: it answers the upgrade, then echoes.
  const upstream = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: toy\r\nConnection: Upgrade\r\n\r\n');
      socket.write(buffered.subarray(end + 4));
      socket.pipe(socket);
    };
    socket.on('data', onData);
  });
  const upstreamPort = await listen(upstream);
  const supervisor = new Supervisor();
  const recorded: Connection[] = recordConnections(supervisor);
  const gateway = http.createServer((_req, res) => res.writeHead(426).end());
  gateway.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    supervisor.forward(socket, () => {
      const s = net.connect(upstreamPort, '127.0.0.1');
      s.write(`GET ${req.url} HTTP/1.1\r\nHost: upstream\r\nUpgrade: toy\r\nConnection: Upgrade\r\n\r\n`);
      if (head.length > 0) s.write(head);
      return s;
    });
  });
  const port = await listen(gateway as unknown as net.Server);
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(client, 'connect');
  const got = collect(client);
  client.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: toy\r\nConnection: Upgrade\r\n\r\nhello');
  await until(() => got.data().includes('hello'), 'upgrade answered and head echoed');
  client.end(' world');
  await got.ended;
  const text = got.data().toString();
  assert.match(text, /^HTTP\/1\.1 101/);
  assert.ok(text.endsWith('hello world'), `echo after upgrade: ${JSON.stringify(text.slice(-20))}`);
  await until(() => supervisor.stats.active === 0, 'upgrade connection disposed');
  assert.is(recorded[0]!.reasons.client, 'fin');
  assertReplayMatches(supervisor, recorded);
  client.destroy();
  gateway.closeAllConnections();
  await closeServer(gateway as unknown as net.Server);
  await closeServer(upstream);
});

test.run();
