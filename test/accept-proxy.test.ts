// Supervisor.accept() with acceptProxy over real loopback sockets: the PROXY header is read
// before anything else, its source becomes the client's address everywhere, the bytes after
// it are forwarded exactly once, and every bad, late or vanished header ends as a refusal with
// nothing left behind (listeners, timers, sockets).
import net from 'node:net';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionLimits, encodeProxyHeader, InvalidOptionError, Supervisor, type Connection, type Refusal, type SocketLike, type SupervisorOptions } from '../src/index.js';
import { upstreamProxyHeader } from '../src/protocol/upstream-proxy-header.js';
import { boundListenerCount, headerReaderListenerCount } from '../src/internal.js';
import { startLoopback, type Loopback } from './helpers/loopback.js';
import { payload, sha256 } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { turns, until } from './helpers/wait.js';

const V1 = Buffer.from('PROXY TCP4 198.51.100.7 203.0.113.9 40001 443\r\n', 'latin1');
const V2 = encodeProxyHeader('v2', { source: { address: '2001:db8::42', port: 40002 }, destination: { address: '2001:db8::1', port: 443 } });

interface Door {
  rig: Loopback;
  refusals: Refusal[];
  /** The address the admission hook saw for each client, in order. */
  admitted: (string | null)[];
  /** Sockets the upstream listener accepted. */
  upstreamAccepts: number;
  /** The upstream's sockets, each with everything it read. */
  upstreamData: Buffer[][];
}

/** A rig whose front calls accept(); the upstream echoes and keeps what it read. */
async function door(options: SupervisorOptions = {}): Promise<Door> {
  const d: Door = { rig: undefined as unknown as Loopback, refusals: [], admitted: [], upstreamAccepts: 0, upstreamData: [] };
  const hook = options.admit;
  d.rig = await startLoopback({
    accept: true,
    supervisor: {
      acceptProxy: true,
      ...options,
      admit: (client, address) => {
        d.admitted.push(address);
        return hook === undefined ? true : hook(client, address);
      },
    },
    upstream: (socket) => {
      d.upstreamAccepts++;
      const chunks: Buffer[] = [];
      d.upstreamData.push(chunks);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        socket.write(chunk);
      });
      socket.on('end', () => socket.end());
    },
  });
  d.rig.supervisor.on('refused', (r) => d.refusals.push(r));
  return d;
}

/** A test client of the front, from `localAddress`; its received bytes and whether it closed. */
function client(rig: Loopback, localAddress = '127.0.0.1'): { socket: net.Socket; got: Buffer[]; closed: () => boolean; connected: Promise<void> } {
  // Not half-open: a refused client's FIN closes it.
  const socket = net.connect({ port: rig.proxyPort, host: '127.0.0.1', localAddress });
  socket.setNoDelay(true);
  const got: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => got.push(chunk));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, got, closed: () => closed, connected };
}

/** The connection of a test client, once the supervisor took it on. */
async function connectionOf(rig: Loopback, socket: net.Socket): Promise<Connection> {
  let found: Connection | undefined;
  await until(() => (found = rig.recorded.find((c) => (c.client as net.Socket).remotePort === socket.localPort)) !== undefined, 'connection');
  return found!;
}

/** Nothing left: no connection, no pending header, no timer, no handler, no socket the rig saw. */
async function assertNothingLeft(d: Door): Promise<void> {
  const { rig } = d;
  await until(() => rig.supervisor.stats.active === 0 && rig.supervisor.pendingHeaderCount === 0 && rig.openSockets === 0, () => `everything closed: ${JSON.stringify({ ...rig.supervisor.stats, pending: rig.supervisor.pendingHeaderCount, sockets: rig.openSockets })}`);
  assert.is(rig.clock.pending, 0, 'no timer left on the clock');
  for (const conn of rig.recorded) {
    assert.is(boundListenerCount(conn.client), 0);
    assert.is(headerReaderListenerCount(conn.client), 0, 'no header-reader handler left');
  }
}

for (const [name, header, source] of [
  ['v1', V1, '198.51.100.7:40001'],
  ['v2', V2, '2001:db8::42:40002'],
] as const) {
  test(`a ${name} header's source is the client everywhere (admit hook, open record, CloseInfo), and the payload after it arrives byte-exact`, async () => {
    const d = await door();
    const guard = guardUncaught();
    try {
      const c = client(d.rig);
      await c.connected;
      const body = payload(200_000);
      // The header and the first bytes of the payload in one segment, the rest after.
      c.socket.write(Buffer.concat([header, body.subarray(0, 1000)]));
      c.socket.end(body.subarray(1000));
      const conn = await connectionOf(d.rig, c.socket);
      await until(() => c.closed(), 'client closed');
      const info = await conn.whenClosed();
      assert.is(info.client, source);
      assert.equal(d.admitted, [source.slice(0, source.lastIndexOf(':'))]);
      const open = d.rig.supervisor.log.records().find((r) => r.kind === 'open');
      assert.is((open as { client?: string }).client, source);
      assert.is(sha256(Buffer.concat(d.upstreamData[0]!)), sha256(body), 'the upstream got the payload, not the header, exactly once');
      assert.is(sha256(Buffer.concat(c.got)), sha256(body), 'the echo came back whole');
      assert.is(info.bytes.clientToServer, body.length, 'the header is not counted as forwarded');
      assert.is(d.refusals.length, 0);
      await assertNothingLeft(d);
      assert.equal(guard.errors, []);
    } finally {
      guard.dispose();
      await d.rig.close();
    }
  });
}

test('a header split into one-byte segments (setNoDelay, a write per turn) is read, and the payload follows it exactly', async () => {
  const d = await door();
  try {
    for (const header of [V1, V2]) {
      const c = client(d.rig);
      await c.connected;
      const bytes = Buffer.concat([header, Buffer.from('after the header')]);
      for (const byte of bytes) {
        c.socket.write(Buffer.from([byte]));
        await turns(2);
      }
      c.socket.end();
      await until(() => c.closed(), 'client closed');
      assert.is(Buffer.concat(c.got).toString(), 'after the header');
    }
    assert.is(d.rig.supervisor.stats.total, 2);
    assert.is(d.refusals.length, 0);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('v2 LOCAL (a health check) and v1 UNKNOWN keep the socket address', async () => {
  const d = await door();
  try {
    for (const header of [encodeProxyHeader('v2'), encodeProxyHeader('v1')]) {
      const c = client(d.rig, '127.0.0.3');
      await c.connected;
      c.socket.end(Buffer.concat([header, Buffer.from('ping')]));
      const conn = await connectionOf(d.rig, c.socket);
      const info = await conn.whenClosed();
      assert.is(info.client, `127.0.0.3:${c.socket.localPort}`);
      await until(() => c.closed(), 'client closed');
      assert.is(Buffer.concat(c.got).toString(), 'ping');
    }
    assert.equal(d.admitted, ['127.0.0.3', '127.0.0.3']);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('each bad header is refused with its code (hA), at once, with no upstream connect', async () => {
  const d = await door();
  try {
    const cases: [Buffer, string, boolean][] = [
      [Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'PROXY_HEADER_MISSING', false],
      [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n'), 'PROXY_HEADER_MALFORMED', false],
      [Buffer.from(`PROXY TCP4 ${'9'.repeat(120)}`), 'PROXY_HEADER_TOO_LONG', false],
      [Buffer.concat([V2.subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12])]), 'PROXY_HEADER_UNSUPPORTED', false],
      // Part of a header, then FIN: truncated.
      [V2.subarray(0, 20), 'PROXY_HEADER_TRUNCATED', true],
    ];
    for (const [bytes, code, end] of cases) {
      const c = client(d.rig);
      await c.connected;
      const port = c.socket.localPort;
      if (end) c.socket.end(bytes);
      else c.socket.write(bytes);
      await until(() => c.closed(), `client closed for ${code}`);
      const r = d.refusals.at(-1)!;
      assert.equal([r.reason, r.limit, r.error, r.code], ['proxy_header_invalid', 'accept_proxy', code, 'hA']);
      assert.is(r.client, `127.0.0.1:${port}`, 'the refusal names the socket address');
    }
    assert.is(d.refusals.length, cases.length);
    assert.is(d.upstreamAccepts, 0, 'no upstream was dialled');
    assert.is(d.admitted.length, 0, 'the admission hook never saw them');
    assert.equal(d.rig.supervisor.stats, { active: 0, total: 0, closed: 0, refused: cases.length });
    assert.is(d.rig.supervisor.log.records().filter((r) => r.kind === 'refused').length, cases.length);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('no complete header within the timeout (ManualClock): refused as proxy_header_timeout (wA), silent and partial alike', async () => {
  const d = await door({ acceptProxy: { timeout: 2000 } });
  try {
    const silent = client(d.rig);
    const partial = client(d.rig);
    await Promise.all([silent.connected, partial.connected]);
    partial.socket.write(V1.subarray(0, 10));
    await until(() => d.rig.supervisor.pendingHeaderCount === 2, 'both pending');
    await turns(10);
    d.rig.clock.advance(1999);
    await turns(10);
    assert.ok(!silent.closed() && !partial.closed(), 'not before the timeout');
    d.rig.clock.advance(1);
    await until(() => silent.closed() && partial.closed(), 'both closed at the timeout');
    const codes = d.refusals.map((r) => [r.reason, r.error, r.code]).sort();
    assert.equal(codes, [
      ['proxy_header_timeout', 'PROXY_HEADER_MISSING', 'wA'],
      ['proxy_header_timeout', 'PROXY_HEADER_TRUNCATED', 'wA'],
    ]);
    assert.is(d.upstreamAccepts, 0);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('shutdown with a header pending: the client is refused (limit shutdown) and shutdown resolves', async () => {
  const d = await door();
  try {
    const c = client(d.rig);
    await c.connected;
    c.socket.write(V2.subarray(0, 5));
    await until(() => d.rig.supervisor.pendingHeaderCount === 1, 'pending');
    await d.rig.supervisor.shutdown({ timeout: 1000 });
    await until(() => c.closed(), 'client closed');
    assert.equal(d.refusals.map((r) => [r.reason, r.limit]), [['rejected', 'shutdown']]);
    assert.is(d.upstreamAccepts, 0);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('abort() with a header pending: the client is refused (limit aborted), its reader timer and listeners gone', async () => {
  const d = await door();
  try {
    const c = client(d.rig);
    await c.connected;
    c.socket.write(V1.subarray(0, 7));
    await until(() => d.rig.supervisor.pendingHeaderCount === 1, 'pending');
    d.rig.supervisor.abort();
    assert.is(d.rig.supervisor.pendingHeaderCount, 0, 'the read ended at once');
    await until(() => c.closed(), 'client closed');
    assert.equal(d.refusals.map((r) => [r.reason, r.limit]), [['rejected', 'aborted']]);
    assert.is(d.upstreamAccepts, 0);
    await assertNothingLeft(d);
  } finally {
    await d.rig.close();
  }
});

test('per-IP limits count the header source, not the socket: two clients from one source are one IP', async () => {
  const limits = new ConnectionLimits({ maxConnectionsPerIp: 1 });
  const d = await door({ admit: limits.hook });
  try {
    const header = (ip: string, port: number) => encodeProxyHeader('v1', { source: { address: ip, port }, destination: { address: '127.0.0.1', port: 1 } });
    const a = client(d.rig);
    const b = client(d.rig);
    const other = client(d.rig);
    await Promise.all([a.connected, b.connected, other.connected]);
    a.socket.write(header('192.0.2.1', 1000));
    await connectionOf(d.rig, a.socket);
    b.socket.write(header('192.0.2.1', 1001));
    other.socket.write(header('192.0.2.2', 1002));
    await until(() => b.closed(), 'second client from the same source refused');
    await connectionOf(d.rig, other.socket);
    assert.equal(d.refusals.map((r) => [r.limit, r.client]), [['max_connections_per_ip', '192.0.2.1:1001']]);
    assert.is(limits.connectionsFrom('192.0.2.1'), 1);
    assert.is(limits.connectionsFrom('127.0.0.1'), 0, 'the socket address is not counted');
    a.socket.end();
    other.socket.end();
    await assertNothingLeft(d);
    assert.is(limits.addresses, 0);
  } finally {
    await d.rig.close();
  }
});

test('sendProxy: the upstream gets a header (the client came with one, or not) before any byte, not counted', async () => {
  for (const [acceptProxy, version] of [
    [true, 'v1'],
    [false, 'v2'],
  ] as const) {
    const d = await door({ acceptProxy, sendProxy: version });
    try {
      const c = client(d.rig, '127.0.0.2');
      await c.connected;
      c.socket.end(Buffer.concat([acceptProxy ? V1 : Buffer.alloc(0), Buffer.from('data')]));
      const conn = await connectionOf(d.rig, c.socket);
      const info = await conn.whenClosed();
      const upstream = Buffer.concat(d.upstreamData[0]!);
      const expected = acceptProxy
        ? encodeProxyHeader(version, { source: { address: '198.51.100.7', port: 40001 }, destination: { address: '203.0.113.9', port: 443 } })
        : encodeProxyHeader(version, { source: { address: '127.0.0.2', port: c.socket.localPort! }, destination: { address: '127.0.0.1', port: d.rig.proxyPort } });
      assert.equal(upstream, Buffer.concat([expected, Buffer.from('data')]));
      assert.is(info.bytes.clientToServer, 4, 'only the client bytes are counted');
      await assertNothingLeft(d);
    } finally {
      await d.rig.close();
    }
  }
});

test('options: acceptProxy and sendProxy are checked, naming the field; forward() refuses to run with acceptProxy', () => {
  const bad: [SupervisorOptions, string][] = [
    [{ acceptProxy: 'yes' as unknown as boolean }, 'acceptProxy'],
    [{ acceptProxy: { timeout: 0 } }, 'acceptProxy.timeout'],
    [{ acceptProxy: { timeout: Infinity } }, 'acceptProxy.timeout'],
    [{ acceptProxy: { timout: 5 } as unknown as { timeout: number } }, 'acceptProxy.timout'],
    [{ sendProxy: 'v3' as unknown as 'v1' }, 'sendProxy'],
  ];
  for (const [options, field] of bad) {
    try {
      new Supervisor(options);
      assert.unreachable(`accepted ${JSON.stringify(options)}`);
    } catch (err) {
      assert.ok(err instanceof InvalidOptionError, String(err));
      assert.is(err.option, field);
    }
  }
  const supervisor = new Supervisor({ acceptProxy: true });
  const socket = new net.Socket();
  const upstream = new net.Socket();
  try {
    supervisor.forward(socket, upstream);
    assert.unreachable('forward() ran');
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError);
    assert.is(err.option, 'acceptProxy');
    assert.match(err.message, /accept\(/);
  }
  assert.ok(socket.destroyed && upstream.destroyed, 'nothing leaks');
});

test('accept() after shutdown began, or with a client already gone: null, the sockets destroyed, nothing dialled', async () => {
  const supervisor = new Supervisor({ acceptProxy: true });
  const gone = new net.Socket();
  gone.destroy();
  let dialled = 0;
  assert.is(await supervisor.accept(gone, () => (dialled++, new net.Socket())), null);
  assert.equal(supervisor.stats.refused, 1, 'a client gone before its header is refused');
  await supervisor.shutdown();
  const late = new net.Socket();
  const upstream = new net.Socket();
  assert.is(await supervisor.accept(late, upstream), null);
  assert.ok(late.destroyed && upstream.destroyed);
  assert.is(dialled, 0);
});

test('sendProxy with an end it cannot encode (no address, an IPv6 zone) sends UNKNOWN / LOCAL instead of failing', () => {
  const noAddress = new PassThrough() as unknown as SocketLike;
  assert.equal(upstreamProxyHeader('v1', noAddress), Buffer.from('PROXY UNKNOWN\r\n'));
  const zoned = { remoteAddress: 'fe80::1%lo', remotePort: 1, localAddress: '::1', localPort: 2 } as unknown as SocketLike;
  assert.equal(upstreamProxyHeader('v1', zoned), Buffer.from('PROXY UNKNOWN\r\n'));
  assert.equal(upstreamProxyHeader('v2', zoned), encodeProxyHeader('v2'));
  const mapped = { remoteAddress: '::ffff:127.0.0.2', remotePort: 1, localAddress: '::ffff:127.0.0.1', localPort: 2 } as unknown as SocketLike;
  assert.equal(upstreamProxyHeader('v1', mapped).toString(), 'PROXY TCP4 127.0.0.2 127.0.0.1 1 2\r\n', 'IPv4-mapped addresses go as IPv4');
});

// Fuzzing over real sockets: random bytes (valid headers, their prefixes, mutations, huge v2
// lengths, garbage) in random pieces, then FIN or a reset or nothing. Every case ends as a served
// connection or a refusal with a code, promptly, with nothing thrown and nothing left.
const RUNS = Number(process.env.PL_ACCEPT_PROXY_RUNS ?? 200);
const SEED = Number(process.env.PL_SEED ?? 0x9e11);

test(`fuzz: ${RUNS} random header streams over loopback end served or refused, nothing left (seed ${SEED})`, async () => {
  const d = await door({ acceptProxy: { timeout: 1000 } });
  const guard = guardUncaught();
  const codes = new Map<string, number>();
  let served = 0;
  const valid = fc.constantFrom(V1, V2, encodeProxyHeader('v2'), encodeProxyHeader('v1'));
  const bytes = fc.oneof(
    valid.map((h) => Buffer.concat([h, Buffer.from('payload')])),
    fc.tuple(valid, fc.nat()).map(([h, n]) => h.subarray(0, n % h.length)),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([h, i, b]) => {
      const copy = Buffer.from(h);
      copy[i % copy.length] = b;
      return copy;
    }),
    fc.integer({ min: 0, max: 0xffff }).map((len) => Buffer.concat([V2.subarray(0, 14), Buffer.from([len >> 8, len & 0xff]), Buffer.alloc(40)])),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  );
  try {
    await fc.assert(
      fc.asyncProperty(bytes, fc.array(fc.nat(), { maxLength: 6 }), fc.constantFrom('end', 'reset', 'wait'), async (data, cuts, then) => {
        const refusedBefore = d.refusals.length;
        const totalBefore = d.rig.supervisor.stats.total;
        const outcomes = () => d.refusals.length - refusedBefore + d.rig.supervisor.stats.total - totalBefore;
        const c = client(d.rig);
        await c.connected;
        const points = [...new Set(cuts.map((n) => n % (data.length + 1)))].sort((a, b) => a - b);
        let at = 0;
        for (const p of [...points, data.length]) {
          if (p > at) c.socket.write(data.subarray(at, p));
          at = p;
          await turns(1);
        }
        if (then === 'end') c.socket.end();
        else if (then === 'reset') c.socket.resetAndDestroy();
        // Either an outcome now, or the header is still pending: its timeout ends it.
        await until(() => outcomes() > 0 || d.rig.supervisor.pendingHeaderCount > 0, 'an outcome or a pending header');
        if (outcomes() === 0) {
          await turns(5);
          d.rig.clock.advance(1000);
        }
        await until(() => outcomes() > 0, 'an outcome');
        await turns(2);
        assert.is(outcomes(), 1, 'exactly one outcome');
        if (d.refusals.length > refusedBefore) {
          const r = d.refusals.at(-1)!;
          assert.ok(r.reason === 'proxy_header_invalid' || r.reason === 'proxy_header_timeout', r.reason);
          assert.ok(r.error !== null && r.code === (r.reason === 'proxy_header_invalid' ? 'hA' : 'wA'));
          codes.set(r.error!, (codes.get(r.error!) ?? 0) + 1);
        } else served++;
        c.socket.destroy();
        await until(() => d.rig.supervisor.stats.active === 0 && d.rig.openSockets === 0 && d.rig.supervisor.pendingHeaderCount === 0, 'everything closed');
        assert.is(d.rig.clock.pending, 0, 'no timer left');
      }),
      { seed: SEED, numRuns: RUNS },
    );
    console.log(`  [accept-proxy fuzz] ${served} served, refused by code: ${JSON.stringify(Object.fromEntries(codes))}`);
    assert.ok(served > 0, 'some served');
    assert.ok(codes.size >= 3, `several refusal codes: ${[...codes.keys()]}`);
    await assertNothingLeft(d);
    assert.equal(guard.errors, []);
  } finally {
    guard.dispose();
    await d.rig.close();
  }
});

test.run();
