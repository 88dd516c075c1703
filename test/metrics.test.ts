import http from 'node:http';
import net from 'node:net';
import * as promClient from 'prom-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Supervisor, type CloseInfo, type Connection } from '../src/index.js';
import { collectMetrics, DEFAULT_BYTES_BUCKETS, DEFAULT_LENGTH_BUCKETS, METRICS, serveMetrics } from '../src/metrics/index.js';
import { startLoopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { closeServer, connect, echoServer, listen, payload, readAll, startUpstreams } from './helpers/sockets.js';
import { until } from './helpers/wait.js';

/** GET `url`; resolves with status, content type and body. */
function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The Prometheus text format as `name{k="v",…}` (labels sorted) → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    assert.ok(m, `metric line: ${line}`);
    const labels = m![2] === undefined ? [] : [...m![2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(labels.length === 0 ? m![1]! : `${m![1]}{${labels.join(',')}}`, Number(m![3]));
  }
  return out;
}

async function scrape(url: string): Promise<Map<string, number>> {
  const res = await get(url);
  assert.is(res.status, 200);
  assert.match(res.type, /^text\/plain/);
  return parseMetrics(res.body);
}

const P = 'proxy_lifecycle_';

test('scraped over HTTP after real connections: every counter matches the CloseInfo totals', async () => {
  const upstreams = await startUpstreams();
  const { echoPort, resetPort, refusedPort } = upstreams;
  const targets = [echoPort, echoPort, resetPort, refusedPort];
  let slow: net.Socket | undefined;
  const rig = await startLoopback({
    supervisor: { activitySampleInterval: 1000 },
    // The rig's own upstream, the fifth target: it does not read until the proxy has had to pause the client once.
    upstream: (s) => {
      slow = s;
      s.on('end', () => s.end());
      s.pause();
    },
    dial: (upstreamPort) => {
      const port = targets[rig.supervisor.stats.total] ?? upstreamPort;
      return () => net.connect(port, '127.0.0.1');
    },
  });
  const { clock, supervisor, recorded, closes, proxyPort: port } = rig;
  const metrics = await collectMetrics(supervisor);
  const server = await serveMetrics(metrics.register, { port: 0 });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  try {
    const before = await scrape(server.url);
    assert.is(before.get(`${P}downstream_cx_total`), 0);
    assert.is(before.get(`${P}downstream_cx_active`), 0);
    assert.is(before.get(`${P}cx_close_total{reason="fin",side="client"}`), 0, 'every side and reason starts at zero');
    assert.is(before.get(`${P}downstream_cx_bytes_count{direction="rx"}`), 0, 'both directions start at zero');

    // Two echoes: the first one closes, the second stays open while bytes are counted live.
    for (const size of [10_000, 250_000]) {
      const client = await connect(port);
      const data = payload(size);
      const got = readAll(client);
      client.write(data);
      await until(() => [...supervisor.connections.values()].some((c) => c.serverToClient === size), `echo of ${size} B`);
      if (size === 10_000) {
        client.end();
        assert.is((await got).length, size);
        await until(() => closes.length === 1, 'first echo closed');
        client.destroy();
      } else {
        // Live: counted at the scrape, before the connection closes.
        const live = await scrape(server.url);
        assert.is(live.get(`${P}downstream_cx_active`), 1);
        assert.is(live.get(`${P}downstream_cx_rx_bytes_total`), 10_000 + size);
        assert.is(live.get(`${P}downstream_cx_tx_bytes_total`), 10_000 + size);
        // A sampling tick feeds the same bytes through connectionBytes$: nothing is counted twice.
        clock.advance(1000);
        const sampled = await scrape(server.url);
        assert.is(sampled.get(`${P}downstream_cx_rx_bytes_total`), 10_000 + size);
        client.end('!');
        assert.is((await got).length, size + 1);
        await until(() => closes.length === 2, 'second echo closed');
        client.destroy();
      }
    }
    const reset = await connect(port);
    reset.on('error', () => {}).on('end', () => reset.end()).resume();
    reset.write('reset me');
    await until(() => closes.length === 3, 'reset closed');
    reset.destroy();
    const refused = await connect(port);
    refused.on('error', () => {}).on('end', () => refused.end()).resume();
    await until(() => closes.length === 4, 'refused closed');
    refused.destroy();

    const pushy = await connect(port);
    pushy.on('error', () => {}).on('end', () => pushy.end()).resume();
    // Write until the proxy has had to pause reading the client (however much the kernel buffers).
    const slowConn = () => [...supervisor.connections.values()].find((c: Connection) => c.id.endsWith('-5'));
    const chunk = payload(1024 * 1024);
    let drained = true;
    pushy.on('drain', () => (drained = true));
    for (let mb = 0; (slowConn()?.pauses ?? 0) === 0; mb++) {
      assert.ok(mb < 512, 'the proxy paused the client within 512 MB');
      if (drained) drained = pushy.write(chunk);
      await new Promise((r) => setTimeout(r, drained ? 0 : 2));
    }
    pushy.end();
    slow!.resume();
    await until(() => closes.length === 5, 'slow upstream closed', 10_000);
    pushy.destroy();

    const after = await scrape(server.url);
    const sum = (f: (i: CloseInfo) => number) => closes.reduce((n, i) => n + f(i), 0);
    assert.equal(closes.map((c) => c.code), ['CO', 'CO', 'sO', 'RK', 'CO']);
    assert.is(after.get(`${P}downstream_cx_total`), 5);
    assert.is(after.get(`${P}downstream_cx_active`), 0);
    assert.is(after.get(`${P}downstream_cx_rx_bytes_total`), sum((i) => i.bytes.clientToServer));
    assert.is(after.get(`${P}downstream_cx_tx_bytes_total`), sum((i) => i.bytes.serverToClient));
    assert.ok(sum((i) => i.bytes.clientToServer) > 1024 * 1024);
    assert.is(after.get(`${P}downstream_cx_length_seconds_count`), 5);
    assert.ok(Math.abs(after.get(`${P}downstream_cx_length_seconds_sum`)! - sum((i) => i.durationMs) / 1000) < 1e-9, 'length in seconds');
    assert.is(after.get(`${P}downstream_cx_length_seconds_bucket{le="+Inf"}`), 5);
    for (const le of DEFAULT_LENGTH_BUCKETS) {
      const within = closes.filter((i) => i.durationMs / 1000 <= le).length;
      assert.is(after.get(`${P}downstream_cx_length_seconds_bucket{le="${le}"}`), within, `length bucket le=${le} s`);
    }
    // Bytes per connection, each way: every connection in the buckets its byte count fits.
    for (const [direction, bytes] of [['rx', (i: CloseInfo) => i.bytes.clientToServer], ['tx', (i: CloseInfo) => i.bytes.serverToClient]] as const) {
      assert.is(after.get(`${P}downstream_cx_bytes_count{direction="${direction}"}`), 5);
      assert.is(after.get(`${P}downstream_cx_bytes_sum{direction="${direction}"}`), sum(bytes));
      for (const le of DEFAULT_BYTES_BUCKETS) {
        const within = closes.filter((i) => bytes(i) <= le).length;
        assert.is(after.get(`${P}downstream_cx_bytes_bucket{direction="${direction}",le="${le}"}`), within, `${direction} bucket le=${le}`);
      }
    }
    assert.is(after.get(`${P}downstream_cx_bytes_bucket{direction="tx",le="0"}`), 3, 'the reset, the refused and the slow upstream sent nothing back');
    assert.is(after.get(`${P}upstream_cx_connect_fail_total`), 1);
    assert.is(after.get(`${P}upstream_cx_connect_timeout_total`), 0);
    // The pushy client was paused for its slow upstream; no upstream ever outran its client.
    assert.ok(sum((i) => i.pauses.client) > 0);
    assert.is(after.get(`${P}downstream_flow_control_paused_reading_total`), sum((i) => i.pauses.client));
    assert.is(after.get(`${P}upstream_flow_control_paused_reading_total`), sum((i) => i.pauses.server));
    assert.is(sum((i) => i.pauses.server), 0);
    for (const code of new Set(closes.map((c) => c.code))) {
      assert.is(after.get(`${P}cx_termination_total{code="${code}"}`), closes.filter((c) => c.code === code).length, `code ${code}`);
    }
    const byReason = new Map<string, number>();
    for (const info of closes) {
      for (const side of ['client', 'server'] as const) {
        const key = `${P}cx_close_total{reason="${info.reasons[side]}",side="${side}"}`;
        byReason.set(key, (byReason.get(key) ?? 0) + 1);
      }
    }
    for (const [key, n] of byReason) assert.is(after.get(key), n, key);
    const closeTotal = [...after].filter(([k]) => k.startsWith(`${P}cx_close_total{`)).reduce((n, [, v]) => n + v, 0);
    assert.is(closeTotal, 10, 'two sides per connection, nothing else');
    assertReplayMatches(supervisor, recorded);
  } finally {
    metrics.stop();
    await server.close();
    await rig.close();
    await upstreams.close();
  }
});

test('stop() removes every listener and subscription: later connections change nothing', async () => {
  const supervisor = new Supervisor({ activitySampleInterval: 0 });
  const listeners = () => [supervisor.listenerCount('connection'), supervisor.listenerCount('close'), supervisor.listenerCount('refused')];
  assert.equal(listeners(), [0, 0, 0]);
  const metrics = await collectMetrics(supervisor, { client: promClient, prefix: 'edge_' });
  assert.equal(listeners(), [1, 1, 1]);
  const sampling = (supervisor as unknown as { perConnection: { observed: boolean } }).perConnection;
  assert.ok(sampling.observed, 'connectionBytes$ is sampled');
  const echo = echoServer();
  const echoPort = await listen(echo);
  const proxy = net.createServer({ allowHalfOpen: true }, (c) => supervisor.forward(c, () => net.connect(echoPort, '127.0.0.1')));
  const port = await listen(proxy);
  const once = async () => {
    supervisor.refuse(null, { client: '192.0.2.1:4000', limit: 'max_connections_per_ip' });
    const closed = supervisor.stats.closed;
    const client = await connect(port);
    const got = readAll(client);
    client.end('abc');
    assert.is((await got).toString(), 'abc');
    await until(() => supervisor.stats.closed === closed + 1, 'closed');
    client.destroy();
  };
  try {
    await once();
    const text = await metrics.register.metrics();
    const first = parseMetrics(text);
    assert.is(first.get('edge_downstream_cx_total'), 1);
    assert.is(first.get('edge_downstream_cx_rx_bytes_total'), 3);
    assert.is(first.get('edge_downstream_cx_refused_total{limit="max_connections_per_ip",reason="rejected"}'), 1, 'the refusal, from the supervisor\'s event');
    assert.is(first.get('edge_downstream_cx_refused_total{limit="max_connections",reason="rejected"}'), 0, 'a known limit from zero');
    assert.not.ok(text.includes(P), 'the prefix is used throughout');
    metrics.stop();
    metrics.stop();
    assert.equal(listeners(), [0, 0, 0]);
    assert.not.ok(sampling.observed, 'unsubscribed from connectionBytes$');
    await once();
    assert.equal(parseMetrics(await metrics.register.metrics()), first, 'frozen after stop()');
  } finally {
    metrics.stop();
    await closeServer(proxy);
    await closeServer(echo);
  }
});

test('one registry, two supervisors under different prefixes; every documented metric is registered', async () => {
  const register = new promClient.Registry();
  const a = await collectMetrics(new Supervisor(), { register, prefix: 'a_' });
  const b = await collectMetrics(new Supervisor(), { register, prefix: 'b_' });
  const names = register.getMetricsAsArray().map((m) => m.name).sort();
  const expected = Object.keys(METRICS).flatMap((k) => [`a_${k}`, `b_${k}`]).sort();
  assert.equal(names, expected);
  assert.is(a.register, register);
  await assert.not.throws(() => register.metrics());
  // The same prefix twice in one registry is prom-client's error, not a silent mix.
  let error: unknown;
  await collectMetrics(new Supervisor(), { register, prefix: 'a_' }).catch((e: unknown) => (error = e));
  assert.match(String(error), /already been registered/);
  a.stop();
  b.stop();
});

test('the metrics endpoint: only GET/HEAD /metrics, and a port in use is a rejection', async () => {
  const register = new promClient.Registry();
  const metrics = await collectMetrics(new Supervisor(), { register });
  const server = await serveMetrics(register, { host: '127.0.0.1', port: 0 });
  try {
    assert.is((await get(server.url.replace('/metrics', '/'))).status, 404);
    assert.is((await get(server.url, 'POST')).status, 405);
    const head = await get(server.url, 'HEAD');
    assert.equal([head.status, head.body], [200, '']);
    let error: unknown;
    await serveMetrics(register, { port: server.port }).catch((e: unknown) => (error = e));
    assert.is((error as NodeJS.ErrnoException).code, 'EADDRINUSE');
    const failing = await serveMetrics({ contentType: 'text/plain', metrics: () => Promise.reject(new Error('boom')) }, { port: 0 });
    const res = await get(failing.url);
    assert.equal([res.status, res.body], [500, 'metrics failed: Error: boom\n']);
    await failing.close();
  } finally {
    metrics.stop();
    await server.close();
  }
  assert.is(await new Promise((r) => net.connect(server.port, '127.0.0.1').on('error', (e: NodeJS.ErrnoException) => r(e.code)).on('connect', function (this: net.Socket) {
    this.destroy();
    r('connected');
  })), 'ECONNREFUSED', 'closed');
});

test.run();
