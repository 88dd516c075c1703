/**
 * Regression (issue: `forward --target` to a refused port or an unresolvable name, with a
 * client that sends a byte and FINs at once, logged `server_close=peer_fin`: the client's END
 * won the race against the upstream's error). An upstream that never connected is always
 * recorded as a connect failure, whatever the client did meanwhile, and counted so.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as promClient from 'prom-client';
import { collectMetrics, systemClock, type SocketLike } from '../src/index.js';
import { accessLines, ensureBuilt, startForward } from './helpers/cli-harness.js';
import { startLoopback } from './helpers/loopback.js';
import { closedPort } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

ensureBuilt();

type Client = 'byte+FIN' | 'FIN' | 'reset' | 'destroy';
const CLIENTS: Client[] = ['byte+FIN', 'FIN', 'reset', 'destroy'];

/** A client that does `what` as soon as it is connected, through a proxy on `port`. */
function clientThat(port: number, what: Client): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.on('end', () => s.destroy());
    s.once('connect', () => {
      if (what === 'byte+FIN') s.end('x');
      else if (what === 'FIN') s.end();
      else if (what === 'reset') s.resetAndDestroy();
      else s.destroy();
    });
  });
}

/** A lookup that fails as an unresolvable name does, without asking any DNS server. */
const unresolvable: net.LookupFunction = (hostname, _options, callback) => {
  const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
  // A resolver answers after a few ms, when the client has often already sent its FIN.
  setTimeout(() => (callback as (e: Error) => void)(err), 5);
};

const UPSTREAMS = {
  refused: { reason: 'connect_refused', code: 'RK', error: 'ECONNREFUSED' },
  unresolvable: { reason: 'connect_error', code: 'RK', error: 'ENOTFOUND' },
} as const;

for (const [kind, expected] of Object.entries(UPSTREAMS)) {
  test(`an upstream that is ${kind} is recorded as ${expected.reason} whatever the client does first, and counted as a connect failure`, async () => {
    const dead = await closedPort();
    const upstream = (): SocketLike =>
      kind === 'refused'
        ? net.connect({ port: dead, host: '127.0.0.1', allowHalfOpen: true })
        : net.connect({ port: 80, host: 'upstream.invalid', allowHalfOpen: true, lookup: unresolvable });
    const rig = await startLoopback({ supervisor: { clock: systemClock }, dial: () => upstream });
    const { supervisor, closes, proxyPort: port } = rig;
    const metrics = await collectMetrics(supervisor, { client: promClient });
    const ROUNDS = 10;
    try {
      for (let i = 0; i < ROUNDS; i++) await Promise.all(CLIENTS.map((what) => clientThat(port, what)));
      await until(() => closes.length === ROUNDS * CLIENTS.length && supervisor.stats.active === 0, 'every connection closed');
      for (const info of closes) {
        assert.is(info.reasons.server, expected.reason, `server reason (client ${info.reasons.client})`);
        assert.is(info.errors.server, expected.error);
        assert.is(info.code, expected.code);
      }
      const text = await metrics.register.metrics();
      const fails = /^proxy_lifecycle_upstream_cx_connect_fail_total (\d+)$/m.exec(text);
      assert.is(Number(fails?.[1]), ROUNDS * CLIENTS.length, 'every one counted as a connect failure');
    } finally {
      metrics.stop();
      await rig.close();
    }
  });
}

test('forward to a refused port: a client that sends a byte and FINs at once is logged server_close=connect_refused, every time', async () => {
  const dead = await closedPort();
  const { child, port } = await startForward(['--target', `127.0.0.1:${dead}`]);
  try {
    const N = 40;
    for (let i = 0; i < N; i++) await clientThat(port, 'byte+FIN');
    await until(() => accessLines(child).length === N, 'an access-log line per connection', 10_000);
    for (const line of accessLines(child)) {
      assert.is(line.server_close, 'connect_refused', `line ${JSON.stringify(line)}`);
      assert.is(line.server_error, 'ECONNREFUSED');
      assert.is(line.term, 'RK');
    }
  } finally {
    child.kill('SIGTERM');
    await child.done();
  }
});

test.run();
