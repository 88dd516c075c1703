import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CloseInfo, SocketLike } from '../src/index.js';
import { boundListenerCount } from '../src/internal.js';
import { startLoopback } from './helpers/loopback.js';
import { prng } from '../tools/prng.mjs';
import { assertReplayMatches } from './helpers/replay.js';
import { RESET_CODES, closedPort, type Endpoint } from './helpers/sockets.js';
import { guardUncaught } from './helpers/uncaught.js';
import { turns, until } from './helpers/wait.js';

const TOTAL = 1000;
const CONCURRENCY = 50;
const MAX_PAYLOAD = 64 * 1024;
const KINDS = ['normal', 'clientFin', 'serverFin', 'clientRst', 'serverRst', 'refused', 'shutdown', 'abort'] as const;
type Kind = (typeof KINDS)[number];
const WATCHED_RESOURCES = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'];

function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(WATCHED_RESOURCES.map((k) => [k, 0]));
  for (const r of process.getActiveResourcesInfo()) if (r in counts) counts[r]!++;
  return counts;
}

/** A listener the library (code under src/) added to a proxy-side socket. */
interface Added {
  event: string | symbol;
  listener: (...args: unknown[]) => void;
  where: string;
}

const SRC = `${process.cwd()}/src/`;

/**
 * Wraps a socket's listener-adding methods to record every listener whose immediate caller
 * is library code, so that afterwards we can prove none of them is left.
 */
function instrument(socket: SocketLike, added: Added[]): void {
  for (const method of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener'] as const) {
    const original = socket[method] as (event: string | symbol, listener: (...args: unknown[]) => void) => SocketLike;
    (socket as unknown as Record<string, unknown>)[method] = function (this: SocketLike, event: string | symbol, listener: (...args: unknown[]) => void) {
      const caller = (new Error().stack ?? '').split('\n')[2] ?? '';
      if (caller.includes(SRC)) added.push({ event, listener, where: caller.trim() });
      return original.call(this, event, listener);
    };
  }
}

function stillAttached(socket: SocketLike, a: Added): boolean {
  return socket
    .rawListeners(a.event)
    .some((l) => l === a.listener || (l as { listener?: unknown }).listener === a.listener);
}

interface Handled {
  socket: SocketLike;
  added: Added[];
}

test(`${TOTAL} connections with random lifecycles leave nothing behind`, async () => {
  const guard = guardUncaught();
  await turns(5);
  const baseline = resourceCounts();
  const random = prng(0x5eed1e55);
  const noise = randomBytes(MAX_PAYLOAD);
  const handled: Handled[] = [];
  const track = (socket: SocketLike): SocketLike => {
    const h: Handled = { socket, added: [] };
    instrument(socket, h.added);
    handled.push(h);
    return socket;
  };
  // Both proxy sockets are instrumented before the supervisor gets them: the client as the
  // front accepts it, the upstream as the factory makes it.
  const proxyTo = (port: number) => () => track(net.connect(port, '127.0.0.1'));
  const rig = await startLoopback({ supervisor: { activitySampleInterval: 50 }, dial: proxyTo });
  const { clock, supervisor, recorded, closes } = rig;
  rig.front.prependListener('connection', track);
  const dead = await closedPort();
  const refusing = await rig.listenFront(() => proxyTo(dead));
  refusing.server.prependListener('connection', track);
  const closeCount = new Map<string, number>();
  supervisor.on('close', (info) => {
    closeCount.set(info.id, (closeCount.get(info.id) ?? 0) + 1);
  });
  const statsNegative: string[] = [];
  const checkStats = () => {
    const s = supervisor.stats;
    if (s.active < 0 || s.closed > s.total || s.active !== s.total - s.closed) statsNegative.push(JSON.stringify(s));
  };
  supervisor.on('connection', checkStats);
  supervisor.on('close', checkStats);

  const kindsSeen = new Map<Kind, number>();
  const failures: string[] = [];

  async function one(i: number): Promise<void> {
    const kind = KINDS[Math.floor(random() * KINDS.length)]!;
    kindsSeen.set(kind, (kindsSeen.get(kind) ?? 0) + 1);
    const cSize = 1 + Math.floor(random() * MAX_PAYLOAD);
    const uSize = 1 + Math.floor(random() * MAX_PAYLOAD);
    const when = Math.floor(random() * 3); // 0: at once, 1: next turn, 2: after the first byte back
    const { c, conn } = await rig.connect(kind === 'refused' ? refusing.port : rig.proxyPort);
    const socket = c.socket;
    const cooperate = (ep: Endpoint) => ep.socket.on('end', () => ep.socket.end());
    const later = async (ep: Endpoint, action: () => void) => {
      if (when === 1) await turns(1);
      else if (when === 2) await until(() => ep.received > 0 || ep.closed || conn.disposed, 'first byte');
      action();
    };

    if (kind === 'refused') {
      cooperate(c);
      socket.write(noise.subarray(0, cSize));
      await until(() => c.closed && conn.disposed, `refused #${i} closed`, 10_000);
      const info = await conn.whenClosed();
      if (info.reasons.server !== 'connect_refused') failures.push(`#${i} refused: server reason ${info.reasons.server}`);
      return;
    }
    // Wait until the proxy saw its upstream connect: a reset before that is a connect failure.
    const u = await rig.upstreamOf(conn);
    socket.write(noise.subarray(0, cSize));
    u.socket.write(noise.subarray(0, uSize));
    switch (kind) {
      case 'normal':
        socket.end();
        u.socket.end();
        break;
      case 'clientFin':
        socket.end();
        cooperate(u);
        break;
      case 'serverFin':
        u.socket.end();
        cooperate(c);
        break;
      case 'clientRst':
        cooperate(u);
        await later(u, () => socket.resetAndDestroy());
        break;
      case 'serverRst':
        cooperate(c);
        await later(c, () => u.socket.resetAndDestroy());
        break;
      case 'shutdown':
        cooperate(c);
        cooperate(u);
        await later(c, () => conn.shutdown());
        break;
      case 'abort':
        cooperate(c);
        cooperate(u);
        await later(c, () => conn.abort());
        break;
    }
    await until(() => c.closed && u.closed && conn.disposed, `#${i} ${kind} closed`, 10_000);
    const info = await conn.whenClosed();
    if (info.reasons.client === null || info.reasons.server === null) failures.push(`#${i} ${kind}: reasons ${JSON.stringify(info.reasons)}`);
    if (kind === 'normal' || kind === 'clientFin' || kind === 'serverFin') {
      if (c.received !== uSize || u.received !== cSize) {
        failures.push(`#${i} ${kind}: client got ${c.received}/${uSize}, upstream got ${u.received}/${cSize}`);
      }
      if (info.discarded !== 0) failures.push(`#${i} ${kind}: discarded ${info.discarded}`);
    }
    const resetSide = kind === 'clientRst' ? 'client' : kind === 'serverRst' ? 'server' : null;
    // The reset is recorded: as the reason, or (when a FIN was read first) as the error code.
    if (resetSide !== null && info.reasons[resetSide] !== 'reset' && !RESET_CODES.includes(info.errors[resetSide] ?? '')) {
      failures.push(`#${i} ${kind}: reasons ${JSON.stringify(info.reasons)} errors ${JSON.stringify(info.errors)}`);
    }
    const expected: Partial<Record<Kind, Partial<CloseInfo['reasons']>>> = {
      shutdown: { client: 'shutdown', server: 'shutdown' },
      abort: { client: 'aborted', server: 'aborted' },
    };
    for (const [side, reason] of Object.entries(expected[kind] ?? {})) {
      if (info.reasons[side as 'client' | 'server'] !== reason) failures.push(`#${i} ${kind}: reasons ${JSON.stringify(info.reasons)}`);
    }
  }

  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < TOTAL && !stopped) {
      const i = next++;
      // Bounded, so a lost event fails the test instead of emptying the event loop.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        one(i),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`connection #${i} did not finish: ${guard.errors.map(String).join('; ')}`)), 20_000);
        }),
      ]).finally(() => clearTimeout(timer));
      clock.advance(1); // simulated time moves on: the sampler ticks, ACTIVITY checkpoints flow
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    assert.equal(failures, [], failures.slice(0, 10).join('\n'));
    assert.equal(statsNegative, []);
    for (const kind of KINDS) assert.ok((kindsSeen.get(kind) ?? 0) > 50, `${kind} exercised (${kindsSeen.get(kind) ?? 0})`);
    assert.is(supervisor.connections.size, 0);
    assert.equal(supervisor.stats, { active: 0, total: TOTAL, closed: TOTAL, refused: 0 });
    assert.is(closes.length, TOTAL);
    assert.is(closeCount.size, TOTAL);
    assert.ok([...closeCount.values()].every((n) => n === 1), "'close' exactly once per connection");
    assert.is(recorded.length, TOTAL);
    for (const conn of recorded) {
      assert.ok(conn.disposed, `connection ${conn.id} disposed`);
      assert.is(conn.pendingTimers, 0, `timers of connection ${conn.id}`);
      assert.is(closeCount.get(conn.id), 1);
    }
    assert.is(clock.pending, 0, 'no timer left on the clock');

    // Every socket the proxy handled: none of our handlers, and nothing else the library added.
    assert.is(handled.length, 2 * TOTAL);
    let libraryAdded = 0;
    for (const { socket, added } of handled) {
      assert.ok(socket.destroyed, 'proxy socket destroyed');
      assert.is(boundListenerCount(socket), 0);
      libraryAdded += added.length;
      const left = added.filter((a) => stillAttached(socket, a));
      assert.equal(left.map((a) => `${String(a.event)} from ${a.where}`), [], 'listeners the library left behind');
    }
    assert.ok(libraryAdded >= 2 * TOTAL * 7, `the instrumentation saw the library's listeners (${libraryAdded})`);

    assertReplayMatches(supervisor, recorded);
    assert.equal(guard.errors, []);
  } finally {
    stopped = true;
    // Every socket too, so that a failure cannot leave one open (the run would hang).
    await rig.close();
    guard.dispose();
  }
  // Handles and timers are back where they were (a few turns for the close callbacks). Not
  // above the baseline: something another test file was still closing may have gone since.
  const settled = () => {
    const now = resourceCounts();
    return WATCHED_RESOURCES.every((k) => now[k]! <= baseline[k]!);
  };
  await until(settled, `resources back to baseline ${JSON.stringify(baseline)}`).catch(() => {
    assert.equal(resourceCounts(), baseline, 'active handles and timers after the run');
  });
  assert.ok(settled());
});

test.run();
