/**
 * Event logs of simulated connections, as fixtures for the timeline page tests. Not a
 * reference: it runs the library's own table runtime.
 *
 * Simulated connections for timeline and metrics tests: the real machine (the lean table
 * runtime, on a ManualClock) with a small model of two sockets instead of real ones. Records
 * are what a Connection would log: `open`, every event (timer events included), `disposed`.
 */
import { ManualClock, TableRuntime, closeCode, DEFAULT_SETTINGS } from '../../src/index.js';
import type { ConnectionOutput, ConnectionSettings, LogRecord, RuntimeEvent, RuntimeHost, EffectType, Side } from '../../src/index.js';
import { prng } from '../../tools/prng.mjs';

/** One step of a scenario, at `at` ms after the connection opened. */
export type SimStep =
  | { at: number; do: 'connected' }
  | { at: number; do: 'bytes'; c2s?: number; s2c?: number }
  | { at: number; do: 'fin'; side: Side }
  | { at: number; do: 'error'; side: Side; code: string }
  | { at: number; do: 'shutdown' }
  | { at: number; do: 'abort' };

/** How each side's peer behaves when we end its socket. */
export interface SimPeers {
  /** The peer answers our FIN with its own after this many ms; `null`: never (it stays silent). */
  answerFin?: Partial<Record<Side, number | null>>;
}

export interface SimScenario {
  name: string;
  settings?: Partial<ConnectionSettings>;
  steps: SimStep[];
  peers?: SimPeers;
  /** Stop simulating this long after the open (the connection may still be open). */
  horizon?: number;
}

interface SimSocket {
  ended: boolean;
  finished: boolean;
  readEnded: boolean;
  closed: boolean;
}

/** Runs one scenario as connection `id`, opened at `start`; returns its log records. */
export function simulate(id: number, start: number, scenario: SimScenario, client = `10.0.0.${id % 250}:${40000 + (id % 20000)}`): LogRecord[] {
  const conn = String(id);
  const records: LogRecord[] = [];
  const clock = new ManualClock(start);
  const settings: ConnectionSettings = { ...DEFAULT_SETTINGS, ...scenario.settings };
  const sockets: Record<Side, SimSocket> = {
    client: { ended: false, finished: false, readEnded: false, closed: false },
    server: { ended: false, finished: false, readEnded: false, closed: false },
  };
  let c2s = 0;
  let s2c = 0;
  let checkC2S = 0;
  let checkS2C = 0;
  let connected = false;
  let done = false;
  const answer = (side: Side) => (scenario.peers?.answerFin?.[side] === undefined ? 2 : scenario.peers.answerFin[side]!);

  const checkpoint = () => {
    if (done || (c2s === checkC2S && s2c === checkS2C)) return;
    checkC2S = c2s;
    checkS2C = s2c;
    runtime.send({ type: 'ACTIVITY', clientToServer: c2s, serverToClient: s2c });
  };
  const maybeClose = (side: Side) => {
    const s = sockets[side];
    if (!s.closed && s.finished && s.readEnded) later(1, () => close(side));
  };
  const close = (side: Side) => {
    if (sockets[side].closed) return;
    sockets[side].closed = true;
    checkpoint();
    runtime.send({ type: 'CLOSE', side });
  };
  const peerFin = (side: Side) => {
    const s = sockets[side];
    if (s.readEnded || s.closed) return;
    s.readEnded = true;
    checkpoint();
    runtime.send({ type: 'END', side });
    maybeClose(side);
  };
  const later = (ms: number, fn: () => void) => clock.setTimeout(fn, ms);

  const host: RuntimeHost = {
    effect(type: EffectType, side: Side) {
      const s = sockets[side];
      if (type === 'endSocket') {
        if (s.ended || s.closed) return;
        s.ended = true;
        // Our FIN flushes once the upstream is connected.
        const flush = () => {
          if (s.closed) return;
          s.finished = true;
          runtime.send({ type: 'FINISHED', side });
          const delay = answer(side);
          if (delay !== null) later(delay, () => peerFin(side));
          maybeClose(side);
        };
        if (side === 'server' && !connected) return;
        later(1, flush);
        (s as SimSocket & { flush?: () => void }).flush = flush;
      } else if (type === 'destroySocket') {
        if (!s.closed) later(0, () => close(side));
      }
    },
    beforeTimer: checkpoint,
    record(event: RuntimeEvent) {
      records.push({ t: clock.now(), conn, kind: 'event', event });
    },
    done(output: ConnectionOutput) {
      done = true;
      records.push({
        t: clock.now(),
        conn,
        kind: 'disposed',
        reasons: output.reasons,
        code: closeCode(output.ending),
        bytes: { clientToServer: c2s, serverToClient: s2c },
        durationMs: clock.now() - start,
      });
    },
  };
  const runtime = new TableRuntime(settings, clock, host);
  records.push({ t: start, conn, kind: 'open', settings, client });
  runtime.start();
  for (const step of scenario.steps) {
    later(step.at, () => {
      if (done) return;
      switch (step.do) {
        case 'connected':
          if (sockets.server.closed) return;
          connected = true;
          runtime.send({ type: 'CONNECTED' });
          if (sockets.server.ended) later(1, (sockets.server as SimSocket & { flush?: () => void }).flush!);
          return;
        case 'bytes':
          c2s += step.c2s ?? 0;
          s2c += step.s2c ?? 0;
          return;
        case 'fin':
          return peerFin(step.side);
        case 'error':
          if (sockets[step.side].closed) return;
          checkpoint();
          runtime.send({ type: 'ERROR', side: step.side, code: step.code });
          later(0, () => close(step.side));
          return;
        case 'shutdown':
          return runtime.send({ type: 'SHUTDOWN' });
        case 'abort':
          return runtime.send({ type: 'ABORT' });
      }
    });
  }
  clock.advance(scenario.horizon ?? 3_600_000);
  runtime.stop();
  return records;
}

/** Scenarios like the demo's: each ends in a different way. */
export const DEMO_SCENARIOS: SimScenario[] = [
  {
    name: 'half-close echo',
    steps: [{ at: 2, do: 'connected' }, { at: 5, do: 'bytes', c2s: 512 }, { at: 6, do: 'fin', side: 'client' }, { at: 12, do: 'bytes', s2c: 512 }],
    peers: { answerFin: { server: 20 } },
  },
  {
    name: 'stream after FIN',
    steps: [
      { at: 3, do: 'connected' },
      { at: 4, do: 'bytes', c2s: 80 },
      { at: 5, do: 'fin', side: 'client' },
      ...Array.from({ length: 12 }, (_, i): SimStep => ({ at: 40 + i * 40, do: 'bytes', s2c: 16_384 })),
      { at: 520, do: 'fin', side: 'server' },
    ],
    peers: { answerFin: { server: null } },
  },
  {
    name: 'peer reset',
    steps: [{ at: 2, do: 'connected' }, { at: 10, do: 'bytes', c2s: 200, s2c: 4000 }, { at: 180, do: 'error', side: 'server', code: 'ECONNRESET' }],
  },
  { name: 'connection refused', steps: [{ at: 1, do: 'error', side: 'server', code: 'ECONNREFUSED' }] },
  { name: 'connect timeout', settings: { connectTimeout: 400 }, steps: [] },
  {
    name: 'idle with socket timeouts',
    settings: { socketTimeout: 150, timeoutBehavior: 'reset' },
    steps: [{ at: 2, do: 'connected' }, { at: 100, do: 'bytes', c2s: 10 }, { at: 700, do: 'fin', side: 'client' }],
  },
  {
    name: 'timeout closes',
    settings: { socketTimeout: 300, timeoutBehavior: 'close' },
    steps: [{ at: 2, do: 'connected' }, { at: 20, do: 'bytes', c2s: 64, s2c: 64 }],
  },
  {
    name: 'graceful shutdown, silent client',
    settings: { gracePeriod: 250 },
    steps: [{ at: 2, do: 'connected' }, { at: 30, do: 'bytes', c2s: 1000, s2c: 9000 }, { at: 600, do: 'shutdown' }],
    peers: { answerFin: { client: null, server: 5 } },
  },
  {
    name: 'idle timeout',
    settings: { idleTimeout: 500 },
    steps: [{ at: 2, do: 'connected' }, { at: 50, do: 'bytes', c2s: 300, s2c: 300 }],
  },
  {
    name: 'still open',
    steps: [{ at: 2, do: 'connected' }, { at: 40, do: 'bytes', c2s: 2048, s2c: 100_000 }],
    horizon: 900,
  },
];


/** `count` connections, opened `every` ms apart, each a scenario picked at random; records in time order. */
export function simulateMany(count: number, every = 3, seed = 1): LogRecord[] {
  const random = prng(seed);
  const all: LogRecord[] = [];
  const base = 1_700_000_000_000;
  for (let id = 1; id <= count; id++) {
    const scenario = DEMO_SCENARIOS[Math.floor(random() * DEMO_SCENARIOS.length)]!;
    all.push(...simulate(id, base + (id - 1) * every, scenario.name === 'still open' ? { ...scenario, horizon: count * every } : scenario));
  }
  return all.sort((a, b) => a.t - b.t);
}
