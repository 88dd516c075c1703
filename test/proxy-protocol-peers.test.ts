// The PROXY protocol wired into the real CLI, against real third-party peers: HAProxy in front
// (send-proxy, send-proxy-v2) of `forward --accept-proxy`, whose logs must name the client
// HAProxy saw; and nginx stream behind `forward --send-proxy v1|v2`, which must see our client.
// Skipped when a peer is not installed, except in CI (bash scripts/install-peers.sh).
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { accessLines, ensureBuilt, startForward, type Child } from './helpers/cli-harness.js';
import { peerTest, startHaproxy, startNginx } from './helpers/peers.js';
import { closedPort, closeServer, echoServer, listen } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

const withHaproxy = peerTest('proxy-protocol-peers', 'haproxy');
const withNginx = peerTest('proxy-protocol-peers', 'nginx');
ensureBuilt();

/** Connects from `localAddress`, sends `text` and FIN, resolves with everything read and the local port. */
async function exchange(port: number, localAddress: string, text: string): Promise<{ reply: string; localPort: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await once(socket, 'connect');
  const localPort = socket.localPort!;
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (reply += d));
  socket.end(text);
  await once(socket, 'close');
  return { reply, localPort };
}

withHaproxy('HAProxy send-proxy (v1) and send-proxy-v2 in front of forward --accept-proxy: the access log and the event log name the client HAProxy saw', async () => {
  const echo = echoServer();
  const echoPort = await listen(echo);
  const dir = mkdtempSync(join(tmpdir(), 'pl-accept-proxy-'));
  const logFile = join(dir, 'events.jsonl');
  let proxy: Child | undefined;
  let haproxy: Awaited<ReturnType<typeof startHaproxy>> | undefined;
  try {
    const started = await startForward(['--target', `127.0.0.1:${echoPort}`, '--accept-proxy', '--log', logFile]);
    proxy = started.child;
    const [v1, v2] = [await closedPort(), await closedPort()];
    haproxy = await startHaproxy(
      [
        'frontend v1',
        `  bind 127.0.0.1:${v1}`,
        '  default_backend to_proxy_v1',
        'frontend v2',
        `  bind 127.0.0.1:${v2}`,
        '  default_backend to_proxy_v2',
        'backend to_proxy_v1',
        `  server s 127.0.0.1:${started.port} send-proxy`,
        'backend to_proxy_v2',
        `  server s 127.0.0.1:${started.port} send-proxy-v2`,
      ],
      [v1, v2],
    );
    const clients: string[] = [];
    for (const [port, from] of [
      [v1, '127.0.0.2'],
      [v2, '127.0.0.3'],
      [v1, '127.0.0.3'],
      [v2, '127.0.0.2'],
    ] as const) {
      const { reply, localPort } = await exchange(port, from, `hello from ${from}\n`);
      assert.is(reply, `hello from ${from}\n`, 'echoed through HAProxy and the proxy, the header not among the bytes');
      clients.push(`${from}:${localPort}`);
    }
    // The start-up probes of HAProxy's ports also went through, with no byte: not clients.
    const served = () => accessLines(proxy!).filter((l) => l.c2s_bytes !== '0');
    await until(() => served().length >= clients.length, () => `access-log lines; stderr: ${proxy!.stderr}`);
    const lines = served();
    assert.equal(lines.map((l) => l.from).sort(), [...clients].sort(), 'from= is the client HAProxy saw, not HAProxy');
    for (const line of lines) assert.is(line.c2s_bytes, String('hello from 127.0.0.2\n'.length), 'the header is not counted');
    proxy.kill('SIGTERM');
    await proxy.done();
    const opens = readFileSync(logFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { kind: string; client?: string }).filter((r) => r.kind === 'open');
    for (const client of clients) assert.ok(opens.some((r) => r.client === client), `the event log's open records name ${client}`);
  } finally {
    await haproxy?.stop();
    await proxy?.dispose();
    await closeServer(echo);
    rmSync(dir, { recursive: true, force: true });
  }
});

withNginx('nginx stream with proxy_protocol behind forward --send-proxy v1 and v2 sees the client connecting to the proxy', async () => {
  const nginxPort = await closedPort();
  const nginx = await startNginx(`server { listen 127.0.0.1:${nginxPort} proxy_protocol; return "$proxy_protocol_addr:$proxy_protocol_port\\n"; }`, [nginxPort]);
  try {
    for (const version of ['v1', 'v2']) {
      const { child, port } = await startForward(['--target', `127.0.0.1:${nginxPort}`, '--send-proxy', version]);
      try {
        for (const from of ['127.0.0.2', '127.0.0.3']) {
          const { reply, localPort } = await exchange(port, from, '');
          assert.is(reply, `${from}:${localPort}\n`, `${version} from ${from}: nginx read our header; ${nginx.output()}`);
        }
      } finally {
        child.kill('SIGTERM');
        await child.done();
      }
    }
  } finally {
    await nginx.stop();
  }
});

test.run();
