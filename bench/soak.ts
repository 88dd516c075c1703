/**
 * `npm run soak`: many concurrent proxied connections with random lifecycles over a simulated
 * day, on real loopback sockets (test client ⇄ proxy ⇄ test upstream, all in this process),
 * with the supervisor on an injected ManualClock. The clock moves from one due timer (or
 * scripted peer action) to the next, at most a second at a time, and the real I/O settles in
 * between, so every lifecycle timer fires in order with the sockets' reactions interleaved.
 *
 * It prints: connections (and peak concurrency), simulated duration, wall time, heap used
 * before (after a warm-up) and after (both after global.gc()), heap growth, whether the
 * supervisor is empty, leaked handles (process.getActiveResourcesInfo() against a baseline
 * taken before anything was opened), events logged and the termination codes seen. It exits
 * with code 1 unless the heap is flat (growth within --max-heap-growth percent), the
 * supervisor is empty (no connection, no timer left on the clock), no handle leaked, every
 * disposed connection released its sockets, listeners and timers, and all the connections ran.
 *
 *   node --expose-gc --import tsx bench/soak.ts [--connections 10000] [--hours 24]
 *        [--concurrency N] [--seed N] [--max-heap-growth 5] [--warmup 500] [--json]
 *
 * (env: PL_SOAK_CONNECTIONS, PL_SOAK_HOURS, PL_SOAK_CONCURRENCY, PL_SOAK_SEED.)
 *
 * File descriptors: each live connection holds four (the client, the proxy's accepted socket,
 * the proxy's upstream socket, the upstream's accepted socket). Node raises its soft
 * RLIMIT_NOFILE to the hard limit at startup; a process cannot raise the hard limit. The
 * default concurrency is therefore min(connections, (limit - open - reserve) / 4): with a hard
 * limit of 20 000 (this project's CI container) the 10 000 connections run at most ~4 950 at a
 * time, in successive windows of the simulated day. Raise the hard limit (ulimit -Hn, as root)
 * to run all 10 000 at once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { closeCode, ManualClock, replay, resolveOptions, Supervisor, type CloseInfo, type Connection, type LogRecord, type LogSink } from '../src/index.js';
import { boundListenerCount, tableFor } from '../src/internal.js';
import { prng } from '../tools/prng.mjs';

// ---------------------------------------------------------------- configuration

interface Config {
  connections: number;
  hours: number;
  concurrency: number | null;
  seed: number;
  maxHeapGrowth: number;
  warmup: number;
  json: boolean;
  progress: boolean;
}

function parseArgs(argv: string[]): Config {
  const env = process.env;
  const cfg: Config = {
    connections: Number(env.PL_SOAK_CONNECTIONS ?? 10_000),
    hours: Number(env.PL_SOAK_HOURS ?? 24),
    concurrency: env.PL_SOAK_CONCURRENCY === undefined ? null : Number(env.PL_SOAK_CONCURRENCY),
    seed: Number(env.PL_SOAK_SEED ?? 0x50a4),
    maxHeapGrowth: 5,
    warmup: 1000,
    json: false,
    progress: env.PL_SOAK_PROGRESS === '1',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? (arg.split('=', 2) as [string, string]) : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number: ${v}`);
      return n;
    };
    switch (flag) {
      case '--connections':
        cfg.connections = Math.floor(value());
        break;
      case '--hours':
        cfg.hours = value();
        break;
      case '--concurrency':
        cfg.concurrency = Math.floor(value());
        break;
      case '--seed':
        cfg.seed = Math.floor(value());
        break;
      case '--max-heap-growth':
        cfg.maxHeapGrowth = value();
        break;
      case '--warmup':
        cfg.warmup = Math.floor(value());
        break;
      case '--json':
        cfg.json = true;
        break;
      case '--progress':
        cfg.progress = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write('usage: node --expose-gc --import tsx bench/soak.ts [--connections N] [--hours H] [--concurrency N] [--seed N] [--max-heap-growth PCT] [--warmup N] [--json]\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (cfg.connections < 1 || cfg.hours <= 0) throw new Error('--connections and --hours must be positive');
  return cfg;
}

const FDS_PER_CONNECTION = 4;
const SHUTDOWN_DEADLINE = 3000;
const LOG_CAPACITY = 2000;
const FD_RESERVE = 256;

function fdLimits(): { soft: number; hard: number } | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line && /Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) return null;
    const n = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return null;
  }
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- small tools


/** A binary min-heap of timed items. */
class TimedQueue<T> {
  private readonly items: { at: number; seq: number; value: T }[] = [];
  private seq = 0;
  get size(): number {
    return this.items.length;
  }
  push(at: number, value: T): void {
    const items = this.items;
    items.push({ at, seq: this.seq++, value });
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(items[p]!, items[i]!)) break;
      [items[p], items[i]] = [items[i]!, items[p]!];
      i = p;
    }
  }
  peekAt(): number {
    return this.items.length === 0 ? Number.POSITIVE_INFINITY : this.items[0]!.at;
  }
  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.less(items[l]!, items[m]!)) m = l;
        if (r < items.length && this.less(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[m], items[i]] = [items[i]!, items[m]!];
        i = m;
      }
    }
    return top.value;
  }
  clear(): void {
    this.items.length = 0;
  }
  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

const MB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------- lifecycles

type Who = 'client' | 'upstream';
type Action = { at: number; who: Who; kind: 'write'; bytes: number } | { at: number; who: Who; kind: 'end' | 'reset' | 'pause' | 'resume' };

/** Lifecycle kinds and their weights. Most are long sessions that end in a given way. */
const KINDS = [
  ['client-fin', 25],
  ['server-fin', 10],
  ['request', 10],
  ['idle', 10],
  ['half-open', 8],
  ['client-rst', 6],
  ['server-rst', 6],
  ['stall', 5],
  ['lifetime', 4],
  ['refused', 3],
  ['slow-close', 5],
] as const;
type Kind = (typeof KINDS)[number][0] | 'endless';

interface Plan {
  id: number;
  kind: Kind;
  actions: Action[];
  clientAnswersFin: boolean;
  upstreamAnswersFin: boolean;
}

/**
 * A random lifecycle (times from its start) that ends well within `window` ms of simulated
 * time given the supervisor's settings (idle W/8, parity W/16 + W/48, max lifetime 0.8 W),
 * except `endless`, which talks until `endlessUntil` and is ended by the final shutdown.
 */
function makePlan(id: number, kind: Kind, window: number, random: () => number, endlessUntil = 0): Plan {
  const r = (lo: number, hi: number) => Math.floor(lo + random() * (hi - lo));
  const a: Action[] = [];
  let clientAnswersFin = true;
  let upstreamAnswersFin = true;
  const chat = (from: number, until: number) => {
    let who: Who = 'client';
    for (let t = from; t < until; t += r(30_000, Math.max(30_001, window / 40))) {
      a.push({ at: t, who, kind: 'write', bytes: r(16, 4096) });
      who = who === 'client' ? 'upstream' : 'client';
    }
  };
  // The session: exchanges until `end`, then the kind's way of ending.
  const end = r(0.2 * window, 0.6 * window);
  switch (kind) {
    case 'request': {
      const answer = r(100, 2000);
      a.push({ at: answer, who: 'upstream', kind: 'write', bytes: r(1024, 32_768) });
      a.push({ at: answer + r(100, 5000), who: 'client', kind: 'end' });
      break;
    }
    case 'client-fin':
      chat(1000, end);
      a.push({ at: end, who: 'client', kind: 'end' });
      break;
    case 'server-fin':
      chat(1000, end);
      a.push({ at: end, who: 'upstream', kind: 'end' });
      break;
    case 'idle':
      chat(1000, end);
      break;
    case 'half-open':
      chat(1000, end);
      a.push({ at: end, who: 'client', kind: 'end' });
      for (let i = 0, t = end; i < 3; i++) a.push({ at: (t += r(1000, window / 100)), who: 'upstream', kind: 'write', bytes: r(100, 4096) });
      upstreamAnswersFin = false;
      break;
    case 'client-rst':
      chat(1000, end);
      a.push({ at: end, who: 'client', kind: 'reset' });
      break;
    case 'server-rst':
      chat(1000, end);
      a.push({ at: end, who: 'upstream', kind: 'reset' });
      break;
    case 'stall':
      chat(1000, end);
      a.push({ at: end, who: 'client', kind: 'pause' });
      for (let i = 1; i <= 8; i++) a.push({ at: end + i, who: 'upstream', kind: 'write', bytes: 32_768 });
      // Long after the idle timeout and the grace period, it reads again (and sees the FIN).
      a.push({ at: end + window / 8 + 120_000, who: 'client', kind: 'resume' });
      clientAnswersFin = false;
      break;
    case 'lifetime':
      chat(1000, 0.9 * window);
      a.push({ at: 0.9 * window, who: 'client', kind: 'end' });
      break;
    case 'refused':
      break;
    case 'slow-close':
      chat(1000, end);
      a.push({ at: end, who: 'client', kind: 'end' });
      a.push({ at: end + r(window / 80, window / 20), who: 'upstream', kind: 'end' });
      upstreamAnswersFin = false;
      break;
    case 'endless':
      chat(1000, endlessUntil);
      // Half of them lag at shutdown: they do not answer the proxy's FIN.
      if (random() < 0.5) clientAnswersFin = false;
      break;
  }
  a.sort((x, y) => x.at - y.at);
  return { id, kind, actions: a, clientAnswersFin, upstreamAnswersFin };
}

function pickKind(random: () => number): Kind {
  const total = KINDS.reduce((sum, [, w]) => sum + w, 0);
  let x = random() * total;
  for (const [k, w] of KINDS) if ((x -= w) < 0) return k;
  return 'client-fin';
}

// ---------------------------------------------------------------- the soak

interface Live {
  plan: Plan;
  slot: number;
  startedAt: number;
  next: number;
  client: net.Socket;
  upstream: net.Socket | null;
  clientClosed: boolean;
  upstreamClosed: boolean;
}

interface Figures {
  connections: number;
  warmupConnections: number;
  peakConcurrent: number;
  concurrency: number;
  fdLimit: number | null;
  simulatedHours: number;
  liveAtShutdown: number;
  simulatedShutdownMs: number;
  wallSeconds: number;
  warmupSeconds: number;
  gcExposed: boolean;
  heapBefore: number;
  heapAfter: number;
  heapGrowthPct: number;
  maxHeapGrowthPct: number;
  tableNodesBefore: number;
  tableNodesAfter: number;
  supervisorEmpty: boolean;
  stats: { active: number; total: number; closed: number };
  clockTimers: number;
  leakedHandles: number;
  handlesBefore: Record<string, number>;
  handlesAfter: Record<string, number>;
  eventsLogged: number;
  records: Record<string, number>;
  codes: Record<string, number>;
  kinds: Record<string, number>;
  releaseFailures: number;
  replayed: number;
  replayMismatches: number;
  peersClosedByTheSoak: number;
  failures: string[];
}

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

async function heapAfterGc(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return process.memoryUsage().heapUsed;
  for (let i = 0; i < 4; i++) {
    gc();
    await turn();
  }
  return process.memoryUsage().heapUsed;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return (server.address() as net.AddressInfo).port;
}

export async function soak(cfg: Config): Promise<Figures> {
  const failures: string[] = [];
  const handlesBefore = resources();
  const limits = fdLimits();
  const budget = limits === null ? Number.POSITIVE_INFINITY : Math.floor((limits.soft - openFds() - FD_RESERVE) / FDS_PER_CONNECTION);
  const concurrency = Math.max(1, Math.min(cfg.concurrency ?? cfg.connections, cfg.connections, budget));
  if (cfg.concurrency !== null && cfg.concurrency > budget) {
    failures.push(`--concurrency ${cfg.concurrency} needs more file descriptors than the open-files limit allows (${budget} connections)`);
  }

  // Each slot runs its share of the connections one after the other, one per window.
  const day = cfg.hours * 3600_000;
  const perSlot = Math.ceil(cfg.connections / concurrency);
  const window = day / perSlot;
  const settings = {
    gracePeriod: 5000,
    connectTimeout: 30_000,
    idleTimeout: Math.round(window / 8),
    maxLifetime: Math.round(0.8 * window),
    parityTimeout: Math.round(window / 16),
    parityInactivity: Math.round(window / 48),
    socketTimeout: Math.round(window / 6),
    timeoutBehavior: 'reset' as const,
  };

  // Every record is counted by kind, and each connection's records are replayed once it is
  // disposed: it must replay to done with the reasons and code its 'disposed' record has. The
  // in-memory ring stays small (the warm-up fills it).
  const records: Record<string, number> = { open: 0, event: 0, disposed: 0 };
  const perConnection = new Map<string, LogRecord[]>();
  let replayed = 0;
  let replayMismatches = 0;
  let io = 0;
  const counter: LogSink = {
    write(record: LogRecord) {
      records[record.kind] = (records[record.kind] ?? 0) + 1;
      io++;
      if (record.kind === 'open') perConnection.set(record.conn, [record]);
      else if (record.kind === 'event') perConnection.get(record.conn)?.push(record);
      else if (record.kind === 'disposed') {
        const own = perConnection.get(record.conn);
        perConnection.delete(record.conn);
        const again = own === undefined ? undefined : replay(own).connections.get(record.conn);
        replayed++;
        if (again === undefined || !again.done || JSON.stringify(again.context.reasons) !== JSON.stringify(record.reasons) || closeCode(again.context.ending) !== record.code) {
          replayMismatches++;
        }
      }
    },
    close: async () => {},
  };
  const clock = new ManualClock();
  const supervisor = new Supervisor({ clock, logCapacity: LOG_CAPACITY, ...settings });
  supervisor.log.addSink(counter);

  const codes: Record<string, number> = {};
  let releaseFailures = 0;
  let inFlight = 0;
  const onConnection = (conn: Connection) => {
    const server = conn.server as net.Socket | null;
    if (server !== null && server.connecting) {
      inFlight++;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        inFlight--;
      };
      server.once('connect', done);
      server.once('close', done);
    }
    void conn.whenClosed().then((info: CloseInfo) => {
      codes[info.code] = (codes[info.code] ?? 0) + 1;
      const released =
        conn.client.destroyed &&
        boundListenerCount(conn.client) === 0 &&
        (conn.server === null || (conn.server.destroyed && boundListenerCount(conn.server) === 0)) &&
        conn.pendingTimers === 0;
      if (!released) releaseFailures++;
    });
  };
  supervisor.on('connection', onConnection);

  // The upstream identifies each connection by the id in the first 8 bytes the client sends.
  const lives = new Map<number, Live>();
  const testSockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    testSockets.add(s);
    s.on('close', () => testSockets.delete(s));
  };
  const upstreamServer = net.createServer({ allowHalfOpen: true }, (socket) => {
    track(socket);
    let live: Live | null = null;
    let header: Buffer | null = Buffer.alloc(0);
    let answerFin = true;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      io++;
      if (header === null) return;
      header = Buffer.concat([header, chunk]);
      if (header.length < 8) return;
      live = lives.get(header.readUInt32BE(4)) ?? null;
      header = null;
      if (live !== null && live.upstream === null) {
        live.upstream = socket;
        answerFin = live.plan.upstreamAnswersFin;
      }
    });
    socket.on('end', () => {
      io++;
      if (answerFin && !socket.writableEnded && !socket.destroyed) socket.end();
      else if (!socket.writableEnded) queue.push(clock.now() + LINGER, { type: 'linger', socket });
    });
    socket.on('close', () => {
      io++;
      if (live !== null && live.upstream === socket) {
        live.upstreamClosed = true;
        maybeDone(live);
      }
    });
  });
  const upstreamPort = await listen(upstreamServer);
  const deadServer = net.createServer();
  const deadPort = await listen(deadServer);
  await new Promise<void>((resolve) => deadServer.close(() => resolve()));
  const proxyTo = (port: number, overrides?: { maxLifetime: number }) =>
    net.createServer({ allowHalfOpen: true }, (client) => {
      supervisor.forward(client, () => net.connect(port, '127.0.0.1'), overrides);
    });
  const proxy = proxyTo(upstreamPort);
  const refusing = proxyTo(deadPort);
  // Connections that live until the final shutdown: no lifetime cap (a per-connection override).
  const unlimited = proxyTo(upstreamPort, { maxLifetime: 0 });
  const proxyPort = await listen(proxy);
  const refusingPort = await listen(refusing);
  const unlimitedPort = await listen(unlimited);

  const random = prng(cfg.seed);
  const noise = Buffer.alloc(64 * 1024);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);

  type Item = { type: 'action'; live: Live } | { type: 'start'; slot: number } | { type: 'linger'; socket: net.Socket };
  /**
   * A peer that does not answer FIN gives up this long (simulated) after the proxy's FIN: longer
   * than the proxy's own limits (idle W/8, parity W/16 + W/48, grace, shutdown deadline), so
   * the proxy always decides first.
   */
  const LINGER = Math.round(window / 4);
  const queue = new TimedQueue<Item>();
  let nextId = 0;
  let active = 0;
  let peak = 0;
  const kinds: Record<string, number> = {};

  /** One batch of connections: `slots` slots, each running `count` connections in windows. */
  interface Batch {
    start: number;
    end: number;
    slots: { count: number; started: number }[];
    /** Share of a slot's last connection that talks until the end (then shut down). */
    endless: number;
    /** Share of connections that go through the unlimited proxy with an ordinary kind. */
    viaUnlimited: number;
  }
  let batch: Batch | null = null;

  function maybeDone(live: Live): void {
    if (!live.clientClosed) return;
    if (live.upstream !== null && !live.upstreamClosed) return;
    if (!lives.delete(live.plan.id)) return;
    active--;
    slotFree(live.slot);
  }

  function slotFree(slot: number): void {
    const state = batch?.slots[slot];
    if (batch === null || state === undefined || state.started >= state.count) return;
    const windowStart = batch.start + state.started * window;
    queue.push(Math.max(clock.now(), windowStart + Math.floor(random() * 0.05 * window)), { type: 'start', slot });
  }

  function startInSlot(slot: number): void {
    const state = batch?.slots[slot];
    if (batch === null || state === undefined || state.started >= state.count || clock.now() >= batch.end) return;
    state.started++;
    const last = state.started === state.count;
    const endless = last && random() < batch.endless;
    const kind: Kind = endless ? 'endless' : pickKind(random);
    const id = ++nextId;
    const plan = makePlan(id, kind, window, random, batch.end + 60_000 - clock.now());
    const port = kind === 'refused' ? refusingPort : endless || random() < batch.viaUnlimited ? unlimitedPort : proxyPort;
    open(slot, plan, port);
  }

  function open(slot: number, plan: Plan, port: number): void {
    kinds[plan.kind] = (kinds[plan.kind] ?? 0) + 1;
    const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    track(client);
    const live: Live = { plan, slot, startedAt: clock.now(), next: 0, client, upstream: null, clientClosed: false, upstreamClosed: false };
    lives.set(plan.id, live);
    active++;
    peak = Math.max(peak, active);
    inFlight++;
    let connecting = true;
    client.on('connect', () => {
      io++;
      connecting = false;
      inFlight--;
      // The id, then a request.
      const header = Buffer.alloc(8 + 64);
      header.write('PLSK');
      header.writeUInt32BE(plan.id, 4);
      client.write(header);
    });
    client.on('data', () => {
      io++;
    });
    client.on('end', () => {
      io++;
      if (plan.clientAnswersFin && !client.writableEnded && !client.destroyed) client.end();
      else if (!client.writableEnded) queue.push(clock.now() + LINGER, { type: 'linger', socket: client });
    });
    client.on('error', () => {});
    client.on('close', () => {
      io++;
      if (connecting) {
        connecting = false;
        inFlight--;
      }
      live.clientClosed = true;
      maybeDone(live);
    });
    if (plan.actions.length > 0) queue.push(live.startedAt + plan.actions[0]!.at, { type: 'action', live });
  }

  function act(live: Live): void {
    const action = live.plan.actions[live.next++];
    if (action === undefined) return;
    const socket = action.who === 'client' ? live.client : live.upstream;
    if (socket !== null && !socket.destroyed) {
      switch (action.kind) {
        case 'write':
          if (!socket.writableEnded) socket.write(noise.subarray(0, Math.min(action.bytes, noise.length)));
          break;
        case 'end':
          if (!socket.writableEnded) socket.end();
          break;
        case 'reset':
          socket.resetAndDestroy();
          break;
        case 'pause':
          socket.pause();
          break;
        case 'resume':
          socket.resume();
          break;
      }
    }
    const next = live.plan.actions[live.next];
    if (next !== undefined) queue.push(Math.max(clock.now(), live.startedAt + next.at), { type: 'action', live });
  }

  /** Lets the real I/O run until nothing moves: no connect in flight, no event for two turns. */
  async function quiet(): Promise<void> {
    const began = Date.now();
    let last = -1;
    let same = 0;
    while (same < 2) {
      await turn();
      if (inFlight === 0 && io === last) same++;
      else same = 0;
      last = io;
      if (Date.now() - began > 60_000) throw new Error(`I/O did not settle (${inFlight} connects in flight)`);
    }
  }

  /** Moves the clock towards `until` while `more()`: to each due timer or scripted action in turn. */
  let steps = 0;
  let reported = 0;
  async function run(until: number, more: () => boolean): Promise<void> {
    while (clock.now() < until && more()) {
      steps++;
      if (cfg.progress && Date.now() - reported > 2000) {
        reported = Date.now();
        process.stderr.write(`  t=${(clock.now() / 3600_000).toFixed(2)} h  active ${active}  supervisor ${supervisor.stats.active}  steps ${steps}  timers ${clock.pending}  queue ${queue.size}  heap ${MB(process.memoryUsage().heapUsed)}\n`);
      }
      // While connections are live the supervisor's sampler is due every second; with nothing
      // armed or scheduled before `until`, nothing can happen in between, so jump.
      const target = Math.min(until, clock.nextDue() ?? Number.POSITIVE_INFINITY, queue.peekAt());
      if (target === Number.POSITIVE_INFINITY) {
        throw new Error(`stuck at ${clock.now()} ms: ${lives.size} connections open, nothing scheduled`);
      }
      clock.advance(Math.max(0, target - clock.now()));
      while (queue.peekAt() <= clock.now()) {
        const item = queue.pop()!;
        if (item.type === 'action') act(item.live);
        else if (item.type === 'start') startInSlot(item.slot);
        else item.socket.destroy();
      }
      await quiet();
    }
  }

  function newBatch(connections: number, slots: number, length: number, endless: number, viaUnlimited: number): Batch {
    const b: Batch = {
      start: clock.now(),
      end: clock.now() + length,
      slots: Array.from({ length: slots }, (_, s) => ({
        count: Math.floor(connections / slots) + (s < connections % slots ? 1 : 0),
        started: 0,
      })),
      endless,
      viaUnlimited,
    };
    for (let s = 0; s < slots; s++) queue.push(b.start + Math.floor(random() * 0.05 * window), { type: 'start', slot: s });
    return b;
  }

  // ---- warm-up: one window of the same mix, so the heap baseline is a steady state (compiled
  // code, the transition tables of both settings, a full log ring).
  const warmupStart = Date.now();
  const warmupSlots = Math.max(1, Math.min(cfg.warmup, concurrency));
  batch = newBatch(cfg.warmup, warmupSlots, Math.ceil(cfg.warmup / warmupSlots) * window, 0, 0.1);
  await run(Number.POSITIVE_INFINITY, () => lives.size > 0 || queue.size > 0);
  const warmupConnections = nextId;
  const warmupSeconds = (Date.now() - warmupStart) / 1000;
  if (supervisor.stats.active !== 0) failures.push(`the warm-up left ${supervisor.stats.active} connections`);
  batch = null;
  // The transition tables grow (boundedly) as connections reach new states: their size shows
  // how much of the heap difference is that cache rather than a leak.
  const tableNodes = () => tableFor(resolveOptions(settings).settings).size + tableFor(resolveOptions({ ...settings, maxLifetime: 0 }).settings).size;
  const tableNodesBefore = tableNodes();
  const heapBefore = await heapAfterGc();

  // ---- the simulated day.
  const wallStart = Date.now();
  peak = 0;
  batch = newBatch(cfg.connections, concurrency, day, 0.05, 0.02);
  const dayEnd = batch.end;
  await run(dayEnd, () => true);
  const started = nextId - warmupConnections;
  if (started !== cfg.connections) failures.push(`only ${started} of ${cfg.connections} connections started within the simulated day`);
  const liveAtShutdown = supervisor.stats.active;

  // ---- the end of the day: a graceful shutdown with a deadline; then everything must be gone.
  // No new connection starts; the live ones keep following their scripts.
  batch = null;
  const shutdownAt = clock.now();
  // The deadline is shorter than the grace period: peers that do not answer are aborted.
  const drained = supervisor.shutdown({ timeout: SHUTDOWN_DEADLINE });
  await run(shutdownAt + 2 * window + LINGER, () => supervisor.stats.active > 0 || lives.size > 0);
  await drained;
  const simulatedShutdownMs = clock.now() - shutdownAt;
  const stats = supervisor.stats;
  const clockTimers = clock.pending;
  const supervisorEmpty = stats.active === 0 && supervisor.connections.size === 0 && clockTimers === 0;
  if (!supervisorEmpty) failures.push(`supervisor not empty: ${JSON.stringify(stats)}, ${clockTimers} clock timers`);
  if (releaseFailures > 0) failures.push(`${releaseFailures} disposed connections kept a socket, listener or timer`);

  if (replayMismatches > 0) failures.push(`${replayMismatches} connections do not replay from their log records to their recorded end`);
  if (replayed !== stats.total) failures.push(`${replayed} of ${stats.total} connections were replayed`);

  // Whatever test peer is still open (none expected: every peer closes or gives up) is closed.
  let peersClosedByTheSoak = 0;
  for (const s of testSockets) {
    peersClosedByTheSoak++;
    if (cfg.progress) {
      const owner = [...lives.values()].find((l) => l.client === s || l.upstream === s);
      process.stderr.write(`  open test peer: ${owner ? `${owner.plan.kind} #${owner.plan.id} ${owner.client === s ? 'client' : 'upstream'}` : 'unidentified upstream'} ended=${s.writableEnded} readEnded=${s.readableEnded} paused=${s.isPaused()} pending=${s.pending}\n`);
    }
    s.destroy();
  }
  if (peersClosedByTheSoak > 0) failures.push(`${peersClosedByTheSoak} test peers still open: the proxy never closed its end towards them`);
  const closing = Date.now();
  while (testSockets.size > 0 && Date.now() - closing < 10_000) await turn();
  for (const server of [proxy, refusing, unlimited, upstreamServer]) await new Promise<void>((resolve) => server.close(() => resolve()));
  supervisor.removeListener('connection', onConnection);
  lives.clear();
  await quiet();
  const wallSeconds = (Date.now() - wallStart) / 1000;
  const heapAfter = await heapAfterGc();
  const tableNodesAfter = tableNodes();
  for (let i = 0; i < 20; i++) await turn();
  const handlesAfter = resources();
  let leakedHandles = 0;
  for (const [kind, n] of Object.entries(handlesAfter)) leakedHandles += Math.max(0, n - (handlesBefore[kind] ?? 0));
  if (leakedHandles > 0) failures.push(`${leakedHandles} handles leaked: before ${JSON.stringify(handlesBefore)}, after ${JSON.stringify(handlesAfter)}`);

  const gcExposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const heapGrowthPct = ((heapAfter - heapBefore) / heapBefore) * 100;
  if (gcExposed && heapGrowthPct > cfg.maxHeapGrowth) failures.push(`heap grew ${heapGrowthPct.toFixed(2)} % (limit ${cfg.maxHeapGrowth} %)`);

  return {
    connections: started,
    warmupConnections,
    peakConcurrent: peak,
    concurrency,
    fdLimit: limits === null ? null : limits.soft,
    simulatedHours: cfg.hours,
    liveAtShutdown,
    simulatedShutdownMs,
    wallSeconds,
    warmupSeconds,
    gcExposed,
    heapBefore,
    heapAfter,
    heapGrowthPct,
    maxHeapGrowthPct: cfg.maxHeapGrowth,
    tableNodesBefore,
    tableNodesAfter,
    supervisorEmpty,
    stats,
    clockTimers,
    leakedHandles,
    handlesBefore,
    handlesAfter,
    eventsLogged: records.open! + records.event! + records.disposed!,
    records,
    codes,
    kinds,
    releaseFailures,
    replayed,
    replayMismatches,
    peersClosedByTheSoak,
    failures,
  };
}

function report(cfg: Config, f: Figures): string {
  const sorted = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const fdNote =
    f.concurrency < cfg.connections
      ? ` (at most ${f.concurrency} concurrent: ${FDS_PER_CONNECTION} fds each, open-files limit ${f.fdLimit ?? '?'})`
      : '';
  const lines = [
    'proxy-lifecycle soak',
    `  connections          ${f.connections} with random lifecycles, peak ${f.peakConcurrent} concurrent${fdNote}; warm-up ${f.warmupConnections}`,
    `  lifecycles           ${sorted(f.kinds)}`,
    `  simulated duration   ${f.simulatedHours} h, then shutdown of the ${f.liveAtShutdown} still live (${(f.simulatedShutdownMs / 1000).toFixed(1)} s simulated)`,
    `  wall time            ${f.wallSeconds.toFixed(1)} s (the day and the shutdown; warm-up ${f.warmupSeconds.toFixed(1)} s)`,
    `  heap used before     ${MB(f.heapBefore)} (after warm-up${f.gcExposed ? ', after gc' : ''})`,
    `  heap used after      ${MB(f.heapAfter)}${f.gcExposed ? ' (after gc)' : ''}`,
    `  heap growth          ${f.heapGrowthPct >= 0 ? '+' : ''}${f.heapGrowthPct.toFixed(2)} % ${f.gcExposed ? `(limit ${f.maxHeapGrowthPct} %)` : '(not checked: run with --expose-gc)'}`,
    `  transition tables    ${f.tableNodesBefore} → ${f.tableNodesAfter} nodes (a bounded cache of the machine's reachable states)`,
    `  supervisor empty     ${f.supervisorEmpty ? 'yes' : 'NO'} (active ${f.stats.active}, total ${f.stats.total}, closed ${f.stats.closed}; clock timers ${f.clockTimers})`,
    `  released             ${f.releaseFailures === 0 ? 'every disposed connection released its sockets, listeners and timers' : `${f.releaseFailures} connections did NOT`}`,
    `  leaked handles       ${f.leakedHandles} (baseline ${JSON.stringify(f.handlesBefore)}, after ${JSON.stringify(f.handlesAfter)})`,
    `  events logged        ${f.eventsLogged} (${sorted(f.records)})`,
    `  replayed             ${f.replayed} connections, each from its own records: ${f.replayMismatches === 0 ? 'every one ends done with its recorded reasons and code' : `${f.replayMismatches} DO NOT`}`,
    `  termination codes    ${sorted(f.codes)}`,
    `  test peers left open ${f.peersClosedByTheSoak} (every peer closes once the proxy closed its end)`,
    f.failures.length === 0 ? 'RESULT PASS' : `RESULT FAIL\n${f.failures.map((x) => `  - ${x}`).join('\n')}`,
  ];
  return lines.join('\n');
}

const cfg = parseArgs(process.argv.slice(2));
const figures = await soak(cfg);
process.stdout.write(`${report(cfg, figures)}\n`);
if (cfg.json) process.stdout.write(`SOAK_RESULT ${JSON.stringify(figures)}\n`);
process.exitCode = figures.failures.length === 0 ? 0 : 1;
